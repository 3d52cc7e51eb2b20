//! Starting and stopping a server: the application with its layers ([`app`]), the listeners,
//! and [`start_on`], which prepares first-run files, opens the database, loads the keys and
//! spawns the accept loops and background jobs.
//!
//! The layers of [`app`], outermost first. Around the whole router, once: `request_span` (the
//! request id, the caller's `x-request-id` or a new one from `transport::security::RequestIds`,
//! copied to the response; the `request` span, method and path but never the query; one line
//! per response) and the security headers. Then on every route (`Router::layer`, so that the
//! request carries its route template): `Observed` (the request counter of the metrics and the
//! security monitor, outside every refusal below so that each is counted); `CatchPanicLayer` (a
//! panic becomes the generic `500`, inside the header layer so that it carries the headers too);
//! the cap on requests in flight (`503` past `limits.requests_in_flight`, `bounds::Shed`); the
//! request timeout (`503` after `http.request_timeout_secs`); the body limit (`413` above
//! `http.body_limit_bytes`); `ratelimit::address::AddressLimit` (the client's address, and its
//! source budget before any other work); and `transport::peer::ForwardedCertificate`
//! (certificate headers only from a trusted proxy). The ones of this crate are
//! [`crate::around`] middlewares, which wrap without cloning what they wrap.
//!
//! [`start_on`] runs in this order, and the first failure ends it: validate the configuration;
//! find or create the first-run files; open and migrate the database; derive the DPoP nonce key
//! from the KEK; create a signing key for each configured algorithm that has none and load the key
//! set; build the discovery document once; bind the metrics listener (when `metrics.enabled`);
//! build the client registry; spawn the two accept loops, the key reload, the purge and the
//! metrics listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use portcullis_core::discovery::Endpoint;
use portcullis_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument as _;

use crate::around::{Around, AroundLayer};
use crate::clients::registry::Clients;
use crate::config::Config;
use crate::monitoring::Metrics;
use crate::ratelimit::address::{AddressLimit, Sources};
use crate::ratelimit::{self, RateLimits};
use crate::secret::redact_url;
use crate::security::Monitor;
use crate::setup::clock::Clock;
use crate::setup::datadir::{self, TlsFiles};
use crate::setup::keys::KeyRing;
use crate::state::AppState;
use crate::transport::peer::{self, CertHeaders, Listener};
use crate::transport::tls::{self, ClientCerts};
use crate::transport::{security, serve};
use crate::{bounds, error, jobs, monitoring, routes};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Opens the configured database and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    let store = portcullis_store::open(&url)
        .await
        .with_context(|| format!("database {} cannot be opened", redact_url(&url)))?;
    store
        .migrate()
        .await
        .with_context(|| format!("database {}", redact_url(&url)))?;
    Ok(store)
}

/// The application: routes (plus `extend`'s, for tests) wrapped in the shared layers.
pub fn app(
    state: AppState,
    extend: impl FnOnce(Router<AppState>) -> Router<AppState>,
) -> anyhow::Result<Router> {
    let http = &state.config.http;
    let cert_headers = Arc::new(CertHeaders::from_config(&state.config)?);
    let address_limit = AddressLimit {
        limits: Arc::clone(&state.rate_limits),
        sources: Arc::new(Sources::from_config(&state.config)),
        monitor: Arc::clone(&state.monitor),
    };
    let router = extend(routes::routes(&state.config))
        .layer(AroundLayer(peer::ForwardedCertificate(cert_headers)))
        // Runs first: the client's address, then its source budget, before anything else.
        .layer(AroundLayer(address_limit))
        .layer(RequestBodyLimitLayer::new(http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(http.request_timeout_secs),
        ))
        // Outside the timeout: a request over the in-flight cap is refused before it waits.
        .layer(AroundLayer(bounds::Shed(Arc::clone(&state.bounds))));
    // A panic becomes a generic 500 inside the header layers, so it carries them too.
    let router = router.layer(CatchPanicLayer::custom(|_| error::server_error()));
    // Outside every refusal (429, 503, 413) and the panic guard, so that each is counted. Added
    // per route by `Router::layer`, so the request carries its route template.
    let observed = Observed {
        metrics: state.metrics.clone(),
        monitor: Arc::clone(&state.monitor),
    };
    let routed = router.layer(AroundLayer(observed)).with_state(state);
    // The layers that need no route wrap the router once, as its fallback: a request then clones
    // this short stack and one router instead of every layer of its route's (axum clones a
    // route's whole stack per request, and each `from_fn` layer clones what it wraps again).
    let router = security::headers(Router::new().fallback_service(routed)).layer(
        axum::middleware::from_fn_with_state(security::RequestIds::new(), request_span),
    );
    Ok(router)
}

