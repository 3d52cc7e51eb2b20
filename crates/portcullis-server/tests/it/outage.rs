//! A database outage, with a real Postgres behind a TCP proxy that is cut and restored
//! (`support::chaos`). Every endpoint family answers 503 with `Retry-After` (the JSON endpoints
//! `temporarily_unavailable`, the pages an HTML page), never a 401 or 400 that would make a
//! client drop a good token or a person lose their session; once the outage is known, answers
//! come at once instead of after the pool's acquire timeout; and once the database is back,
//! requests succeed again within two seconds.

use std::time::{Duration, Instant};

use portcullis_core::registration::Policy;
use serde_json::json;

use crate::support::TestServer;
use crate::support::admin::Admin;
use crate::support::browser::Browser;
use crate::support::chaos::{ChaosProxy, assert_json_503, assert_page_503};
use crate::support::client::{DpopKey, JwtClient, PASSWORD};
use crate::support::flow::Fixture;
use crate::support::http::Answer;
use crate::support::registration::{initial_access_token, register};
use crate::support::token;

/// How long the pool waits for a connection (`portcullis_store`'s acquire timeout): an answer
/// that came well within it did not wait for it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `request`, returning its answer and how long it took.
async fn timed<T>(request: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let answer = request.await;
    (answer, started.elapsed())
}

#[tokio::test]
async fn every_endpoint_answers_503_at_once_during_an_outage_and_recovers() {
    let proxy = ChaosProxy::to_postgres().await;
    let server = TestServer::builder().through(&proxy).start().await;
    // Before the outage: a machine client, a user with tokens and a session, a pushed request,
    // an administrator, an initial access token, a sign-in form.
    let machine = JwtClient::register(&server, json!({})).await;
    let f = Fixture::new_on(server, json!({ "scope": "openid profile" })).await;
    let server = &f.server;
    let mut user = Browser::new(server);
    let key = DpopKey::new();
    let tokens = f.tokens(&mut user, &key).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let account = user.get(&format!("{}/account", server.public_url())).await;
    let session_csrf = account.field("csrf_token").unwrap();
    let pushed = f.pushed(&[]).await;
    let mut admin = Admin::new(server).await;
    let iat = initial_access_token(server, Policy::default(), None).await;
    let mut visitor = Browser::new(server);
    let sign_in_form = visitor.get(&format!("{}/login", server.public_url())).await;
    let visitor_csrf = sign_in_form.field("csrf_token").unwrap();

    proxy.cut();
    // The first request finds the database gone (waiting at most the acquire timeout).
    let (first, took) = timed(token::client_credentials(server, &machine, "a")).await;
    assert_json_503("the first request", &first);
    assert!(took < ACQUIRE_TIMEOUT + Duration::from_secs(2), "{took:?}");

    let mut slowest = Duration::ZERO;
    let mut note = |what: &str, took: Duration| {
        assert!(
            took < ACQUIRE_TIMEOUT / 2,
            "{what} took {took:?}: it waited for the pool"
        );
        slowest = slowest.max(took);
    };
    // The token-style endpoints.
    let (answer, took) = timed(token::client_credentials(server, &machine, "a")).await;
    assert_json_503("token", &answer);
    note("token", took);
    let (answer, took) = timed(f.par(f.par_params(&[]), None)).await;
    assert_json_503("par", &answer);
    note("par", took);
    let (answer, took) = timed(token::introspect(server, &machine, &access).send()).await;
    assert_json_503("introspect", &answer);
    note("introspect", took);
    let (answer, took) = timed(token::revoke(server, &machine, &access).send()).await;
    assert_json_503("revoke", &answer);
    note("revoke", took);
    let (answer, took) = timed(register(server, Some(&iat), &json!({ "client_name": "x" }))).await;
    assert_json_503("register", &answer);
    note("register", took);
    // A protected resource: the token is good, the database is not; never invalid_token.
    let (answer, took) = timed(f.userinfo(&access, &key)).await;
    assert_json_503("userinfo", &answer);
    assert!(answer.headers.get("www-authenticate").is_none());
    note("userinfo", took);
    // The pages: the person keeps their session and is asked to come back.
    let (page, took) = timed(user.get(&pushed)).await;
    assert_page_503("authorize", &page);
    note("authorize", took);
    let consent = format!("{}/consent", server.public_url());
    let request_uri = url::Url::parse(&pushed)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "request_uri")
        .unwrap()
        .1
        .into_owned();
    let form = [
        ("csrf_token", session_csrf.as_str()),
        ("client_id", f.client.id.as_str()),
        ("request_uri", request_uri.as_str()),
        ("decision", "approve"),
    ];
    let (page, took) = timed(user.post(&consent, &form)).await;
    assert_page_503("consent", &page);
    note("consent", took);
    let (page, took) = timed(user.get(&format!("{}/account", server.public_url()))).await;
    assert_page_503("account", &page);
    note("account", took);
    let login = format!("{}/login", server.public_url());
    let credentials = [
        ("csrf_token", visitor_csrf.as_str()),
        ("username", f.username.as_str()),
        ("password", PASSWORD),
    ];
    let (page, took) = timed(visitor.post(&login, &credentials)).await;
    assert_page_503("login", &page);
    note("login", took);
    let (page, took) = timed(admin.get("/admin/clients")).await;
    assert_page_503("admin", &page);
    note("admin", took);
    let ready = format!("{}/readyz", server.public_url());
    let (answer, took) =
        timed(async { Answer::read(server.client(None).get(&ready).send().await.unwrap()).await })
            .await;
    assert_eq!(answer.status, 503);
    note("readyz", took);
    eprintln!("slowest answer during the outage: {slowest:?}");

    // Back: requests succeed again within two seconds.
    proxy.restore().await;
    let restored = Instant::now();
    loop {
        let answer = token::client_credentials(server, &machine, "a").await;
        if answer.status == 200 {
            break;
        }
        assert_json_503("while coming back", &answer);
        assert!(
            restored.elapsed() < Duration::from_secs(2),
            "still failing {:?} after the database came back",
            restored.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "requests succeed again {:?} after the database came back",
        restored.elapsed()
    );
    f.userinfo(&access, &key).await.assert_ok();
    // The pushed request completes (the consent is remembered): the code goes to the client.
    let page = user.get(&pushed).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.redirect_params().contains_key("code"));
    f.server.stop().await;
}
