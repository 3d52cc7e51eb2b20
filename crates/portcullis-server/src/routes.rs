//! THE route table: every path, method and handler on one screen.
//!
//! [`ENDPOINTS`] lists the protocol endpoints the metadata document advertises; it grows with
//! the routes below and nothing is advertised that is not routed here.

use axum::Router;
use axum::routing::{get, post};
use portcullis_core::discovery::Endpoint;

use crate::endpoints::{
    account, authorize, consent, discovery, health, introspect, jwks, login, par, register, revoke,
    token, userinfo,
};
use crate::pages;
use crate::state::AppState;

/// Protocol endpoints served (and so advertised in discovery).
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint::Authorization,
    Endpoint::PushedAuthorization,
    Endpoint::Token,
    Endpoint::Userinfo,
    Endpoint::Introspection,
    Endpoint::Revocation,
    Endpoint::Registration,
];

/// Grant types the token endpoint accepts.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// Every route of the server.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::get))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::get),
        )
        .route("/jwks", get(jwks::get))
        .route("/par", post(par::post))
        .route("/authorize", get(authorize::get))
        .route("/login", get(login::get).post(login::post))
        .route("/consent", post(consent::post))
        .route("/account", get(account::get))
        .route("/account/revoke", post(account::revoke))
        .route("/logout", post(account::logout))
        .route("/token", post(token::post))
        .route("/userinfo", get(userinfo::handle).post(userinfo::handle))
        .route("/introspect", post(introspect::post))
        .route("/revoke", post(revoke::post))
        .route("/register", post(register::post))
        .route(
            "/register/{client_id}",
            get(register::get)
                .put(register::put)
                .delete(register::delete),
        )
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/static/portcullis.css", get(pages::stylesheet))
}
