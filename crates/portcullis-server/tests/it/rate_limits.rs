//! Rate limits (`[rate_limits]`, decision record 0012), rule by rule: the per-address budget
//! refuses before any client authentication, the resolved address behind a trusted proxy, the
//! per-credential, per-token and per-account budgets, administrators' overrides through the CLI
//! and the admin page, and `rate_limits.enabled = false`. The floods are in
//! `rate_limits_flood.rs`.

use std::time::{Duration, Instant};

use portcullis_server::config::{Budget, Config};
use serde_json::json;

use crate::support::TestServer;
use crate::support::admin::{Admin, add_admin, last_event, sign_in_with};
use crate::support::browser::Browser;
use crate::support::cli::portcullis;
use crate::support::client::{JwtClient, PASSWORD};
use crate::support::http::{Answer, fetch_json};
use crate::support::server::Backend;
use crate::support::token::client_credentials;

/// Budgets too large to meet, so that a test sees only the one it sets.
fn roomy(c: &mut Config) {
    let wide = Budget::new(10_000.0, 10_000);
    let r = &mut c.rate_limits;
    r.address.api = wide;
    r.address.browser = wide;
    r.address.signin = wide;
    r.address.admin = wide;
    r.address.metadata = wide;
    r.client = wide;
    r.registration = wide;
    r.access_token = wide;
    r.account = wide;
}

/// Asserts a rate-limit refusal of an OAuth endpoint: 429, `Retry-After` of at least a second,
/// `Cache-Control: no-store` and the JSON error body.
#[track_caller]
pub(crate) fn assert_refused(answer: &Answer) {
    assert_eq!(answer.status, 429, "{:?}", answer.body);
    let retry: u64 = answer.header("retry-after").parse().expect("Retry-After");
    assert!(retry >= 1);
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    assert!(answer.body["error_description"].is_string());
}

async fn post_token_without_credentials(server: &TestServer) -> Answer {
    server
        .post("/token")
        .param("grant_type", "client_credentials")
        .send()
        .await
}

