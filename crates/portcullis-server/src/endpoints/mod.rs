//! One module per endpoint; handlers are named after the HTTP method.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod authorize;
pub(crate) mod consent;
pub(crate) mod discovery;
pub(crate) mod health;
pub(crate) mod introspect;
pub(crate) mod jwks;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod par;
pub(crate) mod register;
pub(crate) mod resource_events;
pub(crate) mod revoke;
pub(crate) mod token;
pub(crate) mod userinfo;

use axum::http::{HeaderMap, header};

use crate::clients::auth::{self, AuthenticatedClient, Credentials};
use crate::error::TokenError;
use crate::extract::Params;
use crate::security::detect;
use crate::state::AppState;
use crate::transport::peer::Peer;

/// Authenticates the client of a token-style request (PAR, token, introspection, revocation) by
/// the credentials it carries: its form parameters, `Authorization` header and certificate.
/// `series` is the endpoint's rate series (`security::detect::RATE_TOKEN` …): a success counts
/// one request of the client there and notes its network and certificate; a failure counts an
/// authentication failure for the address and the client it named.
pub(crate) async fn authenticate(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
    series: &'static str,
) -> Result<AuthenticatedClient, TokenError> {
    let credentials = Credentials {
        assertion: params.get("client_assertion"),
        assertion_type: params.get("client_assertion_type"),
        client_id: params.get("client_id"),
        authorization_header: headers.contains_key(header::AUTHORIZATION),
        certificate: peer.certificate.as_ref(),
    };
    let method = auth::attempted_method(&credentials);
    let client = match state
        .clients
        .authenticate(credentials, state.clock.now())
        .await
    {
        Ok(client) => client,
        Err(e) => {
            let reason = auth::failure_reason(&e.error);
            state.metrics.client_auth_failure(method, reason);
            count_failure(state, peer, &credentials, reason);
            return Err(e);
        }
    };
    let client_id = &client.client.client_id;
    // The client's budget (rate_limits.client or an administrator's override), after
    // authentication: an unauthenticated request never spends a client's budget.
    if let Err(refused) = state.rate_limits.check_client(client_id) {
        state
            .monitor
            .count(detect::limited_series("client"), client_id);
        return Err(refused.into());
    }
    state.monitor.count(series, client_id);
    state.monitor.seen(
        client_id,
        peer.address,
        client.certificate.as_deref().map(|c| c.x5t_s256()),
    );
    Ok(client)
}

/// Counts a refused client authentication for the security detectors: deployment-wide, per
/// source address, and per client when the request named one (a replay, per client too). An
/// unknown client is counted only per address, so that invented ids make no series; a disabled
/// one is counted as such (`disabled_client`).
fn count_failure(state: &AppState, peer: &Peer, credentials: &Credentials<'_>, reason: &str) {
    if reason == "unavailable" {
        return;
    }
    let monitor = &state.monitor;
    monitor.count(detect::AUTH_FAILURES, "");
    monitor.count(detect::FAIL_ADDRESS, &peer.address.to_string());
    let named = credentials
        .assertion
        .and_then(portcullis_core::client_auth::assertion_client_id)
        .or_else(|| credentials.client_id.map(str::to_owned));
    if reason == "unknown_client" {
        if let Some(client_id) = named
            && state.clients.is_disabled(&client_id)
        {
            monitor.count(detect::DISABLED, &client_id);
        }
        return;
    }
    if let Some(client_id) = named {
        monitor.count(detect::FAIL_CLIENT, &client_id);
        if reason == "replayed" {
            state.metrics.replay("client_assertion");
            monitor.count(detect::replay_series("client_assertion"), &client_id);
        }
    }
}
