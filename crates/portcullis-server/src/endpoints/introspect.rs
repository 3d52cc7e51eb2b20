//! `POST /introspect` (RFC 7662, RFC 9701; R150–R155).
//!
//! The caller authenticates like at the token endpoint. A client flagged `resource_server` may
//! introspect any token; any other client only its own. Every token that is unknown, expired,
//! revoked, malformed, belongs to a disabled client or to someone the caller may not see is
//! `{"active": false}`, with nothing that tells these cases apart (R152).
//!
//! Database round trips: one. The read of the token by its hash (only for a token of at most 4096
//! characters) spends the caller's assertion `jti` in the same statement, on Postgres batched with
//! the reads in flight at the same moment (decisions 0018, 0019); SQLite spends, then reads. Then
//! the token's client from the registry's cache.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::hash::TokenHash;
use portcullis_core::token::signed_introspection;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::{AccessTokenRecord, JtiUse};
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
    // The caller's assertion `jti` is spent in the token read's own statement (decision 0019);
    // a replay is refused whatever the read found.
    let hash = (token.len() <= MAX_TOKEN_LEN).then(|| TokenHash::of(token.as_bytes()));
    let store = &state.store;
    let record = match (hash, unspent.assertion()) {
        (Some(hash), Some(assertion)) => match store.access_token_spending(&hash, &assertion).await
        {
            Ok((JtiUse::Fresh, record)) => record,
            Ok((JtiUse::Replayed, _)) => return Err(unspent.replayed(state, peer)),
            Err(e) => return Err(store_failed("introspection lookup failed", &e).into()),
        },
        (hash, _) => {
            unspent.spend(state, peer).await?;
            match hash {
                Some(hash) => store
                    .access_token(&hash)
                    .await
                    .map_err(|e| store_failed("introspection lookup failed", &e))?,
                None => None,
            }
        }
    };
    let members = introspect(
        state,
        &caller.client.client_id,
        caller.client.resource_server,
        record,
    )
    .await?;
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

/// Tokens are base64url (or JWT) text; anything much longer is not one of ours (not looked up).
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// The RFC 7662 members for the token read (`record`, `None` when there is none) as `caller` may
/// see them.
async fn introspect(
    state: &AppState,
    caller: &str,
    resource_server: bool,
    record: Option<AccessTokenRecord>,
) -> Result<Map<String, Value>, TokenError> {
    let inactive = || {
        let mut m = Map::new();
        m.insert("active".into(), json!(false));
        m
    };
    let Some(record) = record else {
        return Ok(inactive());
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
