//! A small HTTPS server publishing a client's JWKS at a `jwks_uri`, whose keys a test can swap.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::pki::TestCa;

/// The host's state: the published set and a fetch counter.
type Shared = (Arc<Mutex<Value>>, Arc<Mutex<u32>>);

/// A running JWKS host.
pub(crate) struct JwksHost {
    pub(crate) addr: SocketAddr,
    pub(crate) ca_file: tempfile::NamedTempFile,
    jwks: Arc<Mutex<Value>>,
    pub(crate) fetches: Arc<Mutex<u32>>,
}

impl JwksHost {
    pub(crate) async fn start(jwks: Value) -> Self {
        let ca = TestCa::new("jwks host CA");
        let server = ca.server();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.pem"), &server.cert_pem).unwrap();
        std::fs::write(dir.path().join("k.pem"), &server.key_pem).unwrap();
        let config = portcullis_server::transport::tls::server_config(
            &dir.path().join("c.pem"),
            &dir.path().join("k.pem"),
            portcullis_server::transport::tls::ClientCerts::Never,
        )
        .unwrap();
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), &ca.pem).unwrap();
        let jwks = Arc::new(Mutex::new(jwks));
        let fetches = Arc::new(Mutex::new(0));
        let app = Router::new()
            .route("/jwks", get(serve))
            .with_state((Arc::clone(&jwks), Arc::clone(&fetches)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(socket).await {
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                });
            }
        });
        Self {
            addr,
            ca_file,
            jwks,
            fetches,
        }
    }

    pub(crate) fn uri(&self) -> String {
        format!("https://127.0.0.1:{}/jwks", self.addr.port())
    }

    pub(crate) fn set(&self, jwks: Value) {
        *self.jwks.lock().unwrap() = jwks;
    }

    pub(crate) fn fetch_count(&self) -> u32 {
        *self.fetches.lock().unwrap()
    }
}

async fn serve(State((jwks, fetches)): State<Shared>) -> axum::Json<Value> {
    *fetches.lock().unwrap() += 1;
    axum::Json(jwks.lock().unwrap().clone())
}
