//! THE route table: every path, method and handler on one screen.
//!
//! [`ENDPOINTS`] lists the protocol endpoints the metadata document advertises; it grows with
//! the routes below and nothing is advertised that is not routed here.

use axum::Router;
use axum::routing::{any, get, post};
use portcullis_core::discovery::Endpoint;

use crate::config::Config;
use crate::endpoints::admin::{
    activity, audit, clients, initial_access_tokens, keys, limits, security, security_client,
    security_events, signin, users,
};
use crate::endpoints::{
    account, authorize, consent, discovery, health, introspect, jwks, login, metrics, par,
    register, resource_events, revoke, token, userinfo,
};
use crate::error::{AdminError, AdminErrorKind};
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
    Endpoint::ResourceEvents,
];

/// Grant types the token endpoint accepts.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// Every route of the server. Registration (`/register`) and the admin UI (`/admin`) are
/// mounted only when the configuration enables them; a disabled admin UI answers its usual
/// "not found" page at every path under `/admin`.
pub fn routes(config: &Config) -> Router<AppState> {
    let router = Router::new()
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
        .route("/resource-events", post(resource_events::post))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/static/portcullis.css", get(pages::stylesheet));
    let router = if config.registration.enabled {
        router.merge(registration())
    } else {
        router
    };
    if config.admin.enabled {
        router.merge(admin())
    } else {
        router
            .route("/admin", any(admin_not_found))
            .route("/admin/{*path}", any(admin_not_found))
    }
}

/// The metrics listener's only route (`metrics.listen`): the public and mTLS listeners never
/// serve `/metrics` (decision record 0016).
pub fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics::get))
}

/// Dynamic client registration (RFC 7591) and client configuration (RFC 7592).
fn registration() -> Router<AppState> {
    Router::new()
        .route("/register", post(register::post))
        .route(
            "/register/{client_id}",
            get(register::get)
                .put(register::put)
                .delete(register::delete),
        )
}

/// The admin UI.
fn admin() -> Router<AppState> {
    Router::new()
        .route("/admin", get(signin::home))
        .route("/admin/login", get(signin::get).post(signin::post))
        .route("/admin/logout", post(signin::logout))
        .route("/admin/clients", get(clients::list).post(clients::create))
        .route("/admin/clients/new", get(clients::new))
        .route(
            "/admin/clients/{client_id}",
            get(clients::show).post(clients::update),
        )
        .route("/admin/clients/{client_id}/edit", get(clients::edit))
        .route("/admin/clients/{client_id}/disable", post(clients::disable))
        .route("/admin/clients/{client_id}/enable", post(clients::enable))
        .route("/admin/clients/{client_id}/limits", post(limits::set))
        .route("/admin/clients/{client_id}/delete", post(clients::delete))
        .route(
            "/admin/clients/{client_id}/revoke",
            post(activity::revoke_all),
        )
        .route(
            "/admin/clients/{client_id}/grants/{grant_id}/revoke",
            post(activity::revoke_grant),
        )
        .route(
            "/admin/initial-access-tokens",
            get(initial_access_tokens::list).post(initial_access_tokens::issue),
        )
        .route(
            "/admin/initial-access-tokens/{id}/revoke",
            post(initial_access_tokens::revoke),
        )
        .route("/admin/keys", get(keys::get))
        .route("/admin/keys/rotate", post(keys::rotate))
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/{user_id}/disable", post(users::disable))
        .route("/admin/users/{user_id}/enable", post(users::enable))
        .route(
            "/admin/users/{user_id}/password",
            post(users::reset_password),
        )
        .route("/admin/audit", get(audit::get))
        .route("/admin/security", get(security::get))
        .route(
            "/admin/security/events/{id}/acknowledge",
            post(security_events::acknowledge),
        )
        .route(
            "/admin/security/clients/{client_id}",
            get(security_client::get),
        )
}

/// Every path under `/admin` while the admin UI is disabled.
async fn admin_not_found() -> AdminError {
    AdminError::new(AdminErrorKind::NotFound)
}
