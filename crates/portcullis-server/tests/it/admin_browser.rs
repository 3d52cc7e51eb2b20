//! The admin UI in a real browser (headless Chromium through WebDriver): an administrator signs
//! in, creates a `private_key_jwt` client by pasting its JWK Set and a `tls_client_auth` client
//! from its certificate subject, issues an initial access token that registers a client over
//! `/register`, revokes a client's tokens on its activity page, rotates keys, adds a user and
//! reads the audit trail. A form posted without its CSRF token (with the session cookie copied
//! out of the browser) and a non-administrator's visit are refused. With `TEST_SCREENSHOTS=dir`
//! every page is saved at a desktop width and at 430 pixels (docs/screenshots comes from here).
//! A second test shows the security pages with a day of monitoring data.

use portcullis_core::jose::{Alg, PrivateKey};
use serde_json::json;

use crate::support::TestServer;
use crate::support::client::{DpopKey, JwtClient, PASSWORD, create_user};
use crate::support::flow::{Fixture, REDIRECT};
use crate::support::registration::register_with;
use crate::support::security::{HOOK, seed_day};
use crate::support::token;
use crate::support::webdriver::{self, Browser};

/// Saves `admin-<name>.png` (1280 pixels wide) and `admin-<name>-phone.png` (430 wide).
async fn shoot(browser: &Browser, name: &str) {
    shoot_up_to(browser, name, (2400.0, 6000.0)).await;
}

/// [`shoot`], at most `(desktop, phone)` pixels tall.
async fn shoot_up_to(browser: &Browser, name: &str, (desktop, phone): (f64, f64)) {
    if std::env::var("TEST_SCREENSHOTS").is_err() {
        return;
    }
    browser.set_window_size(1280, 900).await;
    browser
        .screenshot_page(&format!("admin-{name}"), desktop)
        .await;
    browser.set_window_size(430, 932).await;
    browser
        .screenshot_page(&format!("admin-{name}-phone"), phone)
        .await;
}

/// Signs in on the page the browser shows (the admin or the ordinary sign-in page).
async fn sign_in(browser: &Browser, username: &str) {
    assert!(
        browser.wait_for("#login-submit").await,
        "{}",
        browser.source().await
    );
    browser.type_into("#username", username).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-submit").await;
}

