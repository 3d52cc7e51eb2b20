//! The accept loops: TCP, TLS handshake, HTTP/1.1 or HTTP/2, graceful shutdown.
//!
//! hyper-util's connection builder is used instead of `axum::serve` because it has a header-read
//! timeout (a connection that sends half a request is closed). Each connection runs in its own
//! task, so a slow handshake never stalls the accept loop. Every request carries a [`Peer`]
//! extension with the TCP peer, the listener and the TLS client certificate, if any.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::config::Http;
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
        .max_concurrent_streams(100);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let handshake_timeout = Duration::from_secs(http.handshake_timeout_secs);
    let first_byte = Duration::from_secs(http.header_read_timeout_secs);
    let idle = Duration::from_secs(http.idle_timeout_secs);

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
        let _ = socket.set_nodelay(true);
        let socket = IdleTimeout::new(socket, first_byte, idle);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let app = app.clone();
        tokio::spawn(async move {
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
                    let conn = builder.serve_connection(TokioIo::new(stream), service(app, peer));
                    let _ = watcher.watch(conn).await;
                }
                None => {
                    let peer = Peer {
                        remote,
                        address: remote.ip(),
                        listener: kind,
                        certificate: None,
                    };
                    let conn = builder.serve_connection(TokioIo::new(socket), service(app, peer));
                    let _ = watcher.watch(conn).await;
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

/// The app as a hyper service that stamps each request with `peer`.
fn service(app: Router, peer: Peer) -> PeerService {
    PeerService { app, peer }
}

/// One connection's service: the router, and the peer to stamp on each request.
#[derive(Clone)]
struct PeerService {
    app: Router,
    peer: Peer,
}

impl hyper::service::Service<Request<Incoming>> for PeerService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = tower::util::Oneshot<Router, Request<Incoming>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.peer.clone());
        self.app.clone().oneshot(request)
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
