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

use portcullis_store::Spend;

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
    authenticated(state, peer, headers, params, series, true)
        .await
        .map(|unspent| unspent.client)
}

/// [`authenticate`] that leaves the assertion's `jti` unspent, for an endpoint that spends it
/// together with its own statement (the token endpoint's `client_credentials`, in the same write
/// as the token; introspection and revocation, in the token's read or revocation; decision
/// 0019). The client's budget is checked before the spend here: a replay of the client's own
/// assertion, still unexpired, counts once against that client's budget before it is refused.
pub(crate) async fn authenticate_unspent(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
    series: &'static str,
) -> Result<Unspent, TokenError> {
    authenticated(state, peer, headers, params, series, false).await
}

/// An authenticated client whose assertion `jti` (with `private_key_jwt`) is not spent yet. The
/// endpoint holding it spends it before it answers: [`Unspent::spend`] alone, or
/// [`Unspent::assertion`] in its own write and [`Unspent::replayed`] when that says it was used.
#[must_use]
#[derive(Debug)]
pub(crate) struct Unspent {
    pub(crate) client: AuthenticatedClient,
    assertion: Option<Spend>,
}

impl Unspent {
    /// The assertion's single-use key, if the client authenticated by one.
    pub(crate) fn assertion(&self) -> Option<Spend> {
        self.assertion
    }

    /// Spends the assertion's `jti` (R94); a replay is refused and counted.
    pub(crate) async fn spend(&self, state: &AppState, peer: &Peer) -> Result<(), TokenError> {
        let Some(assertion) = &self.assertion else {
            return Ok(());
        };
        match state.clients.spend_assertion(assertion).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.refused(state, peer, e)),
        }
    }

    /// The refusal of this request's replayed assertion, counted as any refused authentication.
    pub(crate) fn replayed(&self, state: &AppState, peer: &Peer) -> TokenError {
        self.refused(state, peer, auth::replayed_assertion())
    }

    fn refused(&self, state: &AppState, peer: &Peer, e: TokenError) -> TokenError {
        let reason = auth::failure_reason(&e.error);
        state.metrics.client_auth_failure("private_key_jwt", reason);
        let client_id = &self.client.client.client_id;
        count_failure(state, peer, Some(client_id.clone()), reason);
        e
    }
}

async fn authenticated(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
    series: &'static str,
    spend_now: bool,
) -> Result<Unspent, TokenError> {
    let credentials = Credentials {
        assertion: params.get("client_assertion"),
        assertion_type: params.get("client_assertion_type"),
        client_id: params.get("client_id"),
        authorization_header: headers.contains_key(header::AUTHORIZATION),
        certificate: peer.certificate.as_ref(),
    };
    let method = auth::attempted_method(&credentials);
    let now = state.clock.now();
    let clients = &state.clients;
    let authenticated = if spend_now {
        let client = clients.authenticate(credentials, now).await;
        client.map(|client| (client, None))
    } else {
        clients.authenticate_unspent(credentials, now).await
    };
    let (client, assertion) = match authenticated {
        Ok(authenticated) => authenticated,
        Err(e) => {
            let reason = auth::failure_reason(&e.error);
            state.metrics.client_auth_failure(method, reason);
            count_failure(state, peer, named(&credentials), reason);
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
    Ok(Unspent { client, assertion })
}

/// The client a request named (by its assertion, or its `client_id`), verified or not.
fn named(credentials: &Credentials<'_>) -> Option<String> {
    credentials
        .assertion
        .and_then(portcullis_core::client_auth::assertion_client_id)
        .or_else(|| credentials.client_id.map(str::to_owned))
}

/// Counts a refused client authentication for the security detectors: deployment-wide, per
/// source address, and per client when the request named one (a replay, per client too). An
/// unknown client is counted only per address, so that invented ids make no series; a disabled
/// one is counted as such (`disabled_client`).
fn count_failure(state: &AppState, peer: &Peer, named: Option<String>, reason: &str) {
    if reason == "unavailable" {
        return;
    }
    let monitor = &state.monitor;
    monitor.count(detect::AUTH_FAILURES, "");
    monitor.count(detect::FAIL_ADDRESS, &peer.address.to_string());
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
