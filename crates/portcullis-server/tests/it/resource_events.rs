//! `POST /resource-events`: resource servers' reports, authenticated like introspection
//! (`private_key_jwt` over the mTLS listener), bounded by `parse_report`, stored as security
//! events once per open incident (`docs/RESOURCE_SERVERS.md` § "The endpoint").

use portcullis_core::resource_events::{
    Counter, Event, EventKind, Evidence, MAX_EVENTS, MAX_TEXT_CHARS, Report,
};
use serde_json::{Value, json};

use crate::support::client::JwtClient;
use crate::support::http::{Answer, fetch_json};
use crate::support::pki::ClientCert;
use crate::support::resource::{evidence, reports};
use crate::support::{Backend, TestServer};

/// A resource server's registration and the certificate it presents.
struct ResourceServer {
    client: JwtClient,
    certificate: ClientCert,
}

impl ResourceServer {
    async fn register(server: &TestServer, extra: Value) -> Self {
        Self {
            client: JwtClient::register(server, extra).await,
            certificate: ClientCert::self_signed("reporting-api"),
        }
    }

    /// Posts `report` to the mTLS listener, authenticated with a fresh assertion.
    async fn send(&self, server: &TestServer, report: &str) -> Answer {
        let identity = Some(self.certificate.identity());
        server
            .post_mtls("/resource-events", identity)
            .param("report", report)
            .auth(&self.client)
            .send()
            .await
    }
}

fn enumeration(id: &str, client_id: &str, jti: &str) -> Event {
    Event {
        id: id.to_owned(),
        kind: EventKind::EnumerationSuspected,
        time: 1_800_000_000,
        client_id: client_id.to_owned(),
        subject: Some(client_id.to_owned()),
        token_jti: Some(jti.to_owned()),
        route: Some("/accounts/{id}".to_owned()),
        method: Some("GET".to_owned()),
        address: Some("203.0.113.9".to_owned()),
        evidence: Evidence {
            counter: Some(Counter::Token),
            observed: Some(120),
            threshold: Some(119),
            window_secs: Some(600),
            reason: None,
        },
        text: format!("client {client_id} requested more than 119 distinct id values"),
    }
}

fn unbound(id: &str, client_id: &str, reason: &str) -> Event {
    Event {
        kind: EventKind::UnboundToken,
        evidence: Evidence {
            reason: Some(reason.to_owned()),
            ..Evidence::default()
        },
        ..enumeration(id, client_id, "j-unbound")
    }
}

fn report(events: Vec<Event>) -> String {
    serde_json::to_string(&Report {
        resource: "https://accounts.example".to_owned(),
        sent_at: 1_800_000_001,
        dropped: 3,
        events,
    })
    .unwrap()
}

#[tokio::test]
async fn a_resource_server_s_report_is_stored_once_per_incident() {
    stored_once_per_incident(Backend::Postgres).await;
}

#[tokio::test]
async fn a_resource_server_s_report_is_stored_once_per_incident_on_sqlite() {
    stored_once_per_incident(Backend::Sqlite).await;
}

