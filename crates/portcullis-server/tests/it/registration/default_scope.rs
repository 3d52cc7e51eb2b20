//! RFC 7591 §2: a client whose metadata has no `scope` member registers
//! `registration.default_scope` (default `openid profile offline_access`), whichever way it is
//! registered (`/register`, `portcullis client create`, the admin UI), and sees it in what each
//! shows back; it can then push `scope=openid`. PAR tells a malformed scope from one the client
//! did not register, and names the latter (R35).

use portcullis_core::registration::Policy;
use serde_json::{Value, json};

use super::{metadata, new_key};
use crate::support::TestServer;
use crate::support::admin::Admin;
use crate::support::cli::portcullis;
use crate::support::client::{JwtClient, unique};
use crate::support::flow::{CHALLENGE, REDIRECT};
use crate::support::http::Answer;
use crate::support::registration::{initial_access_token, register};

/// The default scope as registered (scope tokens are kept sorted).
const DEFAULT: &str = "offline_access openid profile";

/// Pushes an authorization request of `client` for `scope`.
async fn push(server: &TestServer, client: &JwtClient, scope: &str) -> Answer {
    server
        .post("/par")
        .params(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .auth(client)
        .send()
        .await
}

/// Code-flow metadata of a new key, without `scope`.
fn without_scope() -> (Value, portcullis_core::jose::PrivateKey) {
    let key = new_key();
    let mut body = metadata(&key);
    body.as_object_mut().unwrap().remove("scope");
    (body, key)
}

#[tokio::test]
async fn r35_a_client_registered_over_register_without_scope_gets_the_default() {
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), None).await;
    let (body, key) = without_scope();
    let registered = register(&server, Some(&token), &body)
        .await
        .assert_status(201);
    // RFC 7591 §3.2.1: the response holds the metadata as registered.
    assert_eq!(registered["scope"], DEFAULT);
    let client = JwtClient {
        id: registered["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    push(&server, &client, "openid").await.assert_status(201);
    push(&server, &client, "openid profile offline_access")
        .await
        .assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn r35_the_default_scope_stays_within_the_initial_access_token_s_scope() {
    let server = TestServer::start().await;
    let policy = Policy {
        scope: Some("openid accounts".to_owned()),
        ..Policy::default()
    };
    let token = initial_access_token(&server, policy, None).await;
    let (body, _) = without_scope();
    let registered = register(&server, Some(&token), &body)
        .await
        .assert_status(201);
    assert_eq!(registered["scope"], "openid");
    server.stop().await;
}

#[tokio::test]
async fn r35_client_create_without_scope_registers_the_default() {
    let server = TestServer::start().await;
    let (mut body, key) = without_scope();
    let id = unique("cli");
    body["client_id"] = json!(id);
    std::fs::write(server.dir.path().join("client.json"), body.to_string()).unwrap();
    let created = portcullis(
        &server,
        "warn",
        &["client", "create", "--metadata", "client.json"],
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    let shown: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(shown["scope"], DEFAULT);
    let client = JwtClient { id, key };
    push(&server, &client, "openid").await.assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn r35_an_admin_created_client_with_a_blank_scope_gets_the_default_shown() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let form = admin.get("/admin/clients/new").await;
    assert!(
        form.body.contains(&format!(
            "<code id=\"default-scope\">{}</code>",
            "openid profile offline_access"
        )),
        "the form says what a blank scope registers"
    );
    let key = new_key();
    let jwks = json!({ "keys": [key.public_jwk().unwrap()] }).to_string();
    let page = admin
        .post(
            "/admin/clients",
            &[
                ("client_name", "Blank Scope"),
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("jwks", &jwks),
                ("grant_authorization_code", "on"),
                ("redirect_uris", REDIRECT),
                ("scope", ""),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let shown = admin.get(&page.location()).await;
    assert!(
        shown.body.contains(&format!("<dd>{DEFAULT}</dd>")),
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
    push(&server, &JwtClient { id, key }, "openid")
        .await
        .assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn r35_par_names_an_unregistered_scope_and_calls_a_malformed_one_malformed() {
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), None).await;
    let key = new_key();
    let registered = register(&server, Some(&token), &metadata(&key))
        .await
        .assert_status(201);
    let client = JwtClient {
        id: registered["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    let unregistered = push(&server, &client, "openid payments").await;
    unregistered.assert_error(400, "invalid_scope");
    assert_eq!(
        unregistered.body["error_description"],
        "scope payments is not registered for this client"
    );
    let malformed = push(&server, &client, "openid acc\\ounts").await;
    malformed.assert_error(400, "invalid_scope");
    let description = malformed.body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("scope is malformed"),
        "{description}"
    );
    assert!(!description.contains("acc"), "nothing of it is echoed");
    server.stop().await;
}

#[tokio::test]
async fn an_empty_default_scope_registers_none() {
    let server = TestServer::builder()
        .configure(|c| c.registration.default_scope = String::new())
        .start()
        .await;
    let token = initial_access_token(&server, Policy::default(), None).await;
    let (body, key) = without_scope();
    let registered = register(&server, Some(&token), &body)
        .await
        .assert_status(201);
    assert_eq!(registered["scope"], "");
    let client = JwtClient {
        id: registered["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    let refused = push(&server, &client, "openid").await;
    refused.assert_error(400, "invalid_scope");
    assert_eq!(
        refused.body["error_description"],
        "scope openid is not registered for this client"
    );
    server.stop().await;
}
