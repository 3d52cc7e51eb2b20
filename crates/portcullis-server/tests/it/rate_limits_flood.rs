//! Floods of `/token` (issue 10, point 3): one client at full speed from 16 connections is held
//! to its budget while another client at one request a second is never refused; and two server
//! processes on one Postgres hold the budget together within decision record 0012's bound.
//!
//! The two processes are two real `portcullis serve` binaries of one deployment (an in-process
//! test server beside them registers the clients and answers the bystander).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use portcullis_server::config::{Budget, Config};
use serde_json::json;

use crate::rate_limits::assert_refused;
use crate::support::TestServer;
use crate::support::client::{DpopKey, JwtClient};
use crate::support::http::FormPost;
use crate::support::processes::Process;
use crate::support::token::client_credentials;

/// The flooded client's budget: 5 requests a second, 5 at once. Small, so that even a debug
/// build on a busy machine sends many times more (the flood reached 23 to 110 requests a second
/// here): the test checks what the limiter admits, not how fast the server is.
const RATE: f64 = 5.0;
const BURST: u32 = 5;

fn budgets(c: &mut Config) {
    let wide = Budget::new(10_000.0, 10_000);
    c.rate_limits.address.api = wide;
    c.rate_limits.client = Budget::new(RATE, BURST);
}

/// What a flood got back.
#[derive(Debug, Default)]
struct Tally {
    admitted: u64,
    refused: u64,
    /// Any other answer: (status, body).
    other: Vec<(u16, String)>,
}

impl Tally {
    fn add(&mut self, other: Self) {
        self.admitted += other.admitted;
        self.refused += other.refused;
        self.other.extend(other.other);
    }
}

/// One connection (of `http`) sending client_credentials requests of `client` to `server`'s
/// deployment back to back until `until`.
async fn connection(
    server: &TestServer,
    http: reqwest::Client,
    client: &JwtClient,
    until: Instant,
) -> Tally {
    let url = format!("{}/token", server.public_url());
    let key = DpopKey::new();
    let mut tally = Tally::default();
    while Instant::now() < until {
        let answer = FormPost::new(server, http.clone(), url.clone())
            .params(&[("grant_type", "client_credentials"), ("scope", "a")])
            .auth(client)
            .dpop(&key)
            .send()
            .await;
        match answer.status {
            200 => tally.admitted += 1,
            429 => {
                assert_refused(&answer);
                tally.refused += 1;
            }
            status => tally.other.push((status, answer.body.to_string())),
        }
    }
    tally
}

/// Floods `server`'s deployment through `connections` connections of each of `listeners` (HTTP
/// clients, each reaching one process) for `length`, while `bystander` sends one request a second
/// to `server`; returns the flood's tally through each listener and the bystander's answers'
/// statuses.
async fn flood(
    server: &TestServer,
    listeners: &[reqwest::Client],
    client: &JwtClient,
    bystander: &JwtClient,
    connections: usize,
    length: Duration,
) -> (Vec<Tally>, Vec<u16>) {
    let until = Instant::now() + length;
    let floods = listeners.iter().map(|http| async move {
        let mut total = Tally::default();
        let each = (0..connections).map(|_| connection(server, http.clone(), client, until));
        for t in join_all(each).await {
            total.add(t);
        }
        total
    });
    let steady = async {
        let mut statuses = Vec::new();
        while Instant::now() < until {
            let started = Instant::now();
            statuses.push(client_credentials(server, bystander, "a").await.status);
            tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
        }
        statuses
    };
    tokio::join!(join_all(floods), steady)
}

