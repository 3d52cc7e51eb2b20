//! `GET|POST /login`: the sign-in page of local users (argon2id), with CSRF protection (R62) and
//! throttling per account and per address that slows guessing without locking anyone out for
//! good (`crate::signin`, `portcullis_core::login`).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::extract::Params;
use crate::flow;
use crate::peer::Peer;
use crate::session::{self, CSRF_COOKIE};
use crate::signin::{self, Refusal};
use crate::state::AppState;

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
    let address = peer.remote.ip().to_string();
    let user = match signin::sign_in(&state, username, password, &address).await {
        Ok(user) => user,
        Err(failure) => {
            return match failure.refusal {
                Refusal::Throttled => retry(
                    "Too many failed attempts. Wait a few seconds and try again.",
                    StatusCode::TOO_MANY_REQUESTS,
                ),
                Refusal::Unavailable => retry(
                    "Sign-in is unavailable right now. Please try again.",
                    StatusCode::SERVICE_UNAVAILABLE,
                ),
                Refusal::Wrong => retry(
                    "The user name or password is not right.",
                    StatusCode::UNAUTHORIZED,
                ),
            };
        }
    };
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
