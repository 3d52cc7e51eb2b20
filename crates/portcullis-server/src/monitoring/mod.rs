//! Prometheus metrics (issue 11; `docs/MONITORING.md` lists every metric,
//! `docs/decisions/0016-metrics.md` says why it is built this way).
//!
//! [`Metrics`] is this server's own recorder (a `metrics_exporter_prometheus::PrometheusRecorder`),
//! held in the state and never installed as the process-global one: each recording runs the
//! `metrics` macros under [`metrics::with_local_recorder`]. Two servers in one process (the
//! tests) therefore count apart. With `metrics.enabled = false` the handle is empty and
//! recording is a branch.
//!
//! Cardinality is bounded by construction: every label value is a `&'static str` from a fixed
//! set named here, or an axum route template (interned, never the raw path). No label carries a
//! client id, a user, an address or a token.
//!
//! [`http::answered`] counts requests; the scrape-time gauges (process, pool, keys) are set by the
//! `/metrics` handler just before it renders ([`Metrics::render`]).

pub mod http;
pub mod process;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
    with_local_recorder,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::config::Config;

/// Request duration buckets, seconds: OpenTelemetry's `http.server.request.duration`.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Replay kinds refused (`portcullis_replays_refused_total{kind}`).
pub const REPLAY_KINDS: &[&str] = &[
    "client_assertion",
    "code",
    "dpop_proof",
    "refresh_token",
    "request_uri",
];

/// Rate-limit classes (`portcullis_rate_limited_total{class}`): the per-address endpoint
/// classes, then the deployment-wide subjects.
pub const RATE_LIMIT_CLASSES: &[&str] = &[
    "address_admin",
    "address_api",
    "address_browser",
    "address_metadata",
    "address_signin",
    "access_token",
    "account",
    "client",
    "registration",
];

/// Sign-in refusal reasons (`portcullis_signin_failures_total{reason}`).
pub const SIGNIN_REASONS: &[&str] = &["busy", "throttled", "unavailable", "wrong"];

/// This server's metrics; cheap to clone. Empty (recording nothing) when disabled.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The request series of each route template, made on first use.
    routes: RwLock<HashMap<Box<str>, Arc<RouteSeries>>>,
}

/// One route template's request counters (by method and status class) and duration histograms
/// (by method): handles made once, so that counting a request is two atomic updates, not two
/// label sets built, hashed and looked up in the recorder.
struct RouteSeries {
    label: Arc<str>,
    /// By (method, status class).
    counters: RwLock<Vec<((&'static str, &'static str), metrics::Counter)>>,
    /// By method.
    durations: RwLock<Vec<(&'static str, metrics::Histogram)>>,
}

impl RouteSeries {
    fn count(&self, recorder: &PrometheusRecorder, method: &'static str, status: &'static str) {
        let make = || {
            let route = metrics::SharedString::from(Arc::clone(&self.label));
            with_local_recorder(
                recorder,
                || counter!("portcullis_http_requests_total", "route" => route, "method" => method, "status_class" => status),
            )
        };
        with_handle(&self.counters, (method, status), make, |c| c.increment(1));
    }

