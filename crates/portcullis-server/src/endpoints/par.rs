//! `POST /par` (RFC 9126; R24–R43, R131–R138): the client pushes its authorization request,
//! authenticated like at the token endpoint (R25), plain or as a signed request object; every
//! parameter is checked now (R30), and the request is stored under a fresh `request_uri`.

use std::collections::BTreeMap;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::hash::TokenHash;
use portcullis_core::request_object::{self, RequestObjectError};
use portcullis_core::{ErrorCode, OAuthError, authorize};
use portcullis_store::flow::PushedRequest;
use serde_json::json;

use crate::endpoints::authenticate;
use crate::error::TokenError;
use crate::error::{store_failed, unavailable};
use crate::extract::Params;
use crate::secret::random_b64url;
use crate::state::AppState;
use crate::tokens::dpop;
use crate::transport::peer::Peer;

/// Client authentication parameters, which are not part of the authorization request.
const CLIENT_AUTH: [&str; 2] = ["client_assertion", "client_assertion_type"];

/// POST: validates and stores a pushed authorization request.
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
    // R25: the same client authentication as the token endpoint.
    let client = authenticate(
        state,
        peer,
        headers,
        params,
        crate::security::detect::RATE_PAR,
    )
    .await?
    .client;
    // R37, R38: a DPoP proof at PAR binds the code to its key.
    let url = dpop::endpoint_url(state, peer.listener, "/par");
    let proof = dpop::proof(state, headers, "POST", &url, None).await?;
    let now = state.clock.now();
    let (request, signed) = match params.get("request") {
        // R131: a signed request object carries every parameter; the form's are not used.
        Some(jwt) => {
            let keys = state.clients.keys(&client, false).await?;
            let verified =
                match request_object::verify(jwt, &client, &keys, &state.config.issuer, now) {
                    Err(RequestObjectError::UnknownKey) => {
                        let keys = state.clients.keys(&client, true).await?;
                        request_object::verify(jwt, &client, &keys, &state.config.issuer, now)
                    }
                    other => other,
                };
            match verified {
                Ok(claims) => (claims, true),
                Err(RequestObjectError::UnknownKey) => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidRequestObject,
                        "the request object is not signed by a registered key",
                    )
                    .into());
                }
                Err(RequestObjectError::Rejected(e)) => return Err(e.into()),
            }
        }
        None => {
            let plain: BTreeMap<String, String> = params
                .pairs()
                .filter(|(k, _)| !CLIENT_AUTH.contains(k))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            (plain, false)
        }
    };
    let validated = authorize::validate(
        &request,
        &client,
        proof.as_ref().map(|p| p.jkt.as_str()),
        signed,
    )?;
    // R28: at least 128 bits from the CSPRNG (here 256).
    let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_b64url(32)?);
    let lifetime = state.config.flow.request_uri_lifetime_secs;
    let pushed = PushedRequest {
        client_id: client.client_id.clone(),
        request: serde_json::to_string(&validated)
            .map_err(|e| unavailable("serializing a pushed request failed", &e))?,
        expires_at: now.plus(lifetime),
        extended_at: None,
    };
    state
        .store
        .insert_pushed_request(&TokenHash::of(request_uri.as_bytes()), &pushed)
        .await
        .map_err(|e| store_failed("storing a pushed request failed", &e))?;
    // R26: 201, JSON, not cacheable; R27: expires_in under 600.
    let mut response = (
        StatusCode::CREATED,
        Json(json!({ "request_uri": request_uri, "expires_in": lifetime })),
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    if let Some(nonce) = dpop::next_nonce(state).and_then(|n| HeaderValue::from_str(&n).ok()) {
        response
            .headers_mut()
            .insert(crate::error::DPOP_NONCE, nonce);
    }
    Ok(response)
}
