//! The admin UI over real TLS with a cookie-keeping client: sign-in and its refusals (non-admins,
//! throttling), the session cookie and page headers, CSRF refusals, re-authentication before
//! destructive actions, idle and absolute timeouts. The pages' actions are in `admin/clients.rs`,
//! `admin/registry.rs` and `admin/security.rs`; the same UI in headless Chromium is
//! `admin_browser.rs`.

pub(crate) mod clients;
pub(crate) mod registry;
pub(crate) mod security;

use portcullis_server::bounds::Refusal;
use portcullis_store::admin::AuditFilter;

use crate::support::admin::{
    Admin, add_admin, assert_admin_headers, audit, audit_events, last_event, sign_in_with,
};
use crate::support::browser::{Browser, Page, between};
use crate::support::client::{JwtClient, PASSWORD, add_user, verify_password};
use crate::support::{Backend, TestServer};

/// The `Set-Cookie` header that sets cookie `name`.
fn set_cookie(page: &Page, name: &str) -> Option<String> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
}

#[tokio::test]
async fn admin_sign_in_sets_a_strict_cookie_for_admin_paths_and_sign_out_ends_it() {
    let server = TestServer::start().await;
    let username = add_admin(&server).await;
    let mut browser = Browser::new(&server);
    let base = server.public_url();

    // Without a session every page leads to the sign-in page.
    for path in ["/admin", "/admin/clients", "/admin/keys", "/admin/audit"] {
        let page = browser.get(&format!("{base}{path}")).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(page.location().starts_with("/admin"), "{path}");
    }
    let form = browser.get(&format!("{base}/admin/login")).await;
    assert_admin_headers(&form);
    let csrf_cookie = set_cookie(&form, "__Secure-portcullis-admin-csrf").unwrap();
    assert!(
        csrf_cookie.contains("Path=/admin") && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );

    let page = sign_in_with(&mut browser, &base, &username, PASSWORD).await;
    assert_eq!(
        (page.status, page.location().as_str()),
        (303, "/admin/clients")
    );
    let cookie = set_cookie(&page, "__Secure-portcullis-admin").unwrap();
    for attribute in [
        "Path=/admin",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = browser
        .cookie("__Secure-portcullis-admin")
        .unwrap()
        .to_owned();
    assert!(session.len() >= 43, "256 random bits");

    for path in [
        "/admin/clients",
        "/admin/clients/new",
        "/admin/initial-access-tokens",
        "/admin/keys",
        "/admin/users",
        "/admin/audit",
    ] {
        let page = browser.get(&format!("{base}{path}")).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_admin_headers(&page);
        assert!(
            page.body.contains(&username),
            "{path}: the nav bar names the admin"
        );
    }
    // Signed in, the sign-in page leads to the clients.
    let page = browser.get(&format!("{base}/admin/login")).await;
    assert_eq!(page.location(), "/admin/clients");

    let clients = browser.get(&format!("{base}/admin/clients")).await;
    let csrf = clients.field("csrf_token").unwrap();
    let out = browser
        .post(&format!("{base}/admin/logout"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.status, 303);
    assert!(out.location().starts_with("/admin/login"));
    assert!(browser.cookie("__Secure-portcullis-admin").is_none());
    // The session is gone on the server too: replaying the old cookie does not work.
    let mut thief = Browser::new(&server);
    thief.set_cookie("__Secure-portcullis-admin", &session);
    let replayed = thief.get(&format!("{base}/admin/clients")).await;
    assert_eq!(replayed.status, 303);
    assert_eq!(
        audit(&server, AuditFilter::default()).await,
        [
            ("admin.sign_out".to_owned(), "success".to_owned()),
            ("admin.sign_in".to_owned(), "success".to_owned()),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_pages_refuse_users_without_the_admin_role_with_403() {
    let server = TestServer::start().await;
    let user = add_user(&server).await;
    let base = server.public_url();

    // A correct password of a non-admin starts no admin session.
    let mut browser = Browser::new(&server);
    let page = sign_in_with(&mut browser, &base, &user, PASSWORD).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("not an administrator"));
    assert_admin_headers(&page);
    assert!(browser.cookie("__Secure-portcullis-admin").is_none());
    let event = last_event(&server).await;
    assert_eq!(
        (
            event.action.as_str(),
            event.outcome.as_str(),
            event.actor_name.as_deref()
        ),
        ("admin.sign_in", "denied", Some(user.as_str()))
    );

    // Signed in to the ordinary pages, the user gets 403 on every admin page.
    let signed = browser.sign_in(&base, &user, PASSWORD).await;
    assert_eq!(signed.location(), "/account");
    for path in [
        "/admin/clients",
        "/admin/users",
        "/admin/keys",
        "/admin/audit",
    ] {
        let page = browser.get(&format!("{base}{path}")).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(page.body.contains(&user) && page.body.contains("not an administrator"));
        assert!(
            !page.body.contains("nav-clients"),
            "no navigation for non-admins"
        );
    }
    let page = browser
        .post(&format!("{base}/admin/users"), &[("username", "x")])
        .await;
    assert_eq!(page.status, 403);
    let event = last_event(&server).await;
    assert_eq!(
        (event.action.as_str(), event.target.as_deref()),
        ("admin.form_refused", Some("/admin/users"))
    );

    // An administrator who loses the role is refused on the next request.
    let admin_name = add_admin(&server).await;
    let mut admin = Admin::sign_in(&server, &admin_name).await;
    let store = &server.running().state.store;
    let record = store.user_by_username(&admin_name).await.unwrap().unwrap();
    store
        .disable_user(&record.user_id, server.now())
        .await
        .unwrap();
    let page = admin.get("/admin/clients").await;
    assert_eq!(page.status, 303, "a disabled administrator's session ends");
    server.stop().await;
}

#[tokio::test]
async fn admin_sign_in_is_throttled_like_the_sign_in_page() {
    let server = TestServer::start().await;
    let username = add_admin(&server).await;
    let base = server.public_url();
    let mut browser = Browser::new(&server);
    // Five failures are free; the sixth makes the next attempt wait two seconds.
    for n in 1..=6 {
        let page = sign_in_with(&mut browser, &base, &username, "hunter2-guess").await;
        assert_eq!(page.status, 401, "attempt {n}");
        assert!(page.body.contains("not right"));
    }
    let page = sign_in_with(&mut browser, &base, &username, PASSWORD).await;
    assert_eq!(page.status, 429, "throttled even with the right password");
    assert!(page.body.contains("Too many failed attempts"));
    // A throttled attempt is counted, not stored: anyone can repeat it at any rate (issue 10).
    let event = last_event(&server).await;
    assert_eq!(
        (event.action.as_str(), event.outcome.as_str()),
        ("admin.sign_in", "denied")
    );
    assert!(!event.details.contains("throttled"));
    let refusals = &server.running().state.bounds.refusals;
    assert_eq!(refusals.total(Refusal::SignInThrottled), 1);
    server.clock.advance(3);
    let page = sign_in_with(&mut browser, &base, &username, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    // No audit event holds a password.
    let (events, _) = audit_events(&server, &AuditFilter::default(), 100).await;
    assert_eq!(events.len(), 7, "six failures and the sign-in");
    for e in events {
        let text = format!("{e:?}");
        assert!(!text.contains(PASSWORD) && !text.contains("hunter2"));
    }
    server.stop().await;
}

#[tokio::test]
async fn admin_forms_without_the_session_csrf_token_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, serde_json::json!({})).await;
    let mut admin = Admin::new(&server).await;
    let path = format!("/admin/clients/{}/disable", client.id);
    for form in [
        vec![("password", PASSWORD)],
        vec![("password", PASSWORD), ("csrf_token", "forged")],
    ] {
        let page = admin.post_bare(&path, &form).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("This form has expired"));
        assert_admin_headers(&page);
    }
    let store = &server.running().state.store;
    assert_eq!(
        store.client(&client.id).await.unwrap().unwrap().disabled_at,
        None,
        "nothing changed"
    );
    let event = last_event(&server).await;
    assert_eq!(
        (
            event.action.as_str(),
            event.outcome.as_str(),
            event.target.as_deref(),
            event.actor_name.as_deref(),
        ),
        (
            "admin.form_refused",
            "denied",
            Some(path.as_str()),
            Some(admin.username.as_str())
        )
    );
    // The sign-in form's double-submit token is checked too.
    let mut other = Browser::new(&server);
    let base = server.public_url();
    other.get(&format!("{base}/admin/login")).await;
    let page = other
        .post(
            &format!("{base}/admin/login"),
            &[("username", &admin.username), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(other.cookie("__Secure-portcullis-admin").is_none());
    // A token of another session does not do either.
    let second = Admin::new(&server).await;
    let page = admin
        .post_bare(
            &path,
            &[("password", PASSWORD), ("csrf_token", &second.csrf)],
        )
        .await;
    assert_eq!(page.status, 403);
    server.stop().await;
}

#[tokio::test]
async fn admin_destructive_actions_need_the_administrator_s_password_again() {
    // The test waits out the sign-in throttle between actions, longer than the default idle
    // timeout.
    let server = TestServer::builder()
        .configure(|c| c.admin.idle_timeout_secs = 3600)
        .start()
        .await;
    let client = JwtClient::register(&server, serde_json::json!({})).await;
    let user = add_user(&server).await;
    let mut admin = Admin::new(&server).await;
    let store = &server.running().state.store;
    let user_id = store
        .user_by_username(&user)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let keys_before = server.running().state.keys.list(server.now()).len();
    let issued = admin
        .post(
            "/admin/initial-access-tokens",
            &[("expires_in", "3600"), ("uses", "1")],
        )
        .await;
    assert_eq!(issued.status, 200);
    let iat_id = between(&issued.body, "id=\"token-id\">", "<").to_owned();
    let refusals = [
        format!("/admin/clients/{}/disable", client.id),
        format!("/admin/clients/{}/delete", client.id),
        format!("/admin/clients/{}/revoke", client.id),
        format!("/admin/initial-access-tokens/{iat_id}/revoke"),
        "/admin/keys/rotate".to_owned(),
        format!("/admin/users/{user_id}/disable"),
        format!("/admin/users/{user_id}/password"),
    ];
    for path in &refusals {
        for password in ["", "not my password"] {
            let page = admin
                .post(
                    path,
                    &[
                        ("password", password),
                        ("new_password", "a new long password"),
                    ],
                )
                .await;
            assert_eq!(page.status, 403, "{path}: {}", page.body);
            assert!(page.body.contains("not your password"), "{path}");
            let event = last_event(&server).await;
            assert_eq!(event.outcome.as_str(), "denied", "{path}");
            assert!(event.details.contains("wrong password"), "{path}");
        }
        // Wait until the failures are forgotten, so that the next refusal is a wrong password
        // again rather than the throttle.
        server.clock.advance(16 * 60);
    }
    // Nothing changed.
    let record = store.client(&client.id).await.unwrap().unwrap();
    assert_eq!(record.disabled_at, None);
    let user_record = store.user(&user_id).await.unwrap().unwrap();
    assert_eq!(user_record.disabled_at, None);
    assert!(verify_password(PASSWORD, Some(&user_record.password_hash)));
    assert_eq!(
        server.running().state.keys.list(server.now()).len(),
        keys_before
    );
    let tokens = store.initial_access_tokens().await.unwrap();
    assert_eq!(tokens[0].revoked_at, None);
    // The right password does it.
    let page = admin.post(&refusals[0], &[("password", PASSWORD)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        store
            .client(&client.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at
            .is_some()
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_sessions_end_after_the_idle_timeout_and_at_their_lifetime() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    // Each request restarts the idle clock.
    for _ in 0..3 {
        server.clock.advance(890);
        assert_eq!(admin.get("/admin/clients").await.status, 200);
    }
    server.clock.advance(901);
    let page = admin.get("/admin/clients").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/admin/login?ended=1");
    assert!(admin.browser.cookie("__Secure-portcullis-admin").is_none());
    let login = admin.get("/admin/login?ended=1").await;
    assert!(login.body.contains("Your admin session has ended"));
    // An idle session cannot be used for a form either, and nothing is done.
    let page = admin
        .post(
            "/admin/users",
            &[("username", "late"), ("new_password", "long enough pw")],
        )
        .await;
    assert_eq!(page.status, 303);
    let store = &server.running().state.store;
    assert!(store.user_by_username("late").await.unwrap().is_none());

    // However busy, a session ends at its absolute lifetime (8 hours).
    let mut admin = Admin::sign_in(&server, &admin.username).await;
    let mut alive_for = 0;
    loop {
        server.clock.advance(600);
        alive_for += 600;
        if admin.get("/admin/clients").await.status != 200 {
            break;
        }
    }
    assert_eq!(alive_for, 8 * 3600);
    server.stop().await;
}

#[tokio::test]
async fn admin_ui_switched_off_answers_404_everywhere() {
    let server = TestServer::builder()
        .configure(|c| c.admin.enabled = false)
        .start()
        .await;
    let username = add_admin(&server).await;
    let mut browser = Browser::new(&server);
    let base = server.public_url();
    for path in ["/admin", "/admin/login", "/admin/clients", "/admin/audit"] {
        let page = browser.get(&format!("{base}{path}")).await;
        assert_eq!(page.status, 404, "{path}");
    }
    let page = browser
        .post(
            &format!("{base}/admin/login"),
            &[("username", &username), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn admin_ui_runs_on_sqlite() {
    let server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let mut admin = Admin::new(&server).await;
    let page = admin
        .post(
            "/admin/users",
            &[
                ("username", "sqlite-user"),
                ("new_password", "long enough pw"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = admin.get("/admin/audit?actor=").await;
    assert!(page.body.contains("user.create") && page.body.contains("admin.sign_in"));
    server.stop().await;
}
