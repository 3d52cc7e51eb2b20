//! `POST /consent` (R57): the user allows or denies the pushed request.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};

use crate::browser::{flow, session};
use crate::error::PageError;
use crate::extract::Params;
use crate::state::AppState;

/// POST: approve issues the code; deny ends the request with `access_denied` (R51).
pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, PageError> {
    let Some(session) = session::current(&state, &headers).await else {
        return Err(PageError::new(
            ErrorCode::LoginRequired,
            "Your session has ended. Go back to the application and start again.",
        ));
    };
    // R62: the session's CSRF token, or nothing happens.
    if !session::csrf_holds(params.get("csrf_token"), Some(&session.record.csrf_token)) {
        return Err(PageError::csrf());
    }
    let pending = flow::load(&state, params.get("client_id"), params.get("request_uri")).await?;
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
        _ => Err(PageError::new(
            ErrorCode::InvalidRequest,
            "Choose Allow or Deny.",
        )),
    }
}
