//! `POST /revoke` (RFC 7009; R156–R161): the owner of a token revokes it.
//!
//! The caller authenticates like at the token endpoint. Both kinds of token are searched, access
//! tokens first unless `token_type_hint=refresh_token` (R160); revoking a refresh token revokes its
//! grant with every token issued from it (R159). Database round trips, in the hinted order, the
//! second kind only when the first does not know the token: for an access token one
//! `UPDATE … WHERE token_hash = ? AND client_id = ?` (on Postgres one statement for the
//! revocations in flight at the same moment, which also tells another client's token from an
//! unknown one, decision 0018, and spends the caller's assertion `jti` when the access token
//! comes first, revoking only if that spend is fresh, decision 0019; on SQLite the spend, then
//! the update, then a read when the update changed nothing); for a refresh token a read, then its
//! grant's revocation in one transaction, after the assertion's spend.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::Revocation;

use crate::endpoints::authenticate_unspent;
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
    // R156: authenticated. The assertion's `jti` is spent in the same statement as the access
    // token's revocation when that comes first (decision 0019), else before anything is changed.
    let unspent = authenticate_unspent(
        state,
        peer,
        headers,
        params,
        crate::security::detect::RATE_REVOKE,
    )
    .await?;
    let checked = params
        .get("token")
        .ok_or(OAuthError::new(
            ErrorCode::InvalidRequest,
            "token is required",
        ))
        .and_then(|token| Ok((token, refresh_first(params)?)));
    let (token, refresh_first) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            unspent.spend(state, peer).await?;
            return Err(e.into());
        }
    };
    let caller = &unspent.client;
    let hash = TokenHash::of(token.as_bytes());
    let (client_id, now) = (&caller.client.client_id, state.clock.now());
    // R160: the hint orders the search; both kinds are searched. R159: revoking a refresh token
    // revokes its grant, and with it the access tokens issued from it.
    let store = &state.store;
    let first = match unspent.assertion() {
        Some(assertion) if !refresh_first => {
            match store
                .revoke_access_token_spending(&hash, client_id, now, &assertion)
                .await
            {
                Ok(None) => return Err(unspent.replayed(state, peer)),
                Ok(Some(revocation)) => Ok(revocation),
                Err(e) => Err(e),
            }
        }
        _ => {
            unspent.spend(state, peer).await?;
            if refresh_first {
                store.revoke_refresh_token(&hash, client_id, now).await
            } else {
                store.revoke_access_token(&hash, client_id, now).await
            }
        }
    };
    let outcome = match first {
        Ok(Revocation::Unknown) if refresh_first => {
            store.revoke_access_token(&hash, client_id, now).await
        }
        Ok(Revocation::Unknown) => store.revoke_refresh_token(&hash, client_id, now).await,
        other => other,
    };
    match outcome {
        // R158: unknown tokens answer 200 like revoked ones.
        Ok(Revocation::Revoked | Revocation::Unknown) => Ok(()),
        // R157: a token of another client is not revoked, and the request is refused.
        Ok(Revocation::NotOwner) => {
            tracing::warn!(client_id = %client_id, "refused revocation of another client's token");
            Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the token was not issued to this client",
            )
            .into())
        }
        Err(e) => Err(store_failed("revocation failed", &e).into()),
    }
}
