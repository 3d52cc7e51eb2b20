//! The registration endpoint in the server: advertised in discovery with its mTLS alias, switched
//! off, and a registered client that completes the authorization code flow.

use portcullis_core::registration::Policy;
use reqwest::Method;
use serde_json::Value;

use super::{metadata, new_key, register_client};
use crate::support::TestServer;
use crate::support::browser::Browser;
use crate::support::client::DpopKey;
use crate::support::flow::{Fixture, VERIFIER};
use crate::support::http::fetch_json;
use crate::support::registration::{initial_access_token, register, send_json};

/// The discovery document.
async fn discovery(server: &TestServer) -> Value {
    let url = format!("{}/.well-known/openid-configuration", server.public_url());
    fetch_json(server.client(None).get(url)).await
}

#[tokio::test]
async fn a_client_registered_over_register_completes_the_authorization_code_flow() {
    let server = TestServer::start().await;
    let (client, _) = register_client(&server).await;
    let f = Fixture::with_client(server, client).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = f.authorize(&mut browser, Some(&key)).await;
    assert_eq!(params["iss"], f.server.config.issuer);
    let body = f
        .exchange(&params["code"], VERIFIER, Some(&key), &f.client)
        .await
        .assert_ok();
    assert_eq!(body["token_type"], "DPoP");
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());
    f.server.stop().await;
}

#[tokio::test]
async fn the_registration_endpoint_is_advertised_and_served_on_its_mtls_alias() {
    let server = TestServer::start().await;
    let doc = discovery(&server).await;
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/register", server.public_url())
    );
    let alias = doc["mtls_endpoint_aliases"]["registration_endpoint"]
        .as_str()
        .unwrap();
    assert_eq!(alias, format!("{}/register", server.mtls_url()));
    let token = initial_access_token(&server, Policy::default(), None).await;
    send_json(
        &server,
        Method::POST,
        alias,
        Some(&token),
        Some(&metadata(&new_key())),
    )
    .await
    .assert_status(201);
    server.stop().await;
}

#[tokio::test]
async fn a_disabled_registration_endpoint_is_neither_served_nor_advertised() {
    let server = TestServer::builder()
        .configure(|c| c.registration.enabled = false)
        .start()
        .await;
    let doc = discovery(&server).await;
    assert!(doc.get("registration_endpoint").is_none());
    assert!(
        doc["mtls_endpoint_aliases"]
            .get("registration_endpoint")
            .is_none()
    );
    let token = initial_access_token(&server, Policy::default(), None).await;
    assert_eq!(
        register(&server, Some(&token), &metadata(&new_key()))
            .await
            .status,
        404
    );
    server.stop().await;
}
