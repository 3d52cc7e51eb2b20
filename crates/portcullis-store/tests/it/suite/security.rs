//! Contract checks of security-monitoring storage (decision record 0017): deployment-wide counts,
//! the claims and first sightings that several processes race for, events raised once per open
//! incident with their deliveries, the delivery outbox, and the purge.

use std::collections::HashSet;
use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_store::Store;
use portcullis_store::security::{
    CountDelta, CountRow, DeliveryOutcome, DeliveryState, EventFilter, SecurityEventRecord, Seen,
    SeenKind,
};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs)
}

fn delta(series: &str, subject: &str, window_start: i64, delta: i64) -> CountDelta {
    CountDelta {
        series: series.to_owned(),
        subject: subject.to_owned(),
        window_start,
        delta,
    }
}

fn row(series: &str, subject: &str, window_start: i64, count: i64) -> CountRow {
    CountRow {
        series: series.to_owned(),
        subject: subject.to_owned(),
        window_start,
        count,
    }
}

fn event(
    id: &str,
    secs: i64,
    kind: &str,
    severity: &str,
    client: Option<&str>,
) -> SecurityEventRecord {
    SecurityEventRecord {
        id: id.to_owned(),
        at: at(secs),
        kind: kind.to_owned(),
        severity: severity.to_owned(),
        client_id: client.map(str::to_owned),
        account: None,
        address: Some("192.0.2.0/24".to_owned()),
        evidence: r#"{"observed":51,"threshold":50}"#.to_owned(),
        text: format!("event {id}"),
        acknowledged_at: None,
        acknowledged_by: None,
    }
}

fn sinks(urls: &[&str]) -> Vec<String> {
    urls.iter().map(|u| (*u).to_owned()).collect()
}

async fn ids(store: &Arc<dyn Store>, filter: &EventFilter, limit: u32, offset: u32) -> Vec<String> {
    store
        .security_events(filter, limit, offset)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

async fn all_events(store: &Arc<dyn Store>) -> Vec<SecurityEventRecord> {
    store
        .security_events(&EventFilter::default(), 1000, 0)
        .await
        .unwrap()
}

pub(crate) async fn security_counts_add_up_over_processes_to_the_deployment_total(
    store: Arc<dyn Store>,
) {
    // Two processes flush what each counted; each gets the deployment's total back.
    let p1 = store
        .add_security_counts(&[
            delta("rate:token", "c1", 60, 3),
            delta("auth_failures", "", 60, 1),
        ])
        .await
        .unwrap();
    assert_eq!(p1, [3, 1]);
    let p2 = store
        .add_security_counts(&[
            delta("auth_failures", "", 60, 2),
            delta("rate:token", "c1", 60, 4),
            delta("rate:token", "c1", 120, 5),
        ])
        .await
        .unwrap();
    assert_eq!(p2, [3, 7, 5], "totals in the order of the deltas");
    assert!(store.add_security_counts(&[]).await.unwrap().is_empty());

    // Concurrent flushes of the same keys, in opposite orders (each process's tally is a hash
    // map): every add is applied once and every returned total is a distinct step of the count.
    let keys = [
        ("rate:par", "c1"),
        ("requests", "/token"),
        ("fail:address", "192.0.2.9"),
    ];
    let mut tasks = Vec::new();
    for process in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..10 {
                let mut deltas: Vec<CountDelta> = keys
                    .iter()
                    .map(|(s, subject)| delta(s, subject, 180, 1))
                    .collect();
                if process % 2 == 1 {
                    deltas.reverse();
                }
                let mut totals = store.add_security_counts(&deltas).await.unwrap();
                if process % 2 == 1 {
                    totals.reverse();
                }
                seen.push(totals);
            }
            seen
        }));
    }
    let mut per_key: Vec<Vec<i64>> = vec![Vec::new(); keys.len()];
    for task in tasks {
        for totals in task.await.unwrap() {
            for (i, total) in totals.into_iter().enumerate() {
                per_key[i].push(total);
            }
        }
    }
    for totals in &mut per_key {
        totals.sort_unstable();
        assert_eq!(*totals, (1..=40).collect::<Vec<i64>>());
    }
    let stored = store.security_counts("", None, 180).await.unwrap();
    assert_eq!(
        stored,
        [
            row("fail:address", "192.0.2.9", 180, 40),
            row("rate:par", "c1", 180, 40),
            row("requests", "/token", 180, 40),
        ]
    );
}

