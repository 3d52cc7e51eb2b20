//! The front channel: the request_uri's binding, single use and lifetime (R44–R48), state (R49),
//! sign-in and consent with their refusals (R51–R62), the interaction lifetime, and the signed
//! JARM response (R140–R142).

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::client::PASSWORD;
use crate::support::flow::{Fixture, REDIRECT};

#[tokio::test]
async fn r46_r47_r48_request_uri_is_bound_single_use_and_short_lived() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let body = f.par(f.par_params(&[]), None).await.body;
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(body["expires_in"].as_i64().unwrap() < 600, "R27");
    // R48: loading the page twice is fine; the request is used at authorization.
    assert_eq!(
        browser.get(&f.authorize_url(&request_uri)).await.status,
        200
    );
    let page = browser.get(&f.authorize_url(&request_uri)).await;
    let page = f.sign_in(&mut browser, &page, PASSWORD).await;
    let page = f.decide(&mut browser, &page, "approve").await;
    assert_eq!(page.status, 303);
    // Reuse after the flow: an error page, no redirect.
    let page = browser.get(&f.authorize_url(&request_uri)).await;
    assert_eq!(page.status, 400);
    assert!(page.headers.get("location").is_none());
    // R46: another client's request_uri.
    let body = f.par(f.par_params(&[]), None).await.body;
    let other = format!(
        "{}/authorize?client_id=someone-else&request_uri={}",
        f.server.public_url(),
        body["request_uri"].as_str().unwrap()
    );
    assert_eq!(browser.get(&other).await.status, 400);
    // R47: expired.
    f.server.clock.advance(61);
    let page = browser
        .get(&f.authorize_url(body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("invalid_request_uri"));
    // R44: no request_uri at all, and R52: unknown client → page, never a redirect.
    let page = browser
        .get(&format!(
            "{}/authorize?client_id={}&response_type=code&redirect_uri={REDIRECT}",
            f.server.public_url(),
            f.client.id
        ))
        .await;
    assert_eq!(
        (page.status, page.headers.contains_key("location")),
        (400, false)
    );
    let page = browser
        .get(&format!(
            "{}/authorize?client_id=nobody&request_uri=urn:x",
            f.server.public_url()
        ))
        .await;
    assert_eq!(
        (page.status, page.headers.contains_key("location")),
        (400, false)
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r49_state_only_in_the_front_channel_is_not_echoed() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let url = format!(
        "{}&state=front&response_type=code&scope=openid",
        f.pushed(&[("state", None)]).await
    );
    let page = browser.get(&url).await;
    let page = f.sign_in(&mut browser, &page, PASSWORD).await;
    let page = f.decide(&mut browser, &page, "approve").await;
    let params = page.redirect_params();
    assert!(params.contains_key("code"));
    assert!(
        !params.contains_key("state"),
        "R49: the front-channel state is ignored"
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r51_r59_r62_denial_prompt_none_wrong_password_and_csrf() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    // R59: prompt=none without a session → login_required at the client.
    let page = browser
        .get(&f.pushed(&[("prompt", Some("none"))]).await)
        .await;
    assert_eq!(page.status, 303);
    let params = page.redirect_params();
    assert_eq!(
        (
            params["error"].as_str(),
            params["state"].as_str(),
            params["iss"].as_str()
        ),
        ("login_required", "st-123", f.server.config.issuer.as_str())
    );

    // A wrong password: the page again, 401, no session.
    let page = browser.get(&f.pushed(&[]).await).await;
    let wrong = f.sign_in(&mut browser, &page, "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("login-error"));
    // R62: a sign-in without the CSRF token is refused, and nothing is issued.
    let url = format!("{}/login", f.server.public_url());
    let refused = browser
        .post(
            &url,
            &[
                ("username", &f.username),
                ("password", PASSWORD),
                ("client_id", &f.client.id),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    // The right password, then the user denies (R51).
    let page = f.sign_in(&mut browser, &wrong, PASSWORD).await;
    assert_eq!(page.status, 200, "consent page");
    assert!(
        page.body.contains("Budget Planner") && page.body.contains("privacy policy"),
        "R57"
    );
    // R62: consent without the session's CSRF token.
    let consent_url = format!("{}/consent", f.server.public_url());
    let refused = browser
        .post(
            &consent_url,
            &[
                ("client_id", &f.client.id),
                ("request_uri", &page.field("request_uri").unwrap()),
                ("decision", "approve"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.headers.get("location").is_none());
    let denied = f.decide(&mut browser, &page, "deny").await;
    assert_eq!(denied.status, 303);
    let params = denied.redirect_params();
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        ("access_denied", "st-123")
    );
    assert!(!params.contains_key("code"));
    // Pages carry the strict headers (R54–R56).
    let h = &page.headers;
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        !h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    assert_eq!(h["cache-control"], "no-store");
    f.server.stop().await;
}

#[tokio::test]
async fn the_user_has_the_interaction_lifetime_once_the_browser_arrived_in_time() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let page = browser.get(&f.pushed(&[]).await).await;
    assert_eq!(page.status, 200);
    // The user takes two minutes over the password: longer than the request_uri's 60 s.
    f.server.clock.advance(120);
    let page = f.sign_in(&mut browser, &page, PASSWORD).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = f.decide(&mut browser, &page, "approve").await;
    assert_eq!(page.status, 303);
    assert!(page.redirect_params().contains_key("code"));
    f.server.stop().await;
}

#[tokio::test]
async fn r140_r142_jarm_response_is_a_signed_jwt() {
    let f = Fixture::new(json!({"authorization_signed_response_alg": "ES256"})).await;
    let mut browser = Browser::new(&f.server);
    let params = f.authorize(&mut browser, None).await;
    let keys: Vec<&String> = params.keys().collect();
    assert_eq!(
        keys,
        ["dummy1", "dummy2", "response"],
        "R140: only `response` besides the registered query"
    );
    let jwt = &params["response"];
    let header = portcullis_core::jose::peek_header(jwt).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims = f.server.verify(jwt).await;
    assert_eq!(claims["iss"], f.server.config.issuer.as_str());
    assert_eq!(claims["aud"], f.client.id.as_str());
    assert_eq!(claims["state"], "st-123");
    assert!(claims["code"].is_string() && claims["exp"].is_number());
    f.server.stop().await;
}
