//! API-side abuse protection: the enumeration guard per token and per client, and the request
//! budgets (429 with `Retry-After`, and one report each, stored by the authorization server as
//! one security event).

use accounts_example::SCOPE;
use portcullis_resource::settings::Budget;
use serde_json::json;

use crate::support::http::Answer;
use crate::support::resource::{Api, Caller, evidence, reports, wait_for_reports};

/// Asserts a `429` from `limit` with a `Retry-After` of at least one second and at most `max`.
#[track_caller]
fn assert_limited(answer: &Answer, limit: &str, max: u64) {
    assert_eq!(answer.status, 429, "{:?}", answer.body);
    let retry: u64 = answer.header("retry-after").parse().unwrap();
    assert!((1..=max).contains(&retry), "Retry-After {retry}");
    assert_eq!(answer.header("content-type"), "application/problem+json");
    assert_eq!(answer.header("cache-control"), "no-store");
    let body: serde_json::Value = match &answer.body {
        serde_json::Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(body["status"], 429);
    assert_eq!(body["limit"], limit);
}

#[tokio::test]
async fn a_scraper_walking_ids_gets_429_after_the_threshold_and_the_as_records_one_event() {
    let server = crate::support::resource::authorization_server("jwt").await;
    let api = Api::reporting(&server, |s| {
        s.enumeration.per_token = 5;
        s.enumeration.per_client = 1_000;
    })
    .await;
    let scraper = Caller::dpop(&server, SCOPE).await;
    for id in 1..=5 {
        let path = format!("/accounts/{id}");
        api.call(&server, &scraper, &path).await.assert_ok();
    }
    for id in 6..=30 {
        let answer = api
            .call(&server, &scraper, &format!("/accounts/{id}"))
            .await;
        assert_limited(&answer, "enumeration", 600);
    }
    // An account already read in the window still answers.
    api.call(&server, &scraper, "/accounts/3").await.assert_ok();

    wait_for_reports(&server, 1).await;
    // Give a second report time to arrive if one were (wrongly) sent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = reports(&server).await;
    assert_eq!(
        events.len(),
        1,
        "one event for the whole scrape: {events:?}"
    );
    let event = &events[0];
    assert_eq!(event.kind, "resource_server_report");
    assert_eq!(event.severity, "warning");
    assert_eq!(event.client_id.as_deref(), Some(scraper.client.id.as_str()));
    let jti = portcullis_core::jose::peek_claims(&scraper.token).unwrap()["jti"].clone();
    let reporter = api.registration.id.as_str();
    assert_eq!(
        evidence(event),
        json!({
            "resource_server": reporter,
            "resource": crate::support::resource::RESOURCE,
            "report_event_id": evidence(event)["report_event_id"],
            "event": "enumeration_suspected",
            "reported_at": server.now().unix(),
            "route": "/accounts/{id}",
            "method": "GET",
            "subject": scraper.client.id,
            "token_jti": jti,
            "counter": "token",
            "observed": 6,
            "threshold": 5,
            "window_secs": 600,
            "reason": null,
            "dropped_before": 0,
            "reported_text": evidence(event)["reported_text"],
        })
    );
    assert_eq!(
        event.text,
        format!(
            "Resource server {reporter} reports that client {} walked 6 distinct identifiers on \
             GET /accounts/{{id}} in 10 minutes with one token (limit 5) from 127.0.0.1.",
            scraper.client.id
        )
    );
    let stats = api.stats();
    assert_eq!((stats.reports_sent, stats.reports_dropped), (1, 0));
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn one_client_walking_ids_with_fresh_tokens_is_stopped_per_client() {
    let server = crate::support::resource::authorization_server("jwt").await;
    let api = Api::reporting(&server, |s| {
        s.enumeration.per_token = 100;
        s.enumeration.per_client = 6;
    })
    .await;
    let mut scraper = Caller::dpop(&server, SCOPE).await;
    for id in 1..=4 {
        api.call(&server, &scraper, &format!("/accounts/{id}"))
            .await
            .assert_ok();
    }
    // A new token does not reset the client's count.
    scraper.token = scraper.new_token(&server, SCOPE).await;
    for id in 5..=6 {
        api.call(&server, &scraper, &format!("/accounts/{id}"))
            .await
            .assert_ok();
    }
    let answer = api.call(&server, &scraper, "/accounts/7").await;
    assert_limited(&answer, "enumeration", 600);
    // Another client is not affected.
    let other = Caller::dpop(&server, SCOPE).await;
    api.call(&server, &other, "/accounts/7").await.assert_ok();

    let events = wait_for_reports(&server, 1).await;
    assert_eq!(evidence(&events[0])["event"], "enumeration_suspected");
    assert_eq!(evidence(&events[0])["counter"], "client");
    assert_eq!(evidence(&events[0])["observed"], 7);
    assert_eq!(
        events[0].client_id.as_deref(),
        Some(scraper.client.id.as_str())
    );
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn budgets_answer_429_with_retry_after_and_are_reported_once() {
    let server = crate::support::resource::authorization_server("jwt").await;
    let api = Api::reporting(&server, |s| {
        s.budgets.per_token = Some(Budget {
            per_minute: 60,
            burst: 3,
        });
        s.budgets.per_client = None;
    })
    .await;
    let caller = Caller::mtls(&server, SCOPE).await;
    for _ in 0..3 {
        api.call(&server, &caller, "/accounts/1").await.assert_ok();
    }
    for _ in 0..3 {
        let answer = api.call(&server, &caller, "/accounts/1").await;
        assert_limited(&answer, "token_budget", 1);
    }
    // One request a second, sustained.
    server.clock.advance(1);
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    assert_limited(
        &api.call(&server, &caller, "/accounts/1").await,
        "token_budget",
        1,
    );
    // Another token of the same client has its own budget.
    let token = caller.new_token(&server, SCOPE).await;
    let second = Caller { token, ..caller };
    api.call(&server, &second, "/accounts/1").await.assert_ok();

    wait_for_reports(&server, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = reports(&server).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].severity, "info");
    assert_eq!(evidence(&events[0])["event"], "budget_exceeded");
    assert_eq!(evidence(&events[0])["counter"], "token");
    assert_eq!(evidence(&events[0])["threshold"], 60);
    api.stop().await;
    server.stop().await;
}
