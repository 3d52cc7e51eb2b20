//! `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server` (R1–R23).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// GET: the metadata document, cacheable, readable cross-origin (R23 allows CORS here).
pub(crate) async fn get(State(state): State<AppState>) -> Response {
    let mut response = state.discovery.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
