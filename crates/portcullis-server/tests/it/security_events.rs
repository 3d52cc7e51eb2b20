//! Security events (issue 11, decision record 0017) end to end, over real TLS: the scrape (a
//! client ramping to 5,000 token requests a minute while a resource server introspects guessed
//! tokens) raises exactly one rate anomaly and one guessing event, each delivered once, signed,
//! to an HTTPS webhook; ten minutes of steady traffic raise nothing; a known client from a new
//! network after its learning period raises one event; two processes on one Postgres raise one
//! event for one anomaly that neither sees alone; a failed delivery is retried.
//!
//! Time is the server's test clock: a "minute" passes when the test moves it, and the detection
//! task (every `monitoring.flush_ms`, 50 ms here) sees it at its next round.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use portcullis_core::Timestamp;
use portcullis_server::config::{Budget, Config};
use portcullis_server::security::alerts;
use portcullis_server::security::{Event, Kind, Severity};
use portcullis_store::security::{EventFilter, SecurityEventRecord};
use serde_json::json;

use crate::support::TestServer;
use crate::support::client::JwtClient;
use crate::support::http::FormPost;
use crate::support::token::{client_credentials, introspect};
use crate::support::webhooks::WebhookReceiver;

/// Detection every 50 ms, baselines trusted after 3 minutes, budgets out of the way.
fn monitored(c: &mut Config) {
    c.monitoring.flush_ms = 50;
    c.monitoring.rate.warmup_minutes = 3;
    let wide = Budget::new(100_000.0, 100_000);
    c.rate_limits.address.api = wide;
    c.rate_limits.client = wide;
    c.rate_limits.access_token = wide;
}

/// The webhook secret of these tests.
const SECRET: &str = "a webhook secret of 32 bytes...!";

/// Moves the clock to 30 s into the next minute, so that windows fall where the test expects.
fn align(server: &TestServer) {
    let now = server.now().unix();
    server
        .clock
        .set(Timestamp::from_unix((now / 60 + 1) * 60 + 30));
}

/// A few detection rounds.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(250)).await;
}

/// Every stored event, of `kind` if given.
async fn events(server: &TestServer, kind: Option<Kind>) -> Vec<SecurityEventRecord> {
    let filter = EventFilter {
        kind: kind.map(|k| k.as_str().to_owned()),
        ..EventFilter::default()
    };
    server
        .running()
        .state
        .store
        .security_events(&filter, 1000, 0)
        .await
        .unwrap()
}

/// Waits (up to 5 s) until `n` events of `kind` are stored.
async fn wait_for_events(server: &TestServer, kind: Kind, n: usize) -> Vec<SecurityEventRecord> {
    for _ in 0..100 {
        let found = events(server, Some(kind)).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} {kind:?} events, got {:?}",
        events(server, None).await
    );
}

/// `n` client_credentials requests of `client`, eight at a time; each must succeed.
async fn tokens(server: &TestServer, client: &JwtClient, n: usize) {
    let mut left = n;
    while left > 0 {
        let batch = left.min(8);
        for answer in join_all((0..batch).map(|_| client_credentials(server, client, "a"))).await {
            answer.assert_ok();
        }
        left -= batch;
    }
}

/// `per_minute` token requests a minute for `minutes` minutes: a baseline learns them.
async fn steady(server: &TestServer, client: &JwtClient, minutes: u32, per_minute: usize) {
    for _ in 0..minutes {
        tokens(server, client, per_minute).await;
        settle().await;
        server.clock.advance(60);
        settle().await;
    }
}

