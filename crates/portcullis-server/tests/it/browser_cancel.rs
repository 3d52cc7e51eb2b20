//! R51, R57 in a real browser (headless Chromium): the person changes their mind on the sign-in
//! page and presses Cancel; the browser lands on the client's redirect URI with
//! `error=access_denied`, `state` and `iss`, or with one signed JARM `response` for a JARM
//! client, and the request is used up.

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::TestServer;
use crate::support::client::JwtClient;
use crate::support::flow::CHALLENGE;
use crate::support::webdriver::{self, Browser};

/// Pushes a request of `client` back to `callback`; returns the authorization URL.
async fn push(server: &TestServer, client: &JwtClient, callback: &str) -> String {
    let body = server
        .post("/par")
        .params(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", callback),
            ("scope", "openid profile"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "cancel-state"),
        ])
        .auth(client)
        .send()
        .await
        .assert_status(201);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &client.id)
        .append_pair("request_uri", body["request_uri"].as_str().unwrap())
        .finish();
    format!("{}/authorize?{query}", server.public_url())
}

/// The query parameters of `url`.
fn params(url: &str) -> BTreeMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// A code-flow client named `name` back to `callback`, with `extra` metadata.
async fn client(
    server: &TestServer,
    callback: &str,
    name: &str,
    extra: serde_json::Value,
) -> JwtClient {
    let mut metadata = json!({
        "client_name": name,
        "grant_types": ["authorization_code"],
        "redirect_uris": [callback],
        "scope": "openid profile",
    });
    for (k, v) in extra.as_object().unwrap() {
        metadata[k] = v.clone();
    }
    JwtClient::register(server, metadata).await
}

#[tokio::test]
async fn r51_r57_cancel_on_the_sign_in_page_returns_access_denied_to_the_client() {
    if !webdriver::available() {
        return;
    }
    let server = TestServer::start().await;
    let callback = format!("{}/test/callback", server.public_url());
    let plain = client(&server, &callback, "Budget Planner", json!({})).await;
    let jarm = client(
        &server,
        &callback,
        "Signed Planner",
        json!({ "authorization_signed_response_alg": "ES256" }),
    )
    .await;
    let browser = Browser::start().await;

    // Plain query response.
    let url = push(&server, &plain, &callback).await;
    browser.goto(&url).await;
    assert!(
        browser.wait_for("#login-cancel").await,
        "{}",
        browser.source().await
    );
    assert!(browser.source().await.contains("return to Budget Planner"));
    browser.click("#login-cancel").await;
    let back = params(&browser.wait_for_url(&callback).await);
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], "cancel-state");
    assert_eq!(back["iss"], server.config.issuer);
    assert!(!back.contains_key("code"));
    assert!(browser.wait_for("#submission_complete").await);
    // R48: the request is used up.
    browser.goto(&url).await;
    assert!(browser.wait_for("main").await);
    assert!(browser.source().await.contains("invalid_request_uri"));

    // JARM: the error travels inside the signed response.
    browser.goto(&push(&server, &jarm, &callback).await).await;
    assert!(browser.wait_for("#login-cancel").await);
    browser.click("#login-cancel").await;
    let back = params(&browser.wait_for_url(&callback).await);
    assert!(!back.contains_key("error"), "{back:?}");
    let claims = server.verify(&back["response"]).await;
    assert_eq!(claims["error"], "access_denied");
    assert_eq!(claims["state"], "cancel-state");
    assert_eq!(claims["iss"], server.config.issuer.as_str());
    assert_eq!(claims["aud"], jarm.id.as_str());

    browser.quit().await;
    server.stop().await;
}
