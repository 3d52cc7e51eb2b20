//! The request counter and latency histogram of every route of the public and mTLS listeners.
//!
//! `run::Observed` calls [`answered`] from a layer added with `Router::layer`, which wraps each
//! route, so the request carries axum's `MatchedPath` (the template, such as
//! `/admin/clients/{client_id}`): the raw path never becomes a label. A request no route matched
//! is counted as `unmatched`.

use std::time::Instant;

use axum::http::StatusCode;

use super::{Metrics, status_class};

/// Counts an answered request (`route`: the matched template, `None` when no route matched)
/// and the time since `started` (nothing when metrics are off); `run::Observed` calls it for
/// every request.
pub fn answered(
    metrics: &Metrics,
    route: Option<&str>,
    method: &'static str,
    status: StatusCode,
    started: Instant,
) {
    metrics.request(route, method, status_class(status), started.elapsed());
}
