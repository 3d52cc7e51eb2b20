//! `/jwks`: the server's public signing keys (R17–R19, R22).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::config::JWKS_MAX_AGE_SECS;
use crate::state::AppState;

/// GET: the published keys, public members only, cacheable for [`JWKS_MAX_AGE_SECS`]. Keys are
/// published at least that long before they sign (`keys.publish_ahead_secs`).
pub(crate) async fn get(State(state): State<AppState>) -> Response {
    let mut response = Json(state.keys.jwks(state.clock.now())).into_response();
    let headers = response.headers_mut();
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
