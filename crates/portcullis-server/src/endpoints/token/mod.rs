//! `POST /token` (RFC 6749 §3.2): client authentication, then the grant (R63–R70).
//! Every access token is sender-constrained (R68).
//!
//! The checks run in this order, each refusal a [`TokenError`]: the form (the `Params`
//! extractor), client authentication (`endpoints::authenticate`), `grant_type`, whether the client
//! registered the grant, the grant's parameters and what they name (for a refresh: the token, its
//! grant and user, the scope), then the DPoP proof and the binding ([`binding`]), and only then
//! what the grant spends (a code, a refresh token's last use). Why these are calls in the handler
//! rather than extractors: decision record
//! `docs/decisions/0008-client-authentication-and-dpop-are-explicit-calls.md`.
//!
//! Database round trips of a `client_credentials` request: the client lookup (only when this
//! process's cached registration is older than `clients.cache_secs`), then **one** write: the
//! assertion's `jti` (`private_key_jwt`), the DPoP proof's `jti` (with a `DPoP` header) and the
//! access token row, stored only if both were fresh (decision 0019), batched with the writes of
//! the requests in flight at the same moment on connections with asynchronous commit (decisions
//! 0007, 0015). Signing and nonce keys are in memory. The other grants spend the assertion first,
//! then their own statements.

mod authorization_code;
mod refresh_token;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::scope::Scope;
use portcullis_core::token::sender_constraint;
use portcullis_core::{ErrorCode, OAuthError};

use portcullis_core::dpop::Proof;
use portcullis_store::{JtiUse, Spend};

use crate::clients::auth::AuthenticatedClient;
use crate::endpoints::{Unspent, authenticate_unspent};
use crate::error::{DPOP_NONCE, TokenError};
use crate::extract::Params;
use crate::state::AppState;
use crate::tokens::dpop;
use crate::tokens::issue::{self, Issued, Mint};
use crate::transport::peer::Peer;

/// POST: exchanges a grant for an access token.
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
    // R64: every grant authenticates the client first. The assertion's `jti` is spent before
    // the grant is looked at, except for client_credentials, which spends it in the same write
    // as the token it issues.
    let unspent = authenticate_unspent(
        state,
        peer,
        headers,
        params,
        crate::security::detect::RATE_TOKEN,
    )
    .await?;
    let grant_type = params.get("grant_type");
    if grant_type == Some("client_credentials") {
        return client_credentials(state, peer, headers, params, &unspent).await;
    }
    unspent.spend(state, peer).await?;
    let client = unspent.client;
    match grant_type {
        None => Err(OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required").into()),
        Some("authorization_code") => {
            authorization_code::exchange(state, peer, headers, params, &client).await
        }
        Some("refresh_token") => {
            refresh_token::exchange(state, peer, headers, params, &client).await
        }
        // R67, R185: password, implicit and anything unknown.
        Some(_) => {
            Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type").into())
        }
    }
}

/// R87: `client_credentials`: scopes within the registration, sender-constrained, no refresh
/// token, no ID token.
///
/// The request's single-use values (its assertion's `jti`, its DPoP proof's) are spent in the
/// same write as the token (one batched round trip, decision 0019); the token is stored and
/// answered only if all of them were fresh. Every refusal before that write spends them first,
/// so that a replay is refused as a replay whatever else is wrong with the request, as when they
/// were spent one by one on the way in.
async fn client_credentials(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
    unspent: &Unspent,
) -> Result<Response, TokenError> {
    let authenticated = &unspent.client;
    let client = &authenticated.client;
    let checked = require_grant(
        client,
        "client_credentials",
        "the client may not use client_credentials",
    )
    .and_then(|()| requested_scope(params, &client.scope));
    let scope = match checked {
        Ok(scope) => scope,
        Err(e) => return Err(refuse(state, peer, unspent, None, e).await),
    };
    let proof = match token_proof(state, peer, headers) {
        Ok(proof) => proof,
        Err(e) => return Err(refuse(state, peer, unspent, None, e).await),
    };
    let jkt = proof.as_ref().map(|(p, _)| p.jkt.as_str());
    let confirmation = match confirmation(jkt, authenticated) {
        Ok(confirmation) => confirmation,
        Err(e) => return Err(refuse(state, peer, unspent, proof.as_ref(), e).await),
    };
    let spends: Vec<Spend> = unspent
        .assertion()
        .into_iter()
        .chain(proof.as_ref().map(|(_, spend)| *spend))
        .collect();
    let mint = Mint {
        grant_type: "client_credentials",
        client,
        subject: client.client_id.clone(),
        scope,
        confirmation,
        grant_id: None,
    };
    let (token, grant) = match issue::issue_spending(state, mint, &spends).await {
        Ok(Issued::Token(token, grant)) => (token, grant),
        Ok(Issued::Replayed(used)) => {
            // The assertion first (it is the first spend), as when it was spent on the way in.
            let assertion_replayed = unspent.assertion().is_some() && used[0] != JtiUse::Fresh;
            return Err(match &proof {
                Some((proof, _)) if !assertion_replayed => dpop::replayed(state, proof),
                _ => unspent.replayed(state, peer),
            });
        }
        Err(e) => return Err(refuse(state, peer, unspent, proof.as_ref(), e.into()).await),
    };
    tracing::info!(client_id = %client.client_id, token_type = grant.confirmation.token_type(), "issued access token (client_credentials)");
    Ok(token_response(
        state,
        grant.response(&token, state.clock.now()),
    ))
}

