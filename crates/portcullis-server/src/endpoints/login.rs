//! `GET|POST /login`: the sign-in page of local users (argon2id), with CSRF protection (R62) and
//! throttling per account and per address that slows guessing without locking anyone out for
//! good (`crate::browser::signin`, `portcullis_core::login`). Inside a flow the page also offers
//! Cancel, which ends the request and returns to the client with `access_denied` (R51, R57).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::ErrorCode;

use crate::browser::flow;
use crate::browser::session::{self, CSRF_COOKIE};
use crate::browser::signin::{self, Refusal};
use crate::browser::users;
use crate::error::{PageError, page_retry_after};
use crate::extract::Params;
use crate::pages::see_other;
use crate::state::AppState;
use crate::transport::peer::Peer;

/// GET: the sign-in page (outside a flow, it leads to the account page).
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if session::on_page(&state, &headers).await?.is_some() {
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
    // R57: the person refuses before signing in; the client is told.
    if params.get("cancel").is_some() {
        let Some(pending) = pending else {
            return Err(PageError::new(
                ErrorCode::InvalidRequest,
                "There is no request to cancel.",
            ));
        };
        return flow::refuse(&state, &pending, "the user cancelled the sign-in").await;
    }
    let username = params.get("username").unwrap_or("");
    let password = params.get("password").unwrap_or("");
    // The form comes back with the name typed, unless no user could have it.
    let typed = if users::username_is_valid(username) {
        username
    } else {
        ""
    };
    let retry = |message: &str, status: StatusCode| match &pending {
        Some(p) => flow::login_page(p, Some(message), typed, status),
        None => flow::plain_login_page(Some(message), typed, status),
    };
    // The account's budget (rate_limits.account), before the password costs a hash.
    if let Err(refusal) = state.rate_limits.check_account(username) {
        state
            .monitor
            .count(crate::security::detect::limited_series("account"), username);
        return retry(
            "Too many sign-in attempts. Wait a moment and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        )
        .map(|r| refusal.decorate(r));
    }
    let address = peer.address.to_string();
    let user = match signin::sign_in(&state, username, password, &address).await {
        Ok(user) => user,
        Err(failure) => {
            return match failure.refusal {
                Refusal::Throttled => retry(
                    "Too many failed attempts. Wait a few seconds and try again.",
                    StatusCode::TOO_MANY_REQUESTS,
                ),
                Refusal::Busy => retry(
                    "The server is busy. Please try again in a moment.",
                    StatusCode::SERVICE_UNAVAILABLE,
                )
                .map(page_retry_after),
                Refusal::Unavailable => retry(
                    "Sign-in is unavailable right now. Please try again.",
                    StatusCode::SERVICE_UNAVAILABLE,
                )
                .map(page_retry_after),
                Refusal::Wrong => retry(
                    "The user name or password is not right.",
                    StatusCode::UNAUTHORIZED,
                ),
            };
        }
    };
    let (session, cookie) = session::start(&state, user).await?;
    tracing::info!(user_id = %session.user.user_id, "signed in");
    let mut response = match pending {
        Some(pending) => flow::proceed(&state, pending, Some(session), true).await?,
        None => see_other("/account"),
    };
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}
