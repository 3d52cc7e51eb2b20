//! The accept loops: TCP, TLS handshake, HTTP/1.1 or HTTP/2, graceful shutdown.
//!
//! hyper-util's connection builder is used instead of `axum::serve` because it has a header-read
//! timeout (a connection that sends half a request is closed). Each listener accepts at most
//! `limits.connections_per_listener` connections at once (one past it is closed at once); the
//! TLS handshake must end within `http.handshake_timeout_secs`; an HTTP/2 connection carries at
//! most `limits.http2_max_streams` streams; and a connection with no request in flight for
//! `http.idle_timeout_secs` is closed, whatever other frames (PINGs) it carries. Each connection
//! runs in its own task, so a slow handshake never stalls the accept loop. Every request carries a [`Peer`]
//! extension with the TCP peer, the listener and the TLS client certificate, if any.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::config::{Http, Limits};
use crate::transport::idle::IdleTimeout;
use crate::transport::peer::{Listener, Peer, PeerCertificate};

/// Serves `app` on `listener` until `shutdown` turns true, then lets in-flight requests finish
/// for up to the grace period.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    kind: Listener,
    tls: Option<TlsAcceptor>,
    app: Router,
    http: Http,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(http.header_read_timeout_secs));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let handshake_timeout = Duration::from_secs(http.handshake_timeout_secs);
    let first_byte = Duration::from_secs(http.header_read_timeout_secs);
    let idle = Duration::from_secs(http.idle_timeout_secs);
    let connections = Arc::new(Semaphore::new(limits.connections_per_listener));

    loop {
        let (socket, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        // The connection cap: one past it is closed at once (counted in the debug log), so that
        // file descriptors and per-connection memory stay bounded.
        let Ok(slot) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::debug!(%remote, "connection refused: limits.connections_per_listener reached");
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let socket = IdleTimeout::new(socket, first_byte, idle);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(socket),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(%remote, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            return;
                        }
                    };
                    let certificate = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| {
                            PeerCertificate::new(
                                chain.iter().map(|c| c.clone().into_owned()).collect(),
                            )
                        })
                        .map(Arc::new);
                    let peer = Peer {
                        remote,
                        address: remote.ip(),
                        listener: kind,
                        certificate,
                    };
                    let activity = Arc::new(Activity::new());
                    let conn = builder.serve_connection(
                        TokioIo::new(stream),
                        service(app, peer, Arc::clone(&activity)),
                    );
                    tokio::select! {
                        _ = watcher.watch(conn) => {}
                        () = activity.idle_for(idle) => {
                            tracing::debug!(%remote, "closing a connection without requests");
                        }
                    }
                }
                None => {
                    let peer = Peer {
                        remote,
                        address: remote.ip(),
                        listener: kind,
                        certificate: None,
                    };
                    let activity = Arc::new(Activity::new());
                    let conn = builder.serve_connection(
                        TokioIo::new(socket),
                        service(app, peer, Arc::clone(&activity)),
                    );
                    tokio::select! {
                        _ = watcher.watch(conn) => {}
                        () = activity.idle_for(idle) => {
                            tracing::debug!(%remote, "closing a connection without requests");
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let grace = Duration::from_secs(http.shutdown_grace_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
}

/// The app as a hyper service that stamps each request with `peer` and counts it in `activity`.
fn service(app: Router, peer: Peer, activity: Arc<Activity>) -> PeerService {
    PeerService {
        app,
        peer,
        activity,
    }
}

/// One connection's service: the router, the peer to stamp on each request, and its activity.
#[derive(Clone)]
struct PeerService {
    app: Router,
    peer: Peer,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for PeerService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.peer.clone());
        let busy = self.activity.start();
        let answer = self.app.clone().oneshot(request);
        Box::pin(async move {
            let response = answer.await;
            drop(busy);
            response
        })
    }
}

/// Requests on one connection: how many are in flight and when the last started or ended.
/// Only requests count, so HTTP/2 PINGs (or any other frames) do not keep an idle connection
/// open; [`Activity::idle_for`] ends it.
struct Activity {
    born: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `born` of the last start or end of a request.
    last_ms: AtomicU64,
}

/// A request in flight; its end is counted when dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::SeqCst);
    }

    fn start(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Busy(Arc::clone(self))
    }

    /// Resolves once no request has been in flight for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.born + Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
            let deadline = last + idle;
            if self.in_flight.load(Ordering::SeqCst) == 0 && Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.max(Instant::now() + Duration::from_millis(100)))
                .await;
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
