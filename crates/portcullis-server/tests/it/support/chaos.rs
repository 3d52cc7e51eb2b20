//! A TCP proxy between a test server and Postgres that a test commands: it forwards until
//! [`ChaosProxy::cut`] closes every connection and stops listening (new connections are refused,
//! as by a database host that went away), and [`ChaosProxy::restore`] listens again on the same
//! port. [`ChaosProxy::stall`] keeps every connection open but holds the database's answers, so
//! a statement sent is executed while the server waits for a result that does not come (a cut
//! then fails it in the middle). The server is pointed at it with `TestServer::builder().through(&proxy)`; fault tests
//! reuse it (crates.io's ChaosProxy, STYLE convention 9).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use super::browser::Page;
use super::http::Answer;

/// The proxy: its address, its upstream, and the tasks it runs.
pub(crate) struct ChaosProxy {
    /// Where the server connects (the same across cuts).
    pub(crate) addr: SocketAddr,
    upstream: SocketAddr,
    running: Arc<Mutex<Running>>,
    stalled: Arc<AtomicBool>,
}

/// The accept loop (while listening) and the live connections.
#[derive(Default)]
struct Running {
    accept: Option<JoinHandle<()>>,
    connections: Vec<AbortHandle>,
}

impl ChaosProxy {
    /// A proxy on 127.0.0.1 forwarding to the tests' Postgres (`TEST_PG_URL`).
    pub(crate) async fn to_postgres() -> Self {
        let admin = url::Url::parse(&portcullis_store::testing::postgres_admin_url()).unwrap();
        let host = admin.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = admin.port().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap();
        Self::start(upstream).await
    }

    /// A proxy on 127.0.0.1 forwarding to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            running: Arc::default(),
            stalled: Arc::default(),
        };
        proxy.listen(listener);
        proxy
    }

    fn listen(&self, listener: TcpListener) {
        let (upstream, running) = (self.upstream, Arc::clone(&self.running));
        let stalled = Arc::clone(&self.stalled);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let stalled = Arc::clone(&stalled);
                let connection = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        // Statements always reach the database; its answers are what a stall
                        // holds (the nastier fault: the work is done, the server never hears).
                        tokio::join!(
                            pump(client_read, server_write, Arc::default()),
                            pump(server_read, client_write, stalled),
                        );
                    }
                });
                let mut running = running.lock().unwrap();
                running.connections.retain(|c| !c.is_finished());
                running.connections.push(connection.abort_handle());
            }
        });
        self.running.lock().unwrap().accept = Some(accept);
    }

    /// Closes every connection and stops listening: the database is unreachable from now on,
    /// and new connections are refused.
    pub(crate) fn cut(&self) {
        let mut running = self.running.lock().unwrap();
        if let Some(accept) = running.accept.take() {
            accept.abort();
        }
        for connection in running.connections.drain(..) {
            connection.abort();
        }
    }

    /// Holds every answer of the database from now on, without closing anything: statements
    /// sent are executed, but the server waits for their results (and new connections for
    /// their handshake) until [`Self::cut`] or [`Self::restore`].
    pub(crate) fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Listens again on the same port (and forwards again after a stall): the database is
    /// reachable again.
    pub(crate) async fn restore(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        if self.running.lock().unwrap().accept.is_some() {
            return;
        }
        // The aborted accept loop drops its listener at its next poll; retry until the port is
        // free again.
        let mut listener = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr).await {
                Ok(bound) => {
                    listener = Some(bound);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
        self.listen(listener.expect("the proxy's port is free again"));
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies `from` to `to` chunk by chunk, holding each chunk while `stalled`.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    stalled: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Asserts a JSON endpoint's outage answer: 503 `temporarily_unavailable`, `Retry-After: 2`.
#[track_caller]
pub(crate) fn assert_json_503(what: &str, answer: &Answer) {
    answer.assert_error_for(what, 503, "temporarily_unavailable");
    assert_eq!(answer.header("retry-after"), "2", "{what}");
}

/// Asserts a page's outage answer: an HTML 503 with `Retry-After: 2`, no redirect.
#[track_caller]
pub(crate) fn assert_page_503(what: &str, page: &Page) {
    assert_eq!(page.status, 503, "{what}: {}", page.body);
    let header = |name: &str| {
        page.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("retry-after"), "2", "{what}");
    assert!(header("content-type").starts_with("text/html"), "{what}");
    assert!(page.headers.get("location").is_none(), "{what}");
}