#[tokio::test]
async fn a_scrape_raises_one_rate_anomaly_and_one_guessing_event_each_delivered_once_signed() {
    let hook = WebhookReceiver::start(&[]).await;
    let server = TestServer::builder()
        .configure(monitored)
        .configure(hook.configure(
            SECRET,
            "warning",
            &["rate_anomaly", "introspection_guessing"],
        ))
        .start()
        .await;
    align(&server);
    let partner = JwtClient::register(&server, json!({})).await;
    let rs = JwtClient::register(&server, json!({"resource_server": true})).await;
    // Four quiet minutes of 10 requests: the partner's baseline is learned (3 minutes warm it).
    steady(&server, &partner, 4, 10).await;
    let baseline = server
        .running()
        .state
        .store
        .security_baselines("rate:token", Some(&partner.id))
        .await
        .unwrap();
    assert_eq!(baseline.len(), 1, "{baseline:?}");
    assert!(baseline[0].samples >= 3, "{baseline:?}");
    assert_eq!(baseline[0].mean_milli, 10_000, "{baseline:?}");
    assert!(events(&server, None).await.is_empty());

    // The scrape: the partner ramps to 84 requests a second (5,040 a minute), one test second
    // at a time.
    let started = server.now().unix();
    let mut raised_at = None;
    for per_second in [5, 10, 20, 40, 84, 84, 84, 84, 84, 84] {
        tokens(&server, &partner, per_second).await;
        settle().await;
        if raised_at.is_none() && !events(&server, Some(Kind::RateAnomaly)).await.is_empty() {
            raised_at = Some(server.now().unix());
        }
        server.clock.advance(1);
    }
    let raised_at = raised_at.expect("a rate anomaly during the scrape");
    assert!(
        raised_at - started < 60,
        "raised {} s in",
        raised_at - started
    );
    // Meanwhile a resource server introspects runs of guessed tokens.
    for run in 0..3 {
        for i in 0..15 {
            let guess = format!("guessed-token-{run}-{i}-{}", "x".repeat(30));
            let answer = introspect(&server, &rs, &guess).send().await.assert_ok();
            assert_eq!(answer["active"], false);
        }
        settle().await;
    }
    settle().await;

    let anomalies = events(&server, Some(Kind::RateAnomaly)).await;
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    let anomaly = &anomalies[0];
    assert_eq!(anomaly.client_id.as_deref(), Some(partner.id.as_str()));
    assert_eq!(anomaly.severity, "warning");
    let evidence: serde_json::Value = serde_json::from_str(&anomaly.evidence).unwrap();
    assert_eq!(evidence["warmed_up"], true, "{evidence}");
    assert_eq!(evidence["threshold_per_minute"], 120, "{evidence}");
    assert!(evidence["observed_per_minute"].as_i64().unwrap() > 120);
    assert!(anomaly.text.contains(&partner.id) && anomaly.text.contains("token"));
    let guessing = events(&server, Some(Kind::IntrospectionGuessing)).await;
    assert_eq!(guessing.len(), 1, "{guessing:?}");
    assert_eq!(guessing[0].client_id.as_deref(), Some(rs.id.as_str()));

    // Each reaches the receiver once, signed with the secret over "<t>.<body>".
    let got = hook.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got_later = hook.deliveries();
    assert_eq!(got_later.len(), 2, "{got_later:?}");
    let now = server.now().unix();
    let mut kinds = BTreeSet::new();
    for delivery in &got {
        assert!(
            alerts::verify(
                SECRET.as_bytes(),
                &delivery.signature,
                &delivery.body,
                now,
                300
            ),
            "{delivery:?}"
        );
        assert!(!alerts::verify(
            b"not the secret at all, 32 bytes!",
            &delivery.signature,
            &delivery.body,
            now,
            300
        ));
        let body = delivery.json();
        assert_eq!(body["id"], delivery.webhook_id);
        assert!(body["text"].as_str().unwrap().len() > 20, "{body}");
        kinds.insert(body["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds,
        BTreeSet::from([
            "introspection_guessing".to_owned(),
            "rate_anomaly".to_owned()
        ])
    );
    let log = server
        .running()
        .state
        .store
        .security_deliveries(None, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter()
            .all(|d| d.state == "delivered" && d.attempts == 1)
    );

    // The scrape's minute is folded but not learned: the baseline stays the quiet one.
    server.clock.advance(60);
    settle().await;
    settle().await;
    let after = server
        .running()
        .state
        .store
        .security_baselines("rate:token", Some(&partner.id))
        .await
        .unwrap();
    assert!(after[0].last_window > baseline[0].last_window, "{after:?}");
    assert_eq!(after[0].mean_milli, 10_000, "{after:?}");
    server.stop().await;
}

#[tokio::test]
async fn ten_minutes_of_steady_traffic_raise_nothing() {
    let server = TestServer::builder().configure(monitored).start().await;
    align(&server);
    let partner = JwtClient::register(&server, json!({})).await;
    let other = JwtClient::register(&server, json!({})).await;
    let rs = JwtClient::register(&server, json!({"resource_server": true})).await;
    for minute in 0..10 {
        // A little noise: 20 to 29 token requests of one client, a few of another, and the
        // resource server introspecting tokens that exist.
        tokens(&server, &partner, 20 + minute % 10).await;
        tokens(&server, &other, 3).await;
        let token = client_credentials(&server, &other, "a").await.assert_ok()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        for _ in 0..5 {
            let answer = introspect(&server, &rs, &token).send().await.assert_ok();
            assert_eq!(answer["active"], true);
        }
        settle().await;
        server.clock.advance(60);
        settle().await;
    }
    // The baselines learned (so the detector was judging, not warming up) and nothing fired.
    let learned = server
        .running()
        .state
        .store
        .security_baselines("rate:", None)
        .await
        .unwrap();
    assert!(
        learned
            .iter()
            .any(|b| b.subject == partner.id && b.samples >= 9),
        "{learned:?}"
    );
    assert_eq!(events(&server, None).await, Vec::new());
    server.stop().await;
}

/// A token request of `client` from the local address `from`.
async fn token_from(server: &TestServer, client: &JwtClient, from: &str) {
    let ca = reqwest::Certificate::from_pem(&server.ca_pem()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", server.localhost())
        .local_address(Some(from.parse().unwrap()))
        .build()
        .unwrap();
    let url = format!("{}/token", server.public_url());
    FormPost::new(server, http, url)
        .params(&[("grant_type", "client_credentials"), ("scope", "a")])
        .auth(client)
        .dpop(&crate::support::client::DpopKey::new())
        .send()
        .await
        .assert_ok();
}

#[tokio::test]
async fn a_known_client_from_a_new_network_after_its_learning_period_raises_one_event() {
    let server = TestServer::builder()
        .configure(monitored)
        .configure(|c| {
            c.monitoring.learning_secs = 600;
            // On loopback every address is one /24: each address is its own network here.
            c.monitoring.network_prefix_v4 = 32;
        })
        .start()
        .await;
    let known = JwtClient::register(&server, json!({})).await;
    token_from(&server, &known, "127.0.0.1").await;
    settle().await;
    // Within its learning period a new network is learned silently.
    server.clock.advance(60);
    token_from(&server, &known, "127.0.0.3").await;
    settle().await;
    assert!(events(&server, None).await.is_empty());
    // After it, a new network raises one event; the same network again raises nothing.
    server.clock.advance(600);
    let newcomer = JwtClient::register(&server, json!({})).await;
    token_from(&server, &known, "127.0.0.2").await;
    token_from(&server, &known, "127.0.0.2").await;
    // A client still learning is not flagged from the same network.
    token_from(&server, &newcomer, "127.0.0.1").await;
    token_from(&server, &newcomer, "127.0.0.2").await;
    let found = wait_for_events(&server, Kind::NewNetwork, 1).await;
    settle().await;
    let found_later = events(&server, None).await;
    assert_eq!(found_later.len(), 1, "{found_later:?}");
    assert_eq!(found[0].client_id.as_deref(), Some(known.id.as_str()));
    assert_eq!(found[0].address.as_deref(), Some("127.0.0.2/32"));
    assert_eq!(found[0].severity, "info");
    let seen = server
        .running()
        .state
        .store
        .seen_of_client(&known.id)
        .await
        .unwrap();
    let networks: BTreeSet<_> = seen
        .iter()
        .filter(|s| s.kind == "network")
        .map(|s| s.value.as_str())
        .collect();
    assert_eq!(
        networks,
        BTreeSet::from(["127.0.0.1/32", "127.0.0.2/32", "127.0.0.3/32"])
    );
    server.stop().await;
}

#[tokio::test]
async fn two_processes_on_one_postgres_raise_one_event_for_an_anomaly_neither_sees_alone() {
    // A ceiling of 60 a minute; each process serves 60 of the client's 120 requests in one
    // minute, so only the deployment's count is above it.
    let ceiling = |c: &mut Config| c.monitoring.rate.ceiling_per_minute = 60;
    let a = TestServer::builder()
        .configure(monitored)
        .configure(ceiling)
        .start()
        .await;
    let b = TestServer::builder()
        .sharing(&a)
        .configure(monitored)
        .configure(ceiling)
        .start()
        .await;
    align(&a);
    b.clock.set(a.now());
    let client = JwtClient::register(&a, json!({})).await;
    for _ in 0..6 {
        tokens(&a, &client, 10).await;
        tokens(&b, &client, 10).await;
        settle().await;
    }
    settle().await;
    let found = events(&a, Some(Kind::RateAnomaly)).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].client_id.as_deref(), Some(client.id.as_str()));
    let evidence: serde_json::Value = serde_json::from_str(&found[0].evidence).unwrap();
    assert!(
        evidence["window_count"].as_i64().unwrap() > 60,
        "{evidence}"
    );
    // Both processes' counts reach the one total (each flushes on its own schedule).
    let mut total = 0;
    for _ in 0..100 {
        let rows = a
            .running()
            .state
            .store
            .security_counts("rate:token", Some(&client.id), 0)
            .await
            .unwrap();
        total = rows.iter().map(|r| r.count).sum::<i64>();
        if total == 120 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(total, 120);
    assert_eq!(events(&a, Some(Kind::RateAnomaly)).await.len(), 1);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_backoff_and_logged() {
    let hook = WebhookReceiver::start(&[500]).await;
    let server = TestServer::builder()
        .configure(monitored)
        .configure(hook.configure(SECRET, "info", &[]))
        .start()
        .await;
    let monitor = &server.running().state.monitor;
    assert!(
        monitor
            .raise(
                Event::new(Kind::SigningKeyOverdue, "A test event.")
                    .severity(Severity::Critical)
                    .incident("test")
            )
            .await
    );
    // The same incident raises nothing new.
    assert!(
        !monitor
            .raise(Event::new(Kind::SigningKeyOverdue, "Again.").incident("test"))
            .await
    );
    let first = hook.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = &server.running().state.store;
    let log = store.security_deliveries(None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].state.as_str(), log[0].attempts), ("pending", 1));
    assert_eq!(log[0].last_status, Some(500));
    // Not before its backoff (5 s and up to 10 % more) has passed on the server's clock.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(hook.deliveries().len(), 1);
    server.clock.advance(6);
    let both = hook.wait_for(2).await;
    assert_eq!(both[1].webhook_id, first[0].webhook_id);
    assert_eq!(both[1].body, first[0].body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = store.security_deliveries(None, 10).await.unwrap();
    assert_eq!((log[0].state.as_str(), log[0].attempts), ("delivered", 2));
    assert_eq!(log[0].last_status, Some(200));
    server.stop().await;
}

#[tokio::test]
async fn bursts_of_failed_client_authentications_and_replays_raise_one_event_each() {
    let server = TestServer::builder()
        .configure(monitored)
        .configure(|c| c.monitoring.auth_failures_per_client = 5)
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    // Assertions for the wrong audience: each refused as invalid_client.
    for _ in 0..8 {
        let bad = client.assertion_with(&server, json!({"aud": "https://elsewhere.example"}));
        server
            .post("/token")
            .params(&[("grant_type", "client_credentials"), ("scope", "a")])
            .form(client.auth(&bad))
            .send()
            .await
            .assert_error(401, "invalid_client");
    }
    // One assertion twice: the second is a replay.
    let assertion = client.assertion(&server);
    for expected in [200, 401] {
        let answer = server
            .post("/token")
            .params(&[("grant_type", "client_credentials"), ("scope", "a")])
            .form(client.auth(&assertion))
            .dpop(&crate::support::client::DpopKey::new())
            .send()
            .await;
        assert_eq!(answer.status, expected, "{:?}", answer.body);
    }
    let bursts = wait_for_events(&server, Kind::AuthFailureBurst, 1).await;
    let replays = wait_for_events(&server, Kind::ReplayRefused, 1).await;
    settle().await;
    let bursts_later = events(&server, Some(Kind::AuthFailureBurst)).await;
    assert_eq!(bursts_later.len(), 1, "{bursts_later:?}");
    assert_eq!(bursts[0].client_id.as_deref(), Some(client.id.as_str()));
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0].client_id.as_deref(), Some(client.id.as_str()));
    assert!(
        replays[0].text.contains("client assertion"),
        "{}",
        replays[0].text
    );
    server.stop().await;
}

