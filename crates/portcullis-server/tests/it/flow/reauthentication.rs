//! R59: `prompt=login` and `max_age` hold at `POST /consent` as at the authorization endpoint.
//! Someone holding a session cookie (and so its CSRF token) cannot post the consent form to get
//! a code without signing in again; a sign-in made for the request keeps counting, however long
//! the person then takes on the consent page.

use serde_json::json;

use crate::support::browser::{Browser, Page};
use crate::support::client::PASSWORD;
use crate::support::flow::Fixture;

/// Signs the fixture's user in through a whole flow, so that the browser holds a session that
/// consented to the default scope, then lets `age` seconds pass.
async fn old_session(f: &Fixture, browser: &mut Browser, age: i64) {
    f.authorize(browser, None).await;
    f.server.clock.advance(age);
}

/// Posts the consent form for `request_uri` with the session's CSRF token (which any page of
/// the signed-in user shows, here the account page), as a script holding the cookie would.
async fn post_approval(f: &Fixture, browser: &mut Browser, request_uri: &str) -> Page {
    let account = browser
        .get(&format!("{}/account", f.server.public_url()))
        .await;
    let csrf = account
        .field("csrf_token")
        .expect("the session's CSRF token");
    browser
        .post(
            &format!("{}/consent", f.server.public_url()),
            &[
                ("csrf_token", &csrf),
                ("client_id", &f.client.id),
                ("request_uri", request_uri),
                ("decision", "approve"),
            ],
        )
        .await
}

/// The request_uri of an authorization URL.
fn request_uri(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "request_uri")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn r59_posting_consent_does_not_skip_prompt_login_or_max_age() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    old_session(&f, &mut browser, 0).await;
    for overrides in [
        [("prompt", Some("login")), ("max_age", None)],
        [("prompt", None), ("max_age", Some("60"))],
    ] {
        // The session is ten minutes old (and was renewed by the previous round's sign-in).
        f.server.clock.advance(600);
        let url = f.pushed(&overrides).await;
        // The authorization endpoint asks for a new sign-in...
        let page = browser.get(&url).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"password\""), "{overrides:?}");
        // ...and so does the consent form posted with the old session: no code.
        let posted = post_approval(&f, &mut browser, &request_uri(&url)).await;
        assert_eq!(posted.status, 200, "{overrides:?}: {}", posted.body);
        assert!(posted.headers.get("location").is_none(), "{overrides:?}");
        assert!(posted.body.contains("id=\"password\""), "{overrides:?}");
        // Signing in again completes it (the consent is remembered).
        let page = f.sign_in(&mut browser, &posted, PASSWORD).await;
        assert_eq!(page.status, 303, "{overrides:?}: {}", page.body);
        assert!(page.redirect_params().contains_key("code"), "{overrides:?}");
    }
    f.server.stop().await;
}

#[tokio::test]
async fn r59_a_sign_in_made_for_the_request_satisfies_max_age_on_the_consent_page() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    old_session(&f, &mut browser, 600).await;
    // prompt=consent shows the consent page even though consent is remembered.
    let url = f
        .pushed(&[("max_age", Some("60")), ("prompt", Some("consent"))])
        .await;
    let page = browser.get(&url).await;
    let page = f.sign_in(&mut browser, &page, PASSWORD).await;
    assert!(page.body.contains("id=\"approve\""), "{}", page.body);
    // The person reads the consent page for longer than max_age: the sign-in still counts.
    f.server.clock.advance(120);
    let page = f.decide(&mut browser, &page, "approve").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.redirect_params().contains_key("code"));
    f.server.stop().await;
}