pub(crate) async fn security_counts_are_read_by_prefix_subject_and_since(store: Arc<dyn Store>) {
    store
        .add_security_counts(&[
            delta("rate:token", "c1", 0, 1),
            delta("rate:token", "c1", 60, 2),
            delta("rate:token", "c2", 60, 3),
            delta("rate:par", "c1", 60, 4),
            delta("fail:client", "c1", 60, 5),
            delta("rate_limited", "client", 60, 6),
            delta("ratexlimited", "client", 60, 7),
            delta("RATE:token", "c1", 60, 8),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.security_counts("rate:", None, 60).await.unwrap(),
        [
            row("rate:par", "c1", 60, 4),
            row("rate:token", "c1", 60, 2),
            row("rate:token", "c2", 60, 3),
        ]
    );
    assert_eq!(
        store.security_counts("rate:", Some("c1"), 0).await.unwrap(),
        [
            row("rate:par", "c1", 60, 4),
            row("rate:token", "c1", 0, 1),
            row("rate:token", "c1", 60, 2),
        ]
    );
    assert_eq!(
        store
            .security_counts("rate:token", Some("c2"), 61)
            .await
            .unwrap(),
        []
    );
    // The prefix is text, not a pattern: `_` and `%` match themselves, and case matters.
    assert_eq!(
        store.security_counts("rate_", None, 0).await.unwrap(),
        [row("rate_limited", "client", 60, 6)]
    );
    assert_eq!(store.security_counts("rate%", None, 0).await.unwrap(), []);
    assert_eq!(
        store.security_counts("RATE:", None, 0).await.unwrap(),
        [row("RATE:token", "c1", 60, 8)]
    );
    let mut window = store.security_counts_in_window("rate:", 60).await.unwrap();
    window.sort_by(|a, b| (&a.series, &a.subject).cmp(&(&b.series, &b.subject)));
    assert_eq!(
        window,
        [
            row("rate:par", "c1", 60, 4),
            row("rate:token", "c1", 60, 2),
            row("rate:token", "c2", 60, 3),
        ]
    );
    assert_eq!(
        store.security_counts_in_window("rate_", 60).await.unwrap(),
        [row("rate_limited", "client", 60, 6)]
    );
}

pub(crate) async fn of_concurrent_security_raises_for_one_incident_exactly_one_is_stored(
    store: Arc<dyn Store>,
) {
    let hooks = sinks(&["0:https://a.example/hook", "1:https://b.example/hook"]);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let hooks = hooks.clone();
        tasks.push(tokio::spawn(async move {
            let e = event(
                &format!("e{i}"),
                1000,
                "rate_anomaly",
                "warning",
                Some("c1"),
            );
            let raised = store
                .raise_security_event(&e, Some(("c1", at(1600))), &hooks)
                .await
                .unwrap();
            (e.id, raised)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (id, raised) = task.await.unwrap();
        if raised {
            winners.push(id);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let events = all_events(&store).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, winners[0]);
    assert_eq!(
        events[0],
        event(&winners[0], 1000, "rate_anomaly", "warning", Some("c1"))
    );
    // The winner's deliveries were written with it, one per sink; the losers wrote none.
    let deliveries = store
        .security_deliveries(Some(&winners[0]), 10)
        .await
        .unwrap();
    let mut sinks_of: Vec<&str> = deliveries.iter().map(|d| d.sink.as_str()).collect();
    sinks_of.sort_unstable();
    assert_eq!(
        sinks_of,
        ["0:https://a.example/hook", "1:https://b.example/hook"]
    );
    for d in &deliveries {
        assert_eq!((d.state.as_str(), d.attempts), ("pending", 0));
        assert_eq!(d.next_attempt_at, at(1000));
        assert_eq!((d.last_status, d.last_error.as_deref()), (None, None));
    }
    assert_eq!(store.security_deliveries(None, 100).await.unwrap().len(), 2);

    // While the incident is open nothing new is raised, and nothing is queued.
    let repeat = event("repeat", 1599, "rate_anomaly", "critical", Some("c1"));
    assert!(
        !store
            .raise_security_event(&repeat, Some(("c1", at(2200))), &hooks)
            .await
            .unwrap()
    );
    assert_eq!(all_events(&store).await.len(), 1);
    assert_eq!(store.security_deliveries(None, 100).await.unwrap().len(), 2);
    assert!(
        store
            .security_deliveries(Some("repeat"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Incidents are per kind and key.
    let other_key = event("other-key", 1100, "rate_anomaly", "warning", Some("c2"));
    assert!(
        store
            .raise_security_event(&other_key, Some(("c2", at(1700))), &[])
            .await
            .unwrap()
    );
    let other_kind = event("other-kind", 1100, "new_network", "info", Some("c1"));
    assert!(
        store
            .raise_security_event(&other_kind, Some(("c1", at(1700))), &[])
            .await
            .unwrap()
    );
    // At the incident's end a new one opens, with its own event and deliveries; it then holds.
    let after = event("after", 1600, "rate_anomaly", "warning", Some("c1"));
    assert!(
        store
            .raise_security_event(&after, Some(("c1", at(2200))), &hooks[..1])
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .security_deliveries(Some("after"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let again = event("again", 2199, "rate_anomaly", "warning", Some("c1"));
    assert!(
        !store
            .raise_security_event(&again, Some(("c1", at(2800))), &hooks)
            .await
            .unwrap()
    );
    // Without an incident every occurrence is an event.
    for id in ["plain-1", "plain-2"] {
        let e = event(id, 1200, "admin_change", "info", None);
        assert!(store.raise_security_event(&e, None, &[]).await.unwrap());
    }
    assert_eq!(all_events(&store).await.len(), 6);
}

pub(crate) async fn a_security_window_is_claimed_once_per_value_under_concurrency(
    store: Arc<dyn Store>,
) {
    for (name, value) in [("baseline_fold", 60), ("baseline_fold", 120), ("fresh", 5)] {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.claim_security_window(name, value).await.unwrap()
            }));
        }
        let mut won = 0;
        for task in tasks {
            won += i32::from(task.await.unwrap());
        }
        assert_eq!(won, 1, "{name} {value}");
    }
    // Never backwards, never twice.
    assert!(
        !store
            .claim_security_window("baseline_fold", 120)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_security_window("baseline_fold", 60)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_security_window("baseline_fold", 180)
            .await
            .unwrap()
    );
    assert!(!store.claim_security_window("fresh", 5).await.unwrap());
}

pub(crate) async fn a_network_or_certificate_seen_by_security_is_new_exactly_once(
    store: Arc<dyn Store>,
) {
    let net = SeenKind::Network;
    let cert = SeenKind::Certificate;
    let first = store
        .record_seen("c1", net, "192.0.2.0/24", at(100))
        .await
        .unwrap();
    assert_eq!(first, Seen::New { since: at(100) });
    assert_eq!(
        store
            .record_seen("c1", net, "192.0.2.0/24", at(150))
            .await
            .unwrap(),
        Seen::Known
    );
    // A second network: new, and the client has been seen (with networks) since its first.
    assert_eq!(
        store
            .record_seen("c1", net, "198.51.100.0/24", at(200))
            .await
            .unwrap(),
        Seen::New { since: at(100) }
    );
    // Certificates are counted apart from networks, and clients apart from each other.
    assert_eq!(
        store
            .record_seen("c1", cert, "x5t-A", at(300))
            .await
            .unwrap(),
        Seen::New { since: at(300) }
    );
    assert_eq!(
        store
            .record_seen("c2", net, "192.0.2.0/24", at(400))
            .await
            .unwrap(),
        Seen::New { since: at(400) }
    );
    let seen = store.seen_of_client("c1").await.unwrap();
    let listed: Vec<(&str, &str, i64, i64)> = seen
        .iter()
        .map(|s| {
            (
                s.kind.as_str(),
                s.value.as_str(),
                s.first_seen.unix(),
                s.last_seen.unix(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("certificate", "x5t-A", 300, 300),
            ("network", "198.51.100.0/24", 200, 200),
            ("network", "192.0.2.0/24", 100, 150),
        ]
    );
    // Several processes seeing one new pair at once: one of them learns it is new.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_seen("c3", SeenKind::Network, "203.0.113.0/24", at(500 + i))
                .await
                .unwrap()
        }));
    }
    let mut new = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Seen::New { .. }) {
            new += 1;
        }
    }
    assert_eq!(new, 1);
    assert_eq!(store.seen_of_client("c3").await.unwrap().len(), 1);
}

pub(crate) async fn security_deliveries_are_claimed_by_one_process_and_only_when_due(
    store: Arc<dyn Store>,
) {
    for i in 0..12 {
        let e = event(&format!("due-{i:02}"), 100, "rate_anomaly", "warning", None);
        let hook = sinks(&["0:https://a.example/hook"]);
        assert!(store.raise_security_event(&e, None, &hook).await.unwrap());
    }
    let later = event("later", 500, "rate_anomaly", "warning", None);
    let hook = sinks(&["0:https://a.example/hook"]);
    assert!(
        store
            .raise_security_event(&later, None, &hook)
            .await
            .unwrap()
    );

    // Four processes claim at once: no delivery goes to two of them.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.claim_deliveries(at(200), at(260), 4).await.unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        let jobs = task.await.unwrap();
        assert!(jobs.len() <= 4);
        claimed.extend(jobs);
    }
    let mut unique = HashSet::new();
    for job in &claimed {
        assert!(
            unique.insert(job.event.id.clone()),
            "{} claimed twice",
            job.event.id
        );
        assert_eq!(job.sink, "0:https://a.example/hook");
        assert_eq!(job.attempts, 0);
        assert_eq!(job.event.text, format!("event {}", job.event.id));
    }
    // The rest are claimed later at the same time, and the one not due yet never is.
    while unique.len() < 12 {
        let jobs = store.claim_deliveries(at(200), at(260), 4).await.unwrap();
        assert!(!jobs.is_empty(), "due deliveries left unclaimed");
        for job in jobs {
            assert!(
                unique.insert(job.event.id.clone()),
                "{} claimed twice",
                job.event.id
            );
        }
    }
    assert!(!unique.contains("later"));
    assert!(
        store
            .claim_deliveries(at(259), at(300), 100)
            .await
            .unwrap()
            .is_empty()
    );

    // An attempt that failed: counted, released, due again at its next time.
    let retry = DeliveryOutcome {
        state: DeliveryState::Pending,
        status: Some(503),
        error: Some("status 503".to_owned()),
        next_attempt_at: at(400),
    };
    store
        .finish_delivery("due-00", "0:https://a.example/hook", &retry, at(210))
        .await
        .unwrap();
    let delivered = DeliveryOutcome {
        state: DeliveryState::Delivered,
        status: Some(204),
        error: None,
        next_attempt_at: at(210),
    };
    store
        .finish_delivery("due-01", "0:https://a.example/hook", &delivered, at(211))
        .await
        .unwrap();
    let failed = DeliveryOutcome {
        state: DeliveryState::Failed,
        status: Some(410),
        error: Some("gone".to_owned()),
        next_attempt_at: at(212),
    };
    store
        .finish_delivery("due-02", "0:https://a.example/hook", &failed, at(212))
        .await
        .unwrap();
    let records = store.security_deliveries(Some("due-00"), 10).await.unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!((record.state.as_str(), record.attempts), ("pending", 1));
    assert_eq!(
        (record.last_status, record.last_error.as_deref()),
        (Some(503), Some("status 503"))
    );
    assert_eq!(
        (record.next_attempt_at, record.updated_at),
        (at(400), at(210))
    );
    // Released but not due before 400; the other nine are due again once their claim ran out
    // (the process that claimed them is presumed gone), and claimed again; delivered and failed
    // ones never.
    let at_300: HashSet<String> = store
        .claim_deliveries(at(300), at(1000), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.event.id)
        .collect();
    let expected: HashSet<String> = (3..12).map(|i| format!("due-{i:02}")).collect();
    assert_eq!(at_300, expected);
    let at_400 = store.claim_deliveries(at(400), at(460), 100).await.unwrap();
    assert_eq!(at_400.len(), 1);
    assert_eq!(
        (at_400[0].event.id.as_str(), at_400[0].attempts),
        ("due-00", 1)
    );
    let at_600: HashSet<String> = store
        .claim_deliveries(at(600), at(660), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.event.id)
        .collect();
    // Due: the later one, and due-00 again (its claim ran out at 460); the nine claimed until
    // 1000 are not.
    let expected: HashSet<String> = ["later", "due-00"].map(str::to_owned).into();
    assert_eq!(at_600, expected);
    // The delivery log, most recently changed first.
    let recent = store.security_deliveries(None, 3).await.unwrap();
    let recent: Vec<(&str, &str, i64)> = recent
        .iter()
        .map(|d| (d.event_id.as_str(), d.state.as_str(), d.attempts))
        .collect();
    assert_eq!(
        recent,
        [
            ("later", "pending", 0),
            ("due-02", "failed", 1),
            ("due-01", "delivered", 1)
        ]
    );
}

pub(crate) async fn security_events_are_filtered_newest_first_and_paged(store: Arc<dyn Store>) {
    let rows = [
        ("a", 100, "rate_anomaly", "warning", Some("c1")),
        ("b", 200, "replay_refused", "warning", Some("c2")),
        ("c", 300, "rate_anomaly", "critical", Some("c2")),
        ("d", 400, "new_network", "info", Some("c1")),
        ("e", 500, "admin_change", "info", None),
    ];
    for (id, secs, kind, severity, client) in rows {
        let e = event(id, secs, kind, severity, client);
        assert!(store.raise_security_event(&e, None, &[]).await.unwrap());
    }
    assert!(
        store
            .acknowledge_security_event("d", "admin", at(450))
            .await
            .unwrap()
    );
    let all = EventFilter::default();
    assert_eq!(ids(&store, &all, 10, 0).await, ["e", "d", "c", "b", "a"]);
    assert_eq!(ids(&store, &all, 2, 0).await, ["e", "d"]);
    assert_eq!(ids(&store, &all, 2, 2).await, ["c", "b"]);
    assert_eq!(ids(&store, &all, 2, 4).await, ["a"]);
    assert!(ids(&store, &all, 2, 6).await.is_empty());
    let kind = EventFilter {
        kind: Some("rate_anomaly".to_owned()),
        ..EventFilter::default()
    };
    assert_eq!(ids(&store, &kind, 10, 0).await, ["c", "a"]);
    let severity = EventFilter {
        severity: Some("info".to_owned()),
        ..EventFilter::default()
    };
    assert_eq!(ids(&store, &severity, 10, 0).await, ["e", "d"]);
    let client = EventFilter {
        client_id: Some("c2".to_owned()),
        ..EventFilter::default()
    };
    assert_eq!(ids(&store, &client, 10, 0).await, ["c", "b"]);
    let open = EventFilter {
        unacknowledged: true,
        ..EventFilter::default()
    };
    assert_eq!(ids(&store, &open, 10, 0).await, ["e", "c", "b", "a"]);
    let since = EventFilter {
        since: Some(at(300)),
        ..EventFilter::default()
    };
    assert_eq!(ids(&store, &since, 10, 0).await, ["e", "d", "c"]);
    let combined = EventFilter {
        kind: Some("rate_anomaly".to_owned()),
        client_id: Some("c1".to_owned()),
        unacknowledged: true,
        since: Some(at(100)),
        severity: Some("warning".to_owned()),
    };
    assert_eq!(ids(&store, &combined, 10, 0).await, ["a"]);
    let mut counts = store.security_event_counts(at(200)).await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("admin_change".to_owned(), "info".to_owned(), 1),
            ("new_network".to_owned(), "info".to_owned(), 1),
            ("rate_anomaly".to_owned(), "critical".to_owned(), 1),
            ("replay_refused".to_owned(), "warning".to_owned(), 1),
        ]
    );
}

