//! `POST /consent` (R57): the user allows or denies the pushed request.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};

use crate::extract::Params;
use crate::flow;
use crate::session;
use crate::state::AppState;

/// POST: approve issues the code; deny ends the request with `access_denied` (R51).
pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let Some(session) = session::current(&state, &headers).await else {
        return flow::error_page(
            StatusCode::UNAUTHORIZED,
            "Your session has ended. Go back to the application and start again.",
            ErrorCode::LoginRequired,
        );
    };
    // R62: the session's CSRF token, or nothing happens.
    if !flow::csrf_ok(&params, Some(&session.record.csrf_token)) {
        return flow::csrf_refused();
    }
    let (client_id, request_uri) = flow::continuation(&params);
    let pending = match flow::load(&state, client_id, request_uri).await {
        Ok(pending) => pending,
        Err(page) => return page,
    };
    match params.get("decision") {
        Some("approve") => flow::issue(&state, &pending, &session).await,
        Some("deny") => {
            // The request is over: use it up, then tell the client.
            let hash = TokenHash::of(pending.request_uri.as_bytes());
            let _ = state
                .store
                .take_pushed_request(&hash, &pending.client.client_id, state.clock.now())
                .await;
            tracing::info!(client_id = %pending.client.client_id, "the user denied access");
            flow::redirect_error(
                &state,
                &pending,
                OAuthError::new(ErrorCode::AccessDenied, "the user denied access"),
            )
            .await
        }
        _ => flow::error_page(
            StatusCode::BAD_REQUEST,
            "Choose Allow or Deny.",
            ErrorCode::InvalidRequest,
        ),
    }
}
