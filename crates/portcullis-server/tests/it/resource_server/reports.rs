//! Reports of API-side events: a bound token presented without its key, stored by the
//! authorization server as a security event, and what happens when the report endpoint cannot
//! be reached (requests are never held or failed for it).

use accounts_example::SCOPE;

use crate::support::pki::ClientCert;
use crate::support::resource::{
    Api, Caller, assert_refused, authorization_server, evidence, reports, wait_for_reports,
};

#[tokio::test]
async fn r116_a_bound_token_presented_without_its_key_is_reported_once_per_token() {
    let server = authorization_server("jwt").await;
    let api = Api::reporting(&server, |_| {}).await;
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

    // The authorization server stored one security event per token.
    wait_for_reports(&server, 2).await;
    // Give a third report time to arrive if one were (wrongly) sent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut events = reports(&server).await;
    assert_eq!(events.len(), 2, "{events:?}");
    events.sort_by_key(|e| evidence(e)["reason"].as_str().unwrap().to_owned());
    let reporter = api.registration.id.as_str();
    let (bearer, stolen) = (&events[0], &events[1]);
    assert_eq!(evidence(bearer)["reason"], "dpop_token_as_bearer");
    assert_eq!(bearer.client_id.as_deref(), Some(dpop.client.id.as_str()));
    assert_eq!(bearer.severity, "warning");
    assert_eq!(evidence(bearer)["resource_server"], reporter);
    assert_eq!(evidence(bearer)["route"], "/accounts/{id}");
    assert_eq!(evidence(stolen)["reason"], "other_certificate");
    assert_eq!(stolen.client_id.as_deref(), Some(mtls.client.id.as_str()));
    // Someone else's certificate: the token is held by another party.
    assert_eq!(stolen.severity, "critical");
    assert_eq!(stolen.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        stolen.text,
        format!(
            "Resource server {reporter} reports that a bound token of client {} was sent over \
             another client certificate on GET /accounts/{{id}} from 127.0.0.1.",
            mtls.client.id
        )
    );
    let stats = api.stats();
    assert_eq!((stats.reports_sent, stats.reports_dropped), (2, 0));
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
