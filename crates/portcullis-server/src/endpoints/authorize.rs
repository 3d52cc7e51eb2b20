//! `GET /authorize` (RFC 6749 §4.1.1, RFC 9126 §4; R44–R52): the browser arrives with
//! `client_id` and `request_uri`. Other parameters in the query (the FAPI conformance suite sends
//! duplicates of the pushed ones) are ignored: only the pushed request counts (R49).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_core::hash::TokenHash;

use crate::browser::{flow, session};
use crate::error::PageError;
use crate::state::AppState;

/// GET: starts or continues the authorization of a pushed request.
pub(crate) async fn get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let query = query.unwrap_or_default();
    // The first occurrence wins; repeated front-channel parameters are tolerated here (R49).
    let first = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let (client_id, request_uri) = (first("client_id"), first("request_uri"));
    let mut pending = flow::load(&state, client_id.as_deref(), request_uri.as_deref()).await?;
    // R47, R48: the browser came in time, so the user now has the interaction lifetime to
    // finish; once: loading the page again extends nothing (an endless reload must not keep the
    // request alive).
    let now = state.clock.now();
    let until = now.plus(state.config.flow.interaction_lifetime_secs);
    let hash = TokenHash::of(pending.request_uri.as_bytes());
    let extended = state
        .store
        .extend_pushed_request(&hash, until, now)
        .await
        .map_err(|e| PageError::store("extending a pushed request failed", &e))?;
    if extended {
        // R59: the interaction starts now; a sign-in from here on is fresh for this request.
        pending.started = Some(now);
    }
    let session = session::on_page(&state, &headers).await?;
    flow::proceed(&state, pending, session, false).await
}
