//! `POST /register` (RFC 7591) and `GET`, `PUT`, `DELETE /register/{client_id}` (RFC 7592):
//! dynamic client registration and its management (R162–R171).
//!
//! Registering needs an initial access token (`Authorization: Bearer`) or a software statement
//! of a trusted directory, or both (R162). The metadata is validated by the same rules as every
//! client (`registry::validate`: `Client::validate`, R164, R165, and the server's signing
//! algorithms), after the statement's claims were laid over it (R166), and must fit the initial
//! access token's policy. Each registered client gets a registration access token (R171: 256
//! random bits, stored hashed) to read, replace and delete its registration at its client
//! configuration endpoint; every update rotates it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::hash::TokenHash;
use portcullis_core::registration::{self, Policy};
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::registration::{MetadataReplacement, RegisteredClient, RegistrationRecord};
use serde_json::Value;

use crate::clients::registration::{TOKEN_BYTES, is_live};
use crate::clients::registry as clients;
use crate::error::RegistrationError;
use crate::error::{store_failed, unavailable};
use crate::secret::random_b64url;
use crate::state::AppState;

fn invalid_token(description: &'static str) -> RegistrationError {
    OAuthError::new(ErrorCode::InvalidToken, description).into()
}

/// POST: registers a client (RFC 7591 §3).
pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RegistrationError> {
    if let Some(refusal) = throttled(&state, &headers) {
        return Ok(refusal);
    }
    register(&state, &headers, &body).await
}

/// GET: the client's current registration (RFC 7592 §2.1, R168).
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RegistrationError> {
    if let Some(refusal) = throttled(&state, &headers) {
        return Ok(refusal);
    }
    read(&state, &client_id, &headers).await
}

/// PUT: replaces the client's metadata (RFC 7592 §2.2, R169).
pub(crate) async fn put(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RegistrationError> {
    if let Some(refusal) = throttled(&state, &headers) {
        return Ok(refusal);
    }
    update(&state, &client_id, &headers, &body).await
}

/// DELETE: deletes the client and everything issued to it (RFC 7592 §2.3, R170).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RegistrationError> {
    if let Some(refusal) = throttled(&state, &headers) {
        return Ok(refusal);
    }
    remove(&state, &client_id, &headers).await
}

