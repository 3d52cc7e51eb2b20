//! Bounds on connections, requests in flight and the purge (issue 10), over real TLS: slow
//! header senders closed at the header timeout while tokens keep flowing, the connection cap,
//! load shed with `503` past the in-flight cap, and a 100,000-row purge in batches while
//! `/token` answers, on SQLite and Postgres.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::bounds::unlimited;
use crate::support::client::JwtClient;
use crate::support::token;
use crate::support::{Backend, TestServer};

/// A TLS connection to the public listener (no ALPN: HTTP/1.1).
async fn connect(server: &TestServer) -> std::io::Result<TlsStream<TcpStream>> {
    let config = crate::tls::client_config(server).with_no_client_auth();
    let tcp = TcpStream::connect(server.running().public_addr).await?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Sends a request's headers one byte a second until the server closes the connection;
/// returns how long after the first byte that was.
async fn dribble(mut tls: TlsStream<TcpStream>) -> Duration {
    let request = b"POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut buf = [0_u8; 256];
    for byte in request {
        if tls.write_all(&[*byte]).await.is_err() || tls.flush().await.is_err() {
            return started.elapsed();
        }
        // Whatever the server sends (an error answer, close_notify, EOF) ends the wait.
        if let Ok(read) = tokio::time::timeout(Duration::from_secs(1), tls.read(&mut buf)).await {
            if matches!(read, Ok(0) | Err(_)) {
                return started.elapsed();
            }
            // A 408 or similar before the close: keep reading until it closes.
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(1), tls.read(&mut buf)).await
            {
                if n == 0 {
                    break;
                }
            }
            return started.elapsed();
        }
    }
    Duration::MAX
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_header_senders_are_closed_at_the_header_timeout_while_tokens_flow() {
    // 1,000 connections: 2,000 descriptors in this one process (server and clients).
    const SLOW: usize = 1_000;
    let server = unlimited()
        .configure(|c| c.http.header_read_timeout_secs = 3)
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..SLOW {
        let tls = connect(&server).await.unwrap();
        slow.spawn(dribble(tls));
    }
    // Meanwhile a normal client keeps getting tokens.
    let mut tokens = 0;
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        token::client_credentials(&server, &client, "a")
            .await
            .assert_ok();
        tokens += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut longest = Duration::ZERO;
    while let Some(held) = slow.join_next().await {
        longest = longest.max(held.unwrap());
    }
    eprintln!("{SLOW} slow senders: the longest was held {longest:?}; {tokens} tokens meanwhile");
    assert!(tokens >= 10, "{tokens}");
    // Closed at the 3 s header timeout (plus one byte interval and scheduling), never later.
    assert!(longest <= Duration::from_secs(6), "{longest:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_tls_handshake_sent_byte_by_byte_is_closed_at_the_handshake_timeout() {
    let server = unlimited()
        .configure(|c| c.http.handshake_timeout_secs = 2)
        .start()
        .await;
    let mut tcp = TcpStream::connect(server.running().public_addr)
        .await
        .unwrap();
    // The start of a TLS record holding a ClientHello, one byte every 300 ms: never idle long
    // enough for the idle timeout, never complete.
    let started = Instant::now();
    let hello = [
        0x16_u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let mut closed = false;
    for byte in hello.iter().cycle().take(40) {
        if tcp.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0_u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut buf)).await;
        if matches!(read, Ok(Ok(0) | Err(_))) {
            closed = true;
            break;
        }
    }
    let held = started.elapsed();
    assert!(closed, "still open after {held:?}");
    assert!(held <= Duration::from_secs(4), "{held:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_listener_holds_at_most_its_connection_cap() {
    let server = unlimited()
        .configure(|c| c.limits.connections_per_listener = 2)
        .start()
        .await;
    let first = connect(&server).await.unwrap();
    let _second = connect(&server).await.unwrap();
    // The third is closed right after accept: its handshake fails.
    assert!(connect(&server).await.is_err(), "past the cap");
    drop(first);
    // Once one closes, a new connection is served.
    let mut served = false;
    for _ in 0..50 {
        if let Ok(mut tls) = connect(&server).await {
            tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = String::new();
            let _ = tls.read_to_string(&mut answer).await;
            served = answer.starts_with("HTTP/1.1 200");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_past_the_in_flight_cap_are_shed_with_503_and_retry_after() {
    let server = unlimited()
        .configure(|c| c.limits.requests_in_flight = 2)
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    let http = server.client(None);
    let slow_url = format!("{}/test/slow", server.public_url());
    // Two slow requests take the two places (each takes 700 ms)...
    let mut slow = Vec::new();
    for _ in 0..2 {
        let request = http.get(&slow_url).send();
        slow.push(tokio::spawn(request));
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    // ...so a token request is refused at once, in the OAuth error shape, and a page too.
    let answer = token::client_credentials(&server, &client, "a").await;
    answer.assert_error(503, "temporarily_unavailable");
    assert_eq!(answer.header("retry-after"), "2");
    let page = http.get(&slow_url).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "2");
    for request in slow {
        assert_eq!(request.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        server.running().state.bounds.shed.load(Ordering::Relaxed),
        2
    );
    // The places are free again.
    token::client_credentials(&server, &client, "a")
        .await
        .assert_ok();
    server.stop().await;
}

#[tokio::test]
async fn http2_pings_do_not_keep_a_connection_without_requests_open() {
    let server = unlimited()
        .configure(|c| {
            c.http.idle_timeout_secs = 2;
            c.http.request_timeout_secs = 2;
        })
        .start()
        .await;
    let mut config = crate::tls::client_config(&server).with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(server.running().public_addr)
        .await
        .unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    // A client that PINGs every 300 ms, with or without requests.
    let (mut sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_millis(300))
            .keep_alive_while_idle(true)
            .handshake::<_, http_body_util::Empty<axum::body::Bytes>>(hyper_util::rt::TokioIo::new(
                tls,
            ))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = axum::http::Request::get(format!("{}/healthz", server.public_url()))
        .body(http_body_util::Empty::new())
        .unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
    let started = Instant::now();
    // The server closes it about 2 s after the last request, PINGs notwithstanding.
    let closed = tokio::time::timeout(Duration::from_secs(8), connection).await;
    assert!(closed.is_ok(), "the connection was kept open by PINGs");
    eprintln!(
        "an HTTP/2 connection with PINGs only was closed after {:?}",
        started.elapsed()
    );
    server.stop().await;
}

/// Inserts `n` spent jtis that expired long ago, in one statement.
async fn insert_expired_jtis(server: &TestServer, backend: Backend, n: u32) {
    let url = server.config.database_url();
    match backend {
        Backend::Postgres => {
            let db = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query("INSERT INTO used_jtis (key_hash, expires_at) SELECT sha256(i::text::bytea), 1 FROM generate_series(1, $1) AS i")
                .bind(i64::from(n))
                .execute(&db)
                .await
                .unwrap();
            db.close().await;
        }
        Backend::Sqlite => {
            let db = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) INSERT INTO used_jtis (key_hash, expires_at) SELECT randomblob(32), 1 FROM n")
                .bind(i64::from(n))
                .execute(&db)
                .await
                .unwrap();
            db.close().await;
        }
    }
}

/// Expired spent jtis left in the database.
async fn expired_jtis(server: &TestServer) -> i64 {
    let db = sqlx::SqlitePool::connect(&server.config.database_url())
        .await
        .unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM used_jtis WHERE expires_at <= 1")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    n
}

#[tokio::test]
async fn expired_rows_are_purged_when_a_process_starts() {
    // An hour between purges: only the purge at start can remove the rows in time.
    let server = unlimited()
        .backend(Backend::Sqlite)
        .configure(|c| c.limits.purge_interval_secs = 3600)
        .start()
        .await;
    // The rows go in after this process's own purge at start has run.
    let purges = || server.running().state.bounds.purges.load(Ordering::Relaxed);
    for _ in 0..100 {
        if purges() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(purges(), 1);
    insert_expired_jtis(&server, Backend::Sqlite, 5_000).await;
    assert_eq!(expired_jtis(&server).await, 5_000);
    let server = server.restart().await;
    let mut left = expired_jtis(&server).await;
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = expired_jtis(&server).await;
    }
    assert_eq!(left, 0, "purged at start");
    server.stop().await;
}

async fn a_large_purge_runs_in_batches_while_tokens_flow(backend: Backend) {
    const ROWS: u32 = 100_000;
    let server = unlimited()
        .backend(backend)
        .configure(|c| c.limits.purge_interval_secs = 1)
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    let state = &server.running().state;
    insert_expired_jtis(&server, backend, ROWS).await;
    let batches_before = state.bounds.purge_batches.load(Ordering::Relaxed);
    let mut tokens = 0;
    let started = Instant::now();
    loop {
        token::client_credentials(&server, &client, "a")
            .await
            .assert_ok();
        tokens += 1;
        let purged = state.bounds.purge_batches.load(Ordering::Relaxed) - batches_before;
        if purged >= u64::from(ROWS / 1000) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the purge ends"
        );
    }
    let batches = state.bounds.purge_batches.load(Ordering::Relaxed) - batches_before;
    eprintln!("{backend:?}: {ROWS} rows purged in {batches} batches; {tokens} tokens meanwhile");
    // Every batch deletes at most 1,000 rows of a kind: 100 batches at least.
    assert!(batches >= 100, "{batches}");
    assert!(tokens >= 2, "{tokens}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_purge_runs_in_batches_while_tokens_flow_on_sqlite() {
    a_large_purge_runs_in_batches_while_tokens_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_purge_runs_in_batches_while_tokens_flow_on_postgres() {
    a_large_purge_runs_in_batches_while_tokens_flow(Backend::Postgres).await;
}
