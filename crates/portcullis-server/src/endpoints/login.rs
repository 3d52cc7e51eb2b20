//! `GET|POST /login`: the sign-in page of local users (argon2id), with CSRF protection (R62) and
//! throttling per account and per address that slows guessing without locking anyone out for
//! good (`portcullis_core::login`).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::login;

use crate::extract::Params;
use crate::flow;
use crate::peer::Peer;
use crate::session::{self, CSRF_COOKIE};
use crate::state::AppState;
use crate::users;

/// Failures older than this no longer count.
const FAILURE_MEMORY_SECS: i64 = 15 * 60;

/// GET: the sign-in page (outside a flow, it leads to the account page).
pub(crate) async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session::current(&state, &headers).await.is_some() {
        return see_other("/account");
    }
    flow::plain_login_page(None, "", StatusCode::OK)
}

pub(crate) fn see_other(location: &'static str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}

/// POST: checks the credentials, starts a session, continues the flow.
pub(crate) async fn post(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    // R62: the double-submit token of the form that was served.
    if !flow::csrf_ok(&params, session::cookie(&headers, CSRF_COOKIE)) {
        return flow::csrf_refused();
    }
    let (client_id, request_uri) = flow::continuation(&params);
    let pending = match (client_id, request_uri) {
        (Some(_), Some(_)) => match flow::load(&state, client_id, request_uri).await {
            Ok(pending) => Some(pending),
            Err(page) => return page,
        },
        _ => None,
    };
    let username = params.get("username").unwrap_or("");
    let password = params.get("password").unwrap_or("");
    let retry = |message: &str, status: StatusCode| match &pending {
        Some(p) => flow::login_page(p, Some(message), username, status),
        None => flow::plain_login_page(Some(message), username, status),
    };
    let now = state.clock.now();
    let address = peer.remote.ip().to_string();
    let user = match state.store.user_by_username(username).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return retry(
                "Sign-in is unavailable right now. Please try again.",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    // Throttling: by account and by address, with failures forgotten after a while.
    let recent = |count: u32, last: Option<portcullis_core::Timestamp>| match last {
        Some(last) if now.unix() - last.unix() < FAILURE_MEMORY_SECS => (count, last),
        _ => (0, now),
    };
    let (account_failures, account_last) = user
        .as_ref()
        .map_or((0, now), |u| recent(u.failed_logins, u.last_failed_at));
    let (address_failures, address_last) = match state.store.address_failures(&address).await {
        Ok(Some((count, last))) => recent(count, Some(last)),
        _ => (0, now),
    };
    if !login::allowed(account_failures, account_last, now)
        || !login::allowed(address_failures, address_last, now)
    {
        tracing::warn!(%address, "sign-in throttled");
        return retry(
            "Too many failed attempts. Wait a few seconds and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let hash = user
        .as_ref()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    let verified =
        tokio::task::spawn_blocking(move || users::verify_password(&candidate, hash.as_deref()))
            .await
            .unwrap_or(false);
    let known_id = user.as_ref().map(|u| u.user_id.clone());
    let Some(user) = user.filter(|_| verified) else {
        let forget_before = now.plus(-FAILURE_MEMORY_SECS);
        if let Err(e) = state
            .store
            .record_login_failure(known_id.as_deref(), &address, now, forget_before)
            .await
        {
            tracing::error!(error = %e, "recording a failed sign-in failed");
        }
        tracing::info!(%address, "sign-in failed");
        return retry(
            "The user name or password is not right.",
            StatusCode::UNAUTHORIZED,
        );
    };
    if let Err(e) = state
        .store
        .clear_login_failures(&user.user_id, &address)
        .await
    {
        tracing::error!(error = %e, "clearing sign-in failures failed");
    }
    let Some((session, cookie)) = session::start(&state, user).await else {
        return flow::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again.",
            portcullis_core::ErrorCode::ServerError,
        );
    };
    tracing::info!(user_id = %session.user.user_id, "signed in");
    let mut response = match pending {
        Some(pending) => flow::proceed(&state, pending, Some(session), true).await,
        None => see_other("/account"),
    };
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}