    fn time(&self, recorder: &PrometheusRecorder, method: &'static str, seconds: f64) {
        let make = || {
            let route = metrics::SharedString::from(Arc::clone(&self.label));
            with_local_recorder(
                recorder,
                || histogram!("portcullis_http_request_duration_seconds", "route" => route, "method" => method),
            )
        };
        with_handle(&self.durations, method, make, |h| h.record(seconds));
    }
}

/// Runs `record` with the handle kept for `key` in `handles`, made by `make` the first time.
fn with_handle<K: PartialEq + Copy, H>(
    handles: &RwLock<Vec<(K, H)>>,
    key: K,
    make: impl FnOnce() -> H,
    record: impl FnOnce(&H),
) {
    let read = handles.read().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, handle)) = read.iter().find(|(k, _)| *k == key) {
        return record(handle);
    }
    drop(read);
    let mut write = handles.write().unwrap_or_else(PoisonError::into_inner);
    let at = match write.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            write.push((key, make()));
            write.len() - 1
        }
    };
    record(&write[at].1);
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.0.is_some())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of a server configured by `config`: empty when `metrics.enabled` is off.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        if !config.metrics.enabled {
            return Ok(Self(None));
        }
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("portcullis_http_request_duration_seconds".to_owned()),
                DURATION_BUCKETS,
            )?
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self(Some(Arc::new(Inner {
            recorder,
            handle,
            routes: RwLock::new(HashMap::new()),
        })));
        metrics.record(describe);
        Ok(metrics)
    }

    /// Whether metrics are recorded (and served).
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Runs `f` with this server's recorder as the current one (a no-op when disabled).
    pub fn record(&self, f: impl FnOnce()) {
        if let Some(inner) = &self.0 {
            with_local_recorder(&inner.recorder, f);
        }
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.0
            .as_ref()
            .map_or_else(String::new, |inner| inner.handle.render())
    }

    /// Drains histogram samples into their buckets and drops idle series (run periodically, so
    /// that memory stays bounded between scrapes).
    pub fn upkeep(&self) {
        if let Some(inner) = &self.0 {
            inner.handle.run_upkeep();
        }
    }

    /// The series of the route template `template` (`unmatched`: no route matched; no
    /// template is that word, they all start with `/`).
    fn route(inner: &Inner, template: &str) -> Arc<RouteSeries> {
        if let Some(series) = inner
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(template)
        {
            return Arc::clone(series);
        }
        // Templates come from the route table, so this map stays as small as it is.
        let mut routes = inner.routes.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(routes.entry(template.into()).or_insert_with(|| {
            Arc::new(RouteSeries {
                label: Arc::from(template),
                counters: RwLock::default(),
                durations: RwLock::default(),
            })
        }))
    }

    /// One answered request: `route` is the matched template (`None`: no route matched).
    pub fn request(
        &self,
        route: Option<&str>,
        method: &'static str,
        status: &'static str,
        elapsed: Duration,
    ) {
        let Some(inner) = &self.0 else { return };
        let series = Self::route(inner, route.unwrap_or("unmatched"));
        series.count(&inner.recorder, method, status);
        series.time(&inner.recorder, method, elapsed.as_secs_f64());
    }

    /// An access token issued.
    pub fn token_issued(
        &self,
        grant_type: &'static str,
        binding: &'static str,
        format: &'static str,
    ) {
        self.record(|| {
            counter!("portcullis_access_tokens_issued_total", "grant_type" => grant_type, "binding" => binding, "format" => format).increment(1);
        });
    }

    /// A refused client authentication (`reason` from a fixed set, `clients::auth`).
    pub fn client_auth_failure(&self, method: &'static str, reason: &'static str) {
        self.record(|| {
            counter!("portcullis_client_auth_failures_total", "method" => method, "reason" => reason).increment(1);
        });
    }

    /// A request refused by a rate limit of `class` ([`RATE_LIMIT_CLASSES`]).
    pub fn rate_limited(&self, class: &'static str) {
        self.record(|| {
            counter!("portcullis_rate_limited_total", "class" => class).increment(1);
        });
    }

    /// A replay refused, of `kind` ([`REPLAY_KINDS`]).
    pub fn replay(&self, kind: &'static str) {
        self.record(|| {
            counter!("portcullis_replays_refused_total", "kind" => kind).increment(1);
        });
    }

    /// A refused sign-in (end user or administrator), for `reason` ([`SIGNIN_REASONS`]).
    pub fn signin_failure(&self, reason: &'static str) {
        self.record(|| {
            counter!("portcullis_signin_failures_total", "reason" => reason).increment(1);
        });
    }

    /// A security event raised (the `security` module).
    pub fn security_event(&self, kind: &'static str, severity: &'static str) {
        self.record(|| {
            counter!("portcullis_security_events_total", "kind" => kind, "severity" => severity)
                .increment(1);
        });
    }

    /// A webhook delivery attempt, with its `outcome` (`delivered`, `retry`, `failed`).
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.record(|| {
            counter!("portcullis_webhook_deliveries_total", "outcome" => outcome).increment(1);
        });
    }

    /// A fetch of a client's `jwks_uri`, with its `outcome`.
    pub fn jwks_fetch(&self, outcome: &'static str) {
        self.record(|| {
            counter!("portcullis_jwks_fetches_total", "outcome" => outcome).increment(1);
        });
    }

    /// Sets a gauge (scrape-time values).
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &'static str)], value: f64) {
        self.record(|| {
            let labels: Vec<metrics::Label> = labels
                .iter()
                .map(|(k, v)| metrics::Label::from_static_parts(k, v))
                .collect();
            gauge!(name, labels).set(value);
        });
    }
}