#[tokio::test]
async fn admin_browser_manages_clients_tokens_keys_and_users() {
    if !webdriver::available() {
        return;
    }
    let server = TestServer::start().await;
    create_user(&server, "alice", true).await;
    create_user(&server, "bob", false).await;
    let base = server.public_url();
    let browser = Browser::start().await;

    // Any admin page leads to the sign-in page.
    browser.goto(&format!("{base}/admin/clients")).await;
    browser.wait_for_url(&format!("{base}/admin/login")).await;
    shoot(&browser, "login").await;
    sign_in(&browser, "alice").await;
    browser.wait_for_url(&format!("{base}/admin/clients")).await;
    assert!(browser.wait_for("#no-clients").await);
    let cookie = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "__Secure-portcullis-admin")
        .expect("the admin session cookie");
    assert_eq!(
        (
            &cookie["path"],
            &cookie["secure"],
            &cookie["httpOnly"],
            &cookie["sameSite"]
        ),
        (
            &json!("/admin"),
            &json!(true),
            &json!(true),
            &json!("Strict")
        )
    );

    // A private_key_jwt client, its JWK Set pasted into the form.
    let key = PrivateKey::generate(Alg::Es256, "budget-2025").unwrap();
    let jwks = json!({ "keys": [key.public_jwk().unwrap()] }).to_string();
    browser.click("#new-client").await;
    assert!(browser.wait_for("#client-form").await);
    browser.type_into("#client_name", "Budget Planner").await;
    browser.type_into("#jwks", &jwks).await;
    browser
        .type_into(
            "#redirect_uris",
            &format!("https://budget.example/callback\n{}", REDIRECT),
        )
        .await;
    browser.click("#grant_client_credentials").await;
    browser.type_into("#scope", "openid profile accounts").await;
    browser.click("#binding_dpop").await;
    browser
        .type_into("#policy_uri", "https://budget.example/privacy")
        .await;
    shoot(&browser, "client-form").await;
    browser.click("#save-client").await;
    assert!(
        browser.wait_for("#client-id").await,
        "{}",
        browser.source().await
    );
    let budget_id = browser.property("#client-id", "textContent").await;
    assert!(browser.source().await.contains("Client created."));
    let budget = JwtClient {
        id: budget_id.trim().to_owned(),
        key,
    };

    // The client works: a user authorizes it (code flow) and it gets its own token too.
    let f = Fixture::with_user(server, budget, "bob");
    let mut user_browser = crate::support::browser::Browser::new(&f.server);
    let dpop = DpopKey::new();
    let tokens = f.tokens(&mut user_browser, &dpop).await;
    let machine = token::client_credentials(&f.server, &f.client, "accounts")
        .await
        .assert_ok();
    let server = &f.server;

    // A tls_client_auth client, identified by its certificate's subject.
    browser.goto(&format!("{base}/admin/clients/new")).await;
    assert!(browser.wait_for("#client-form").await);
    browser.type_into("#client_id", "payments-gateway").await;
    browser.type_into("#client_name", "Payments Gateway").await;
    browser
        .click("#token_endpoint_auth_method option[value=tls_client_auth]")
        .await;
    browser
        .type_into(
            "#tls_client_auth_subject_dn",
            "CN=gateway.payments.example,O=Example Payments Ltd,C=GB",
        )
        .await;
    browser.click("#grant_authorization_code").await;
    browser.click("#grant_refresh_token").await;
    browser.click("#grant_client_credentials").await;
    browser.type_into("#scope", "payments").await;
    browser.click("#binding_mtls").await;
    browser.click("#save-client").await;
    browser
        .wait_for_url(&format!("{base}/admin/clients/payments-gateway"))
        .await;
    let page = browser.source().await;
    assert!(page.contains("CN=gateway.payments.example,O=Example Payments Ltd,C=GB"));
    assert!(page.contains("tls_client_auth"));

    // An initial access token, shown once, registers a client over /register.
    browser.click("#nav-tokens").await;
    assert!(browser.wait_for("#issue-token").await);
    browser.type_into("#scope", "openid accounts").await;
    browser.click("#iat_grant_client_credentials").await;
    browser.click("#iat_method_private_key_jwt").await;
    browser.click("#issue-token").await;
    assert!(
        browser.wait_for("#token").await,
        "{}",
        browser.source().await
    );
    let token = browser.property("#token", "value").await;
    assert!(token.len() >= 43);
    shoot(&browser, "initial-access-token").await;
    let registered = register_with(server, &token).await.assert_status(201);
    let registered_id = registered["client_id"].as_str().unwrap().to_owned();
    browser.click("#back-to-tokens").await;
    assert!(browser.wait_for("#initial-access-tokens").await);
    let page = browser.source().await;
    assert!(page.contains(&registered_id) && page.contains("used up"));
    assert!(!page.contains(&token), "shown once only");
    // A second, live token makes the list show both states.
    browser.type_into("#scope", "payments").await;
    browser.clear("#uses").await;
    browser.type_into("#uses", "5").await;
    browser.click("#issue-token").await;
    assert!(browser.wait_for("#back-to-tokens").await);
    browser.click("#back-to-tokens").await;
    assert!(browser.wait_for("#initial-access-tokens").await);
    shoot(&browser, "initial-access-tokens").await;

    // The activity page: live tokens and grants; revoking everything needs the password.
    let client_page = format!("{base}/admin/clients/{}", f.client.id);
    browser.goto(&client_page).await;
    assert!(browser.wait_for("#live-tokens").await);
    assert!(browser.source().await.contains("bob"));
    shoot(&browser, "client").await;
    browser.click("#revoke-all-open").await;
    browser.type_into("#revoke-all-password", PASSWORD).await;
    browser.click("#revoke-all-submit").await;
    assert!(browser.wait_for("#no-tokens").await);
    assert!(
        browser
            .source()
            .await
            .contains("Every token and grant of this client was revoked.")
    );
    for issued in [&tokens["access_token"], &machine["access_token"]] {
        let introspected = token::introspect(server, &f.client, issued.as_str().unwrap())
            .send()
            .await;
        assert_eq!(introspected.body["active"], false);
    }
    f.refresh(tokens["refresh_token"].as_str().unwrap())
        .dpop(&dpop)
        .send()
        .await
        .assert_error(400, "invalid_grant");

    // A form posted without its CSRF token, with the browser's own session cookie, is refused.
    let session = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "__Secure-portcullis-admin")
        .unwrap();
    let forged = server
        .client(None)
        .post(format!("{client_page}/disable"))
        .header(
            "Cookie",
            format!(
                "__Secure-portcullis-admin={}",
                session["value"].as_str().unwrap()
            ),
        )
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("This form has expired")
    );
    let record = server.running().state.store.client(&f.client.id).await;
    assert_eq!(
        record.unwrap().unwrap().disabled_at,
        None,
        "nothing changed"
    );

    // Keys: rotate ES256 (password again).
    browser.click("#nav-keys").await;
    assert!(browser.wait_for("#rotate-form").await);
    browser.click("#alg option[value=ES256]").await;
    browser.type_into("#rotate-password", PASSWORD).await;
    browser.click("#rotate-submit").await;
    assert!(browser.wait_for("#notice").await);
    assert!(browser.source().await.contains("pending"));
    shoot(&browser, "keys").await;

    // Users: add one.
    browser.click("#nav-users").await;
    assert!(browser.wait_for("#new-user").await);
    browser.type_into("#new-username", "carol").await;
    browser
        .type_into("#new-user-password", "carols long password")
        .await;
    browser.click("#create-user").await;
    assert!(browser.wait_for("#user-carol").await);
    shoot(&browser, "users").await;

    // The clients list, and the audit trail with everything above.
    browser.click("#nav-clients").await;
    assert!(browser.wait_for("#clients").await);
    let page = browser.source().await;
    for name in ["Budget Planner", "Payments Gateway", "payments-gateway"] {
        assert!(page.contains(name), "{name}");
    }
    shoot(&browser, "clients").await;
    browser.click("#nav-audit").await;
    assert!(browser.wait_for("#audit").await);
    let page = browser.source().await;
    for action in [
        "admin.sign_in",
        "client.create",
        "initial_access_token.issue",
        "client.revoke_tokens",
        "admin.form_refused",
        "key.rotate",
        "user.create",
    ] {
        assert!(page.contains(action), "{action}");
    }
    assert!(!page.contains(&token), "no token in the trail");
    shoot(&browser, "audit").await;
    browser
        .click("#action option[value=\"client.create\"]")
        .await;
    browser.click("#filter").await;
    browser
        .wait_for_url(&format!("{base}/admin/audit?action=client.create"))
        .await;
    assert!(!browser.source().await.contains("<code>user.create</code>"));

    // Signed out, then signed in as a user without the admin role: 403.
    browser.click("#sign-out").await;
    browser.wait_for_url(&format!("{base}/admin/login")).await;
    browser.goto(&format!("{base}/login")).await;
    sign_in(&browser, "bob").await;
    browser.wait_for_url(&format!("{base}/account")).await;
    browser.goto(&format!("{base}/admin/clients")).await;
    assert!(browser.wait_for("#error-title").await);
    let page = browser.source().await;
    assert!(page.contains("Administrators only") && page.contains("not an administrator"));
    assert!(!page.contains("nav-clients"));
    shoot(&browser, "forbidden").await;

    browser.quit().await;
    f.server.stop().await;
}

