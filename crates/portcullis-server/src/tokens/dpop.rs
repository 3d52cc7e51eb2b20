//! DPoP at the edge (RFC 9449): read the `DPoP` headers, validate the proof with the core rules,
//! spend its `jti` in the store (R109, across processes), and answer nonce challenges (R112).

use axum::http::HeaderMap;
use portcullis_core::dpop::{self, DpopRejection, Expect, Proof};
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::JtiUse;

use crate::error::{TokenError, store_failed};
use crate::state::AppState;
use crate::transport::peer::Listener;

/// The absolute URL of `path` as a client reaches it through `listener` (the `htu` to expect).
pub(crate) fn endpoint_url(state: &AppState, listener: Listener, path: &str) -> String {
    match listener {
        Listener::Public => format!("{}{path}", state.config.issuer),
        Listener::Mtls => format!("{}{path}", state.mtls_base_url),
    }
}

/// Validates the request's DPoP proof, if it has one, for `method` and `url`; `None` when the
/// request carries no `DPoP` header.
pub(crate) async fn proof(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, TokenError> {
    let values: Vec<&str> = headers
        .get_all("dpop")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let now = state.clock.now();
    let expect = Expect {
        method,
        url,
        now,
        access_token,
        nonce: state
            .config
            .dpop
            .require_nonce
            .then_some(&*state.dpop_nonces),
    };
    let proof = match dpop::validate(&values, &expect) {
        Ok(proof) => proof,
        Err(DpopRejection::UseNonce) => {
            return Err(TokenError {
                error: DpopRejection::UseNonce.error(),
                used_authorization_header: false,
                dpop_nonce: Some(state.dpop_nonces.issue(now)),
                throttled: None,
            });
        }
        Err(DpopRejection::Invalid(e)) => return Err(e.into()),
    };
    // R109: a proof is accepted once, on any server process.
    let key = TokenHash::of(format!("dpop\0{}", dpop::replay_key(&proof)).as_bytes());
    match state
        .store
        .record_jti(&key, dpop::replay_expires_at(&proof))
        .await
    {
        Ok(JtiUse::Fresh) => Ok(Some(proof)),
        Ok(JtiUse::Replayed) => {
            state.metrics.replay("dpop_proof");
            state.monitor.count(
                crate::security::detect::replay_series("dpop_proof"),
                &proof.jkt,
            );
            Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "the DPoP proof has been used before",
            )
            .into())
        }
        Err(e) => Err(store_failed("recording the DPoP jti failed", &e).into()),
    }
}

/// A fresh nonce to hand out on successful responses when nonces are required.
pub(crate) fn next_nonce(state: &AppState) -> Option<String> {
    state
        .config
        .dpop
        .require_nonce
        .then(|| state.dpop_nonces.issue(state.clock.now()))
}
