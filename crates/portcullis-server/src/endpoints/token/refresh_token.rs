//! The `refresh_token` grant (RFC 6749 §6; R80–R86): refresh tokens are bound to the client,
//! not to a key, so a refresh with a new DPoP key binds the new access token to that key (R82);
//! a proof of possession is still required (R81). FAPI 2.0 clients keep their refresh token
//! (no rotation, FAPI2-SP §5.3.2.1-9, R83).

use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_core::hash::TokenHash;
use portcullis_core::scope::Scope;
use portcullis_core::{ErrorCode, OAuthError};

use super::{binding, invalid_grant, requested_scope, require_grant, token_response};
use crate::clients::auth::AuthenticatedClient;
use crate::error::TokenError;
use crate::error::store_failed;
use crate::extract::Params;
use crate::state::AppState;
use crate::tokens::grants;
use crate::transport::peer::Peer;

/// Exchanges a refresh token for a new access token.
pub(super) async fn exchange(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
    authenticated: &AuthenticatedClient,
) -> Result<Response, TokenError> {
    let client = &authenticated.client;
    require_grant(
        client,
        "refresh_token",
        "the client may not use refresh_token",
    )?;
    let token = params.get("refresh_token").ok_or(OAuthError::new(
        ErrorCode::InvalidRequest,
        "refresh_token is required",
    ))?;
    let hash = TokenHash::of(token.as_bytes());
    let now = state.clock.now();
    let record = match state.store.refresh_token(&hash).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(invalid_grant("the refresh token is invalid")),
        Err(e) => return Err(store_failed("refresh token lookup failed", &e).into()),
    };
    // R80: bound to the client it was issued to.
    if record.client_id != client.client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    // R86: revoked, past its absolute lifetime, or idle too long. A revoked token presented
    // again is counted as a replay.
    if record.revoked_at.is_some() {
        state.metrics.replay("refresh_token");
        state.monitor.count(
            crate::security::detect::replay_series("refresh_token"),
            &client.client_id,
        );
    }
    let idle = state.config.flow.refresh_token_idle_secs;
    if record.revoked_at.is_some()
        || now >= record.expires_at
        || now.unix() - record.last_used_at.unix() > idle
    {
        return Err(invalid_grant(
            "the refresh token has expired or was revoked",
        ));
    }
    let grant = match state.store.grant(&record.grant_id).await {
        Ok(Some(grant)) if grant.revoked_at.is_none() => grant,
        Ok(_) => return Err(invalid_grant("the authorization has been revoked")),
        Err(e) => return Err(store_failed("grant lookup failed", &e).into()),
    };
    // A disabled user's clients lose access at their next refresh.
    match state.store.user(&grant.user_id).await {
        Ok(Some(user)) if user.disabled_at.is_none() => {}
        Ok(_) => return Err(invalid_grant("the user is no longer active")),
        Err(e) => return Err(store_failed("user lookup failed", &e).into()),
    }
    // R84: no more than was granted.
    let granted = Scope::parse(&grant.scope).unwrap_or_default();
    let scope = requested_scope(params, &granted)?;
    // R81, R82: a new proof of possession, of any key.
    let (_, confirmation) = binding(state, peer, headers, authenticated).await?;
    state
        .store
        .touch_refresh_token(&hash, now)
        .await
        .map_err(|e| store_failed("updating a refresh token failed", &e))?;
    let mut narrowed = grant.clone();
    narrowed.scope = scope.to_string();
    let body =
        grants::tokens_for_grant(state, client, &narrowed, confirmation, None, false).await?;
    Ok(token_response(state, body))
}