async fn stored_once_per_incident(backend: Backend) {
    let server = TestServer::builder().backend(backend).start().await;
    let api = ResourceServer::register(&server, json!({"resource_server": true})).await;
    let first = report(vec![enumeration("e1", "partner-7", "j1")]);
    let answer = api.send(&server, &first).await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(answer.body, Value::Null);

    let events = reports(&server).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.kind, "resource_server_report");
    assert_eq!(event.severity, "warning");
    assert_eq!(event.client_id.as_deref(), Some("partner-7"));
    assert_eq!(event.address.as_deref(), Some("203.0.113.9"));
    assert_eq!(
        event.text,
        format!(
            "Resource server {} reports that client partner-7 walked 120 distinct identifiers \
             on GET /accounts/{{id}} in 10 minutes with one token (limit 119) from 203.0.113.9.",
            api.client.id
        )
    );
    let numbers = evidence(event);
    assert_eq!(numbers["resource_server"], api.client.id.as_str());
    assert_eq!(numbers["resource"], "https://accounts.example");
    assert_eq!(numbers["route"], "/accounts/{id}");
    assert_eq!(numbers["token_jti"], "j1");
    assert_eq!(
        (&numbers["observed"], &numbers["threshold"]),
        (&json!(120), &json!(119))
    );
    assert_eq!(numbers["window_secs"], 600);
    assert_eq!(numbers["dropped_before"], 3);

    // The API repeats the event later, with another token of the same client: the incident is
    // open, nothing new is stored, and the API is still told it was delivered.
    server.clock.advance(600);
    let repeat = report(vec![enumeration("e2", "partner-7", "j2")]);
    assert_eq!(api.send(&server, &repeat).await.status, 204);
    assert_eq!(reports(&server).await.len(), 1);

    // Another client, twice in one report, and a token of it held by someone else: one event
    // per kind, the stolen token critical.
    let mixed = report(vec![
        enumeration("e3", "partner-8", "j3"),
        enumeration("e4", "partner-8", "j4"),
        unbound("e5", "partner-8", "other_key"),
    ]);
    assert_eq!(api.send(&server, &mixed).await.status, 204);
    let events = reports(&server).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let stolen: Vec<_> = events
        .iter()
        .filter(|e| evidence(e)["event"] == "unbound_token")
        .collect();
    assert_eq!(stolen.len(), 1);
    assert_eq!(stolen[0].severity, "critical");
    assert_eq!(stolen[0].client_id.as_deref(), Some("partner-8"));

    // Once the incident is over (monitoring.incident_secs, 1 h), the same report counts again.
    server.clock.advance(3600);
    assert_eq!(api.send(&server, &first).await.status, 204);
    assert_eq!(reports(&server).await.len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn the_endpoint_is_advertised_at_the_issuer_and_the_mtls_listener() {
    let server = TestServer::start().await;
    let url = format!(
        "{}/.well-known/oauth-authorization-server",
        server.public_url()
    );
    let metadata = fetch_json(server.client(None).get(url)).await;
    assert_eq!(
        metadata["resource_events_endpoint"],
        format!("{}/resource-events", server.config.issuer)
    );
    assert_eq!(
        metadata["mtls_endpoint_aliases"]["resource_events_endpoint"],
        format!("{}/resource-events", server.mtls_url())
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_is_not_a_resource_server_may_not_report() {
    let server = TestServer::start().await;
    let client = ResourceServer::register(&server, json!({})).await;
    let answer = client
        .send(&server, &report(vec![enumeration("e1", "victim", "j1")]))
        .await;
    answer.assert_error(400, "unauthorized_client");
    assert!(reports(&server).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_unauthenticated_report_is_refused_with_invalid_client() {
    let server = TestServer::start().await;
    let api = ResourceServer::register(&server, json!({"resource_server": true})).await;
    let body = report(vec![enumeration("e1", "partner-7", "j1")]);
    // No credentials at all.
    let identity = Some(api.certificate.identity());
    server
        .post_mtls("/resource-events", identity)
        .param("report", &body)
        .send()
        .await
        .assert_error(401, "invalid_client");
    // An assertion for another audience.
    let assertion = api
        .client
        .assertion_with(&server, json!({"aud": "https://elsewhere.example"}));
    server
        .post_mtls("/resource-events", Some(api.certificate.identity()))
        .param("report", &body)
        .form(api.client.auth(&assertion))
        .send()
        .await
        .assert_error(401, "invalid_client");
    // The same assertion twice: the second is a replay.
    let assertion = api.client.assertion(&server);
    for expected in [204, 401] {
        let answer = server
            .post_mtls("/resource-events", Some(api.certificate.identity()))
            .param("report", &report(vec![]))
            .form(api.client.auth(&assertion))
            .send()
            .await;
        assert_eq!(answer.status, expected, "{:?}", answer.body);
    }
    assert!(reports(&server).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn malformed_or_oversized_reports_are_invalid_requests() {
    let server = TestServer::start().await;
    let api = ResourceServer::register(&server, json!({"resource_server": true})).await;
    let valid = || serde_json::to_value(enumeration("e1", "partner-7", "j1")).unwrap();
    let with = |member: &str, value: Value| {
        let mut event = valid();
        event[member] = value;
        json!({"resource": "https://accounts.example", "sent_at": 1, "events": [event]}).to_string()
    };
    let too_many: Vec<Event> = (0..=MAX_EVENTS)
        .map(|i| enumeration(&format!("e{i}"), "partner-7", "j"))
        .collect();
    let cases = [
        ("not JSON", "{not json".to_owned()),
        ("not a report", json!({"events": []}).to_string()),
        ("an unknown member", with("extra", json!(1))),
        ("an unknown kind", with("kind", json!("stolen_wallet"))),
        ("too many events", report(too_many)),
        (
            "a text too long",
            with("text", json!("x".repeat(MAX_TEXT_CHARS + 1))),
        ),
        (
            "a control character",
            with("route", json!("/accounts\n/{id}")),
        ),
    ];
    for (case, body) in cases {
        api.send(&server, &body)
            .await
            .assert_error_for(case, 400, "invalid_request");
    }
    // No report at all.
    server
        .post_mtls("/resource-events", Some(api.certificate.identity()))
        .auth(&api.client)
        .send()
        .await
        .assert_error(400, "invalid_request");
    assert!(reports(&server).await.is_empty());
    // The most a report may hold is accepted.
    let most: Vec<Event> = (0..MAX_EVENTS)
        .map(|i| enumeration(&format!("e{i}"), &format!("partner-{i}"), "j"))
        .collect();
    assert_eq!(api.send(&server, &report(most)).await.status, 204);
    assert_eq!(reports(&server).await.len(), MAX_EVENTS);
    server.stop().await;
}

#[tokio::test]
async fn a_resource_server_s_report_reaches_the_webhook_once_signed() {
    use crate::support::webhooks::WebhookReceiver;
    let hook = WebhookReceiver::start(&[]).await;
    let secret = "the webhook secret of this test!";
    let server = TestServer::builder()
        .configure(hook.configure(secret, "warning", &["resource_server_report"]))
        .start()
        .await;
    let api = ResourceServer::register(&server, json!({"resource_server": true})).await;
    for jti in ["j1", "j2"] {
        let answer = api
            .send(&server, &report(vec![enumeration(jti, "partner-9", jti)]))
            .await;
        assert_eq!(answer.status, 204, "{:?}", answer.body);
    }
    let got = hook.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(hook.deliveries().len(), 1);
    let body = got[0].json();
    assert_eq!(body["kind"], "resource_server_report");
    assert_eq!(body["client_id"], "partner-9");
    assert!(portcullis_server::security::alerts::verify(
        secret.as_bytes(),
        &got[0].signature,
        &got[0].body,
        server.now().unix(),
        300
    ));
    server.stop().await;
}
