//! Protects an API with access tokens of a Portcullis authorization server.
//!
//! [`RequireToken`] is a tower [`Layer`](tower::Layer) for an axum route (or any tower service
//! taking `http::Request`s), and [`AccessToken`] the axum extractor a handler takes to learn who
//! calls. For each request the layer, in the order of its cost:
//!
//! 1. reads the token from the `Authorization` header only (`Bearer` or `DPoP`, R144);
//! 2. checks it: an RFC 9068 JWT against the authorization server's JWK Set found by discovery,
//!    or by RFC 7662 introspection (RFC 9701 signed answers) with a cache that never outlives
//!    the token;
//! 3. checks its sender constraint: the DPoP proof (RFC 9449 §7) or the client certificate
//!    (RFC 8705 §3) the token is bound to ([`ClientCertificate`]);
//! 4. spends the token's and the client's request budgets;
//! 5. checks the route's scopes;
//! 6. counts the distinct identifiers the token and its client touch on the route, and refuses
//!    an enumeration;
//!
//! and reports budget overruns, enumerations and bound tokens presented without their key to the
//! authorization server (see [`events`]), never holding a request for it. Refusals are the exact
//! RFC 6750 / RFC 9449 answers ([`error`]). The protocol rules themselves are
//! `portcullis-core`'s: this crate only does the I/O around them.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use portcullis_resource::{AccessToken, RequireToken, Resource, Settings};
//!
//! let settings = Settings::new(
//!     "https://localhost:8443",   // the authorization server's issuer
//!     "https://localhost:9443",   // this API's resource identifier (the tokens' `aud`)
//!     "https://localhost:9443",   // this API's base URL as clients call it
//! );
//! let resource = Resource::connect(settings).await?;
//! let app: Router = Router::new().route(
//!     "/accounts/{id}",
//!     get(|token: AccessToken| async move { token.subject().to_owned() })
//!         .route_layer(RequireToken::new(&resource).scope("accounts:read").enumeration("id")),
//! );
//! # Ok(()) }
//! ```

pub mod clock;
pub mod error;
pub mod settings;
pub mod tls;

mod authorize;
mod binding;
mod cache;
mod certificate;
mod extract;
mod guard;
mod http;
mod keys;
mod layer;
mod report;
mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use certificate::{ClientCertificate, PeerAddr};
pub use clock::{Clock, SystemClock};
pub use error::{Limit, Refusal, Scheme};
pub use extract::AccessToken;
pub use layer::{RequireToken, RequireTokenService};
/// The JSON of the reports sent to the authorization server (`POST /resource-events`).
pub use portcullis_core::resource_events as events;
pub use settings::Settings;

/// A protected API's connection to its authorization server: settings, keys, caches, budgets
/// and the report queue. Cheap to clone; every [`RequireToken`] made from it shares them.
#[derive(Clone)]
pub struct Resource(Arc<authorize::Inner>);

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("issuer", &self.0.settings.issuer)
            .field("resource", &self.0.settings.resource)
            .finish_non_exhaustive()
    }
}

/// Why [`Resource::connect`] failed: a setting, a file, or the authorization server.
#[derive(Debug, thiserror::Error)]
#[error("portcullis-resource: {0}")]
pub struct ConnectError(String);

impl ConnectError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Resource {
    /// Reads the authorization server's metadata and JWK Set, loads the API's client
    /// credentials, and starts the report sender. Fails when the authorization server cannot be
    /// reached or names another issuer, so a misconfigured API does not start.
    pub async fn connect(settings: Settings) -> Result<Self, ConnectError> {
        Self::connect_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Resource::connect`] with another clock (tests move it together with the authorization
    /// server's).
    pub async fn connect_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectError> {
        authorize::Inner::connect(settings, clock)
            .await
            .map(|inner| Self(Arc::new(inner)))
    }

    /// Counters of what the layer has done so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.0.stats.snapshot()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
}

/// Counters the layer keeps (for an API's metrics).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) jwks_fetches: AtomicU64,
    pub(crate) introspections: AtomicU64,
    pub(crate) reports_queued: AtomicU64,
    pub(crate) reports_sent: AtomicU64,
    pub(crate) reports_dropped: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StatsSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            jwks_fetches: read(&self.jwks_fetches),
            introspections: read(&self.introspections),
            reports_queued: read(&self.reports_queued),
            reports_sent: read(&self.reports_sent),
            reports_dropped: read(&self.reports_dropped),
        }
    }
}

/// The layer's counters at one instant.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct StatsSnapshot {
    /// JWK Set fetches (at start, on age, on an unknown `kid`), failed ones included.
    pub jwks_fetches: u64,
    /// Introspection requests sent (cache misses).
    pub introspections: u64,
    /// Events put on the report queue.
    pub reports_queued: u64,
    /// Events the authorization server accepted.
    pub reports_sent: u64,
    /// Events dropped: queue full, or the authorization server refused or stayed unreachable.
    pub reports_dropped: u64,
}
