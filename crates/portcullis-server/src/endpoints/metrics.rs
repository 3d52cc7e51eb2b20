//! `GET /metrics` on the metrics listener only (`metrics.listen`): the Prometheus text format
//! (exposition format 0.0.4). The gauges that describe the moment (process, connection pool,
//! database round trip, signing keys) are read here, just before rendering.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::keys::KeyState;

use crate::monitoring::process;
use crate::state::AppState;

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// GET /metrics.
pub(crate) async fn get(State(state): State<AppState>) -> Response {
    let metrics = &state.metrics;
    process::collect(metrics);
    let pool = state.store.pool_stats();
    metrics.gauge(
        "portcullis_db_pool_connections",
        &[("state", "idle")],
        f64::from(pool.idle),
    );
    metrics.gauge(
        "portcullis_db_pool_connections",
        &[("state", "in_use")],
        f64::from(pool.size.saturating_sub(pool.idle)),
    );
    metrics.gauge(
        "portcullis_db_pool_max_connections",
        &[],
        f64::from(pool.max),
    );
    // One round trip per scrape: the store's latency as the scraper sees it, without timing
    // every statement on the request path.
    let started = Instant::now();
    let up = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
        Ok(Ok(()))
    );
    metrics.gauge("portcullis_db_up", &[], if up { 1.0 } else { 0.0 });
    if up {
        metrics.gauge(
            "portcullis_db_ping_seconds",
            &[],
            started.elapsed().as_secs_f64(),
        );
    }
    let now = state.clock.now();
    let keys = state.keys.list(now);
    for alg in portcullis_core::jose::Alg::ALL {
        let of_alg = || keys.iter().filter(move |(k, _)| k.alg == alg);
        if of_alg().next().is_none() {
            continue;
        }
        let name = alg.as_str();
        if let Some((active, _)) = of_alg().find(|(_, s)| *s == KeyState::Active) {
            let age = now.unix() - active.activates_at.unix();
            metrics.gauge(
                "portcullis_signing_key_age_seconds",
                &[("alg", name)],
                age as f64,
            );
        }
        // 0 while no successor is scheduled: a stale timestamp would look like a rotation due.
        let next = of_alg()
            .filter(|(_, s)| *s == KeyState::Pending)
            .map(|(k, _)| k.activates_at.unix())
            .min()
            .unwrap_or(0);
        metrics.gauge(
            "portcullis_signing_key_next_rotation_timestamp_seconds",
            &[("alg", name)],
            next as f64,
        );
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        metrics.render(),
    )
        .into_response()
}
