//! R164, RFC 7591 §2: a bearer-only resource server registers `grant_types: []` (it
//! authenticates only to introspect tokens, and uses no grant) over `/register`, with
//! `portcullis client create` and in the admin UI; a client that is not a resource server and
//! registers no grant type at all is refused, saying why.

use portcullis_core::jose::PrivateKey;
use portcullis_core::registration::Policy;
use serde_json::{Value, json};

use super::new_key;
use crate::support::TestServer;
use crate::support::admin::Admin;
use crate::support::cli::portcullis;
use crate::support::client::{JwtClient, unique};
use crate::support::registration::{initial_access_token, register};
use crate::support::token;

/// A bearer-only resource server's metadata for `key`.
fn resource_server(key: &PrivateKey) -> Value {
    json!({
        "client_name": "Accounts API",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": [],
        "resource_server": true,
    })
}

/// Asserts that `rs` introspects another client's fresh token as active, and may use no grant.
async fn introspects_and_nothing_else(server: &TestServer, rs: &JwtClient) {
    let other = JwtClient::register(server, json!({})).await;
    let issued = token::client_credentials(server, &other, "a")
        .await
        .assert_ok();
    let access = issued["access_token"].as_str().unwrap();
    let info = token::introspect(server, rs, access)
        .send()
        .await
        .assert_ok();
    assert_eq!(info["active"], true, "{info:?}");
    token::client_credentials(server, rs, "a")
        .await
        .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn r164_a_resource_server_registers_no_grant_type_over_register() {
    let server = TestServer::start().await;
    let policy = Policy {
        allow_resource_server: true,
        ..Policy::default()
    };
    let token = initial_access_token(&server, policy, None).await;
    let key = new_key();
    let registered = register(&server, Some(&token), &resource_server(&key))
        .await
        .assert_status(201);
    assert_eq!(registered["grant_types"], json!([]));
    assert_eq!(registered["response_types"], json!([]));
    let rs = JwtClient {
        id: registered["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    introspects_and_nothing_else(&server, &rs).await;

    // Any other client registering no grant type is told why it is refused.
    let mut plain = resource_server(&new_key());
    plain.as_object_mut().unwrap().remove("resource_server");
    let refused = register(&server, Some(&token), &plain).await;
    refused.assert_error(400, "invalid_client_metadata");
    assert!(
        refused.body["error_description"]
            .as_str()
            .unwrap()
            .contains("resource_server"),
        "{:?}",
        refused.body
    );
    server.stop().await;
}

#[tokio::test]
async fn r164_client_create_registers_a_resource_server_with_no_grant_type() {
    let server = TestServer::start().await;
    let key = new_key();
    let id = unique("rs");
    let mut body = resource_server(&key);
    body["client_id"] = json!(id);
    std::fs::write(server.dir.path().join("rs.json"), body.to_string()).unwrap();
    let created = portcullis(
        &server,
        "warn",
        &["client", "create", "--metadata", "rs.json"],
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    introspects_and_nothing_else(&server, &JwtClient { id, key }).await;
    server.stop().await;
}

#[tokio::test]
async fn r164_the_admin_ui_registers_a_resource_server_with_no_grant_type() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let key = new_key();
    let jwks = json!({ "keys": [key.public_jwk().unwrap()] }).to_string();
    let form = |resource_server: bool| {
        let mut fields = vec![
            ("client_name", "Accounts API"),
            ("token_endpoint_auth_method", "private_key_jwt"),
            ("jwks", jwks.as_str()),
        ];
        if resource_server {
            fields.push(("resource_server", "on"));
        }
        fields
    };
    // No grant type ticked and not a resource server: refused, saying why.
    let refused = admin.post("/admin/clients", &form(false)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("only a resource_server may register no grant type")
    );
    let page = admin.post("/admin/clients", &form(true)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let shown = admin.get(&page.location()).await;
    assert!(
        shown.body.contains("none (introspection only)"),
        "{}",
        shown.body
    );
    let id = page
        .location()
        .split('?')
        .next()
        .unwrap()
        .strip_prefix("/admin/clients/")
        .unwrap()
        .to_owned();
    introspects_and_nothing_else(&server, &JwtClient { id, key }).await;
    server.stop().await;
}
