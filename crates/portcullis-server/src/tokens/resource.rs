//! The protected-resource side: checks a presented access token and its sender constraint
//! (RFC 6750 §2.1, RFC 8705 §3, RFC 9449 §7; R115–R119, R144, R147). Userinfo is built on it, and
//! so can any endpoint Portcullis itself protects.

use axum::http::{HeaderMap, header};
use portcullis_core::hash::TokenHash;
use portcullis_core::token::{Confirmation, Grant, binding_holds};
use portcullis_core::{ErrorCode, OAuthError};

use crate::error::{BearerError, store_failed};
use crate::state::AppState;
use crate::tokens::dpop;
use crate::transport::peer::Peer;

fn invalid_token(description: &'static str) -> BearerError {
    OAuthError::new(ErrorCode::InvalidToken, description).into()
}

/// Authorizes a request to a protected resource at `url` and returns what its token grants.
pub async fn authorize(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    method: &str,
    url: &str,
) -> Result<Grant, BearerError> {
    // R144: the token comes only in the Authorization header.
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(BearerError {
            error: None,
            dpop_nonce: None,
        });
    };
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| invalid_token("malformed Authorization header"))?;
    let token = token.trim();
    // R115: the scheme name is case-insensitive.
    let dpop_scheme = match scheme.to_ascii_lowercase().as_str() {
        "dpop" => true,
        "bearer" => false,
        _ => {
            return Err(BearerError {
                error: None,
                dpop_nonce: None,
            });
        }
    };
    let record = match state
        .store
        .access_token(&TokenHash::of(token.as_bytes()))
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return Err(invalid_token("unknown access token")),
        Err(e) => return Err(store_failed("access token lookup failed", &e).into()),
    };
    if record.revoked_at.is_some() || state.clock.now() >= record.grant.expires_at {
        return Err(invalid_token("the access token is revoked or expired"));
    }
    // A database that cannot answer says nothing about the token: 503, never invalid_token.
    match state.clients.get(&record.grant.client_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(invalid_token("the access token's client is disabled")),
        Err(e) => return Err(store_failed("client lookup failed", &e).into()),
    }
    // R115: a DPoP-bound token needs a proof by its key, covering this token (`ath`).
    let proof_jkt = match (&record.grant.confirmation, dpop_scheme) {
        (Confirmation::Jkt(_), true) => dpop::proof(state, headers, method, url, Some(token))
            .await
            .map_err(|e| BearerError {
                error: Some(e.error),
                dpop_nonce: e.dpop_nonce,
            })?
            .map(|p| p.jkt),
        _ => None,
    };
    let certificate = peer.certificate.as_ref().map(|c| c.x5t_s256());
    // R116, R119: the binding must hold; a DPoP-bound token used as Bearer fails here too.
    if !binding_holds(
        &record.grant.confirmation,
        dpop_scheme,
        proof_jkt.as_deref(),
        certificate,
    ) {
        return Err(invalid_token("the access token is bound to another key"));
    }
    Ok(record.grant)
}
