//! `POST /revoke` (RFC 7009; R156–R161): the owner of a token revokes it.
//!
//! The caller authenticates like at the token endpoint. Both kinds of token are searched, access
//! tokens first unless `token_type_hint=refresh_token` (R160); revoking a refresh token revokes its
//! grant with every token issued from it (R159). Database round trips after client
//! authentication, in the hinted order, the second kind only when the first does not know the
//! token: for an access token one `UPDATE … WHERE token_hash = ? AND client_id = ?` (on Postgres
//! one statement for the revocations in flight at the same moment, which also tells another
//! client's token from an unknown one, decision 0018; on SQLite a read follows when the update
//! changed nothing); for a refresh token a read, then its grant's revocation in one transaction.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::Revocation;

use crate::endpoints::authenticate;
use crate::error::TokenError;
use crate::error::store_failed;
use crate::extract::Params;
use crate::state::AppState;
use crate::transport::peer::Peer;

/// POST: revokes a token issued to the calling client.
pub(crate) async fn post(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, TokenError> {
    handle(&state, &peer, &headers, &params).await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// R160: whether to look for a refresh token first (`token_type_hint=refresh_token`); a wrong
/// hint is only a hint, an unknown type is refused.
pub(crate) fn refresh_first(params: &Params) -> Result<bool, OAuthError> {
    match params.get("token_type_hint") {
        None | Some("access_token") => Ok(false),
        Some("refresh_token") => Ok(true),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedTokenType,
            "token_type_hint is not supported",
        )),
    }
}

async fn handle(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(), TokenError> {
    // R156: authenticated.
    let caller = authenticate(
        state,
        peer,
        headers,
        params,
        crate::security::detect::RATE_REVOKE,
    )
    .await?;
    let token = params.get("token").ok_or(OAuthError::new(
        ErrorCode::InvalidRequest,
        "token is required",
    ))?;
    let refresh_first = refresh_first(params)?;
    let hash = TokenHash::of(token.as_bytes());
    let (client_id, now) = (&caller.client.client_id, state.clock.now());
    // R160: the hint orders the search; both kinds are searched. R159: revoking a refresh token
    // revokes its grant, and with it the access tokens issued from it.
    let store = &state.store;
    let outcome = if refresh_first {
        match store.revoke_refresh_token(&hash, client_id, now).await {
            Ok(Revocation::Unknown) => store.revoke_access_token(&hash, client_id, now).await,
            other => other,
        }
    } else {
        match store.revoke_access_token(&hash, client_id, now).await {
            Ok(Revocation::Unknown) => store.revoke_refresh_token(&hash, client_id, now).await,
            other => other,
        }
    };
    match outcome {
        // R158: unknown tokens answer 200 like revoked ones.
        Ok(Revocation::Revoked | Revocation::Unknown) => Ok(()),
        // R157: a token of another client is not revoked, and the request is refused.
        Ok(Revocation::NotOwner) => {
            tracing::warn!(client_id = %caller.client.client_id, "refused revocation of another client's token");
            Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the token was not issued to this client",
            )
            .into())
        }
        Err(e) => Err(store_failed("revocation failed", &e).into()),
    }
}