/// How often histogram samples are folded into buckets between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Serves `router` (the `/metrics` route) over plain HTTP on `listener` until `stop`, and runs
/// the recorder's upkeep meanwhile. Plain HTTP: the listener is on loopback by default and must
/// never be exposed publicly (`docs/MONITORING.md`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut upkeep_stop = stop.clone();
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => metrics.upkeep(),
                _ = upkeep_stop.wait_for(|stopped| *stopped) => return,
            }
        }
    });
    let shutdown = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "the metrics listener failed");
    }
    let _ = upkeep.await;
}

/// Names every metric with its help text and unit, and exports zero for the known series of
/// the security counters, so that a rate over them exists before the first event.
fn describe() {
    describe_counter!(
        "portcullis_http_requests_total",
        "Requests answered, by route template, method and status class"
    );
    describe_histogram!(
        "portcullis_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by route template and method"
    );
    describe_counter!(
        "portcullis_access_tokens_issued_total",
        "Access tokens issued, by grant type, binding (mtls, dpop) and format (jwt, opaque)"
    );
    describe_counter!(
        "portcullis_client_auth_failures_total",
        "Refused client authentications, by method and reason"
    );
    describe_counter!(
        "portcullis_rate_limited_total",
        "Requests refused by a rate limit (429), by class"
    );
    describe_counter!(
        "portcullis_replays_refused_total",
        "Replays refused, by kind"
    );
    describe_counter!(
        "portcullis_signin_failures_total",
        "Refused sign-ins (end users and administrators), by reason"
    );
    describe_counter!(
        "portcullis_jwks_fetches_total",
        "Fetches of client jwks_uri documents, by outcome"
    );
    describe_counter!(
        "portcullis_security_events_total",
        "Security events raised by this process (one per anomaly per deployment), by kind and severity"
    );
    describe_counter!(
        "portcullis_webhook_deliveries_total",
        "Webhook delivery attempts of security events, by outcome (delivered, retry, failed)"
    );
    describe_gauge!(
        "portcullis_db_pool_connections",
        "Open database connections of this process, by state (idle, in_use)"
    );
    describe_gauge!(
        "portcullis_db_pool_max_connections",
        "The most connections the pool opens"
    );
    describe_gauge!(
        "portcullis_db_up",
        "1 when the database answered the scrape's ping"
    );
    describe_gauge!(
        "portcullis_db_ping_seconds",
        Unit::Seconds,
        "Round trip of one trivial statement, measured at scrape time"
    );
    describe_gauge!(
        "portcullis_signing_key_age_seconds",
        Unit::Seconds,
        "Time since the active signing key of each algorithm started signing"
    );
    describe_gauge!(
        "portcullis_signing_key_next_rotation_timestamp_seconds",
        Unit::Seconds,
        "Unix time at which a scheduled successor key starts signing; 0 when none is scheduled"
    );
    for &kind in REPLAY_KINDS {
        counter!("portcullis_replays_refused_total", "kind" => kind).absolute(0);
    }
    for &class in RATE_LIMIT_CLASSES {
        counter!("portcullis_rate_limited_total", "class" => class).absolute(0);
    }
    for &reason in SIGNIN_REASONS {
        counter!("portcullis_signin_failures_total", "reason" => reason).absolute(0);
    }
    process::describe();
}

/// The static label value of an HTTP method (`other` for extension methods).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The status class label (`2xx` …) of `status`.
pub fn status_class(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
