//! The request counter and latency histogram, as a middleware on every route of the public and
//! mTLS listeners.
//!
//! It is added with `Router::layer`, which wraps each route, so the request carries axum's
//! [`MatchedPath`] (the template, such as `/admin/clients/{client_id}`): the raw path never
//! becomes a label. A request no route matched is counted as `unmatched`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{Metrics, method_label, status_class};

/// Times the request and counts its answer.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    if !metrics.enabled() {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.request(
        route.as_ref().map(MatchedPath::as_str),
        method,
        status_class(response.status()),
        started.elapsed(),
    );
    response
}
