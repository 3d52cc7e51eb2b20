//! The token endpoint and its siblings (introspection, revocation) as the tests call them, built
//! on [`FormPost`].

use super::client::{DpopKey, JwtClient};
use super::http::{Answer, FormPost};
use super::server::TestServer;

/// A client_credentials request of `client` for `scope`, with a proof of a fresh DPoP key.
pub(crate) async fn client_credentials(
    server: &TestServer,
    client: &JwtClient,
    scope: &str,
) -> Answer {
    server
        .post("/token")
        .params(&[("grant_type", "client_credentials"), ("scope", scope)])
        .auth(client)
        .dpop(&DpopKey::new())
        .send()
        .await
}

/// A refresh_token request of `client`, not sent yet (a DPoP proof goes with
/// [`FormPost::dpop`]).
pub(crate) fn refresh<'a>(
    server: &'a TestServer,
    client: &JwtClient,
    refresh_token: &str,
) -> FormPost<'a> {
    server
        .post("/token")
        .params(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .auth(client)
}

/// An introspection request of `caller` for `token`, not sent yet.
pub(crate) fn introspect<'a>(
    server: &'a TestServer,
    caller: &JwtClient,
    token: &str,
) -> FormPost<'a> {
    server
        .post("/introspect")
        .param("token", token)
        .auth(caller)
}

/// A revocation request of `caller` for `token`, not sent yet.
pub(crate) fn revoke<'a>(server: &'a TestServer, caller: &JwtClient, token: &str) -> FormPost<'a> {
    server.post("/revoke").param("token", token).auth(caller)
}
