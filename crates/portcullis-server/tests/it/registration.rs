//! Dynamic client registration (RFC 7591) and its management (RFC 7592) over real TLS
//! (R162–R171): initial access tokens, software statements, the FAPI metadata rules, read,
//! update with token rotation, delete, and registered clients that then use the token endpoint
//! and the authorization code flow. The requests are `support::registration`.

mod default_scope;
mod endpoint;
mod initial_access_tokens;
mod management;
mod metadata;
mod resource_servers;
mod software_statements;

use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_core::registration::Policy;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::client::{JwtClient, unique};
use crate::support::flow::REDIRECT;
use crate::support::http::Answer;
use crate::support::registration::{initial_access_token, register};
use crate::support::token;

/// Metadata of a private_key_jwt client for client_credentials and the code flow.
fn metadata(key: &PrivateKey) -> Value {
    json!({
        "client_name": "Budget Planner",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "redirect_uris": [REDIRECT],
        "scope": "openid profile accounts",
    })
}

/// A new ES256 key.
fn new_key() -> PrivateKey {
    PrivateKey::generate(Alg::Es256, &unique("kid")).unwrap()
}

/// Registers a client with a fresh key and an unlimited token; returns it and the response.
async fn register_client(server: &TestServer) -> (JwtClient, Value) {
    let token = initial_access_token(server, Policy::default(), None).await;
    let key = new_key();
    let body = register(server, Some(&token), &metadata(&key))
        .await
        .assert_status(201);
    let client = JwtClient {
        id: body["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    (client, body)
}

/// A client_credentials request of `client` for `accounts` ([`token::client_credentials`]).
async fn client_credentials(server: &TestServer, client: &JwtClient) -> Answer {
    token::client_credentials(server, client, "accounts").await
}