/// The request's id (the caller's `x-request-id`, or a new one), returned in the response's
/// `x-request-id`; the `request` span (method, path without the query, id) around everything
/// inside; and one line per response: `finished processing request` at INFO with `status` and
/// `latency`, and `response failed` at ERROR for a 5xx (`docs/LOGGING.md`). One layer instead
/// of tower-http's three (set id, propagate id, trace), which cost about as much as all the
/// other layers together (`docs/BENCHMARKS.md`).
async fn request_span(
    State(ids): State<security::RequestIds>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = match request.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = ids.make();
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        // The path only: query strings may carry values that must not be logged.
        path = %request.uri().path(),
        request_id = %String::from_utf8_lossy(id.as_bytes()),
    );
    let started = std::time::Instant::now();
    span.in_scope(|| tracing::debug!(target: "portcullis::request", "started processing request"));
    let mut response = next.run(request).instrument(span.clone()).await;
    if !response.headers().contains_key(REQUEST_ID) {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    let latency = format_args!("{} ms", started.elapsed().as_millis());
    let status = response.status();
    let _entered = span.enter();
    if status.is_server_error() {
        tracing::error!(target: "portcullis::request", classification = %format_args!("Status code: {status}"), latency = %latency, "response failed");
    }
    tracing::info!(target: "portcullis::request", latency = %latency, status = status.as_u16(), "finished processing request");
    response
}

/// The request counters of the metrics and the security monitor, as one [`Around`] layer.
#[derive(Clone)]
struct Observed {
    metrics: Metrics,
    monitor: Arc<Monitor>,
}

/// Counts each answered request, by route template (`unmatched` when none matched), for the
/// metrics (`monitoring::http`) and the security monitor: one layer for both.
impl Around for Observed {
    type Guard = (
        Observed,
        Option<MatchedPath>,
        &'static str,
        std::time::Instant,
    );

    fn before(&self, request: &mut axum::extract::Request) -> Result<Self::Guard, Response> {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = monitoring::method_label(request.method());
        Ok((self.clone(), route, method, std::time::Instant::now()))
    }

    fn after((observed, route, method, started): Self::Guard, response: &mut Response) {
        let route = route.as_ref().map(MatchedPath::as_str);
        monitoring::http::answered(&observed.metrics, route, method, response.status(), started);
        crate::security::answered_request(&observed.monitor, route, response.status());
    }
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// Address of the public listener.
    pub public_addr: SocketAddr,
    /// Address of the mTLS listener.
    pub mtls_addr: SocketAddr,
    /// Address of the metrics listener (`None` when `metrics.enabled` is off).
    pub metrics_addr: Option<SocketAddr>,
    /// The shared state (tests reach the store and keys through it).
    pub state: AppState,
    /// TLS files in use (direct mode).
    pub tls: Option<TlsFiles>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The two bound listening sockets.
#[derive(Debug)]
pub struct Listeners {
    /// The public listener.
    pub public: TcpListener,
    /// The mTLS listener.
    pub mtls: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            public: bind(config.listen.public).await?,
            mtls: bind(config.listen.mtls).await?,
        })
    }
}

/// Starts the server on the configured addresses (see [`start_on`]).
pub async fn start(
    config: Config,
    clock: Arc<dyn Clock>,
    extend: impl FnOnce(Router<AppState>) -> Router<AppState>,
) -> anyhow::Result<Running> {
    config.validate()?;
    let listeners = Listeners::bind(&config).await?;
    start_on(config, clock, extend, listeners).await
}

