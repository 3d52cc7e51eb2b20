//! What every handler can reach.

use std::sync::Arc;

use axum::body::Bytes;
use portcullis_store::Store;

use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyRing;

/// Shared application state, cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
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
}
