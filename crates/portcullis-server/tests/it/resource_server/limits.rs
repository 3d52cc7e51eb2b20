//! API-side abuse protection: the enumeration guard per token and per client, and the request
//! budgets (429 with `Retry-After`, and one report each).

use accounts_example::SCOPE;
use portcullis_core::resource_events::{Counter, EventKind};
use portcullis_resource::settings::Budget;

use crate::support::http::Answer;
use crate::support::resource::{Api, Caller};

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
async fn a_scraper_walking_ids_gets_429_after_the_threshold_and_is_reported_once() {
    let server = crate::support::resource::authorization_server("jwt").await;
    let (api, receiver) = Api::reporting(&server, |s| {
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

    let reports = receiver.wait_for_events(1).await;
    // Give a second report time to arrive if one were (wrongly) sent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events: Vec<_> = receiver
        .reports()
        .into_iter()
        .flat_map(|r| r.events)
        .collect();
    assert_eq!(
        events.len(),
        1,
        "one event for the whole scrape: {events:?}"
    );
    let event = &events[0];
    assert_eq!(reports[0].resource, crate::support::resource::RESOURCE);
    assert_eq!(event.kind, EventKind::EnumerationSuspected);
    assert_eq!(event.client_id, scraper.client.id);
    let jti = portcullis_core::jose::peek_claims(&scraper.token).unwrap()["jti"].clone();
    assert_eq!(event.token_jti.as_deref(), jti.as_str());
    assert_eq!(event.route.as_deref(), Some("/accounts/{id}"));
    assert_eq!(event.method.as_deref(), Some("GET"));
    assert_eq!(event.evidence.counter, Some(Counter::Token));
    assert_eq!(event.evidence.observed, Some(6));
    assert_eq!(event.evidence.threshold, Some(5));
    assert_eq!(event.evidence.window_secs, Some(600));
    assert_eq!(receiver.refused(), 0);
    assert_eq!(api.stats().reports_sent, 1);
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn one_client_walking_ids_with_fresh_tokens_is_stopped_per_client() {
    let server = crate::support::resource::authorization_server("jwt").await;
    let (api, receiver) = Api::reporting(&server, |s| {
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

    let events: Vec<_> = receiver
        .wait_for_events(1)
        .await
        .into_iter()
        .flat_map(|r| r.events)
        .collect();
    assert_eq!(events[0].kind, EventKind::EnumerationSuspected);
    assert_eq!(events[0].evidence.counter, Some(Counter::Client));
    assert_eq!(events[0].evidence.observed, Some(7));
    assert_eq!(events[0].client_id, scraper.client.id);
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn budgets_answer_429_with_retry_after_and_are_reported_once() {
    let server = crate::support::resource::authorization_server("jwt").await;
    let (api, receiver) = Api::reporting(&server, |s| {
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

    let events: Vec<_> = receiver
        .wait_for_events(1)
        .await
        .into_iter()
        .flat_map(|r| r.events)
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        receiver
            .reports()
            .iter()
            .map(|r| r.events.len())
            .sum::<usize>(),
        1
    );
    assert_eq!(events[0].kind, EventKind::BudgetExceeded);
    assert_eq!(events[0].evidence.counter, Some(Counter::Token));
    assert_eq!(events[0].evidence.threshold, Some(60));
    api.stop().await;
    server.stop().await;
}
