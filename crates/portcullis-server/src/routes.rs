//! THE route table: every path, method and handler on one screen.
//!
//! [`ENDPOINTS`] lists the protocol endpoints the metadata document advertises; it grows with
//! the routes below and nothing is advertised that is not routed here.

use axum::Router;
use axum::routing::{get, post};
use portcullis_core::discovery::Endpoint;

use crate::endpoints::{discovery, health, introspect, jwks, revoke, token};
use crate::state::AppState;

/// Protocol endpoints served (and so advertised in discovery).
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint::Token,
    Endpoint::Introspection,
    Endpoint::Revocation,
];

/// Grant types the token endpoint accepts.
pub const GRANT_TYPES: &[&str] = &["client_credentials"];

/// Every route of the server.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::get))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::get),
        )
        .route("/jwks", get(jwks::get))
        .route("/token", post(token::post))
        .route("/introspect", post(introspect::post))
        .route("/revoke", post(revoke::post))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
}
