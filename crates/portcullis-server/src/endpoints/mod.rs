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
pub(crate) mod revoke;
pub(crate) mod token;
pub(crate) mod userinfo;

use axum::http::{HeaderMap, header};

use crate::clients::auth::{self, AuthenticatedClient, Credentials};
use crate::error::TokenError;
use crate::extract::Params;
use crate::state::AppState;
use crate::transport::peer::Peer;

/// Authenticates the client of a token-style request (PAR, token, introspection, revocation) by
/// the credentials it carries: its form parameters, `Authorization` header and certificate.
pub(crate) async fn authenticate(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
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
            if reason == "replayed" {
                state.metrics.replay("client_assertion");
            }
            return Err(e);
        }
    };
    // The client's budget (rate_limits.client or an administrator's override), after
    // authentication: an unauthenticated request never spends a client's budget.
    state.rate_limits.check_client(&client.client.client_id)?;
    Ok(client)
}