#[tokio::test]
async fn a_source_address_is_refused_before_client_authentication() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| {
            roomy(c);
            c.rate_limits.address.api = Budget::new(0.01, 3);
            c.rate_limits.address.browser = Budget::new(0.01, 2);
            c.rate_limits.address.metadata = Budget::new(0.01, 1);
        })
        .start()
        .await;
    // The first three get as far as client authentication (and fail it)...
    for _ in 0..3 {
        let answer = post_token_without_credentials(&server).await;
        assert_eq!(answer.status, 401, "{:?}", answer.body);
        assert_eq!(answer.body["error"], "invalid_client");
    }
    // ...the next ones never get there: the source's budget is spent.
    for _ in 0..5 {
        assert_refused(&post_token_without_credentials(&server).await);
    }
    // Every API endpoint shares the class budget; a real client from this address is refused
    // too (its own budget is untouched, but it is refused before anyone knows who it is).
    let client = JwtClient::register(&server, json!({})).await;
    assert_refused(&client_credentials(&server, &client, "a").await);
    let par = server.post("/par").auth(&client).send().await;
    assert_refused(&par);
    // Pages have their own class and answer the HTML error page.
    let http = server.client(None);
    let url = format!("{}/authorize", server.public_url());
    for n in 0..3 {
        let response = http.get(&url).send().await.unwrap();
        let status = response.status().as_u16();
        if n < 2 {
            assert_ne!(status, 429);
            continue;
        }
        assert_eq!(status, 429);
        let retry = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(retry.parse::<u64>().unwrap() >= 1);
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/html"), "{kind}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Too many requests"), "{body}");
    }
    // Health probes are never limited, even past the metadata budget.
    for _ in 0..5 {
        let response = http
            .get(format!("{}/healthz", server.public_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let jwks = http.get(format!("{}/jwks", server.public_url()));
    assert_eq!(jwks.send().await.unwrap().status(), 200);
    let jwks = http.get(format!("{}/jwks", server.public_url()));
    assert_eq!(jwks.send().await.unwrap().status(), 429);
    server.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_counted_and_recorded() {
    let trusted = TestServer::builder()
        .behind_proxy("127.0.0.1/32")
        .configure(|c| {
            roomy(c);
            c.rate_limits.address.metadata = Budget::new(0.01, 2);
        })
        .start()
        .await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/test/peer", trusted.running().mtls_addr);
    let from = |xff: &'static str| http.get(&url).header("X-Forwarded-For", xff);
    // The rightmost address that is not a trusted proxy, not the leftmost the client wrote.
    let body = fetch_json(from("203.0.113.5, 192.0.2.7, 127.0.0.1")).await;
    assert_eq!(body["address"], "192.0.2.7");
    let body = fetch_json(from("192.0.2.7")).await;
    assert_eq!(body["address"], "192.0.2.7");
    // 192.0.2.7 spent its budget; another address behind the same proxy has its own.
    let refused = from("192.0.2.7").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let body = fetch_json(from("198.51.100.1")).await;
    assert_eq!(body["address"], "198.51.100.1");
    // RFC 7239 Forwarded wins, IPv6 in brackets.
    let body = fetch_json(
        http.get(&url)
            .header("Forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
    )
    .await;
    assert_eq!(body["address"], "2001:db8::7");
    // The audit trail records the forwarded address too (a sign-in form without its CSRF
    // token is written as refused).
    let refused = http
        .post(format!(
            "http://{}/admin/login",
            trusted.running().mtls_addr
        ))
        .header("X-Forwarded-For", "192.0.2.99")
        .form(&[("username", "x"), ("password", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let event = last_event(&trusted).await;
    assert_eq!(event.action, "admin.form_refused");
    assert_eq!(event.address, "192.0.2.99");
    trusted.stop().await;

    // From a peer that is not a trusted proxy, the header is ignored.
    let untrusted = TestServer::builder()
        .behind_proxy("10.0.0.0/8")
        .configure(roomy)
        .start()
        .await;
    let url = format!("http://{}/test/peer", untrusted.running().mtls_addr);
    let body = fetch_json(http.get(&url).header("X-Forwarded-For", "192.0.2.7")).await;
    assert_eq!(body["address"], "127.0.0.1");
    untrusted.stop().await;
}

#[tokio::test]
async fn registration_and_userinfo_count_per_credential_before_checking_it() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| {
            roomy(c);
            c.rate_limits.registration = Budget::new(0.01, 2);
            c.rate_limits.access_token = Budget::new(0.01, 2);
        })
        .start()
        .await;
    let http = server.client(None);
    let register = |token: &str| {
        http.post(format!("{}/register", server.public_url()))
            .bearer_auth(token)
            .json(&json!({ "token_endpoint_auth_method": "private_key_jwt" }))
    };
    for _ in 0..2 {
        let answer = Answer::read(register("not-a-token").send().await.unwrap()).await;
        assert_eq!(answer.status, 401, "{:?}", answer.body);
    }
    assert_refused(&Answer::read(register("not-a-token").send().await.unwrap()).await);
    // Another credential has its own budget.
    let other = Answer::read(register("another-token").send().await.unwrap()).await;
    assert_eq!(other.status, 401);

    let userinfo = |token: &str| {
        http.get(format!("{}/userinfo", server.public_url()))
            .header("Authorization", format!("Bearer {token}"))
    };
    for _ in 0..2 {
        let answer = Answer::read(userinfo("some-token").send().await.unwrap()).await;
        assert_eq!(answer.status, 401, "{:?}", answer.body);
    }
    assert_refused(&Answer::read(userinfo("some-token").send().await.unwrap()).await);
    let other = Answer::read(userinfo("another-token").send().await.unwrap()).await;
    assert_eq!(other.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn sign_in_counts_per_account_even_with_the_right_password() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| {
            roomy(c);
            c.rate_limits.account = Budget::new(0.01, 2);
        })
        .start()
        .await;
    let username = add_admin(&server).await;
    let base = server.public_url();
    for _ in 0..2 {
        let mut browser = Browser::new(&server);
        let page = sign_in_with(&mut browser, &base, &username, PASSWORD).await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
    let mut browser = Browser::new(&server);
    let page = sign_in_with(&mut browser, &base, &username, PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
    assert!(
        page.body.contains("Too many sign-in attempts"),
        "{}",
        page.body
    );
    // Another account is not held by this one's budget.
    let other = add_admin(&server).await;
    let page = sign_in_with(&mut browser, &base, &other, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    server.stop().await;
}

/// Sends client_credentials requests of `client` until one is refused or `limit` pass;
/// returns how many passed first (`None` when none was refused within 10 s).
async fn admitted_until_refused(
    server: &TestServer,
    client: &JwtClient,
    limit: u32,
) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut passed = 0;
    while Instant::now() < deadline {
        let answer = client_credentials(server, client, "a").await;
        if answer.status == 429 {
            assert_refused(&answer);
            return Some(passed);
        }
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        passed += 1;
        if passed >= limit {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    None
}

#[tokio::test]
async fn an_override_set_with_the_cli_reaches_the_running_server() {
    let server = TestServer::builder().configure(roomy).start().await;
    let client = JwtClient::register(&server, json!({})).await;
    client_credentials(&server, &client, "a").await.assert_ok();

    let out = portcullis(
        &server,
        "warn",
        &[
            "client", "limits", &client.id, "--rate", "0.01", "--burst", "2",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0.01 requests/s, burst 2 (set by an administrator)"),
        "{text}"
    );
    // The server reloads overrides every second: soon, requests are refused.
    let passed = admitted_until_refused(&server, &client, 2).await;
    assert!(passed.is_some(), "the override never took effect");

    // Cleared: the default applies again.
    let out = portcullis(
        &server,
        "warn",
        &["client", "limits", &client.id, "--clear"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(the default, rate_limits.client)"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client_credentials(&server, &client, "a").await;
        if answer.status == 200 {
            break;
        }
        assert_refused(&answer);
        assert!(Instant::now() < deadline, "the override was not cleared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Unknown clients and impossible budgets are refused.
    let out = portcullis(
        &server,
        "warn",
        &["client", "limits", "nobody", "--rate", "1", "--burst", "1"],
    )
    .await;
    assert!(!out.status.success());
    let out = portcullis(
        &server,
        "warn",
        &[
            "client", "limits", &client.id, "--rate", "0", "--burst", "1",
        ],
    )
    .await;
    assert!(!out.status.success());
    server.stop().await;
}

#[tokio::test]
async fn the_admin_client_page_shows_and_sets_the_limit() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| {
            roomy(c);
            c.rate_limits.client = Budget::new(50.0, 80);
        })
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    let mut admin = Admin::new(&server).await;
    let path = format!("/admin/clients/{}", client.id);
    let page = admin.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("50 requests/s, burst 80"),
        "{}",
        page.body
    );
    assert!(page.body.contains("the default (rate_limits.client)"));
    assert!(page.body.contains("0 of 80"));

    let saved = admin
        .post(
            &format!("{path}/limits"),
            &[("rate", "0.01"), ("burst", "2")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(saved.location().ends_with("?done=limits_saved"));
    // Applied at once in this process.
    client_credentials(&server, &client, "a").await.assert_ok();
    client_credentials(&server, &client, "a").await.assert_ok();
    assert_refused(&client_credentials(&server, &client, "a").await);
    let page = admin.get(&path).await;
    assert!(
        page.body.contains("0.01 requests/s, burst 2"),
        "{}",
        page.body
    );
    assert!(page.body.contains("an administrator"));
    assert!(page.body.contains("2 of 2"), "{}", page.body);

    // Nonsense changes nothing.
    let bad = admin
        .post(
            &format!("{path}/limits"),
            &[("rate", "fast"), ("burst", "2")],
        )
        .await;
    assert_eq!(bad.status, 400);
    // Back to the default.
    let cleared = admin
        .post(&format!("{path}/limits"), &[("clear", "1")])
        .await;
    assert_eq!(cleared.status, 303, "{}", cleared.body);
    client_credentials(&server, &client, "a").await.assert_ok();
    let page = admin.get(&path).await;
    assert!(
        page.body.contains("50 requests/s, burst 80"),
        "{}",
        page.body
    );
    let (action, _) = crate::support::admin::audit(&server, Default::default())
        .await
        .into_iter()
        .find(|(action, _)| action == "client.limits")
        .expect("the change is audited");
    assert_eq!(action, "client.limits");
    server.stop().await;
}

#[tokio::test]
async fn rate_limits_enabled_false_lets_everything_through() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| {
            let tiny = Budget::new(0.01, 1);
            c.rate_limits.enabled = false;
            c.rate_limits.address.api = tiny;
            c.rate_limits.client = tiny;
        })
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    for _ in 0..5 {
        client_credentials(&server, &client, "a").await.assert_ok();
    }
    for _ in 0..5 {
        assert_eq!(post_token_without_credentials(&server).await.status, 401);
    }
    server.stop().await;
}
