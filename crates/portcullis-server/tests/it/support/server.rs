//! `TestServer`: the real server on 127.0.0.1 ephemeral ports, with a fresh database and data
//! directory, and HTTP clients that trust its development CA.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Json, Router};
use portcullis_core::Timestamp;
use portcullis_server::config::{Config, TlsMode};
use portcullis_server::setup::clock::{Clock, FixedClock, SystemClock};
use portcullis_server::state::AppState;
use portcullis_server::transport::peer::{Listener, Peer};
use portcullis_server::{Listeners, Running};
use portcullis_store::testing::TestDatabase;
use serde_json::{Map, Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;

use super::http::{FormPost, fetch_json};

/// Which database a test server uses.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

/// A running server and what it runs on.
pub(crate) struct TestServer {
    pub(crate) running: Option<Running>,
    pub(crate) config: Config,
    pub(crate) clock: Arc<FixedClock>,
    pub(crate) dir: TempDir,
    database: Option<TestDatabase>,
    /// Where `localhost` resolves for this server's clients and browsers, with a
    /// [portless issuer](Builder::portless_issuer): this server's listener, or another process
    /// of the deployment (`support::processes`). `None`: the URL's port.
    pub(crate) route_to: Option<std::net::SocketAddr>,
}

/// Echoes what the transport layer handed the handler: the certificate thumbprint and listener.
async fn peer(Extension(peer): Extension<Peer>) -> Json<Value> {
    Json(json!({
        "x5t#S256": peer.certificate.as_ref().map(|c| c.x5t_s256().to_owned()),
        "listener": if peer.listener == Listener::Mtls { "mtls" } else { "public" },
        "address": peer.address.to_string(),
        "address": peer.address.to_string(),
    }))
}

/// A protected resource guarded by the server's own token check (what userinfo builds on).
async fn resource(
    axum::extract::State(state): axum::extract::State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let base = if peer.listener == Listener::Mtls {
        state.mtls_base_url.to_string()
    } else {
        state.config.issuer.clone()
    };
    let url = format!("{base}/test/resource");
    match portcullis_server::tokens::resource::authorize(&state, &peer, &headers, "GET", &url).await
    {
        Ok(grant) => {
            Json(json!({ "client_id": grant.client_id, "scope": grant.scope.to_string() }))
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// A client's redirect URI for browser tests: shows what came back.
async fn callback(
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Html<String> {
    let query = query.unwrap_or_default();
    let escaped = query.replace('&', "&amp;").replace('<', "&lt;");
    axum::response::Html(format!(
        "<!doctype html><title>Callback</title><p id=\"submission_complete\">{escaped}</p>"
    ))
}

/// A handler that panics, to see what a client gets then.
async fn panics() -> &'static str {
    panic!("a bug in a handler")
}

/// A handler that takes a while, to watch graceful shutdown.
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(700)).await;
    "finished"
}

/// Routes only tests have.
pub(crate) fn test_routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/test/peer", get(peer))
        .route("/test/slow", get(slow))
        .route("/test/resource", get(resource))
        .route("/test/panic", get(panics))
        .route("/test/callback", get(callback))
}

/// A change to the configuration of a server about to start.
type Configure = Box<dyn FnOnce(&mut Config)>;

/// Sets up a server before it starts.
pub(crate) struct Builder {
    backend: Backend,
    configure: Vec<Configure>,
    share: Option<(String, PathBuf)>,
    through: Option<std::net::SocketAddr>,
    portless: bool,
}

impl TestServer {
    pub(crate) fn builder() -> Builder {
        Builder {
            backend: Backend::Postgres,
            configure: Vec::new(),
            share: None,
            through: None,
            portless: false,
        }
    }

    pub(crate) async fn start() -> Self {
        Self::builder().start().await
    }

    pub(crate) fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    /// `https://localhost:<public port>`.
    pub(crate) fn public_url(&self) -> String {
        self.config.issuer.clone()
    }

    /// `https://localhost:<mtls port>`.
    pub(crate) fn mtls_url(&self) -> String {
        self.config.mtls_base_url()
    }

    pub(crate) fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("dev-ca.pem")).unwrap()
    }

    /// Where `localhost` resolves to for clients of this server ([`Self::route_to`]).
    pub(crate) fn localhost(&self) -> std::net::SocketAddr {
        self.route_to
            .unwrap_or_else(|| "127.0.0.1:0".parse().unwrap())
    }

    /// An HTTP client trusting the development CA, presenting `identity` if given.
    pub(crate) fn client(&self, identity: Option<reqwest::Identity>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem()).unwrap();
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve("localhost", self.localhost())
            .timeout(Duration::from_secs(10));
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        builder.build().unwrap()
    }

    /// A form POST to `path` on the public listener.
    pub(crate) fn post(&self, path: &str) -> FormPost<'_> {
        let url = format!("{}{path}", self.public_url());
        FormPost::new(self, self.client(None), url)
    }

    /// A form POST to `path` on the mTLS listener, presenting `identity` if given.
    pub(crate) fn post_mtls(
        &self,
        path: &str,
        identity: Option<reqwest::Identity>,
    ) -> FormPost<'_> {
        let url = format!("{}{path}", self.mtls_url());
        FormPost::new(self, self.client(identity), url)
    }

    /// The JWK Set published at `/jwks` on the public listener.
    pub(crate) async fn jwks(&self) -> Value {
        let url = format!("{}/jwks", self.public_url());
        fetch_json(self.client(None).get(url)).await
    }

    /// Verifies `jwt` with the published key its header's `kid` names (R21); returns its claims.
    pub(crate) async fn verify(&self, jwt: &str) -> Map<String, Value> {
        let header = portcullis_core::jose::peek_header(jwt).unwrap();
        let jwks = self.jwks().await;
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .expect("R21: the kid is published");
        portcullis_core::jose::verify(jwt, key.as_object().unwrap()).unwrap()
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Stops the server and starts it again on new ports with the same data directory,
    /// database and clock.
    pub(crate) async fn restart(mut self) -> Self {
        self.running.take().unwrap().shutdown().await;
        let (config, listeners) = bind(self.config.clone()).await;
        self.running = Some(start(config.clone(), Arc::clone(&self.clock), listeners).await);
        self.config = config;
        self
    }

    /// Stops the server and removes its database.
    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        if let Some(db) = self.database.take() {
            db.remove().await.unwrap();
        }
    }
}

