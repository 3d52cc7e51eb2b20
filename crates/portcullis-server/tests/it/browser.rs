//! The flow in a real browser (headless Chromium through WebDriver): PAR → authorize → sign-in
//! (a wrong password first) → consent → redirect → token exchange; the account page and its
//! revocation; a denial; `prompt=none` after signing out. With `TEST_SCREENSHOTS=dir` the
//! pages are saved as PNGs (docs/screenshots comes from here).

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::TestServer;
use crate::support::client::{DpopKey, JwtClient, PASSWORD, add_user};
use crate::support::flow::{CHALLENGE, VERIFIER};
use crate::support::token;
use crate::support::webdriver::{self, Browser};

/// Pushes an authorization request of `client` back to `callback` (with `extra` parameters) and
/// returns the authorization URL.
async fn push(
    server: &TestServer,
    client: &JwtClient,
    callback: &str,
    extra: &[(&str, &str)],
) -> String {
    let body = server
        .post("/par")
        .params(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", callback),
            ("scope", "openid profile"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "browser-state"),
            ("nonce", "browser-nonce"),
        ])
        .params(extra)
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

#[tokio::test]
async fn browser_signs_in_consents_and_the_client_gets_tokens() {
    if !webdriver::available() {
        return;
    }
    let server = TestServer::start().await;
    let callback = format!("{}/test/callback", server.public_url());
    let client = JwtClient::register(
        &server,
        json!({
            "client_name": "Budget Planner",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [callback],
            "scope": "openid profile",
            "policy_uri": "https://budget.example/privacy",
            "tos_uri": "https://budget.example/terms",
        }),
    )
    .await;
    let username = add_user(&server).await;
    let browser = Browser::start().await;

    // Sign-in page, a wrong password first.
    browser
        .goto(&push(&server, &client, &callback, &[]).await)
        .await;
    assert!(
        browser.wait_for("#login-submit").await,
        "{}",
        browser.source().await
    );
    assert!(browser.source().await.contains("Budget Planner"));
    browser.screenshot("login").await;
    browser.type_into("#username", &username).await;
    browser.type_into("#password", "not my password").await;
    browser.click("#login-submit").await;
    assert!(
        browser.wait_for("#login-error").await,
        "a wrong password shows an error"
    );
    browser.screenshot("login-error").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-submit").await;

    // Consent page, then the redirect back to the client.
    assert!(
        browser.wait_for("#approve").await,
        "{}",
        browser.source().await
    );
    let consent = browser.source().await;
    assert!(
        consent.contains("privacy policy") && consent.contains("See your user name"),
        "R57"
    );
    browser.screenshot("consent").await;
    browser.click("#approve").await;
    let landed = browser.wait_for_url(&callback).await;
    let back = params(&landed);
    assert_eq!(back["state"], "browser-state");
    assert_eq!(back["iss"], server.config.issuer);
    assert!(browser.wait_for("#submission_complete").await);

    // The client exchanges the code.
    let key = DpopKey::new();
    let tokens = server
        .post("/token")
        .params(&[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", &callback),
            ("code_verifier", VERIFIER),
        ])
        .auth(&client)
        .dpop(&key)
        .send()
        .await
        .assert_ok();
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());

    // The account page lists the client; removing it revokes the tokens.
    browser
        .goto(&format!("{}/account", server.public_url()))
        .await;
    assert!(browser.source().await.contains("Budget Planner"));
    browser.screenshot("account").await;
    browser.click(&format!("#revoke-{}", client.id)).await;
    assert!(browser.wait_for("#no-grants").await);
    token::refresh(&server, &client, tokens["refresh_token"].as_str().unwrap())
        .dpop(&key)
        .send()
        .await
        .assert_error(400, "invalid_grant");

    // A denial: consent was removed, so the page comes again; the user says no.
    browser
        .goto(&push(&server, &client, &callback, &[]).await)
        .await;
    assert!(browser.wait_for("#deny").await);
    browser.click("#deny").await;
    let denied = params(&browser.wait_for_url(&callback).await);
    assert_eq!(
        (denied["error"].as_str(), denied["state"].as_str()),
        ("access_denied", "browser-state")
    );
    assert!(!denied.contains_key("code"));

    // Signed out, prompt=none comes back with login_required.
    browser
        .goto(&format!("{}/account", server.public_url()))
        .await;
    browser.click("#logout").await;
    // The sign-out's answer (a redirect to the sign-in page) must land before the next
    // navigation: started earlier, that navigation could be overtaken by it.
    browser
        .wait_for_url(&format!("{}/login", server.public_url()))
        .await;
    browser
        .goto(&push(&server, &client, &callback, &[("prompt", "none")]).await)
        .await;
    let silent = params(&browser.wait_for_url(&callback).await);
    assert_eq!(silent["error"], "login_required");

    browser.quit().await;
    server.stop().await;
}
