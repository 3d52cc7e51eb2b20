//! The FAPI metadata rules a registration is held to (R164, R165), and what the server chooses
//! itself (R171).

use portcullis_core::registration::Policy;
use serde_json::{Value, json};

use super::{metadata, new_key};
use crate::support::TestServer;
use crate::support::client::apply_changes;
use crate::support::registration::{initial_access_token, register};

#[tokio::test]
async fn r164_r165_fapi_metadata_rules_are_enforced_without_spending_the_token() {
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let key = new_key();
    let mut private = serde_json::from_slice::<Value>(&key.to_json()).unwrap();
    private["kid"] = json!("private");
    let refusals = [
        (
            json!({ "token_endpoint_auth_method": "client_secret_basic" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "token_endpoint_auth_method": "none" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["http://client.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://client.example/cb#frag"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "response_types": ["code", "token"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "grant_types": ["password"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "jwks": { "keys": [private] } }),
            "invalid_client_metadata",
        ),
        (
            json!({ "jwks_uri": "https://client.example/jwks" }),
            "invalid_client_metadata",
        ),
        (json!({ "jwks": null }), "invalid_client_metadata"),
        (
            json!({ "id_token_signed_response_alg": "RS256" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": "https://client.example/cb" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "software_statement": 42 }),
            "invalid_software_statement",
        ),
    ];
    for (changes, code) in refusals {
        let mut body = metadata(&key);
        apply_changes(body.as_object_mut().unwrap(), &changes);
        register(&server, Some(&token), &body)
            .await
            .assert_error(400, code);
    }
    // Not JSON.
    let url = format!("{}/register", server.public_url());
    let response = server
        .client(None)
        .post(&url)
        .bearer_auth(&token)
        .form(&[("client_name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // None of these spent the single use.
    assert_eq!(
        register(&server, Some(&token), &metadata(&key))
            .await
            .status,
        201
    );
    server.stop().await;
}

#[tokio::test]
async fn r171_the_server_chooses_the_client_id_and_unknown_metadata_is_ignored() {
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), None).await;
    let mut body = metadata(&new_key());
    body["client_id"] = json!("user-alice");
    body["client_secret"] = json!("chosen");
    body["frobnication_level"] = json!(11);
    let response = register(&server, Some(&token), &body)
        .await
        .assert_status(201);
    let client_id = response["client_id"].as_str().unwrap();
    assert_ne!(client_id, "user-alice");
    assert!(!client_id.starts_with("user-"));
    assert!(response.get("client_secret").is_none());
    assert!(response.get("frobnication_level").is_none());
    let again = register(&server, Some(&token), &body).await.body;
    assert_ne!(again["client_id"], response["client_id"]);
    server.stop().await;
}