/// Starts the server on already bound listeners: validates the configuration, prepares
/// first-run files, opens and migrates the database, loads the signing keys and serves.
pub async fn start_on(
    config: Config,
    clock: Arc<dyn Clock>,
    extend: impl FnOnce(Router<AppState>) -> Router<AppState>,
    listeners: Listeners,
) -> anyhow::Result<Running> {
    config.validate()?;
    let now = clock.now();
    let prepared = datadir::prepare(&config, now.unix())?;
    let store = open_store(&config).await?;
    // Derived from the KEK, so every process sharing it issues and accepts the same nonces.
    let dpop_nonce_key = prepared.kek.derive("portcullis dpop nonce v1");
    let keys = Arc::new(
        KeyRing::bootstrap(
            Arc::clone(&store),
            prepared.kek,
            &config.signing_algs()?,
            now,
        )
        .await
        .context("signing keys")?,
    );
    // A disabled registration endpoint is routed (answering 404) but not advertised.
    let endpoints: Vec<Endpoint> = routes::ENDPOINTS
        .iter()
        .copied()
        .filter(|e| *e != Endpoint::Registration || config.registration.enabled)
        .collect();
    let discovery = serde_json::to_vec(&portcullis_core::discovery::document(
        &config.issuer,
        &config.mtls_base_url(),
        &endpoints,
        routes::GRANT_TYPES,
        &config.signing_algs()?,
    ))?;
    let metrics = monitoring::Metrics::new(&config)?;
    // Bound before anything is spawned: an address in use fails the start with its name.
    let metrics_listener = if config.metrics.enabled {
        Some(
            bind(config.metrics.listen)
                .await
                .context("metrics.listen")?,
        )
    } else {
        None
    };
    let clients = Arc::new(Clients::new(Arc::clone(&store), &config, metrics.clone())?);
    let dpop_nonces = Arc::new(portcullis_core::dpop::NonceKey::new(dpop_nonce_key));
    let token_alg = config.token_signing_alg()?;
    let directories = crate::config::directories(&config.registration)?.into();
    let rate_limits = Arc::new(RateLimits::new(&config, metrics.clone()));
    // The administrators' per-client budgets, before the first request (a failure leaves the
    // defaults until the next reconciliation).
    match store.client_rate_limits().await {
        Ok(limits) => rate_limits.set_overrides(&limits),
        Err(e) => tracing::warn!(error = %e, "reading client rate limits failed"),
    }
    let config = Arc::new(config);
    let state = AppState::new(crate::state::Shared {
        rate_limits: Arc::clone(&rate_limits),
        mtls_base_url: config.mtls_base_url().into(),
        config: Arc::clone(&config),
        store: Arc::clone(&store),
        keys,
        clock: Arc::clone(&clock),
        discovery: discovery.into(),
        clients,
        dpop_nonces,
        token_alg,
        directories,
        bounds: Arc::new(bounds::Bounds::new(&config.limits)),
        monitor: Arc::new(crate::security::Monitor::new(
            Arc::clone(&config),
            Arc::clone(&store),
            Arc::clone(&clock),
            metrics.clone(),
        )),
        metrics,
    });
    let router = app(state.clone(), extend)?;

    let (public_tls, mtls_tls) = match &prepared.tls {
        Some(files) => (
            Some(TlsAcceptor::from(tls::server_config(
                &files.cert,
                &files.key,
                ClientCerts::Never,
            )?)),
            Some(TlsAcceptor::from(tls::server_config(
                &files.cert,
                &files.key,
                ClientCerts::Requested,
            )?)),
        ),
        None => (None, None),
    };
    let Listeners { public, mtls } = listeners;
    let public_addr = public.local_addr()?;
    let mtls_addr = mtls.local_addr()?;

    let (shutdown, stop) = watch::channel(false);
    let metrics_addr = match &metrics_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let mut tasks = vec![
        tokio::spawn(serve::accept_loop(
            public,
            Listener::Public,
            public_tls,
            router.clone(),
            config.http.clone(),
            config.limits.clone(),
            stop.clone(),
        )),
        tokio::spawn(serve::accept_loop(
            mtls,
            Listener::Mtls,
            mtls_tls,
            router,
            config.http.clone(),
            config.limits.clone(),
            stop.clone(),
        )),
        tokio::spawn(jobs::refresh_keys(state.clone(), stop.clone())),
        tokio::spawn(jobs::summarise_refusals(state.clone(), stop.clone())),
        tokio::spawn(ratelimit::sync::run(
            rate_limits,
            Arc::clone(&state.store),
            stop.clone(),
        )),
        tokio::spawn(jobs::purge_expired(state.clone(), stop.clone())),
        tokio::spawn(crate::security::detect::run(
            Arc::clone(&state.monitor),
            stop.clone(),
        )),
        tokio::spawn(crate::security::alerts::run(
            Arc::clone(&state.monitor),
            stop.clone(),
        )),
    ];
    if let Some(listener) = metrics_listener {
        tasks.push(tokio::spawn(monitoring::serve(
            listener,
            routes::metrics_routes().with_state(state.clone()),
            state.metrics.clone(),
            stop,
        )));
    }
    Ok(Running {
        public_addr,
        mtls_addr,
        metrics_addr,
        state,
        tls: prepared.tls,
        shutdown,
        tasks,
    })
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}