/// A client_credentials refusal `e` that came before the token's write: the assertion and the
/// proof (if validated) are spent first, and a replay of either is the answer instead.
async fn refuse(
    state: &AppState,
    peer: &Peer,
    unspent: &Unspent,
    proof: Option<&(Proof, Spend)>,
    e: TokenError,
) -> TokenError {
    if let Err(replayed) = unspent.spend(state, peer).await {
        return replayed;
    }
    if let Some((proof, spend)) = proof
        && let Err(replayed) = dpop::spend_proof(state, proof, spend).await
    {
        return replayed;
    }
    e
}

/// `invalid_grant` with a fixed description.
pub(crate) fn invalid_grant(description: &'static str) -> TokenError {
    OAuthError::new(ErrorCode::InvalidGrant, description).into()
}

/// R87, RFC 6749 §5.2: a client uses only the grant types it registered.
pub(crate) fn require_grant(
    client: &portcullis_core::client::Client,
    grant_type: &'static str,
    refusal: &'static str,
) -> Result<(), TokenError> {
    if client.allows_grant(grant_type) {
        return Ok(());
    }
    Err(OAuthError::new(ErrorCode::UnauthorizedClient, refusal).into())
}

/// Checks the request's DPoP proof (if any) and chooses the new token's binding (R68, R113,
/// R118). Returns the proof's key thumbprint too, for codes bound to a DPoP key (R78).
pub(crate) async fn binding(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    authenticated: &AuthenticatedClient,
) -> Result<(Option<String>, portcullis_core::token::Confirmation), TokenError> {
    let proof = token_proof(state, peer, headers)?;
    if let Some((proof, spend)) = &proof {
        dpop::spend_proof(state, proof, spend).await?;
    }
    let jkt = proof.map(|(p, _)| p.jkt);
    let confirmation = confirmation(jkt.as_deref(), authenticated)?;
    Ok((jkt, confirmation))
}

/// The request's DPoP proof for `POST /token` as this listener serves it, validated, its `jti`
/// not spent yet ([`dpop::proof_unspent`]).
fn token_proof(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
) -> Result<Option<(Proof, Spend)>, TokenError> {
    let url = dpop::endpoint_url(state, peer.listener, "/token");
    dpop::proof_unspent(state, headers, "POST", &url, None)
}

/// The new token's binding: the proof's key (`jkt`) or the connection's certificate, as the
/// client's registration asks (R68, R113, R118).
fn confirmation(
    jkt: Option<&str>,
    authenticated: &AuthenticatedClient,
) -> Result<portcullis_core::token::Confirmation, TokenError> {
    let certificate = authenticated.certificate.as_ref().map(|c| c.x5t_s256());
    Ok(sender_constraint(jkt, certificate, &authenticated.client)?)
}

/// Scope of a request: the `scope` parameter if sent, within `allowed` (else `invalid_scope`),
/// or `allowed` itself.
pub(crate) fn requested_scope(params: &Params, allowed: &Scope) -> Result<Scope, TokenError> {
    match params.get("scope") {
        Some(text) => {
            let requested = Scope::parse(text)
                .ok_or(OAuthError::new(ErrorCode::InvalidScope, "malformed scope"))?;
            if !requested.is_subset(allowed) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "scope exceeds what was granted",
                )
                .into());
            }
            Ok(requested)
        }
        None => Ok(allowed.clone()),
    }
}

/// A successful token response: JSON, `no-store` (R63), and a fresh DPoP nonce when required.
pub(crate) fn token_response(state: &AppState, body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(nonce) = dpop::next_nonce(state).and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(DPOP_NONCE, nonce);
    }
    response
}
