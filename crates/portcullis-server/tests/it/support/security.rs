//! Security monitoring data for the security pages' tests, written straight to the store: events
//! (with webhook deliveries), deployment-wide counts, a client's baselines and what it was seen
//! with. [`seed_day`] writes a plausible day of it, for the screenshots.

use portcullis_core::Timestamp;
use portcullis_store::security::{
    Baseline, CountDelta, DeliveryOutcome, DeliveryState, SecurityEventRecord, SeenKind,
};
use serde_json::{Value, json};

use super::client::unique;
use super::server::TestServer;

/// An unacknowledged event of `kind` and `severity` at `at`, saying `text`.
pub(crate) fn event(kind: &str, severity: &str, at: Timestamp, text: &str) -> SecurityEventRecord {
    SecurityEventRecord {
        id: unique("event"),
        at,
        kind: kind.to_owned(),
        severity: severity.to_owned(),
        client_id: None,
        account: None,
        address: None,
        evidence: "{}".to_owned(),
        text: text.to_owned(),
        acknowledged_at: None,
        acknowledged_by: None,
    }
}

/// Stores `event`, with one pending delivery per sink.
pub(crate) async fn raise(server: &TestServer, event: &SecurityEventRecord, sinks: &[&str]) {
    let sinks: Vec<String> = sinks.iter().map(|s| (*s).to_owned()).collect();
    let stored = server
        .running()
        .state
        .store
        .raise_security_event(event, None, &sinks)
        .await
        .unwrap();
    assert!(stored);
}

/// The webhook [`seed_day`]'s events are delivered to (configure it to see it named).
pub(crate) const HOOK: &str = "https://alerts.example.com/hooks/portcullis/9f2c1d";

/// Adds `count` to `series` for `subject` in the window starting at `window`.
pub(crate) fn count(series: &str, subject: &str, window: i64, count: i64) -> CountDelta {
    CountDelta {
        series: series.to_owned(),
        subject: subject.to_owned(),
        window_start: window.div_euclid(60) * 60,
        delta: count,
    }
}

/// Adds `deltas` to the deployment's counts.
pub(crate) async fn add_counts(server: &TestServer, deltas: &[CountDelta]) {
    server
        .running()
        .state
        .store
        .add_security_counts(deltas)
        .await
        .unwrap();
}

/// Records that `client_id` was seen with `value` of `kind` first at `first` and last at `last`.
pub(crate) async fn seen(
    server: &TestServer,
    client_id: &str,
    kind: SeenKind,
    value: &str,
    (first, last): (Timestamp, Timestamp),
) {
    let store = &server.running().state.store;
    store
        .record_seen(client_id, kind, value, first)
        .await
        .unwrap();
    store
        .record_seen(client_id, kind, value, last)
        .await
        .unwrap();
}

/// A learned baseline of `client_id` at `series`: `mean` per minute with standard deviation
/// `stddev`, over `samples` minutes.
pub(crate) fn baseline(
    series: &str,
    client_id: &str,
    mean: f64,
    stddev: f64,
    samples: i64,
) -> Baseline {
    Baseline {
        series: series.to_owned(),
        subject: client_id.to_owned(),
        mean_milli: (mean * 1000.0) as i64,
        var_milli: (stddev * stddev * 1000.0) as i64,
        samples,
        last_window: 0,
    }
}

/// A smooth daily rhythm between `low` and `high` at minute `m` of the day, with a little noise.
fn rhythm(m: i64, low: f64, high: f64, seed: i64) -> i64 {
    let phase = (m as f64 / 1440.0) * std::f64::consts::TAU;
    let wave = (1.0 - phase.cos()) / 2.0;
    let noise = ((m * 7919 + seed * 104_729) % 97) as f64 / 97.0 - 0.5;
    (low + (high - low) * wave + noise * (high - low) * 0.15)
        .max(0.0)
        .round() as i64
}