impl Builder {
    pub(crate) fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Another server process on the same database with the same key-encryption key.
    pub(crate) fn sharing(mut self, other: &TestServer) -> Self {
        self.share = Some((
            other.config.database_url(),
            other.dir.path().join("kek.key"),
        ));
        self
    }

    /// The issuer `https://localhost`, without a port, so that its URLs can be sent to another
    /// process of the deployment (`support::processes`): a client resolves `localhost` to the
    /// listener it means ([`TestServer::route_to`]; reqwest uses the resolved port only when the
    /// URL has none). Not for tests that restart the server.
    pub(crate) fn portless_issuer(mut self) -> Self {
        self.portless = true;
        self
    }

    /// A fresh Postgres database reached through `proxy` (which a test may cut and restore).
    pub(crate) fn through(mut self, proxy: &super::chaos::ChaosProxy) -> Self {
        self.through = Some(proxy.addr);
        self
    }

    /// Plain HTTP behind a TLS-terminating proxy at `trusted` (CIDR), whose certificate headers
    /// the server believes (RFC 9440).
    pub(crate) fn behind_proxy(self, trusted: &str) -> Self {
        let trusted = trusted.parse().unwrap();
        self.configure(move |c| {
            c.tls.mode = TlsMode::Proxy;
            c.proxy.trusted = vec![trusted];
        })
    }

    pub(crate) fn configure(mut self, f: impl FnOnce(&mut Config) + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    pub(crate) async fn start(self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.log.level = "warn".into();
        let database = match (self.backend, &self.share) {
            (_, Some((url, kek))) => {
                config.database_url = Some(url.clone());
                std::fs::copy(kek, dir.path().join("kek.key")).unwrap();
                None
            }
            (Backend::Postgres, None) => {
                let db = TestDatabase::create()
                    .await
                    .expect("Postgres for the tests (TEST_PG_URL)");
                let mut url = url::Url::parse(&db.url()).unwrap();
                if let Some(proxy) = self.through {
                    url.set_ip_host(proxy.ip()).unwrap();
                    url.set_port(Some(proxy.port())).unwrap();
                }
                config.database_url = Some(url.to_string());
                Some(db)
            }
            (Backend::Sqlite, None) => {
                config.database_url =
                    Some(format!("sqlite://{}/portcullis.db", dir.path().display()));
                None
            }
        };
        for f in self.configure {
            f(&mut config);
        }
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let (mut config, listeners) = bind(config).await;
        let route_to = self.portless.then(|| {
            config.issuer = "https://localhost".to_owned();
            config.listen.public
        });
        let running = start(config.clone(), Arc::clone(&clock), listeners).await;
        TestServer {
            running: Some(running),
            config,
            clock,
            dir,
            database,
            route_to,
        }
    }
}

/// Binds both listeners on 127.0.0.1 ephemeral ports and points the issuer and mTLS base URL at
/// them, so the configuration knows its ports before the server starts.
async fn bind(mut config: Config) -> (Config, Listeners) {
    let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mtls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.issuer = format!("https://localhost:{}", public.local_addr().unwrap().port());
    config.mtls_base_url = Some(format!(
        "https://localhost:{}",
        mtls.local_addr().unwrap().port()
    ));
    config.listen.public = public.local_addr().unwrap();
    config.listen.mtls = mtls.local_addr().unwrap();
    // The server binds its own metrics listener: an ephemeral port unless a test chose one, so
    // that servers run side by side (`Running::metrics_addr` says which).
    if config.metrics.listen == portcullis_server::config::Metrics::default().listen {
        config.metrics.listen = "127.0.0.1:0".parse().unwrap();
    }
    (config, Listeners { public, mtls })
}

async fn start(config: Config, clock: Arc<FixedClock>, listeners: Listeners) -> Running {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    portcullis_server::start_on(config, clock, test_routes, listeners)
        .await
        .unwrap()
}
