//! Bounds under floods (issue 10, `docs/decisions/0013-bounded-resources.md`), over real TLS:
//! password hashes behind a semaphore, sign-in failing closed, anonymous admin refusals counted
//! rather than stored, and the client cache. Memory is read from `/proc/self/status`: the test
//! server runs in the test process, so the figure is the process's (server and test clients).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use portcullis_server::bounds::Refusal;
use portcullis_store::admin::AuditFilter;
use serde_json::json;

use crate::support::admin::Admin;
use crate::support::client::{JwtClient, PASSWORD, add_user};
use crate::support::server::Builder;
use crate::support::token;
use crate::support::{Backend, TestServer};

const MIB: u64 = 1024 * 1024;

/// A server without rate limits: the bounds must hold whatever the rate limits let through
/// (floods from many addresses, or behind a proxy), so these tests flood past them.
pub(crate) fn unlimited() -> Builder {
    TestServer::builder().configure(|c| c.rate_limits.enabled = false)
}

/// The process's resident memory, bytes (`VmRSS`).
pub(crate) fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Samples the process's RSS every 10 ms until stopped; returns the highest seen.
pub(crate) struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssPeak {
    pub(crate) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let task = tokio::spawn({
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        Self { stop, peak, task }
    }

    pub(crate) async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

/// An HTTP/1.1 client of `server` that connects from `source` and follows no redirects. (Over one
/// HTTP/2 connection, tens of thousands of streams can meet h2's reset-flood guard, a `GOAWAY`
/// with `ENHANCE_YOUR_CALM`, under load; HTTP/1.1 spreads a flood over connections.)
fn client_from(server: &TestServer, source: IpAddr) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&server.ca_pem()).unwrap();
    reqwest::Client::builder()
        .http1_only()
        .tls_certs_only([ca])
        .resolve("localhost", "127.0.0.1:0".parse().unwrap())
        .local_address(source)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// POSTs the sign-in form with a matching double-submit cookie and field.
async fn post_login(
    http: &reqwest::Client,
    url: &str,
    username: &str,
    password: &str,
) -> (u16, Option<String>, Option<String>) {
    let response = http
        .post(url)
        .header("Cookie", "__Host-portcullis-csrf=flood-token")
        .form(&[
            ("csrf_token", "flood-token"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (
        response.status().as_u16(),
        header("retry-after"),
        header("location"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_flood_runs_at_most_the_permitted_hashes_in_bounded_memory() {
    let server = unlimited().start().await;
    let permits = server.config.limits.password_hashes;
    assert_eq!(permits, 4, "the default");
    let username = add_user(&server).await;
    let url = format!("{}/login", server.public_url());
    let baseline = rss_bytes();
    let peak = RssPeak::start();
    // 500 parallel sign-ins, each from its own loopback address (so the per-address throttle
    // does not stop them before the hash); one in ten names the real user.
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..500_u32 {
        let source = Ipv4Addr::new(
            127,
            1 + u8::try_from(i / 250).unwrap(),
            1,
            1 + u8::try_from(i % 250).unwrap(),
        );
        let http = client_from(&server, IpAddr::V4(source));
        let name = if i % 10 == 0 {
            username.clone()
        } else {
            format!("nobody-{i}")
        };
        let url = url.clone();
        flood.spawn(async move { post_login(&http, &url, &name, "not the password").await });
    }
    let (mut wrong, mut throttled, mut busy) = (0, 0, 0);
    while let Some(answer) = flood.join_next().await {
        let (status, retry_after, _) = answer.unwrap();
        match status {
            401 => wrong += 1,
            429 => throttled += 1,
            503 => {
                assert_eq!(
                    retry_after.as_deref(),
                    Some("2"),
                    "a busy 503 says when to retry"
                );
                busy += 1;
            }
            other => panic!("sign-in flood answered {other}"),
        }
    }
    let peak_rss = peak.stop().await;
    let hashes = &server.running().state.bounds.hashes;
    eprintln!(
        "sign-in flood: {wrong} wrong, {throttled} throttled, {busy} busy; peak hashes {}, refused {}; RSS {} MiB before, peak {} MiB",
        hashes.peak(),
        hashes.refused(),
        baseline / MIB,
        peak_rss / MIB
    );
    assert!(
        hashes.peak() >= 1 && hashes.peak() <= permits,
        "at most {permits} hashes at once, saw {}",
        hashes.peak()
    );
    assert!(busy > 0, "the semaphore turned sign-ins away");
    assert_eq!(u64::try_from(busy).unwrap(), hashes.refused());
    assert!(
        peak_rss.saturating_sub(baseline) < 256 * MIB,
        "the process grew by {} MiB",
        peak_rss.saturating_sub(baseline) / MIB
    );
    // After the flood (and the account's throttle delay), the right password works.
    server
        .clock
        .advance(portcullis_core::login::MAX_DELAY_SECS + 1);
    let http = client_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (status, _, location) = post_login(&http, &url, &username, PASSWORD).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    server.stop().await;
}

#[tokio::test]
async fn sign_in_fails_closed_when_the_failure_counters_cannot_be_read_or_written() {
    let server = unlimited().backend(Backend::Postgres).start().await;
    let username = add_user(&server).await;
    let url = format!("{}/login", server.public_url());
    let http = client_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let db = sqlx::PgPool::connect(&server.config.database_url())
        .await
        .unwrap();
    // The users table answers; the per-address counters do not.
    sqlx::query("ALTER TABLE login_failures RENAME TO login_failures_away")
        .execute(&db)
        .await
        .unwrap();
    for password in [PASSWORD, "not the password"] {
        let (status, retry_after, location) = post_login(&http, &url, &username, password).await;
        assert_eq!(
            (status, retry_after.as_deref(), location),
            (503, Some("2"), None),
            "right and wrong passwords alike: no oracle, no unthrottled guess"
        );
    }
    sqlx::query("ALTER TABLE login_failures_away RENAME TO login_failures")
        .execute(&db)
        .await
        .unwrap();
    let (status, _, location) = post_login(&http, &url, &username, PASSWORD).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    db.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sign_ins_from_one_address_are_counted_one_by_one_not_refused() {
    let server = unlimited()
        .configure(|c| c.limits.password_hashes = 8)
        .start()
        .await;
    let mut users = Vec::new();
    // Five: an attempt counts as a failure until its password is checked, so more than
    // `FREE_FAILURES` at the same instant from one address would be slowed like failures.
    for _ in 0..portcullis_core::login::FREE_FAILURES {
        users.push(add_user(&server).await);
    }
    let url = format!("{}/login", server.public_url());
    // Five people behind one address sign in at once: each attempt is claimed in turn (a lost
    // race reads the counts again), none is throttled by the others.
    let mut signing_in = tokio::task::JoinSet::new();
    for username in users {
        let http = client_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let url = url.clone();
        signing_in.spawn(async move { post_login(&http, &url, &username, PASSWORD).await });
    }
    while let Some(answer) = signing_in.join_next().await {
        let (status, _, location) = answer.unwrap();
        assert_eq!((status, location.as_deref()), (303, Some("/account")));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anonymous_admin_posts_are_counted_not_stored_and_stored_fields_are_capped() {
    let server = unlimited().start().await;
    let http = client_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let base = server.public_url();
    let long_path = format!("/admin/clients/{}/disable", "x".repeat(8_000));
    let answers: Vec<u16> = futures_util::stream::iter(0..10_000)
        .map(|i| {
            let path = if i % 2 == 0 {
                "/admin/users"
            } else {
                long_path.as_str()
            };
            let request = http
                .post(format!("{base}{path}"))
                .form(&[("username", "x")]);
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(answers.iter().all(|s| *s == 303), "sent to sign in");
    let state = &server.running().state;
    let (_, stored) = state
        .store
        .audit_events(&AuditFilter::default(), 0, 1)
        .await
        .unwrap();
    assert_eq!(stored, 0, "10,000 anonymous refusals, no audit row");
    assert_eq!(state.bounds.refusals.total(Refusal::AnonymousAdmin), 10_000);

    // A refusal that names an administrator is stored, its fields capped.
    let mut admin = Admin::new(&server).await;
    let page = admin
        .post_bare(&long_path, &[("csrf_token", "forged")])
        .await;
    assert_eq!(page.status, 403);
    let (events, _) = state
        .store
        .audit_events(&AuditFilter::default(), 0, 1)
        .await
        .unwrap();
    let event = &events[0];
    assert_eq!(event.event.action, "admin.form_refused");
    let target = event.event.target.as_deref().unwrap();
    assert!(
        target.len() <= 256 && target.starts_with("/admin/clients/xxx"),
        "{}",
        target.len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_client_ids_never_evict_known_clients_and_memory_stays_bounded() {
    let server = unlimited()
        .configure(|c| c.clients.cache_secs = 3600)
        .start()
        .await;
    let known = JwtClient::register(&server, json!({})).await;
    token::client_credentials(&server, &known, "a")
        .await
        .assert_ok();
    let state = &server.running().state;
    assert!(state.clients.is_cached(&known.id));
    let http = client_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let base = server.public_url();
    let baseline = rss_bytes();
    let peak = RssPeak::start();
    // 10,000 ids of 1 KiB (of no possible shape) and 10,000 unknown ids of a possible one.
    let answers: Vec<u16> = futures_util::stream::iter(0..20_000)
        .map(|i| {
            let id = if i % 2 == 0 {
                format!("{i:0>1024}")
            } else {
                format!("unknown-{i:0>100}")
            };
            let request = http.get(format!("{base}/authorize?client_id={id}&request_uri=urn:x"));
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let peak_rss = peak.stop().await;
    assert!(
        answers.iter().all(|s| *s == 400),
        "an error page, never a redirect"
    );
    let (cached, unknown) = state.clients.cache_counts();
    eprintln!(
        "client ids: {cached} known and {unknown} unknown cached; RSS {} MiB before, peak {} MiB",
        baseline / MIB,
        peak_rss / MIB
    );
    assert!(unknown <= server.config.limits.unknown_client_entries);
    assert!(
        state.clients.is_cached(&known.id),
        "the known client was not evicted"
    );
    assert!(
        peak_rss.saturating_sub(baseline) < 64 * MIB,
        "the process grew by {} MiB",
        peak_rss.saturating_sub(baseline) / MIB
    );
    token::client_credentials(&server, &known, "a")
        .await
        .assert_ok();
    server.stop().await;
}
