//! A small accounts service protected by `portcullis-resource`: what an API team writes.
//!
//! `GET /accounts/{id}` answers one account to a token with the `accounts:read` scope, bound to
//! its DPoP key or client certificate; the enumeration guard counts the distinct `id`s each
//! token and client asks for. `GET /healthz` is open. The binary (`src/main.rs`) reads its
//! settings from the command line; the end-to-end tests call [`start`] directly.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portcullis_resource::{AccessToken, Clock, RequireToken, Resource, Settings};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The scope every account route needs.
pub const SCOPE: &str = "accounts:read";

/// How many accounts the example holds (ids 1 to this).
pub const ACCOUNTS: u64 = 1_000;

/// The routes of the service, each behind the layer built from `resource`.
pub fn app(resource: &Resource) -> Router {
    Router::new()
        .route(
            "/accounts/{id}",
            get(account).route_layer(RequireToken::new(resource).scope(SCOPE).enumeration("id")),
        )
        .route("/healthz", get(|| async { "ok" }))
}

/// `GET /accounts/{id}`: the account, or 404.
async fn account(token: AccessToken, Path(id): Path<String>) -> Response {
    let Some(id) = id
        .parse::<u64>()
        .ok()
        .filter(|id| (1..=ACCOUNTS).contains(id))
    else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response();
    };
    Json(json!({
        "id": id,
        "owner": format!("customer-{id}"),
        "balance": (id * 7_919) % 100_000,
        "currency": "EUR",
        "requested_by": token.client_id(),
    }))
    .into_response()
}

/// A running accounts service.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The layer's shared state (its counters, for tests and metrics).
    pub resource: Resource,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections and waits for open requests.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Connects to the authorization server and serves the accounts API over TLS on `listener`,
/// with the certificate chain and key given (PEM).
pub async fn start(
    settings: Settings,
    listener: TcpListener,
    tls_chain_pem: &[u8],
    tls_key_pem: &[u8],
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let resource = Resource::connect_with_clock(settings, clock).await?;
    let tls = portcullis_resource::tls::server_config(tls_chain_pem, tls_key_pem)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let app = app(&resource);
    let task = tokio::spawn(portcullis_resource::tls::serve(listener, tls, app, async {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        resource,
        stop,
        task,
    })
}
