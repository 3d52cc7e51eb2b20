//! The `authorization_code` grant (RFC 6749 §4.1.3; R72–R79): a code is redeemed once, by the
//! client it was issued to, with the PKCE verifier and (if bound) the same DPoP key; a second
//! redemption revokes everything issued from the first (R74).

use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError, pkce};
use portcullis_store::flow::Redemption;

use super::{binding, invalid_grant, require_grant, token_response};
use crate::client_auth::AuthenticatedClient;
use crate::error::TokenError;
use crate::extract::Params;
use crate::grants;
use crate::peer::Peer;
use crate::state::AppState;
use crate::tokens::unavailable;

/// Exchanges a code for tokens.
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
        "authorization_code",
        "the client may not use authorization_code",
    )?;
    let code = params.get("code").ok_or(OAuthError::new(
        ErrorCode::InvalidRequest,
        "code is required",
    ))?;
    // R79: the proof of possession is checked (and a nonce challenge answered) before the code
    // is touched, so that a retry with a nonce still finds it.
    let (proof_jkt, confirmation) = binding(state, peer, headers, authenticated).await?;
    let now = state.clock.now();
    let (code_record, grant) = match state
        .store
        .redeem_code(&TokenHash::of(code.as_bytes()), now)
        .await
    {
        Ok(Redemption::Fresh { code, grant }) => (code, grant),
        Ok(Redemption::Replayed { grant_id }) => {
            // R74: a replayed code revokes every token issued from the first redemption.
            if let Err(e) = state.store.revoke_grant(&grant_id, now).await {
                tracing::error!(error = %e, "revoking the grant of a replayed code failed");
            }
            tracing::warn!(client_id = %client.client_id, "authorization code replayed; its grant is revoked");
            return Err(invalid_grant("the code has already been used"));
        }
        // R73: unknown or expired.
        Ok(Redemption::Unknown) => return Err(invalid_grant("the code is invalid or expired")),
        Err(e) => return Err(unavailable("redeeming a code failed", &e).into()),
    };
    // R72: issued to this client.
    if code_record.client_id != client.client_id {
        let _ = state.store.revoke_grant(&grant.grant_id, now).await;
        return Err(invalid_grant("the code was issued to another client"));
    }
    // R75: the same redirect URI, if sent.
    if params
        .get("redirect_uri")
        .is_some_and(|uri| uri != code_record.redirect_uri)
    {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    // R76, R77: the PKCE verifier for the recorded S256 challenge.
    match params.get("code_verifier") {
        Some(verifier) if pkce::verify(verifier, &code_record.code_challenge) => {}
        _ => return Err(invalid_grant("code_verifier is missing or wrong")),
    }
    // R78: a code bound to a DPoP key is redeemed with that key only.
    if let Some(bound) = &code_record.dpop_jkt
        && proof_jkt.as_deref() != Some(bound.as_str())
    {
        return Err(invalid_grant("the code is bound to another DPoP key"));
    }
    if grant.revoked_at.is_some() {
        return Err(invalid_grant("the authorization has been revoked"));
    }
    let body = grants::tokens_for_grant(
        state,
        client,
        &grant,
        confirmation,
        code_record.nonce.as_deref(),
        true,
    )
    .await?;
    tracing::info!(client_id = %client.client_id, "authorization code redeemed");
    Ok(token_response(state, body))
}
