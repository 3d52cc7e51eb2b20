//! What every handler can reach.

use std::sync::Arc;

use axum::body::Bytes;
use portcullis_core::dpop::NonceKey;
use portcullis_core::registration::Directory;
use portcullis_store::Store;

use crate::bounds::Bounds;
use crate::clients::registry::Clients;
use crate::config::Config;
use crate::monitoring::Metrics;
use crate::ratelimit::RateLimits;
use crate::security::Monitor;
use crate::setup::clock::Clock;
use crate::setup::keys::KeyRing;

/// Shared application state, cheap to clone: one reference count (handlers and middleware clone
/// it for every request), the fields behind it ([`Shared`]) reached through `Deref`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state of a server process.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Arc<dyn Store>,
    /// The server's signing keys.
    pub keys: Arc<KeyRing>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The metadata document, serialized once at start (it only depends on configuration).
    pub discovery: Bytes,
    /// Registered clients (cached) and their keys.
    pub clients: Arc<Clients>,
    /// Issues and checks DPoP nonces; derived from the KEK, so shared by all processes.
    pub dpop_nonces: Arc<NonceKey>,
    /// The mTLS listener's base URL (computed once).
    pub mtls_base_url: Arc<str>,
    /// The algorithm of the server key that signs JWT access tokens and introspection responses.
    pub token_alg: portcullis_core::jose::Alg,
    /// Directories trusted to sign software statements (read at start).
    pub directories: Arc<[Directory]>,
    /// Bounds on password hashes, counted refusals and requests in flight (`[limits]`).
    pub bounds: Arc<Bounds>,
    /// The rate limiter of this process.
    pub rate_limits: Arc<RateLimits>,
    /// This server's metrics (its own recorder, `monitoring`).
    pub metrics: Metrics,
    /// Security events: counts, detectors, webhooks (`security`).
    pub monitor: Arc<Monitor>,
}
