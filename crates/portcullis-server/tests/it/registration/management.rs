//! The client configuration endpoint (RFC 7592): read (R168), update with token rotation (R169)
//! and delete (R170), each with its registration access token only.

use portcullis_core::hash::TokenHash;
use portcullis_core::registration::Policy;
use reqwest::Method;
use serde_json::{Value, json};

use super::{client_credentials, metadata, new_key, register_client};
use crate::support::TestServer;
use crate::support::client::JwtClient;
use crate::support::http::Answer;
use crate::support::registration::{initial_access_token, register, send_json};

#[tokio::test]
async fn r168_read_returns_the_registration_to_its_own_token_only() {
    let server = TestServer::start().await;
    let (client, registered) = register_client(&server).await;
    let (other, other_registered) = register_client(&server).await;
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let Answer {
        status,
        headers,
        body,
    } = send_json(&server, Method::GET, uri, Some(rat), None).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body, registered, "the same document, token included");
    // Missing, wrong, or another client's token: 401 alike.
    send_json(&server, Method::GET, uri, None, None)
        .await
        .assert_error(401, "invalid_token");
    send_json(&server, Method::GET, uri, Some("nope"), None)
        .await
        .assert_error(401, "invalid_token");
    let other_rat = other_registered["registration_access_token"]
        .as_str()
        .unwrap();
    send_json(&server, Method::GET, uri, Some(other_rat), None)
        .await
        .assert_error(401, "invalid_token");
    // A disabled client cannot be managed.
    let state = &server.running().state;
    state
        .store
        .disable_client(&client.id, server.now())
        .await
        .unwrap();
    send_json(&server, Method::GET, uri, Some(rat), None)
        .await
        .assert_error(401, "invalid_token");
    let other_uri = other_registered["registration_client_uri"]
        .as_str()
        .unwrap();
    assert_eq!(
        send_json(&server, Method::GET, other_uri, Some(other_rat), None)
            .await
            .status,
        200
    );
    assert_ne!(client.id, other.id);
    server.stop().await;
}

#[tokio::test]
async fn r169_an_update_replaces_the_metadata_and_rotates_the_registration_access_token() {
    let server = TestServer::start().await;
    let (client, registered) = register_client(&server).await;
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let old = registered["registration_access_token"].as_str().unwrap();
    // The client is in use (and so in this process's cache) before it changes.
    assert_eq!(client_credentials(&server, &client).await.status, 200);
    // The client's own view, changed: a new redirect URI, no client_name (cleared), a new key.
    let new_key = new_key();
    let mut update = registered.clone();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
        "client_name",
    ] {
        update.as_object_mut().unwrap().remove(member);
    }
    update["redirect_uris"] = json!(["https://client.example/new-cb"]);
    update["jwks"] = json!({ "keys": [new_key.public_jwk().unwrap()] });
    server.clock.advance(5);
    let Answer {
        status,
        headers,
        body,
    } = send_json(&server, Method::PUT, uri, Some(old), Some(&update)).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["client_id"], client.id.as_str());
    assert_eq!(
        body["redirect_uris"],
        json!(["https://client.example/new-cb"])
    );
    assert!(
        body.get("client_name").is_none(),
        "R169: omitted members are cleared"
    );
    assert_eq!(
        body["client_id_issued_at"],
        registered["client_id_issued_at"]
    );
    assert_eq!(body["registration_client_uri"], uri);
    let new = body["registration_access_token"].as_str().unwrap();
    assert_ne!(new, old, "rotated on update");

    // The old token is refused from now on; the new one reads the new metadata.
    send_json(&server, Method::GET, uri, Some(old), None)
        .await
        .assert_error(401, "invalid_token");
    send_json(&server, Method::PUT, uri, Some(old), Some(&update))
        .await
        .assert_error(401, "invalid_token");
    let Answer {
        status, body: read, ..
    } = send_json(&server, Method::GET, uri, Some(new), None).await;
    assert_eq!(
        (status, &read["redirect_uris"]),
        (200, &body["redirect_uris"])
    );
    // The new key authenticates at once in this process; the old one no longer does.
    let rotated = JwtClient {
        id: client.id.clone(),
        key: new_key,
    };
    assert_eq!(client_credentials(&server, &rotated).await.status, 200);
    client_credentials(&server, &client)
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

#[tokio::test]
async fn r169_updates_are_validated_again_and_held_to_the_registration_policy() {
    let server = TestServer::start().await;
    let key = new_key();
    let narrow = initial_access_token(
        &server,
        Policy {
            scope: Some("openid profile accounts".into()),
            ..Policy::default()
        },
        None,
    )
    .await;
    let registered = register(&server, Some(&narrow), &metadata(&key))
        .await
        .assert_status(201);
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let base = {
        let mut m = metadata(&key);
        m["client_id"] = json!(client_id);
        m
    };
    let with = |changes: Value| {
        let mut m = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    let refusals = [
        (
            with(json!({ "redirect_uris": ["http://client.example/cb"] })),
            "invalid_redirect_uri",
        ),
        (
            with(json!({ "token_endpoint_auth_method": "client_secret_basic" })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "jwks_uri": "https://client.example/jwks" })),
            "invalid_client_metadata",
        ),
        // Wider than the initial access token allowed.
        (
            with(json!({ "scope": "openid accounts payments" })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "resource_server": true })),
            "invalid_client_metadata",
        ),
        // RFC 7592 §2.2: the client_id must be there and be this client's.
        (
            with(json!({ "client_id": "someone-else" })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "registration_access_token": rat })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "client_id_issued_at": 1 })),
            "invalid_client_metadata",
        ),
    ];
    for (body, code) in refusals {
        send_json(&server, Method::PUT, uri, Some(rat), Some(&body))
            .await
            .assert_error(400, code);
    }
    let mut no_id = base.clone();
    no_id.as_object_mut().unwrap().remove("client_id");
    send_json(&server, Method::PUT, uri, Some(rat), Some(&no_id))
        .await
        .assert_error(400, "invalid_client_metadata");
    // Refused updates changed nothing: the token still works and reads the original document.
    let Answer {
        status, body: read, ..
    } = send_json(&server, Method::GET, uri, Some(rat), None).await;
    assert_eq!((status, &read), (200, &registered));
    server.stop().await;
}

#[tokio::test]
async fn r170_delete_removes_the_client_its_tokens_and_its_registration() {
    let server = TestServer::start().await;
    let (client, registered) = register_client(&server).await;
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let body = client_credentials(&server, &client).await.assert_ok();
    let access = TokenHash::of(body["access_token"].as_str().unwrap().as_bytes());
    send_json(&server, Method::DELETE, uri, Some("nope"), None)
        .await
        .assert_error(401, "invalid_token");

    let Answer {
        status,
        headers,
        body,
    } = send_json(&server, Method::DELETE, uri, Some(rat), None).await;
    assert_eq!((status, &body), (204, &Value::Null));
    assert_eq!(headers["cache-control"], "no-store");
    // R170: the registration access token is gone with the client.
    send_json(&server, Method::GET, uri, Some(rat), None)
        .await
        .assert_error(401, "invalid_token");
    send_json(&server, Method::DELETE, uri, Some(rat), None)
        .await
        .assert_error(401, "invalid_token");
    client_credentials(&server, &client)
        .await
        .assert_error(401, "invalid_client");
    let store = &server.running().state.store;
    assert_eq!(
        store.access_token(&access).await.unwrap(),
        None,
        "its tokens are deleted"
    );
    assert_eq!(store.client(&client.id).await.unwrap(), None);
    server.stop().await;
}
