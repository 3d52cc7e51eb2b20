//! The security pages (issue 11): the counters, charts, events and deliveries of
//! `/admin/security` from data written to the store, the filters and paging, acknowledging an
//! event (CSRF, audit trail), the refusals, and a client's security page.

use portcullis_core::Timestamp;
use portcullis_store::admin::AuditFilter;
use portcullis_store::security::{EventFilter, SecurityEventRecord, SeenKind};
use serde_json::json;

use crate::support::TestServer;
use crate::support::admin::{Admin, assert_admin_headers, audit, last_event};
use crate::support::browser::Browser;
use crate::support::client::{JwtClient, PASSWORD, add_user};
use crate::support::security::{add_counts, baseline, count, event, raise, seen};

/// The stored events matching `filter`, newest first.
async fn events(server: &TestServer, filter: EventFilter) -> Vec<SecurityEventRecord> {
    server
        .running()
        .state
        .store
        .security_events(&filter, 1000, 0)
        .await
        .unwrap()
}

fn unacknowledged() -> EventFilter {
    EventFilter {
        unacknowledged: true,
        ..EventFilter::default()
    }
}

#[tokio::test]
async fn admin_security_page_shows_counters_charts_events_and_deliveries() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let now = server.now();
    let t = now.unix();
    let hostile = "/x<script>alert(1)</script>";
    add_counts(
        &server,
        &[
            count("requests", "/token", t - 600, 600),
            count("requests", "/par", t - 7200, 120),
            count("requests", hostile, t - 1200, 50),
            count("auth_failures", "", t - 300, 37),
            count("auth_failures", "", t - 5 * 3600, 100),
            count("rate_limited", "/token", t - 60, 9),
            // Older than a day: counted nowhere.
            count("auth_failures", "", t - 90_000, 5000),
        ],
    )
    .await;
    let mut critical = event(
        "grant_revoked_on_replay",
        "critical",
        now.plus(-60),
        "A refresh token was used twice; its grant was revoked.",
    );
    critical.client_id = Some("bank<app>".to_owned());
    critical.account = Some("j.doe".to_owned());
    critical.evidence = json!({ "grant_id": "g-1", "window_start": 0 }).to_string();
    raise(
        &server,
        &critical,
        &["https://hooks.example/services/T0/B0/s3cr3t-path"],
    )
    .await;
    let mut warning = event(
        "auth_failure_burst",
        "warning",
        now.plus(-120),
        "31 failed authentications from 203.0.113.77 in 5 minutes.",
    );
    warning.address = Some("203.0.113.77".to_owned());
    raise(&server, &warning, &[]).await;
    // Through the monitor, as the detectors raise them.
    let monitor = &server.running().state.monitor;
    let raised = portcullis_server::security::Event::new(
        portcullis_server::security::Kind::NewNetwork,
        "Client c1 was seen from 198.51.100.0/24, a network it never used before.",
    )
    .client("c1")
    .evidence(json!({ "network": "198.51.100.0/24" }));
    assert!(monitor.raise(raised).await);

    let page = admin.get("/admin/security").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_admin_headers(&page);
    let body = &page.body;
    assert!(body.contains("id=\"nav-security\" aria-current=\"page\""));
    // Counters: three unacknowledged; one of each severity; failures 37 this hour, 137 a day.
    for text in [
        "<span class=\"stat-label\">Open</span>\n    <a class=\"stat-value\" href=\"/admin/security?unacknowledged=1#events\">3</a>",
        "<span class=\"stat-label\">Critical</span>\n    <a class=\"stat-value\" href=\"/admin/security?severity=critical#events\">1</a>",
        "<span class=\"stat-label\">Authentication failures</span>\n    <span class=\"stat-value\">37</span>\n    <span class=\"stat-detail\">last hour · 137 in 24 h</span>",
        "<span class=\"stat-label\">429 responses</span>\n    <span class=\"stat-value\">9</span>",
    ] {
        assert!(body.contains(text), "{text}\n{body}");
    }
    // Events by kind.
    assert!(body.contains("href=\"/admin/security?kind=grant_revoked_on_replay#events\""));
    // Three charts, labelled, with legends (the requests chart also drawn narrow, for phones);
    // the hostile route is escaped.
    assert_eq!(body.matches("<svg xmlns").count(), 4);
    assert!(
        body.contains("aria-labelledby=\"chart-requests-narrow-title chart-requests-narrow-desc\"")
    );
    for id in ["requests", "failures", "limited"] {
        assert!(body.contains(&format!(
            "aria-labelledby=\"chart-{id}-title chart-{id}-desc\""
        )));
    }
    assert!(body.contains("<span class=\"legend-label\">/token</span>"));
    assert!(body.contains("/x&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!body.contains("<script>alert"));
    // The events, newest first, with their subjects and evidence.
    for text in [
        "A refresh token was used twice; its grant was revoked.",
        "href=\"/admin/clients/bank%3Capp%3E\"",
        "href=\"/admin/security/clients/bank%3Capp%3E\"",
        "bank&#60;app&#62;",
        "<span class=\"k\">account</span> j.doe",
        "<span class=\"k\">grant id</span> g-1",
        "<span class=\"k\">window start</span> 1970-01-01 00:00 UTC",
        "<span class=\"mono\">203.0.113.77</span>",
        "198.51.100.0/24",
        "<span class=\"badge off\">critical</span>",
    ] {
        assert!(body.contains(text), "{text}");
    }
    let first = body.find("Client c1 was seen").unwrap();
    assert!(first < body.find("A refresh token was used twice").unwrap());
    assert_eq!(body.matches(">Acknowledge</button>").count(), 3);
    // The delivery log names the webhook by origin, never its path.
    assert!(body.contains("https://hooks.example/…"));
    assert!(!body.contains("s3cr3t-path"));
    assert!(body.contains("<span class=\"badge warn\">pending</span>"));
    server.stop().await;
}

#[tokio::test]
async fn admin_security_filters_select_events_and_pages_hold_25() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let now = server.now();
    for i in 0..30 {
        let mut e = event(
            "replay_refused",
            "warning",
            now.plus(-1000 - i),
            &format!("replay number {i:02}."),
        );
        e.client_id = Some(if i % 2 == 0 { "even" } else { "odd" }.to_owned());
        raise(&server, &e, &[]).await;
    }
    let mut info = event("new_network", "info", now.plus(-5), "a new network.");
    info.client_id = Some("odd".to_owned());
    raise(&server, &info, &[]).await;
    let acknowledged = event("admin_change", "info", now.plus(-10), "an admin change.");
    raise(&server, &acknowledged, &[]).await;
    server
        .running()
        .state
        .store
        .acknowledge_security_event(&acknowledged.id, "someone", now)
        .await
        .unwrap();

    let page = admin.get("/admin/security?kind=new_network").await;
    assert!(page.body.contains("a new network."));
    assert!(!page.body.contains("replay number"));
    assert!(
        page.body
            .contains("<option value=\"new_network\" selected>")
    );

    let page = admin.get("/admin/security?severity=info").await;
    assert!(page.body.contains("a new network.") && page.body.contains("an admin change."));
    assert!(!page.body.contains("replay number"));

    let page = admin
        .get("/admin/security?client=odd&kind=replay_refused")
        .await;
    assert_eq!(page.body.matches("replay number").count(), 15);
    assert!(!page.body.contains("replay number 00."));
    assert!(!page.body.contains("a new network."));

    let page = admin
        .get("/admin/security?unacknowledged=1&severity=info")
        .await;
    assert!(page.body.contains("a new network."));
    assert!(!page.body.contains("an admin change."));
    assert!(page.body.contains(
        "id=\"unacknowledged\" name=\"unacknowledged\" type=\"checkbox\" value=\"1\" checked"
    ));

    // 32 events: 25 on the first page, 7 on the second; the links keep the filter.
    let page = admin.get("/admin/security").await;
    assert_eq!(page.body.matches("<tr id=\"event-").count(), 25);
    assert!(page.body.contains("Events 1–25"));
    assert!(page.body.contains("href=\"/admin/security?page=2#events\""));
    let page = admin.get("/admin/security?page=2").await;
    assert_eq!(page.body.matches("<tr id=\"event-").count(), 7);
    assert!(page.body.contains("replay number 29."));
    assert!(!page.body.contains("id=\"next-page\""));
    let page = admin
        .get("/admin/security?client=even&kind=replay_refused")
        .await;
    assert_eq!(page.body.matches("replay number").count(), 15);
    // Unknown values are ignored, hostile ones escaped.
    let page = admin
        .get("/admin/security?kind=%3Cb%3E&severity=nope&client=%22%3E%3Cscript%3E")
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("\"><script>"));
    assert!(page.body.contains("id=\"no-events\""));
    server.stop().await;
}

