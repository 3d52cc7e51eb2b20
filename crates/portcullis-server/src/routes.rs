//! THE route table: every path, method and handler on one screen.
//!
//! [`ENDPOINTS`] lists the protocol endpoints the metadata document advertises; it grows with
//! the routes below and nothing is advertised that is not routed here.

use axum::Router;
use axum::routing::get;
use portcullis_core::discovery::Endpoint;

use crate::endpoints::{discovery, health, jwks};
use crate::state::AppState;

/// Protocol endpoints served (and so advertised in discovery).
pub const ENDPOINTS: &[Endpoint] = &[];

/// Every route of the server.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::get))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::get),
        )
        .route("/jwks", get(jwks::get))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
}
