//! The admin UI at `/admin`: server-rendered pages that work without JavaScript, for
//! administrators (users with the admin role) only.
//!
//! GET handlers take an [`AdminSession`](crate::extract::AdminSession) and render a page; POST
//! handlers take an [`AdminForm`](crate::extract::AdminForm) (a live session and a form carrying
//! its CSRF token), act, write one audit event and redirect back with a notice (or render the
//! page again with an error). Destructive actions need the administrator's password again
//! ([`reauthenticate`]). Every page is rendered with [`crate::pages::ADMIN_CSP`] and `no-store`.
//!
//! Modules: [`session`] (sign-in, sign-out), [`clients`] with [`client_form`] and [`activity`],
//! [`tokens`] (initial access tokens), [`keys`], [`users`], [`audit`].

pub(crate) mod activity;
pub(crate) mod audit;
pub(crate) mod client_form;
pub(crate) mod clients;
pub(crate) mod keys;
pub(crate) mod session;
pub(crate) mod tokens;
pub(crate) mod users;

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_store::admin::AuditOutcome;
use serde_json::json;

use crate::audit::{Action, record};
use crate::extract::{AdminForm, AdminSession};
use crate::pages::admin::{ErrorPage, Nav, Notice};
use crate::pages::{BRAND, render_admin};
use crate::signin::{self, Refusal};
use crate::state::AppState;

/// The navigation bar for `session` with `section` highlighted.
pub(crate) fn nav(session: &AdminSession, section: &'static str) -> Option<Nav> {
    Some(Nav {
        username: session.user.username.clone(),
        csrf_token: session.record.csrf_token.clone(),
        section,
    })
}

/// A 303 redirect to `location` (a path of this server).
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// An error page, with the navigation bar when someone is signed in.
pub(crate) fn error_page(
    status: StatusCode,
    nav: Option<Nav>,
    title: &str,
    message: &str,
) -> Response {
    render_admin(
        status,
        &ErrorPage {
            brand: BRAND,
            nav,
            notice: None,
            title: title.to_owned(),
            message: message.to_owned(),
        },
    )
}

/// 404 for everything under `/admin` when the admin UI is disabled, and for unknown objects.
pub(crate) fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        None,
        "Not found",
        "There is nothing here.",
    )
}

/// 403 for a signed-in user who is not an administrator.
pub(crate) fn forbidden_page(username: &str) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        None,
        "Administrators only",
        &format!(
            "You are signed in as {username}, which is not an administrator account. Ask an administrator if you need access."
        ),
    )
}

/// 503 when the database fails.
pub(crate) fn unavailable_page() -> Response {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "Unavailable",
        "The admin UI cannot reach its database right now. Please try again.",
    )
}

/// 403 for a form without the session's CSRF token: nothing was changed.
pub(crate) fn csrf_refused(session: &AdminSession) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        nav(session, ""),
        "This form has expired",
        "The form did not carry this session's security token, so nothing was changed. Go back, reload the page and try again.",
    )
}

/// A page for an internal failure while signed in.
pub(crate) fn failure_page(session: &AdminSession) -> Response {
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        nav(session, ""),
        "Something went wrong",
        "The action could not be completed. Nothing secret was revealed; the server log has the details.",
    )
}

/// A GET request's query parameters (lenient: repeated names keep the last value).
pub(crate) fn query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The notice for a `done` code set by a redirect after an action; unknown codes show nothing
/// (the text never comes from the request).
pub(crate) fn done_notice(query: &HashMap<String, String>) -> Option<Notice> {
    let text = match query.get("done").map(String::as_str)? {
        "client_created" => "Client created.",
        "client_saved" => "Client saved.",
        "client_disabled" => "Client disabled: it can no longer authenticate.",
        "client_enabled" => "Client enabled.",
        "client_deleted" => "Client deleted, with everything issued to it.",
        "grant_revoked" => "Grant revoked, with its tokens.",
        "tokens_revoked" => "Every token and grant of this client was revoked.",
        "iat_revoked" => "Initial access token revoked.",
        "key_rotated" => {
            "New signing key published; it signs once its publish-ahead time has passed."
        }
        "user_created" => "User created.",
        "user_disabled" => "User disabled: they can no longer sign in.",
        "user_enabled" => "User enabled.",
        "password_reset" => "Password changed. The user's sessions were ended.",
        _ => return None,
    };
    Notice::done(text)
}

/// Checks the administrator's password, sent in the form's `password` field, before a
/// destructive action, with the sign-in throttling. On refusal writes the audit event and
/// returns the notice to show; nothing else happens then.
pub(crate) async fn reauthenticate(
    state: &AppState,
    form: &AdminForm,
    action: Action,
    target: &str,
) -> Result<(), Option<Notice>> {
    let password = form.params.get("password").unwrap_or("");
    let session = &form.session;
    let checked =
        signin::reauthenticate(state, &session.user.user_id, password, &session.address).await;
    let Err(failure) = checked else {
        return Ok(());
    };
    let (reason, text) = match failure.refusal {
        Refusal::Throttled => (
            "re-authentication throttled",
            "Too many wrong passwords. Wait a few seconds, then enter your password again.",
        ),
        Refusal::Unavailable => (
            "database unavailable",
            "Your password could not be checked right now. Please try again.",
        ),
        Refusal::Wrong => (
            "wrong password",
            "That is not your password, so nothing was changed. Enter your own password to confirm.",
        ),
    };
    record(
        state,
        &session.actor(),
        action,
        Some(target),
        AuditOutcome::Denied,
        json!({ "reason": reason }),
    )
    .await;
    Err(Notice::error(text))
}
