//! Faults in the middle of a flow (issue 13, point 2): the proxy to Postgres holds the database's
//! answers (statements are executed, results never arrive) and then cuts every connection while
//! a request of each endpoint family is inside a statement. Each answers 503 with `Retry-After`
//! (never a panic, a 401 or a bodiless 500); afterwards nothing is half-written — every grant
//! has its consent and a code or token, no live token belongs to a revoked grant — and requests
//! succeed again within two seconds of the database coming back.

use std::time::{Duration, Instant};

use portcullis_core::registration::Policy;
use serde_json::json;
use sqlx::Row as _;

use crate::support::TestServer;
use crate::support::browser::Browser;
use crate::support::chaos::{ChaosProxy, assert_json_503, assert_page_503};
use crate::support::client::{DpopKey, JwtClient};
use crate::support::flow::{Fixture, VERIFIER};
use crate::support::registration::{initial_access_token, register};
use crate::support::token;

/// How long a request is left inside its stalled statement before the cut.
const IN_FLIGHT: Duration = Duration::from_millis(300);

/// Runs `request` with the database's answers held, and cuts every connection while it waits.
async fn cut_mid_statement<T>(proxy: &ChaosProxy, request: impl Future<Output = T>) -> T {
    proxy.stall();
    let (answer, ()) = tokio::join!(request, async {
        tokio::time::sleep(IN_FLIGHT).await;
        proxy.cut();
    });
    proxy.restore().await;
    answer
}

/// Waits until `machine` gets a token again; the database came back at most two seconds ago.
async fn recovered(server: &TestServer, machine: &JwtClient, what: &str) {
    let restored = Instant::now();
    loop {
        let answer = token::client_credentials(server, machine, "a").await;
        if answer.status == 200 {
            return;
        }
        assert_json_503(&format!("{what}: while coming back"), &answer);
        assert!(
            restored.elapsed() < Duration::from_secs(2),
            "{what}: still failing {:?} after the database came back",
            restored.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Counts the rows that break an invariant of the flow tables.
async fn half_written(database_url: &str) -> Vec<(&'static str, i64)> {
    let checks = [
        (
            "grant without its consent",
            "SELECT count(*) FROM grants g WHERE NOT EXISTS (SELECT 1 FROM consents c \
             WHERE c.user_id = g.user_id AND c.client_id = g.client_id)",
        ),
        (
            "grant without a code or a token",
            "SELECT count(*) FROM grants g WHERE NOT EXISTS (SELECT 1 FROM codes c WHERE \
             c.grant_id = g.grant_id) AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE \
             a.grant_id = g.grant_id) AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE \
             r.grant_id = g.grant_id)",
        ),
        (
            "live access token of a revoked grant",
            "SELECT count(*) FROM access_tokens a JOIN grants g ON g.grant_id = a.grant_id \
             WHERE g.revoked_at IS NOT NULL AND a.revoked_at IS NULL",
        ),
        (
            "live refresh token of a revoked grant",
            "SELECT count(*) FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id \
             WHERE g.revoked_at IS NOT NULL AND r.revoked_at IS NULL",
        ),
    ];
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let mut found = Vec::new();
    for (what, sql) in checks {
        let row = sqlx::query(sql).fetch_one(&pool).await.unwrap();
        let count: i64 = row.get(0);
        if count != 0 {
            found.push((what, count));
        }
    }
    pool.close().await;
    found
}

#[tokio::test]
async fn a_cut_inside_a_statement_answers_503_and_leaves_nothing_half_written() {
    let proxy = ChaosProxy::to_postgres().await;
    let server = TestServer::builder().through(&proxy).start().await;
    let machine = JwtClient::register(&server, json!({})).await;
    let f = Fixture::new_on(server, json!({ "scope": "openid profile" })).await;
    let server = &f.server;
    let key = DpopKey::new();
    let mut user = Browser::new(server);
    let tokens = f.tokens(&mut user, &key).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let iat = initial_access_token(server, Policy::default(), None).await;

    // PAR.
    let answer = cut_mid_statement(&proxy, f.par(f.par_params(&[]), None)).await;
    assert_json_503("par", &answer);
    recovered(server, &machine, "par").await;

    // The authorization endpoint issuing a code (the consent is remembered).
    let pushed = f.pushed(&[]).await;
    let page = cut_mid_statement(&proxy, user.get(&pushed)).await;
    assert_page_503("authorize", &page);
    recovered(server, &machine, "authorize").await;

    // The code exchange.
    let code = f.authorize(&mut user, Some(&key)).await["code"].clone();
    let answer =
        cut_mid_statement(&proxy, f.exchange(&code, VERIFIER, Some(&key), &f.client)).await;
    assert_json_503("code exchange", &answer);
    recovered(server, &machine, "code exchange").await;

    // Refresh, userinfo, introspection, revocation, client_credentials, registration.
    let answer = cut_mid_statement(&proxy, f.refresh(&refresh).dpop(&key).send()).await;
    assert_json_503("refresh", &answer);
    recovered(server, &machine, "refresh").await;
    let answer = cut_mid_statement(&proxy, f.userinfo(&access, &key)).await;
    assert_json_503("userinfo", &answer);
    recovered(server, &machine, "userinfo").await;
    let answer =
        cut_mid_statement(&proxy, token::introspect(server, &machine, &access).send()).await;
    assert_json_503("introspect", &answer);
    recovered(server, &machine, "introspect").await;
    let answer = cut_mid_statement(&proxy, token::revoke(server, &f.client, &access).send()).await;
    assert_json_503("revoke", &answer);
    recovered(server, &machine, "revoke").await;
    let answer = cut_mid_statement(&proxy, token::client_credentials(server, &machine, "a")).await;
    assert_json_503("client_credentials", &answer);
    recovered(server, &machine, "client_credentials").await;
    let answer = cut_mid_statement(
        &proxy,
        register(server, Some(&iat), &json!({ "client_name": "x" })),
    )
    .await;
    assert_json_503("register", &answer);
    recovered(server, &machine, "register").await;

    let broken = half_written(&server.config.database_url()).await;
    assert!(broken.is_empty(), "half-written rows: {broken:?}");
    // The flow still works end to end afterwards.
    f.tokens(&mut Browser::new(server), &key).await;
    f.server.stop().await;
}