async fn register(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, RegistrationError> {
    let now = state.clock.now();
    let token = bearer(headers)?;
    let request = registration::registration_request(json_body(headers, body)?)?;
    // R162: an initial access token, a software statement, or both.
    if token.is_none() && request.software_statement.is_none() {
        return Err(invalid_token(
            "an initial access token or a software statement is required",
        ));
    }
    // R162: the token must be live; its policy says what its holder may register. A use is
    // spent only once the request is valid.
    let (initial, policy_json) = match token {
        Some(token) => {
            let hash = TokenHash::of(token.as_bytes());
            let record = state
                .store
                .initial_access_token(&hash)
                .await
                .map_err(|e| store_failed("initial access token lookup failed", &e))?
                .filter(|t| is_live(t, now))
                .ok_or_else(|| {
                    invalid_token(
                        "the initial access token is unknown, expired, revoked or used up",
                    )
                })?;
            (Some((hash, record.id)), record.policy)
        }
        None => (
            None,
            serde_json::to_string(&Policy::default()).map_err(|e| unavailable("policy", &e))?,
        ),
    };
    let policy = parse_policy(&policy_json)?;
    // R166: a statement of a trusted directory, whose claims take precedence.
    let statement = request
        .software_statement
        .as_deref()
        .map(|jwt| registration::verify_software_statement(jwt, &state.directories, now))
        .transpose()?;
    let metadata = registration::metadata(request.members, statement.as_ref())?;
    // R171: the server chooses the client_id (never a user-like `sub`).
    let client_id = uuid::Uuid::new_v4().simple().to_string();
    // R164, R165: the FAPI client rules, as for every client; an omitted scope is the default
    // within what the token allows.
    let client = clients::validate(&state.config, &client_id, metadata, policy.scope().as_ref())?;
    policy.permits(&client)?;
    if let Some((hash, _)) = &initial {
        // R162: one statement spends the use; of concurrent registrations for the last use,
        // exactly one gets here.
        let spent = state
            .store
            .use_initial_access_token(hash, now)
            .await
            .map_err(|e| store_failed("spending an initial access token failed", &e))?;
        if spent.is_none() {
            return Err(invalid_token(
                "the initial access token is unknown, expired, revoked or used up",
            ));
        }
    }
    let registration_token = random_b64url(TOKEN_BYTES)?;
    let record = clients::record(&client, now).map_err(|e| store_failed("client record", &e))?;
    let registration = RegistrationRecord {
        client_id: client_id.clone(),
        token_hash: TokenHash::of(registration_token.as_bytes()),
        policy: policy_json,
        software_statement: request.software_statement,
        token_issued_at: now,
        initial_access_token_id: initial.as_ref().map(|(_, id)| id.clone()),
    };
    state
        .store
        .insert_registered_client(&record, &registration)
        .await
        .map_err(|e| store_failed("storing a registered client failed", &e))?;
    tracing::info!(
        client_id = %client_id,
        software_statement = registration.software_statement.is_some(),
        initial_access_token = initial.is_some(),
        "registered client (RFC 7591)"
    );
    let body = registration::client_information(
        &client,
        now,
        &registration_token,
        &client_uri(state, &client_id),
        registration.software_statement.as_deref(),
    )?;
    Ok(json_response(StatusCode::CREATED, body))
}

async fn read(
    state: &AppState,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<Response, RegistrationError> {
    let (found, token) = authorize(state, client_id, headers).await?;
    let client = clients::from_record(&found.client, clients::policy(&state.config))
        .map_err(|e| unavailable("stored client no longer validates", &e))?;
    let body = registration::client_information(
        &client,
        found.client.created_at,
        token,
        &client_uri(state, client_id),
        found.registration.software_statement.as_deref(),
    )?;
    Ok(json_response(StatusCode::OK, body))
}

async fn update(
    state: &AppState,
    client_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, RegistrationError> {
    let now = state.clock.now();
    let (found, token) = authorize(state, client_id, headers).await?;
    // R169: a full replacement naming the client; omitted members are cleared.
    let request = registration::update_request(json_body(headers, body)?, client_id)?;
    // R166: the statement on record keeps binding unless a new one verifies.
    let statement = registration::update_statement(
        request.software_statement,
        found.registration.software_statement.as_deref(),
        &state.directories,
        now,
    )?;
    let metadata = registration::metadata(request.members, statement.as_ref().map(|s| &s.claims))?;
    // R169: validated again, and held to the policy it was registered under.
    let policy = parse_policy(&found.registration.policy)?;
    let client = clients::validate(&state.config, client_id, metadata, policy.scope().as_ref())?;
    policy.permits(&client)?;
    let record = clients::record(&client, now).map_err(|e| store_failed("client record", &e))?;
    let next = random_b64url(TOKEN_BYTES)?;
    let jwt = statement.as_ref().map(|s| s.jwt.as_str());
    let replaced = state
        .store
        .replace_client_metadata(&MetadataReplacement {
            client_id,
            metadata: &record.metadata,
            software_statement: jwt,
            current: &TokenHash::of(token.as_bytes()),
            next: &TokenHash::of(next.as_bytes()),
            now,
        })
        .await
        .map_err(|e| store_failed("replacing client metadata failed", &e))?;
    if !replaced {
        // A concurrent update rotated the token first.
        return Err(invalid_token(
            "the registration access token has been replaced",
        ));
    }
    state.clients.forget(client_id);
    tracing::info!(client_id, "updated client registration (RFC 7592)");
    let body = registration::client_information(
        &client,
        found.client.created_at,
        &next,
        &client_uri(state, client_id),
        jwt,
    )?;
    Ok(json_response(StatusCode::OK, body))
}

async fn remove(
    state: &AppState,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<Response, RegistrationError> {
    authorize(state, client_id, headers).await?;
    // R170: the client, its registration, grants and tokens go in one statement.
    state
        .store
        .delete_client(client_id)
        .await
        .map_err(|e| store_failed("deleting a client failed", &e))?;
    state.clients.forget(client_id);
    tracing::info!(client_id, "deleted client (RFC 7592)");
    let mut response = StatusCode::NO_CONTENT.into_response();
    no_store(&mut response);
    Ok(response)
}

/// R168: the request carries the current registration access token of `client_id`. A missing,
/// unknown or replaced token, another client's token and a disabled client are all refused
/// alike.
async fn authorize<'h>(
    state: &AppState,
    client_id: &str,
    headers: &'h HeaderMap,
) -> Result<(RegisteredClient, &'h str), RegistrationError> {
    let token =
        bearer(headers)?.ok_or_else(|| invalid_token("a registration access token is required"))?;
    let found = state
        .store
        .client_by_registration_token(&TokenHash::of(token.as_bytes()))
        .await
        .map_err(|e| store_failed("registration lookup failed", &e))?
        .filter(|f| f.client.client_id == client_id && f.client.disabled_at.is_none())
        .ok_or_else(|| {
            invalid_token("the registration access token is not valid for this client")
        })?;
    Ok((found, token))
}

/// A 429 when the request's initial or registration access token has spent its budget
/// (`rate_limits.registration`), checked before the token is looked up. (A request without one
/// is counted by its source address only.)
fn throttled(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let token = bearer(headers).ok().flatten()?;
    let refusal = state.rate_limits.check_registration(token).err()?;
    Some(refusal.into_response())
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1), if the header is present.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, RegistrationError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| invalid_token("the Authorization header must carry a Bearer token"))?;
    Ok(Some(token))
}

/// The body of a request that must be `application/json` (RFC 7591 §3.1, RFC 7592 §2.2).
fn json_body<'b>(headers: &HeaderMap, body: &'b [u8]) -> Result<&'b [u8], RegistrationError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the body must be application/json",
        )
        .into());
    }
    Ok(body)
}

fn parse_policy(json: &str) -> Result<Policy, RegistrationError> {
    serde_json::from_str(json)
        .map_err(|e| unavailable("stored registration policy is unreadable", &e).into())
}

/// The client configuration endpoint of `client_id` (RFC 7592 §2).
fn client_uri(state: &AppState, client_id: &str) -> String {
    format!("{}/register/{client_id}", state.config.issuer)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    no_store(&mut response);
    response
}

/// Responses carrying a registration access token are never cached (RFC 7591 §3.2.1).
fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
