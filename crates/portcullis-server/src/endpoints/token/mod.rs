//! `POST /token` (RFC 6749 §3.2): client authentication, then the grant (R63–R70).
//! Every access token is sender-constrained (R68).
//!
//! The checks run in this order, each refusal a [`TokenError`]: the form (the `Params`
//! extractor), client authentication (`endpoints::authenticate`), `grant_type`, whether the client
//! registered the grant, the grant's parameters and what they name (for a refresh: the token, its
//! grant and user, the scope), then the DPoP proof and the binding ([`binding`]), and only then
//! what the grant spends (a code, a refresh token's last use). Why these are calls in the handler
//! rather than extractors: decision record
//! `docs/decisions/0008-client-authentication-and-dpop-are-explicit-calls.md`.
//!
//! Database round trips of a `client_credentials` request: the client lookup (only when this
//! process's cached registration is older than `clients.cache_secs`), the assertion's `jti` insert
//! (`private_key_jwt`), the DPoP proof's `jti` insert (with a `DPoP` header) and the access token
//! insert; on Postgres the inserts use the asynchronous-commit pool (decision 0007). Signing and
//! nonce keys are in memory.

mod authorization_code;
mod refresh_token;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::scope::Scope;
use portcullis_core::token::sender_constraint;
use portcullis_core::{ErrorCode, OAuthError};

use crate::clients::auth::AuthenticatedClient;
use crate::endpoints::authenticate;
use crate::error::{DPOP_NONCE, TokenError};
use crate::extract::Params;
use crate::state::AppState;
use crate::tokens::dpop;
use crate::tokens::issue;
use crate::transport::peer::Peer;

/// POST: exchanges a grant for an access token.
pub(crate) async fn post(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, TokenError> {
    handle(&state, &peer, &headers, &params).await
}

async fn handle(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, TokenError> {
    // R64: every grant authenticates the client first.
    let client = authenticate(
        state,
        peer,
        headers,
        params,
        crate::security::detect::RATE_TOKEN,
    )
    .await?;
    match params.get("grant_type") {
        None => Err(OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required").into()),
        Some("client_credentials") => {
            client_credentials(state, peer, headers, params, &client).await
        }
        Some("authorization_code") => {
            authorization_code::exchange(state, peer, headers, params, &client).await
        }
        Some("refresh_token") => {
            refresh_token::exchange(state, peer, headers, params, &client).await
        }
        // R67, R185: password, implicit and anything unknown.
        Some(_) => {
            Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type").into())
        }
    }
}

/// R87: `client_credentials`: scopes within the registration, sender-constrained, no refresh
/// token, no ID token.
async fn client_credentials(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
    authenticated: &AuthenticatedClient,
) -> Result<Response, TokenError> {
    let client = &authenticated.client;
    require_grant(
        client,
        "client_credentials",
        "the client may not use client_credentials",
    )?;
    let scope = requested_scope(params, &client.scope)?;
    let (_, confirmation) = binding(state, peer, headers, authenticated).await?;
    let (token, grant) = issue::issue(
        state,
        "client_credentials",
        client,
        client.client_id.clone(),
        scope,
        confirmation,
        None,
    )
    .await?;
    tracing::info!(client_id = %client.client_id, token_type = grant.confirmation.token_type(), "issued access token (client_credentials)");
    Ok(token_response(
        state,
        grant.response(&token, state.clock.now()),
    ))
}

/// `invalid_grant` with a fixed description.
pub(crate) fn invalid_grant(description: &'static str) -> TokenError {
    OAuthError::new(ErrorCode::InvalidGrant, description).into()
}

/// R87, RFC 6749 §5.2: a client uses only the grant types it registered.
pub(crate) fn require_grant(
    client: &portcullis_core::client::Client,
    grant_type: &'static str,
    refusal: &'static str,
) -> Result<(), TokenError> {
    if client.allows_grant(grant_type) {
        return Ok(());
    }
    Err(OAuthError::new(ErrorCode::UnauthorizedClient, refusal).into())
}

/// Checks the request's DPoP proof (if any) and chooses the new token's binding (R68, R113,
/// R118). Returns the proof's key thumbprint too, for codes bound to a DPoP key (R78).
pub(crate) async fn binding(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    authenticated: &AuthenticatedClient,
) -> Result<(Option<String>, portcullis_core::token::Confirmation), TokenError> {
    let url = dpop::endpoint_url(state, peer.listener, "/token");
    let proof = dpop::proof(state, headers, "POST", &url, None).await?;
    let jkt = proof.map(|p| p.jkt);
    let certificate = authenticated.certificate.as_ref().map(|c| c.x5t_s256());
    let confirmation = sender_constraint(jkt.as_deref(), certificate, &authenticated.client)?;
    Ok((jkt, confirmation))
}

/// Scope of a request: the `scope` parameter if sent, within `allowed` (else `invalid_scope`),
/// or `allowed` itself.
pub(crate) fn requested_scope(params: &Params, allowed: &Scope) -> Result<Scope, TokenError> {
    match params.get("scope") {
        Some(text) => {
            let requested = Scope::parse(text)
                .ok_or(OAuthError::new(ErrorCode::InvalidScope, "malformed scope"))?;
            if !requested.is_subset(allowed) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "scope exceeds what was granted",
                )
                .into());
            }
            Ok(requested)
        }
        None => Ok(allowed.clone()),
    }
}

/// A successful token response: JSON, `no-store` (R63), and a fresh DPoP nonce when required.
pub(crate) fn token_response(state: &AppState, body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(nonce) = dpop::next_nonce(state).and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(DPOP_NONCE, nonce);
    }
    response
}
