//! `GET /metrics` (issue 11, decision record 0016): served on its own listener only, in a text
//! format a strict Prometheus parser accepts (`support::prometheus`), with counters that move by exactly what happened on
//! this server (each server has its own recorder, so tests running side by side in this
//! process do not see each other's counts).

use portcullis_server::config::{Budget, Metrics};
use serde_json::json;

use crate::support::TestServer;
use crate::support::client::{DpopKey, JwtClient};
use crate::support::prometheus::{self, Scrape};
use crate::support::server::Backend;
use crate::support::token::client_credentials;

/// Scrapes the metrics listener of `server` and parses the body strictly.
async fn scrape(server: &TestServer) -> Scrape {
    let addr = server.running().metrics_addr.expect("the metrics listener");
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"].to_str().unwrap();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    prometheus::parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn the_token_counter_rises_by_exactly_the_tokens_issued() {
    let server = TestServer::start().await;
    // A second server in this process: its counts are its own.
    let other = TestServer::builder().backend(Backend::Sqlite).start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let issued = [("grant_type", "client_credentials"), ("binding", "dpop")];
    let before = scrape(&server).await;
    let requests_before = before.value(
        "portcullis_http_requests_total",
        &[
            ("route", "/token"),
            ("method", "POST"),
            ("status_class", "2xx"),
        ],
    );
    for _ in 0..3 {
        client_credentials(&server, &client, "a").await.assert_ok();
    }
    // A path with an identifier in it is counted under its route template only.
    let admin_url = format!("{}/admin/clients/{}", server.public_url(), client.id);
    server.client(None).get(&admin_url).send().await.unwrap();

    let after = scrape(&server).await;
    let tokens = |s: &Scrape| s.value("portcullis_access_tokens_issued_total", &issued);
    assert_eq!(tokens(&after) - tokens(&before), 3.0);
    assert_eq!(
        after.value(
            "portcullis_access_tokens_issued_total",
            &[("format", "opaque")]
        ),
        3.0
    );
    let requests = after.value(
        "portcullis_http_requests_total",
        &[
            ("route", "/token"),
            ("method", "POST"),
            ("status_class", "2xx"),
        ],
    );
    assert_eq!(requests - requests_before, 3.0);
    assert_eq!(
        after.value(
            "portcullis_http_requests_total",
            &[("route", "/admin/clients/{client_id}"), ("method", "GET")]
        ),
        1.0
    );
    // The latency histogram has buckets (not the exporter's default summary), and the parser
    // checked that they are cumulative up to `_count`.
    assert_eq!(
        after.types["portcullis_http_request_duration_seconds"],
        "histogram"
    );
    let token_route = [("route", "/token"), ("method", "POST")];
    let buckets = after
        .matching(
            "portcullis_http_request_duration_seconds_bucket",
            &token_route,
        )
        .count();
    assert!(buckets >= 10, "{buckets} buckets");
    assert!(
        after.value(
            "portcullis_http_request_duration_seconds_count",
            &token_route
        ) >= 3.0
    );
    // No label names the client or holds a raw path.
    assert!(
        !after
            .samples
            .iter()
            .flat_map(|s| s.labels.values())
            .any(|v| v.contains(&client.id))
    );

    // The scrape-time gauges.
    assert!(after.value("portcullis_process_resident_memory_bytes", &[]) > 0.0);
    assert!(after.value("portcullis_process_open_fds", &[]) > 0.0);
    assert!(after.value("portcullis_db_pool_max_connections", &[]) >= 1.0);
    assert_eq!(after.value("portcullis_db_up", &[]), 1.0);
    assert_eq!(
        after
            .matching("portcullis_signing_key_age_seconds", &[("alg", "ES256")])
            .count(),
        1
    );
    assert_eq!(after.value("portcullis_replays_refused_total", &[]), 0.0);

    assert_eq!(tokens(&scrape(&other).await), 0.0);
    other.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_refused_client_authentication_and_replays_are_counted() {
    let server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let failures = |s: &Scrape, method, reason| {
        s.value(
            "portcullis_client_auth_failures_total",
            &[("method", method), ("reason", reason)],
        )
    };
    let before = scrape(&server).await;
    // No credentials at all.
    let answer = server
        .post("/token")
        .param("grant_type", "client_credentials")
        .send()
        .await;
    answer.assert_error(401, "invalid_client");
    // One assertion, twice: the second is a replay (R94).
    let assertion = client.assertion(&server);
    for n in 0..2 {
        let answer = server
            .post("/token")
            .params(&[("grant_type", "client_credentials"), ("scope", "a")])
            .form(client.auth(&assertion))
            .dpop(&DpopKey::new())
            .send()
            .await;
        if n == 0 {
            answer.assert_ok();
        } else {
            answer.assert_error(401, "invalid_client");
        }
    }
    let after = scrape(&server).await;
    assert_eq!(
        failures(&after, "none", "malformed") - failures(&before, "none", "malformed"),
        1.0
    );
    assert_eq!(failures(&after, "private_key_jwt", "replayed"), 1.0);
    assert_eq!(
        after.value(
            "portcullis_replays_refused_total",
            &[("kind", "client_assertion")]
        ),
        1.0
    );
    assert_eq!(
        after.value("portcullis_client_auth_failures_total", &[]),
        2.0
    );
    // One DPoP proof, twice (R109): the second is a replay of kind dpop_proof.
    let key = DpopKey::new();
    let proof = key.proof(&server, "POST", &format!("{}/token", server.public_url()));
    for n in 0..2 {
        let answer = server
            .post("/token")
            .params(&[("grant_type", "client_credentials"), ("scope", "a")])
            .auth(&client)
            .header("DPoP", proof.clone())
            .send()
            .await;
        if n == 0 {
            answer.assert_ok();
        } else {
            answer.assert_error(400, "invalid_dpop_proof");
        }
    }
    let last = scrape(&server).await;
    assert_eq!(
        last.value(
            "portcullis_replays_refused_total",
            &[("kind", "dpop_proof")]
        ),
        1.0
    );
    assert_eq!(last.value("portcullis_replays_refused_total", &[]), 2.0);
    server.stop().await;
}

#[tokio::test]
async fn a_429_raises_the_refusal_counter_of_its_class() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| c.rate_limits.address.api = Budget::new(0.01, 1))
        .start()
        .await;
    let post = || {
        server
            .post("/token")
            .param("grant_type", "client_credentials")
            .send()
    };
    assert_eq!(post().await.status, 401);
    assert_eq!(post().await.status, 429);
    let s = scrape(&server).await;
    assert_eq!(
        s.value("portcullis_rate_limited_total", &[("class", "address_api")]),
        1.0
    );
    // The other classes are exported at zero.
    assert_eq!(
        s.value("portcullis_rate_limited_total", &[("class", "client")]),
        0.0
    );
    assert_eq!(
        s.matching("portcullis_rate_limited_total", &[("class", "client")])
            .count(),
        1
    );
    assert_eq!(
        s.value(
            "portcullis_http_requests_total",
            &[("route", "/token"), ("status_class", "4xx")]
        ),
        2.0
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_not_served_on_the_public_or_mtls_listener() {
    let server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let http = server.client(None);
    for base in [server.public_url(), server.mtls_url()] {
        let response = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{base}/metrics");
    }
    // The metrics listener serves /metrics and nothing else.
    let addr = server.running().metrics_addr.unwrap();
    assert!(addr.ip().is_loopback());
    let other = reqwest::get(format!("http://{addr}/token")).await.unwrap();
    assert_eq!(other.status(), 404);
    scrape(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn disabled_metrics_open_no_listener() {
    // A free port, named in the configuration of a server that must not open it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(move |c| {
            c.metrics = Metrics {
                enabled: false,
                listen: port,
            };
        })
        .start()
        .await;
    assert_eq!(server.running().metrics_addr, None);
    assert!(tokio::net::TcpStream::connect(port).await.is_err());
    // Requests are served as usual.
    let client = JwtClient::register(&server, json!({})).await;
    client_credentials(&server, &client, "a").await.assert_ok();
    server.stop().await;
}

#[test]
fn the_scrape_parser_refuses_what_is_not_the_format() {
    let good = "# HELP x_total A thing\n# TYPE x_total counter\n\
                x_total{route=\"/a/{id}\",q=\"a\\\"b\"} 3\n";
    let s = prometheus::parse(good);
    assert_eq!(s.value("x_total", &[("route", "/a/{id}")]), 3.0);
    assert_eq!(s.samples[0].labels["q"], "a\"b");
    for bad in [
        "# TYPE x counter\nx{a=\"1\" 3\n",
        "# TYPE x counter\nx{a=1} 3\n",
        "# TYPE x counter\nx three\n",
        "x 3\n",
        "# TYPE x counter\nx{a=\"1\",a=\"2\"} 3\n",
        "# TYPE 1x counter\n",
        "garbage\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
    ] {
        let result = std::panic::catch_unwind(|| prometheus::parse(bad));
        assert!(result.is_err(), "accepted {bad:?}");
    }
}
