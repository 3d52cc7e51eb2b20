//! Reports of API-side events: a bound token presented without its key, and what happens when
//! the report endpoint cannot be reached (requests are never held or failed for it).

use accounts_example::SCOPE;
use portcullis_core::resource_events::EventKind;

use crate::support::pki::ClientCert;
use crate::support::resource::{Api, Caller, assert_refused, authorization_server};

#[tokio::test]
async fn r116_a_bound_token_presented_without_its_key_is_reported_once_per_token() {
    let server = authorization_server("jwt").await;
    let (api, receiver) = Api::reporting(&server, |_| {}).await;
    let dpop = Caller::dpop(&server, SCOPE).await;
    for _ in 0..3 {
        let bearer = api
            .get(&server, "/accounts/1")
            .authorization("Bearer", &dpop.token);
        assert_refused(&bearer.send().await, 401, "Bearer", "invalid_token");
    }
    let mtls = Caller::mtls(&server, SCOPE).await;
    let stolen = api
        .get(&server, "/accounts/1")
        .authorization("Bearer", &mtls.token);
    let answer = stolen
        .certificate(&ClientCert::self_signed("thief"))
        .send()
        .await;
    assert_refused(&answer, 401, "Bearer", "invalid_token");

    let mut events: Vec<_> = receiver
        .wait_for_events(2)
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
        2
    );
    events.sort_by_key(|e| e.evidence.reason.clone());
    assert!(events.iter().all(|e| e.kind == EventKind::UnboundToken));
    assert_eq!(
        events[0].evidence.reason.as_deref(),
        Some("dpop_token_as_bearer")
    );
    assert_eq!(events[0].client_id, dpop.client.id);
    assert_eq!(
        events[1].evidence.reason.as_deref(),
        Some("other_certificate")
    );
    assert_eq!(events[1].client_id, mtls.client.id);
    assert_eq!(events[1].address.as_deref(), Some("127.0.0.1"));
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn requests_are_answered_while_the_report_endpoint_is_down() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |s| {
        s.reporting.enabled = true;
        s.reporting.endpoint = Some("https://localhost:1/resource-events".into());
        s.reporting.flush_millis = 10;
        s.enumeration.per_token = 2;
    })
    .await;
    let scraper = Caller::dpop(&server, SCOPE).await;
    api.call(&server, &scraper, "/accounts/1").await.assert_ok();
    api.call(&server, &scraper, "/accounts/2").await.assert_ok();
    for id in 3..=10 {
        let answer = api
            .call(&server, &scraper, &format!("/accounts/{id}"))
            .await;
        assert_eq!(answer.status, 429);
    }
    // The one event is queued, tried three times, then dropped and counted.
    for _ in 0..100 {
        if api.stats().reports_dropped == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stats = api.stats();
    assert_eq!(
        (
            stats.reports_queued,
            stats.reports_sent,
            stats.reports_dropped
        ),
        (1, 0, 1)
    );
    api.call(&server, &scraper, "/accounts/1").await.assert_ok();
    api.stop().await;
    server.stop().await;
}
