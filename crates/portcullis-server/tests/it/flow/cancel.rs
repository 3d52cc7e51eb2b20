//! R51, R57: the person may refuse on the sign-in page. Cancel uses the pushed request up and
//! returns to the client's redirect URI with `access_denied`, `state` and `iss` (inside the JARM
//! response for a JARM client); it is a form with the sign-in page's CSRF protection (R62). The
//! Chromium test of the same is in `browser_cancel.rs`.

use serde_json::json;

use crate::support::browser::{Browser, Page};
use crate::support::client::PASSWORD;
use crate::support::flow::{Fixture, REDIRECT, jwt_claims};

/// Posts the Cancel form of the sign-in `page`, with `csrf` as its token.
async fn cancel(f: &Fixture, browser: &mut Browser, page: &Page, csrf: &str) -> Page {
    let fields = ["client_id", "request_uri"].map(|n| page.field(n).unwrap_or_default());
    browser
        .post(
            &format!("{}/login", f.server.public_url()),
            &[
                ("csrf_token", csrf),
                ("client_id", &fields[0]),
                ("request_uri", &fields[1]),
                ("cancel", "cancel"),
            ],
        )
        .await
}

#[tokio::test]
async fn r51_cancel_at_sign_in_returns_access_denied_and_uses_the_request_up() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let url = f.pushed(&[]).await;
    let page = browser.get(&url).await;
    assert!(page.body.contains("id=\"login-cancel\""), "{}", page.body);
    let csrf = page.field("csrf_token").unwrap();
    // R62: without the page's CSRF token nothing happens, and the request stays usable.
    let forged = cancel(&f, &mut browser, &page, "forged").await;
    assert_eq!(forged.status, 403);
    assert!(forged.headers.get("location").is_none());
    let back = cancel(&f, &mut browser, &page, &csrf).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(back.location().starts_with(REDIRECT), "{}", back.location());
    let params = back.redirect_params();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], f.server.config.issuer);
    assert!(!params.contains_key("code"));
    // R48: used up; signing in with it now gets nothing.
    let again = browser.get(&url).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("invalid_request_uri"));
    let late = f.sign_in(&mut browser, &page, PASSWORD).await;
    assert_eq!(late.status, 400);
    assert!(late.headers.get("location").is_none());
    f.server.stop().await;
}

#[tokio::test]
async fn r142_cancel_at_sign_in_answers_a_jarm_client_in_its_signed_response() {
    let f = Fixture::new(json!({ "authorization_signed_response_alg": "ES256" })).await;
    let mut browser = Browser::new(&f.server);
    let page = browser.get(&f.pushed(&[]).await).await;
    let csrf = page.field("csrf_token").unwrap();
    let back = cancel(&f, &mut browser, &page, &csrf).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let params = back.redirect_params();
    assert!(!params.contains_key("error"), "only the JWT: {params:?}");
    let claims = f.server.verify(&params["response"]).await;
    assert_eq!(claims["error"], "access_denied");
    assert_eq!(claims["state"], "st-123");
    assert_eq!(claims["iss"], f.server.config.issuer.as_str());
    assert_eq!(claims["aud"], f.client.id.as_str());
    assert!(jwt_claims(&params["response"]).get("code").is_none());
    f.server.stop().await;
}

#[tokio::test]
async fn the_sign_in_page_outside_a_flow_offers_no_cancel() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let page = browser
        .get(&format!("{}/login", f.server.public_url()))
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("login-cancel"));
    f.server.stop().await;
}
