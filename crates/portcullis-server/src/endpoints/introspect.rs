//! `POST /introspect` (RFC 7662, RFC 9701; R150–R155).
//!
//! The caller authenticates like at the token endpoint. A client flagged `resource_server` may
//! introspect any token; any other client only its own. Every token that is unknown, expired,
//! revoked, malformed, belongs to a disabled client or to someone the caller may not see is
//! `{"active": false}`, with nothing that tells these cases apart (R152).
//!
//! Database round trips: the caller's assertion `jti` spend and one read of the token by its hash
//! (only for a token of at most 4096 characters), side by side rather than one after the other
//! (on Postgres each batched with the statements of its kind in flight at the same moment,
//! decisions 0015 and 0018; decision 0019); then the token's client from the registry's cache.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::hash::TokenHash;
use portcullis_core::token::signed_introspection;
use portcullis_core::{ErrorCode, OAuthError};
use serde_json::{Map, Value, json};

use crate::endpoints::authenticate_unspent;
use crate::error::TokenError;
use crate::error::{store_failed, unavailable};
use crate::extract::Params;
use crate::state::AppState;
use crate::transport::peer::Peer;

const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// POST: the state of a token.
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
    let unspent = authenticate_unspent(
        state,
        peer,
        headers,
        params,
        crate::security::detect::RATE_INTROSPECT,
    )
    .await?;
    let caller = &unspent.client;
    // R153: the token parameter is required.
    let Some(token) = params.get("token") else {
        unspent.spend(state, peer).await?;
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "token is required").into());
    };
    // The caller's assertion `jti` is spent side by side with the token's read (two batched
    // statements in flight at once instead of one after the other); nothing is answered until
    // the spend is known fresh, and a replay is refused whatever the read found.
    let (spent, members) = tokio::join!(
        unspent.spend(state, peer),
        introspect(
            state,
            &caller.client.client_id,
            caller.client.resource_server,
            token,
        )
    );
    spent?;
    let members = members?;
    // Unknown or inactive tokens, per caller: many in a minute is guessing.
    if members.get("active") != Some(&Value::Bool(true)) {
        state
            .monitor
            .count(crate::security::detect::MISSES, &caller.client.client_id);
    }
    let mut response = if wants_jwt(headers) {
        // R154: RFC 9701 signed response.
        let now = state.clock.now();
        let key = state
            .keys
            .signing_key(state.token_alg, now)
            .ok_or_else(|| unavailable("no active signing key", &state.token_alg))?;
        let claims =
            signed_introspection(&state.config.issuer, &caller.client.client_id, now, members);
        let jwt = key
            .sign("token-introspection+jwt", claims)
            .map_err(|e| unavailable("signing introspection failed", &e))?;
        let mut response = jwt.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JWT_MEDIA_TYPE),
        );
        response
    } else {
        Json(Value::Object(members)).into_response()
    };
    // R155: never cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// R154: whether the caller asks for a signed (RFC 9701) response in `Accept`.
pub(crate) fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|t| t.trim() == JWT_MEDIA_TYPE)
            })
        })
}

/// Tokens are base64url (or JWT) text; anything much longer is not one of ours.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// The RFC 7662 members for `token` as `caller` may see them.
async fn introspect(
    state: &AppState,
    caller: &str,
    resource_server: bool,
    token: &str,
) -> Result<Map<String, Value>, TokenError> {
    let inactive = || {
        let mut m = Map::new();
        m.insert("active".into(), json!(false));
        m
    };
    if token.len() > MAX_TOKEN_LEN {
        return Ok(inactive());
    }
    let record = match state
        .store
        .access_token(&TokenHash::of(token.as_bytes()))
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return Ok(inactive()),
        Err(e) => return Err(store_failed("introspection lookup failed", &e).into()),
    };
    let grant = &record.grant;
    let visible = resource_server || grant.client_id == caller;
    let live = record.revoked_at.is_none() && state.clock.now() < grant.expires_at;
    if !(visible && live) {
        return Ok(inactive());
    }
    // A token of a disabled or deleted client is no longer honoured.
    match state.clients.get(&grant.client_id).await {
        Ok(Some(_)) => Ok(grant.introspection(&state.config.issuer)),
        Ok(None) => Ok(inactive()),
        Err(e) => Err(store_failed("client lookup failed", &e).into()),
    }
}
