//! The `authorization_code` grant (RFC 6749 §4.1.3; R72–R79): a code is redeemed once, by the
//! client it was issued to, with the PKCE verifier and (if bound) the same DPoP key; a second
//! redemption revokes everything issued from the first (R74).

use crate::security::detect;
use crate::security::{Event, Kind};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_core::code::{self, IssuedCode, Presented};
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::flow::Redemption;

use super::{binding, invalid_grant, require_grant, token_response};
use crate::clients::auth::AuthenticatedClient;
use crate::error::TokenError;
use crate::error::store_failed;
use crate::extract::Params;
use crate::state::AppState;
use crate::tokens::grants;
use crate::transport::peer::Peer;

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
        Ok(Redemption::Fresh { code, grant }) => {
            state
                .monitor
                .count_distinct(detect::SUBJECTS, &client.client_id, &grant.user_id);
            (code, grant)
        }
        Ok(Redemption::Replayed { grant_id }) => {
            state.metrics.replay("code");
            state
                .monitor
                .count(detect::replay_series("code"), &client.client_id);
            // R74: a replayed code revokes every token issued from the first redemption.
            match state.store.revoke_grant(&grant_id, now).await {
                Ok(()) => state.monitor.raise_later(
                    Event::new(
                        Kind::GrantRevokedOnReplay,
                        format!(
                            "An authorization code of client {} was presented twice: its grant and every token issued from it are revoked. The code, or the client's credentials, may be stolen.",
                            client.client_id
                        ),
                    )
                    .client(&client.client_id)
                    .evidence(serde_json::json!({ "replayed": "code", "grant_revoked": true }))
                    .incident(format!("{}|{grant_id}", client.client_id)),
                ),
                Err(e) => {
                    tracing::error!(error = %e, "revoking the grant of a replayed code failed");
                }
            }
            tracing::warn!(client_id = %client.client_id, "authorization code replayed; its grant is revoked");
            return Err(invalid_grant("the code has already been used"));
        }
        // R73: unknown or expired.
        Ok(Redemption::Unknown) => return Err(invalid_grant("the code is invalid or expired")),
        Err(e) => return Err(store_failed("redeeming a code failed", &e).into()),
    };
    // R72, R75–R78: the core decides whether the spent code yields tokens for this request.
    let issued = IssuedCode {
        client_id: &code_record.client_id,
        redirect_uri: &code_record.redirect_uri,
        code_challenge: &code_record.code_challenge,
        dpop_jkt: code_record.dpop_jkt.as_deref(),
        grant_revoked: grant.revoked_at.is_some(),
    };
    let presented = Presented {
        client_id: &client.client_id,
        redirect_uri: params.get("redirect_uri"),
        code_verifier: params.get("code_verifier"),
        proof_jkt: proof_jkt.as_deref(),
    };
    if let Err(refusal) = code::redeem(&issued, &presented) {
        if refusal.revokes_grant()
            && let Err(e) = state.store.revoke_grant(&grant.grant_id, now).await
        {
            tracing::error!(error = %e, "revoking the grant of a code presented by another client failed");
        }
        return Err(refusal.error().into());
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