#[tokio::test]
async fn requests_for_a_disabled_client_raise_one_event() {
    let server = TestServer::builder()
        .configure(monitored)
        .configure(|c| c.clients.cache_secs = 0)
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    let unknown = JwtClient {
        id: "never-registered".to_owned(),
        key: portcullis_core::jose::PrivateKey::generate(portcullis_core::jose::Alg::Es256, "k")
            .unwrap(),
    };
    client_credentials(&server, &client, "a").await.assert_ok();
    let store = &server.running().state.store;
    assert!(
        store
            .disable_client(&client.id, server.now())
            .await
            .unwrap()
    );
    for _ in 0..3 {
        client_credentials(&server, &client, "a")
            .await
            .assert_error(401, "invalid_client");
        // An identifier nobody registered is only a failure, never a client's event.
        client_credentials(&server, &unknown, "a")
            .await
            .assert_error(401, "invalid_client");
    }
    let found = wait_for_events(&server, Kind::DisabledClient, 1).await;
    settle().await;
    assert_eq!(events(&server, Some(Kind::DisabledClient)).await.len(), 1);
    assert_eq!(found[0].client_id.as_deref(), Some(client.id.as_str()));
    server.stop().await;
}

#[tokio::test]
async fn refused_admin_sign_ins_and_administrators_changes_raise_events() {
    use crate::support::admin::{Admin, add_admin, sign_in_with};
    use crate::support::browser::Browser;
    let server = TestServer::builder().configure(monitored).start().await;
    let target = add_admin(&server).await;
    let base = server.public_url();
    for _ in 0..3 {
        let mut browser = Browser::new(&server);
        let page = sign_in_with(&mut browser, &base, &target, "not the password").await;
        assert_eq!(page.status, 401, "{}", page.body);
    }
    // Three refusals for one account: one event while its incident is open.
    let refused = wait_for_events(&server, Kind::AdminSigninFailure, 1).await;
    let mut admin = Admin::new(&server).await;
    admin
        .post(
            "/admin/users",
            &[("username", "erin"), ("new_password", "erins password 1")],
        )
        .await;
    let created = wait_for_events(&server, Kind::AdminChange, 1).await;
    settle().await;
    assert_eq!(
        events(&server, Some(Kind::AdminSigninFailure)).await.len(),
        1
    );
    assert_eq!(refused[0].account.as_deref(), Some(target.as_str()));
    assert_eq!(refused[0].address.as_deref(), Some("127.0.0.1"));
    let created_later = events(&server, Some(Kind::AdminChange)).await;
    assert_eq!(created_later.len(), 1, "{created_later:?}");
    assert_eq!(created[0].account.as_deref(), Some(admin.username.as_str()));
    assert!(
        created[0].text.contains("user.create"),
        "{}",
        created[0].text
    );
    assert!(!created[0].evidence.contains("erins password"));
    server.stop().await;
}

