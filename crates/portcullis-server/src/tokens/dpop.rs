//! DPoP at the edge (RFC 9449): read the `DPoP` headers, validate the proof with the core rules,
//! spend its `jti` in the store (R109, across processes), and answer nonce challenges (R112).

use axum::http::HeaderMap;
use portcullis_core::dpop::{self, DpopRejection, Expect, Proof};
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::{JtiUse, Spend};

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

/// Validates the request's DPoP proof, if it has one, for `method` and `url`, and spends its
/// `jti` (R109); `None` when the request carries no `DPoP` header.
pub(crate) async fn proof(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, TokenError> {
    let Some((proof, spend)) = proof_unspent(state, headers, method, url, access_token)? else {
        return Ok(None);
    };
    spend_proof(state, &proof, &spend).await?;
    Ok(Some(proof))
}

/// [`proof`] without spending the proof's `jti`: the proof and its single-use key, which the
/// caller spends before it answers ([`spend_proof`], or in the same write as the token it
/// issues, refusing a replay with [`replayed`]).
pub(crate) fn proof_unspent(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<Option<(Proof, Spend)>, TokenError> {
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
    let spend = Spend {
        key: TokenHash::of(format!("dpop\0{}", dpop::replay_key(&proof)).as_bytes()),
        expires_at: dpop::replay_expires_at(&proof),
    };
    Ok(Some((proof, spend)))
}

/// Spends a validated proof's `jti` (R109); a replay is refused and counted.
pub(crate) async fn spend_proof(
    state: &AppState,
    proof: &Proof,
    spend: &Spend,
) -> Result<(), TokenError> {
    match state.store.record_jti(&spend.key, spend.expires_at).await {
        Ok(JtiUse::Fresh) => Ok(()),
        Ok(JtiUse::Replayed) => Err(replayed(state, proof)),
        Err(e) => Err(store_failed("recording the DPoP jti failed", &e).into()),
    }
}

/// The refusal of a replayed proof, counted (`portcullis_replays_total`, the detectors).
pub(crate) fn replayed(state: &AppState, proof: &Proof) -> TokenError {
    state.metrics.replay("dpop_proof");
    state.monitor.count(
        crate::security::detect::replay_series("dpop_proof"),
        &proof.jkt,
    );
    OAuthError::new(
        ErrorCode::InvalidDpopProof,
        "the DPoP proof has been used before",
    )
    .into()
}

/// A fresh nonce to hand out on successful responses when nonces are required.
pub(crate) fn next_nonce(state: &AppState) -> Option<String> {
    state
        .config
        .dpop
        .require_nonce
        .then(|| state.dpop_nonces.issue(state.clock.now()))
}