pub(crate) async fn a_security_event_is_acknowledged_once(store: Arc<dyn Store>) {
    let e = event("e1", 100, "rate_anomaly", "warning", Some("c1"));
    assert!(store.raise_security_event(&e, None, &[]).await.unwrap());
    assert!(
        !store
            .acknowledge_security_event("nope", "admin", at(150))
            .await
            .unwrap()
    );
    assert!(
        store
            .acknowledge_security_event("e1", "alice", at(150))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acknowledge_security_event("e1", "bob", at(160))
            .await
            .unwrap()
    );
    let stored = &all_events(&store).await[0];
    assert_eq!(stored.acknowledged_at, Some(at(150)));
    assert_eq!(stored.acknowledged_by.as_deref(), Some("alice"));
}

pub(crate) async fn the_security_purge_removes_only_old_events_counts_and_closed_incidents(
    store: Arc<dyn Store>,
) {
    let hook = sinks(&["0:https://a.example/hook"]);
    for (id, secs, key, until) in [
        ("old-1", 100, "k-old-1", 400),
        ("old-2", 200, "k-old-2", 400),
        ("new", 1000, "k-open", 5000),
    ] {
        let e = event(id, secs, "rate_anomaly", "warning", Some("c1"));
        let raised = store
            .raise_security_event(&e, Some((key, at(until))), &hook)
            .await
            .unwrap();
        assert!(raised);
    }
    store
        .add_security_counts(&[
            delta("rate:token", "c1", 0, 1),
            delta("rate:token", "c1", 240, 1),
            delta("rate:token", "c1", 300, 1),
        ])
        .await
        .unwrap();

    // One batch of at most one row per kind: an old event (with its delivery), an old count,
    // a closed incident.
    assert_eq!(
        store
            .purge_security_batch(at(500), 300, at(1000), 1)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .purge_security_batch(at(500), 300, at(1000), 1)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .purge_security_batch(at(500), 300, at(1000), 1)
            .await
            .unwrap(),
        0
    );
    let events = all_events(&store).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, "new");
    let deliveries = store.security_deliveries(None, 100).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event_id, "new");
    assert!(
        store
            .security_deliveries(Some("old-1"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.security_counts("rate:", None, 0).await.unwrap(),
        [row("rate:token", "c1", 300, 1)]
    );
    // The open incident was kept: it still holds back a repeat.
    let repeat = event("repeat", 1001, "rate_anomaly", "warning", Some("c1"));
    assert!(
        !store
            .raise_security_event(&repeat, Some(("k-open", at(6000))), &[])
            .await
            .unwrap()
    );
    // Nothing is left to purge until time moves on.
    assert_eq!(
        store
            .purge_security_batch(at(500), 300, at(5000), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_security_batch(at(1001), 301, at(5001), 100)
            .await
            .unwrap(),
        3
    );
    assert!(all_events(&store).await.is_empty());
    assert!(
        store
            .security_deliveries(None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}