#[tokio::test]
async fn a_client_getting_tokens_for_many_more_users_than_usual_raises_a_subject_surge() {
    use crate::support::browser::Browser;
    use crate::support::client::{DpopKey, add_user};
    use crate::support::flow::Fixture;
    // A ceiling of 3 a minute, and a baseline that never warms up: the ceiling alone judges.
    let server = TestServer::builder()
        .configure(monitored)
        .configure(|c| {
            c.monitoring.rate.ceiling_per_minute = 3;
            c.monitoring.rate.warmup_minutes = 1000;
        })
        .start()
        .await;
    let mut flow = Fixture::new_on(server, json!({})).await;
    // One user three times: one distinct subject.
    for _ in 0..3 {
        flow.tokens(&mut Browser::new(&flow.server), &DpopKey::new())
            .await;
    }
    settle().await;
    assert!(
        events(&flow.server, Some(Kind::SubjectSurge))
            .await
            .is_empty()
    );
    // Four more users in the same minute: five distinct subjects, above the ceiling.
    for _ in 0..4 {
        flow.username = add_user(&flow.server).await;
        flow.tokens(&mut Browser::new(&flow.server), &DpopKey::new())
            .await;
    }
    let found = wait_for_events(&flow.server, Kind::SubjectSurge, 1).await;
    settle().await;
    assert_eq!(
        events(&flow.server, Some(Kind::SubjectSurge)).await.len(),
        1
    );
    assert_eq!(found[0].client_id.as_deref(), Some(flow.client.id.as_str()));
    let evidence: serde_json::Value = serde_json::from_str(&found[0].evidence).unwrap();
    assert_eq!(evidence["series"], "subjects");
    assert!(
        evidence["window_count"].as_i64().unwrap() >= 4,
        "{evidence}"
    );
    flow.server.stop().await;
}

#[tokio::test]
async fn a_signing_key_past_its_maximum_age_raises_one_event_per_algorithm() {
    let server = TestServer::builder()
        .configure(monitored)
        .configure(|c| {
            c.monitoring.key_max_age_days = 1;
            c.monitoring.incident_secs = 86_400;
        })
        .start()
        .await;
    settle().await;
    assert!(
        events(&server, Some(Kind::SigningKeyOverdue))
            .await
            .is_empty()
    );
    server.clock.advance(2 * 86_400 + 60);
    let algs = server.config.signing_algs().unwrap().len();
    let found = wait_for_events(&server, Kind::SigningKeyOverdue, algs).await;
    // Checked hourly: an hour later the check runs again, but the incidents are open (a day).
    server.clock.advance(3600);
    settle().await;
    settle().await;
    assert_eq!(
        events(&server, Some(Kind::SigningKeyOverdue)).await.len(),
        algs
    );
    assert!(found.iter().all(|e| e.text.contains("rotate")), "{found:?}");
    server.stop().await;
}