#[tokio::test]
async fn admin_browser_security_pages_show_a_day_of_monitoring() {
    if !webdriver::available() {
        return;
    }
    // The webhook of the seeded deliveries is configured, so that the log names it. Its host
    // does not resolve; the seed records each delivery's outcome itself.
    let server = TestServer::builder()
        .configure(|c| {
            c.alerts.webhooks.push(portcullis_server::config::Webhook {
                url: HOOK.to_owned(),
                secret: "a webhook secret of the test".to_owned(),
                min_severity: "warning".to_owned(),
                kinds: Vec::new(),
            });
        })
        .start()
        .await;
    create_user(&server, "alice", true).await;
    let client = JwtClient::register(&server, json!({ "client_name": "Budget Planner" })).await;
    seed_day(&server, &client.id).await;
    let base = server.public_url();
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/admin/security")).await;
    browser.wait_for_url(&format!("{base}/admin/login")).await;
    sign_in(&browser, "alice").await;
    browser.wait_for_url(&format!("{base}/admin/clients")).await;

    browser.click("#nav-security").await;
    assert!(
        browser.wait_for("#counters").await,
        "{}",
        browser.source().await
    );
    let page = browser.source().await;
    for text in [
        "Requests per minute, by endpoint",
        "/introspect",
        "rate_anomaly",
        "grant_revoked_on_replay",
        "webhook 1 · https://alerts.example.com/…",
    ] {
        assert!(page.contains(text), "{text}");
    }
    assert!(!page.contains("9f2c1d"), "no webhook path");
    // The charts render: the SVG has a size in the page.
    assert_ne!(
        browser
            .property("#panel-requests svg", "clientHeight")
            .await,
        "0"
    );
    // The whole page, down to the delivery log.
    shoot_up_to(&browser, "security", (4000.0, 9000.0)).await;

    // Acknowledge the newest open event.
    let first = "#events-table tr.open button";
    browser.click(first).await;
    assert!(browser.wait_for("#notice").await);
    assert!(browser.source().await.contains("Event acknowledged."));

    // Filter: critical events only.
    browser.click("#severity option[value=critical]").await;
    browser.click("#filter").await;
    browser
        .wait_for_url(&format!("{base}/admin/security?kind=&severity=critical"))
        .await;
    let page = browser.source().await;
    assert!(
        page.contains("grant_revoked_on_replay") && !page.contains("rate_anomaly</code> <span")
    );

    // The client's security page, from its client page.
    browser
        .goto(&format!("{base}/admin/clients/{}", client.id))
        .await;
    assert!(browser.wait_for("#client-security").await);
    browser.click("#client-security").await;
    assert!(
        browser.wait_for("#seen").await,
        "{}",
        browser.source().await
    );
    let page = browser.source().await;
    for text in [
        "192.0.2.0/24",
        "198.51.100.0/24",
        "learned over 1440 minutes",
        "threshold 120",
    ] {
        assert!(page.contains(text), "{text}");
    }
    shoot(&browser, "security-client").await;

    browser.quit().await;
    server.stop().await;
}