#[tokio::test]
async fn admin_security_acknowledge_needs_the_csrf_token_and_is_audited() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let e = event(
        "rate_anomaly",
        "warning",
        server.now().plus(-30),
        "Client c is calling token at 500 requests a minute.",
    );
    raise(&server, &e, &[]).await;
    let path = format!("/admin/security/events/{}/acknowledge", e.id);

    // Without the session's CSRF token (none, or a forged one): refused, nothing changes.
    for form in [vec![], vec![("csrf_token", "forged")]] {
        let page = admin.post_bare(&path, &form).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("This form has expired"));
    }
    assert_eq!(events(&server, unacknowledged()).await.len(), 1);
    let refused = last_event(&server).await;
    assert_eq!(
        (refused.action.as_str(), refused.outcome.as_str()),
        ("admin.form_refused", "denied")
    );

    // With it: acknowledged by this administrator, back to the view the form was on.
    let back = "/admin/security?kind=rate_anomaly&unacknowledged=1";
    let page = admin.post(&path, &[("back", back)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("{back}&done=event_acknowledged"));
    assert!(events(&server, unacknowledged()).await.is_empty());
    let stored = &events(&server, EventFilter::default()).await[0];
    assert_eq!(
        stored.acknowledged_by.as_deref(),
        Some(admin.username.as_str())
    );
    assert_eq!(stored.acknowledged_at, Some(server.now()));
    let done = last_event(&server).await;
    assert_eq!(
        (
            done.action.as_str(),
            done.outcome.as_str(),
            done.target.as_deref(),
            done.actor_name.as_deref()
        ),
        (
            "security.acknowledge",
            "success",
            Some(e.id.as_str()),
            Some(admin.username.as_str())
        )
    );
    let shown = admin.get("/admin/security").await;
    assert!(
        shown
            .body
            .contains("<span class=\"badge ok\">acknowledged</span>")
    );
    assert!(shown.body.contains(&format!("by {}", admin.username)));
    assert!(!shown.body.contains(">Acknowledge</button>"));
    let shown = admin.get(&page.location()).await;
    assert!(shown.body.contains("Event acknowledged."));
    // Acknowledging creates no new event to acknowledge.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(events(&server, unacknowledged()).await.is_empty());

    // Twice, or an unknown event: nothing to do; written as failed. A foreign `back` is ignored.
    let page = admin
        .post(&path, &[("back", "https://evil.example/")])
        .await;
    assert_eq!(page.location(), "/admin/security?problem=not_acknowledged");
    let shown = admin.get(&page.location()).await;
    assert!(shown.body.contains("That event was not acknowledged"));
    assert_eq!(
        audit(
            &server,
            AuditFilter {
                action: Some("security.acknowledge".to_owned()),
                ..AuditFilter::default()
            }
        )
        .await,
        [
            ("security.acknowledge".to_owned(), "failed".to_owned()),
            ("security.acknowledge".to_owned(), "success".to_owned()),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_security_pages_refuse_anyone_but_administrators() {
    let server = TestServer::start().await;
    let e = event("rate_anomaly", "warning", server.now(), "an anomaly.");
    raise(&server, &e, &[]).await;
    let base = server.public_url();
    let path = format!("/admin/security/events/{}/acknowledge", e.id);

    // Nobody signed in: the sign-in page.
    let mut browser = Browser::new(&server);
    for page in ["/admin/security", "/admin/security/clients/c1"] {
        let page = browser.get(&format!("{base}{page}")).await;
        assert_eq!(page.status, 303);
        assert!(page.location().starts_with("/admin/login"));
    }
    let page = browser.post(&format!("{base}{path}"), &[]).await;
    assert_eq!(page.status, 303);

    // A user signed in to the ordinary pages who is no administrator: 403.
    let user = add_user(&server).await;
    let form = browser.get(&format!("{base}/login")).await;
    let csrf = form.field("csrf_token").unwrap();
    let signed = browser
        .post(
            &format!("{base}/login"),
            &[
                ("csrf_token", &csrf),
                ("username", &user),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed.location(), "/account");
    for page in ["/admin/security", "/admin/security/clients/c1"] {
        let page = browser.get(&format!("{base}{page}")).await;
        assert_eq!(page.status, 403, "{page:?}", page = page.body);
        assert!(page.body.contains("not an administrator"));
        assert!(!page.body.contains("an anomaly."));
    }
    let page = browser
        .post(&format!("{base}{path}"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(
        events(&server, unacknowledged()).await.len(),
        1,
        "still open"
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_client_security_page_shows_rates_baselines_networks_and_events() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({ "client_name": "Budget Planner" })).await;
    let mut admin = Admin::new(&server).await;
    let now = server.now();
    let t = now.unix();
    let at = |ago: i64| Timestamp::from_unix(t - ago);
    seen(
        &server,
        &client.id,
        SeenKind::Network,
        "192.0.2.0/24",
        (at(86_400 * 3), at(60)),
    )
    .await;
    seen(
        &server,
        &client.id,
        SeenKind::Certificate,
        "thumbprint-of-the-certificate",
        (at(3600), at(3600)),
    )
    .await;
    add_counts(
        &server,
        &[
            count("rate:token", &client.id, t - 3600, 90),
            count("rate:token", &client.id, t - 7200, 40),
            count("rate:par", &client.id, t - 3600, 4),
            count("rate:token", "someone-else", t - 3600, 5000),
        ],
    )
    .await;
    server
        .running()
        .state
        .store
        .put_security_baselines(&[baseline("rate:token", &client.id, 40.0, 5.0, 600)])
        .await
        .unwrap();
    let mut mine = event(
        "new_network",
        "info",
        now.plus(-60),
        "Client seen from a new network.",
    );
    mine.client_id = Some(client.id.clone());
    raise(&server, &mine, &[]).await;
    let mut theirs = event("new_network", "info", now, "Another client's event.");
    theirs.client_id = Some("someone-else".to_owned());
    raise(&server, &theirs, &[]).await;

    // The client page links to it.
    let client_page = admin.get(&format!("/admin/clients/{}", client.id)).await;
    let link = format!("href=\"/admin/security/clients/{}\"", client.id);
    assert!(client_page.body.contains(&link));

    let page = admin
        .get(&format!("/admin/security/clients/{}", client.id))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_admin_headers(&page);
    let body = &page.body;
    for text in [
        "Budget Planner",
        "192.0.2.0/24",
        "thumbprint-of-the-certificate",
        "Certificate (x5t#S256)",
        "Client seen from a new network.",
        // Token: learned (threshold max(120, 3 × 40, 40 + 4 × 5) = 120), drawn with its band;
        // PAR: not learned yet, the ceiling applies.
        "learned over 600 minutes",
        "40 ± 5",
        "threshold 120",
        "usual rate to threshold",
        "not learned yet (the ceiling applies)",
        "aria-labelledby=\"chart-rate-token-title chart-rate-token-desc\"",
        "aria-labelledby=\"chart-rate-par-title chart-rate-par-desc\"",
        "/token: peak 90 per minute",
    ] {
        assert!(body.contains(text), "{text}");
    }
    assert!(!body.contains("Another client's event."));
    assert!(!body.contains("5k"), "another client's counts");
    assert!(!body.contains("rate-introspect"), "no data, no chart");

    // An unknown client (its events may outlive it) shows as not registered.
    let page = admin.get("/admin/security/clients/gone%3Cx%3E").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"not-registered\""));
    assert!(page.body.contains("gone&#60;x&#62;"));
    assert!(page.body.contains("id=\"no-rates\""));
    server.stop().await;
}
