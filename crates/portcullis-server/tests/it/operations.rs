//! Health, readiness, limits, request ids, security headers, timeouts and graceful shutdown.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::logs::Logs;
use crate::support::{Backend, TestServer};

#[tokio::test]
async fn healthz_and_readyz_answer_and_readyz_follows_the_database() {
    let server = TestServer::start().await;
    let client = server.client(None);
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(format!("{}{path}", server.public_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    // Take the database away under the running server.
    let url = server.config.database_url();
    let (admin, name) = url.rsplit_once('/').unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{admin}/postgres"))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let response = client
        .get(format!("{}/readyz", server.public_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "database unavailable");
    // Liveness does not depend on the database.
    let response = client
        .get(format!("{}/healthz", server.public_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Recreate it so that `stop` can drop it.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_security_headers_a_request_id_and_a_date() {
    let server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let client = server.client(None);
    for path in [
        "/healthz",
        "/jwks",
        "/.well-known/openid-configuration",
        "/no-such-page",
    ] {
        let response = client
            .get(format!("{}{path}", server.public_url()))
            .send()
            .await
            .unwrap();
        let h = response.headers();
        assert_eq!(
            h["strict-transport-security"], "max-age=63072000; includeSubDomains",
            "R56 {path}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "R54 {path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "R55 {path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(h.contains_key("date"), "R186 {path}");
        assert_eq!(h["x-request-id"].len(), 36, "{path}");
    }
    // A caller's request id is kept, so logs on both sides correlate.
    let response = client
        .get(format!("{}/healthz", server.public_url()))
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-1");
    server.stop().await;
}

#[tokio::test]
async fn each_response_is_logged_once_in_its_request_span_without_the_query() {
    let server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let client = server.client(None);
    let logs = Logs::capture();
    let response = client
        .get(format!("{}/jwks?secret=do-not-log-me", server.public_url()))
        .header("x-request-id", "trace-me-2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let unknown = client
        .get(format!("{}/no-such-page", server.public_url()))
        .send()
        .await
        .unwrap();
    let id = unknown.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("finished processing request"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("request{method=GET path=/jwks request_id=trace-me-2}")
            && lines[0].contains("status=200")
            && lines[0].contains("latency="),
        "{text}"
    );
    assert!(
        lines[1].contains(&format!("path=/no-such-page request_id={id}"))
            && lines[1].contains("status=404"),
        "{text}"
    );
    assert!(!text.contains("do-not-log-me"), "{text}");
    drop(logs);
    server.stop().await;
}

#[tokio::test]
async fn a_panic_is_a_generic_500_with_every_security_header() {
    let server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let response = server
        .client(None)
        .get(format!("{}/test/panic", server.public_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    for header in [
        "strict-transport-security",
        "x-frame-options",
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-request-id",
    ] {
        assert!(response.headers().contains_key(header), "{header}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "server_error", "error_description": "internal error"})
    );
    // The server keeps serving.
    let ok = server
        .client(None)
        .get(format!("{}/healthz", server.public_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn r42_oversize_bodies_are_refused_with_413() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| c.http.body_limit_bytes = 1024)
        .start()
        .await;
    let response = server
        .client(None)
        .post(format!("{}/healthz", server.public_url()))
        .body(vec![b'a'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .behind_proxy("127.0.0.1/32")
        .configure(|c| {
            c.http.header_read_timeout_secs = 1;
        })
        .start()
        .await;
    let mut tcp = TcpStream::connect(server.running().public_addr)
        .await
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_goes_idle_is_closed() {
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .configure(|c| {
            c.http.header_read_timeout_secs = 1;
            c.http.idle_timeout_secs = 2;
            c.http.request_timeout_secs = 2;
        })
        .start()
        .await;
    // Silent from the start, on the TLS listener: closed after the first-byte deadline.
    let mut tcp = TcpStream::connect(server.running().mtls_addr)
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf))
            .await
            .is_ok(),
        "still open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    server.stop().await;

    // Quiet after a request on a kept-alive connection (plain HTTP in proxy mode, to read raw).
    let server = TestServer::builder()
        .backend(Backend::Sqlite)
        .behind_proxy("127.0.0.1/32")
        .configure(|c| {
            c.http.idle_timeout_secs = 2;
            c.http.request_timeout_secs = 2;
        })
        .start()
        .await;
    let mut tcp = TcpStream::connect(server.running().public_addr)
        .await
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    tcp.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let started = Instant::now();
    let mut rest = Vec::new();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest))
            .await
            .is_ok(),
        "kept open while idle"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_connections() {
    let mut server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let client = server.client(None);
    let url = format!("{}/test/slow", server.public_url());
    let in_flight =
        tokio::spawn(async move { client.get(url).send().await.unwrap().text().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = server.running().public_addr;
    server.running.take().unwrap().shutdown().await;
    assert_eq!(in_flight.await.unwrap(), "finished");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
    server.stop().await;
}