/// A plausible day for the screenshots: requests at eight routes, a burst of authentication
/// failures and 429s three hours ago, `client_id`'s token and PAR rates against its baselines
/// (with a spike), its networks and certificate, and a dozen events with their deliveries.
pub(crate) async fn seed_day(server: &TestServer, client_id: &str) {
    // The monitor folds the last finished minutes into baselines in its first round, a second
    // after start; with the test's fixed clock never again. Seeded after it, nothing is folded.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let now = server.now().unix();
    let store = &server.running().state.store;
    let start = (now - 86_400).div_euclid(600) * 600 + 600;
    let mut deltas = Vec::new();
    // One row per 10 minutes holds ten minutes' worth: the page averages per minute.
    let routes = [
        ("/token", 20.0, 70.0),
        ("/introspect", 30.0, 90.0),
        ("/par", 8.0, 30.0),
        ("/authorize", 6.0, 26.0),
        ("/userinfo", 4.0, 16.0),
        ("/jwks", 2.0, 5.0),
        ("/.well-known/openid-configuration", 1.0, 3.0),
        ("/login", 1.0, 6.0),
    ];
    let burst = now - 3 * 3600;
    let mut w = start;
    let mut seed = 0;
    while w <= now {
        let minute = (w - start) / 60;
        let near_burst = (w - burst).abs() <= 900;
        // The minutes of the bucket that have begun (fewer in the current one).
        let minutes = ((now - w) / 60 + 1).min(10);
        for (route, low, high) in routes {
            seed += 1;
            let mut per_minute = rhythm(minute, low, high, seed % 8);
            if near_burst && route == "/token" {
                per_minute += 160;
            }
            deltas.push(count("requests", route, w, per_minute * minutes));
        }
        let failures = rhythm(minute, 0.0, 2.0, 3) * minutes + if near_burst { 350 } else { 0 };
        deltas.push(count("auth_failures", "", w, failures));
        if near_burst {
            deltas.push(count("rate_limited", "/token", w, 240));
        } else if minute % 170 == 0 {
            deltas.push(count("rate_limited", "/par", w, 3));
        }
        // The client's rates: the busiest minute of each 10.
        let token = rhythm(minute, 18.0, 42.0, 5) + if near_burst { 150 } else { 0 };
        deltas.push(count("rate:token", client_id, w, token));
        deltas.push(count(
            "rate:par",
            client_id,
            w,
            rhythm(minute, 6.0, 14.0, 6),
        ));
        w += 600;
    }
    add_counts(server, &deltas).await;
    store
        .put_security_baselines(&[
            baseline("rate:token", client_id, 31.0, 8.0, 1440),
            baseline("rate:par", client_id, 10.0, 3.0, 45),
        ])
        .await
        .unwrap();
    let at = |ago: i64| Timestamp::from_unix(now - ago);
    seen(
        server,
        client_id,
        SeenKind::Network,
        "192.0.2.0/24",
        (at(40 * 86_400), at(120)),
    )
    .await;
    seen(
        server,
        client_id,
        SeenKind::Network,
        "2001:db8:4f2::/48",
        (at(12 * 86_400), at(5 * 3600)),
    )
    .await;
    seen(
        server,
        client_id,
        SeenKind::Network,
        "198.51.100.0/24",
        (at(3 * 3600 + 300), at(3 * 3600 - 600)),
    )
    .await;
    seen(
        server,
        client_id,
        SeenKind::Certificate,
        "q2Gh0PJ4aXm3c7bcV9FQ2p6dSKZ2yLk1bJcTnW8yH0E",
        (at(40 * 86_400), at(120)),
    )
    .await;

    let hook = HOOK;
    let with = |mut e: SecurityEventRecord,
                client: Option<&str>,
                account: Option<&str>,
                address: Option<&str>,
                evidence: Value| {
        e.client_id = client.map(str::to_owned);
        e.account = account.map(str::to_owned);
        e.address = address.map(str::to_owned);
        e.evidence = evidence.to_string();
        e
    };
    let events = [
        with(
            event(
                "rate_anomaly",
                "warning",
                at(3 * 3600 - 120),
                &format!(
                    "Client {client_id} is calling token at 192 requests a minute, above its threshold of 120; its usual rate is 31.0 a minute."
                ),
            ),
            Some(client_id),
            None,
            None,
            json!({ "series": "rate:token", "observed_per_minute": 192, "threshold_per_minute": 120, "baseline_mean_per_minute": 31.0, "baseline_stddev": 8.0, "baseline_minutes": 1440, "warmed_up": true }),
        ),
        with(
            event(
                "new_network",
                "info",
                at(3 * 3600 + 300),
                &format!(
                    "Client {client_id} was seen from 198.51.100.0/24, a network it never used before."
                ),
            ),
            Some(client_id),
            None,
            Some("198.51.100.0/24"),
            json!({ "network": "198.51.100.0/24", "known_networks": 2 }),
        ),
        with(
            event(
                "auth_failure_burst",
                "warning",
                at(3 * 3600 - 60),
                "31 failed authentications from 203.0.113.77 in 5 minutes.",
            ),
            None,
            None,
            Some("203.0.113.77"),
            json!({ "series": "fail:address", "count": 31, "threshold": 30, "window_secs": 300, "window_start": now - 3 * 3600 - 300 }),
        ),
        with(
            event(
                "rate_limited",
                "info",
                at(3 * 3600 - 30),
                &format!(
                    "Requests of {client_id} were refused by the client rate limit (240 in 5 minutes so far)."
                ),
            ),
            Some(client_id),
            None,
            None,
            json!({ "series": "limited:client", "count": 240, "threshold": 1, "window_secs": 300 }),
        ),
        with(
            event(
                "grant_revoked_on_replay",
                "critical",
                at(50 * 60),
                "A refresh token of client mobile-banking was used twice; its grant for the user was revoked.",
            ),
            Some("mobile-banking"),
            Some("j.doe"),
            Some("198.18.7.20"),
            json!({ "grant_id": "g-5c1f", "replayed": "refresh_token" }),
        ),
        with(
            event(
                "admin_signin_failure",
                "warning",
                at(7 * 3600),
                "A sign-in to the admin UI as root from 203.0.113.9 was refused.",
            ),
            None,
            Some("root"),
            Some("203.0.113.9"),
            json!({}),
        ),
        with(
            event(
                "admin_change",
                "info",
                at(20 * 3600),
                "alice did key.rotate in the admin UI.",
            ),
            None,
            Some("alice"),
            Some("10.0.4.2"),
            json!({ "action": "key.rotate", "target": "" }),
        ),
    ];
    for (i, e) in events.iter().enumerate() {
        let sinks: &[&str] = if e.severity == "info" { &[] } else { &[hook] };
        raise(server, e, sinks).await;
        let outcome = match i {
            0 | 2 => Some(DeliveryOutcome {
                state: DeliveryState::Delivered,
                status: Some(200),
                error: None,
                next_attempt_at: at(0),
            }),
            4 => Some(DeliveryOutcome {
                state: DeliveryState::Pending,
                status: Some(503),
                error: Some("receiver unavailable".to_owned()),
                next_attempt_at: Timestamp::from_unix(now + 240),
            }),
            5 => Some(DeliveryOutcome {
                state: DeliveryState::Failed,
                status: Some(410),
                error: Some("gone".to_owned()),
                next_attempt_at: at(0),
            }),
            _ => None,
        };
        if let Some(outcome) = outcome {
            store
                .finish_delivery(&e.id, hook, &outcome, e.at.plus(2))
                .await
                .unwrap();
        }
    }
    // The oldest two were looked at.
    for e in &events[5..] {
        store
            .acknowledge_security_event(&e.id, "alice", e.at.plus(1800))
            .await
            .unwrap();
    }
}