/// The sum of `tallies`.
fn sum(tallies: Vec<Tally>) -> Tally {
    let mut total = Tally::default();
    for t in tallies {
        total.add(t);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_flooding_token_is_held_to_its_budget_and_others_pass() {
    let server = TestServer::builder().configure(budgets).start().await;
    let greedy = JwtClient::register(&server, json!({})).await;
    let bystander = JwtClient::register(&server, json!({})).await;
    let length = Duration::from_secs(15);
    let (tallies, bystander_statuses) = flood(
        &server,
        &[server.client(None)],
        &greedy,
        &bystander,
        16,
        length,
    )
    .await;
    let tally = sum(tallies);
    let secs = length.as_secs_f64();
    let rate = (tally.admitted as f64 - f64::from(BURST)) / secs;
    println!(
        "one process: {} admitted, {} refused in {secs} s: {rate:.2}/s admitted past the burst (budget {RATE}/s)",
        tally.admitted, tally.refused
    );
    assert!(tally.other.is_empty(), "{:?}", tally.other);
    assert!(tally.refused > tally.admitted, "{tally:?}");
    assert!(
        (RATE * 0.9..=RATE * 1.1).contains(&rate),
        "admitted {rate:.2}/s, budget {RATE}/s"
    );
    assert!(bystander_statuses.len() >= 10, "{bystander_statuses:?}");
    assert!(
        bystander_statuses.iter().all(|s| *s == 200),
        "{bystander_statuses:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_hold_the_budget_together() {
    two_processes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_reconciling_through_redis_hold_the_budget_together() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    two_processes(Some(url)).await;
}

/// Two `portcullis serve` processes on one database, reconciling through it or through Redis at
/// `redis_url`.
async fn two_processes(redis_url: Option<String>) {
    let through = if redis_url.is_some() {
        "Redis"
    } else {
        "Postgres"
    };
    let server = TestServer::builder()
        .portless_issuer()
        .configure(budgets)
        .start()
        .await;
    // Every process of a deployment has the same configuration: the budgets, and the Redis URL
    // (the issuer, the same for both, names the deployment's Redis keys).
    let mut settings =
        format!("[rate_limits]\nclient = {{ per_second = {RATE:?}, burst = {BURST} }}\n");
    if let Some(url) = &redis_url {
        settings.push_str(&format!("redis_url = \"{url}\"\n"));
    }
    settings.push_str("[rate_limits.address]\napi = { per_second = 10000.0, burst = 10000 }\n");
    let first = Process::spawn(&server, &settings, "warn").await;
    let second = Process::spawn(&server, &settings, "warn").await;
    let greedy = JwtClient::register(&server, json!({})).await;
    let bystander = JwtClient::register(&server, json!({})).await;
    let length = Duration::from_secs(10);
    let listeners = [first.client(&server), second.client(&server)];
    let (tallies, bystander_statuses) =
        flood(&server, &listeners, &greedy, &bystander, 8, length).await;
    // Both processes took part: each admitted some of the flood and refused some.
    for (name, t) in ["first", "second"].iter().zip(&tallies) {
        assert!(t.admitted > 0 && t.refused > 0, "{name} process: {t:?}");
    }
    let tally = sum(tallies);
    let secs = length.as_secs_f64();
    let interval = server.config.rate_limits.sync_interval_ms as f64 / 1000.0;
    // Decision record 0012: over a window W, P processes reconciling every I seconds admit at
    // most r·(W + (P-1)·I) + P·b, plus what arrives during one round trip (allowed 0.5 s here).
    let bound = RATE * (secs + interval + 0.5) + 2.0 * f64::from(BURST);
    println!(
        "two processes through {through}: {} admitted, {} refused in {secs} s (bound {bound:.0}, one process alone would admit {:.0}, two without reconciliation about {:.0})",
        tally.admitted,
        tally.refused,
        RATE * secs + f64::from(BURST),
        2.0 * (RATE * secs + f64::from(BURST)),
    );
    assert!(tally.other.is_empty(), "{:?}", tally.other);
    assert!(tally.refused > tally.admitted, "{tally:?}");
    assert!(
        tally.admitted as f64 <= bound,
        "{} > {bound}",
        tally.admitted
    );
    assert!(
        bystander_statuses.iter().all(|s| *s == 200),
        "{bystander_statuses:?}"
    );
    second.stop().await;
    first.stop().await;
    server.stop().await;
}
