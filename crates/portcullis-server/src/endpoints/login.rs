//! `GET|POST /login`: the sign-in page of local users (argon2id), with CSRF protection (R62) and
//! throttling per account and per address that slows guessing without locking anyone out for
//! good (`crate::browser::signin`, `portcullis_core::login`).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use crate::browser::flow;
use crate::browser::session::{self, CSRF_COOKIE};
use crate::browser::signin::{self, Refusal};
use crate::error::PageError;
use crate::extract::Params;
use crate::pages::see_other;
use crate::state::AppState;
use crate::transport::peer::Peer;

/// GET: the sign-in page (outside a flow, it leads to the account page).
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if session::current(&state, &headers).await.is_some() {
        return Ok(see_other("/account"));
    }
    flow::plain_login_page(None, "", StatusCode::OK)
}

/// POST: checks the credentials, starts a session, continues the flow.
pub(crate) async fn post(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, PageError> {
    // R62: the double-submit token of the form that was served.
    if !session::csrf_holds(
        params.get("csrf_token"),
        session::cookie(&headers, CSRF_COOKIE),
    ) {
        return Err(PageError::csrf());
    }
    let pending = match (params.get("client_id"), params.get("request_uri")) {
        (Some(client_id), Some(request_uri)) => {
            Some(flow::load(&state, Some(client_id), Some(request_uri)).await?)
        }
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
    let (session, cookie) = session::start(&state, user)
        .await
        .ok_or_else(PageError::internal)?;
    tracing::info!(user_id = %session.user.user_id, "signed in");
    let mut response = match pending {
        Some(pending) => flow::proceed(&state, pending, Some(session), true).await?,
        None => see_other("/account"),
    };
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}
