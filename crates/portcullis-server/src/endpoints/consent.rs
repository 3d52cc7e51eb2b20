//! `POST /consent` (R57): the user allows or denies the pushed request. Allowing is held to the
//! same re-authentication rules as the authorization endpoint (R59: `prompt=login`, `max_age`),
//! so a session cookie alone cannot post its way past them.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_core::ErrorCode;

use crate::browser::{flow, session};
use crate::error::PageError;
use crate::extract::Params;
use crate::state::AppState;

/// POST: approve issues the code (R59 permitting); deny ends the request with `access_denied`
/// (R51).
pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, PageError> {
    let Some(session) = session::on_page(&state, &headers).await? else {
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
        Some("approve") => flow::approve(&state, pending, session).await,
        // The request is over: used up, and the client told.
        Some("deny") => flow::refuse(&state, &pending, "the user denied access").await,
        _ => Err(PageError::new(
            ErrorCode::InvalidRequest,
            "Choose Allow or Deny.",
        )),
    }
}
