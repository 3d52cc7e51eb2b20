//! The admin UI at `/admin`: server-rendered pages that work without JavaScript, for
//! administrators (users with the admin role) only.
//!
//! GET handlers take an [`AdminSession`](crate::extract::AdminSession) and render a page; POST
//! handlers take an [`AdminForm`](crate::extract::AdminForm) (a live session and a form carrying
//! its CSRF token), act, write one audit event and redirect back with a notice (or render the
//! page again with an error) through [`finish`]. Destructive actions need the administrator's
//! password again ([`reauthenticate`]). Failures answer an [`AdminError`] page. Every page is
//! rendered with `pages::ADMIN_CSP` and `no-store`. The routes exist only when the admin UI is
//! enabled (`routes.rs`).
//!
//! Modules: [`signin`] (sign-in, sign-out), [`clients`] with its form (`pages::client_form`) and
//! [`activity`], [`initial_access_tokens`], [`keys`], [`users`], [`audit`], [`security`] with
//! [`security_events`] and [`security_client`].

pub(crate) mod activity;
pub(crate) mod audit;
pub(crate) mod client_page;
pub(crate) mod clients;
pub(crate) mod initial_access_tokens;
pub(crate) mod keys;
pub(crate) mod limits;
pub(crate) mod security;
pub(crate) mod security_client;
pub(crate) mod security_events;
pub(crate) mod signin;
pub(crate) mod users;

use std::collections::HashMap;
use std::fmt::Display;

use axum::response::Response;
use portcullis_store::StoreError;
use portcullis_store::admin::AuditOutcome;
use serde_json::{Value, json};

use crate::audit::{Action, record};
use crate::browser::signin::Refusal;
use crate::error::{AdminError, AdminErrorKind};
use crate::extract::{AdminForm, AdminSession};
use crate::pages::admin::Notice;
use crate::pages::see_other;
use crate::state::AppState;

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
        "limits_saved" => "Rate limit saved; every server process applies it within a second.",
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
        "event_acknowledged" => "Event acknowledged.",
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
    let checked = crate::browser::signin::reauthenticate(
        state,
        &session.user.user_id,
        password,
        &session.address,
    )
    .await;
    let Err(failure) = checked else {
        return Ok(());
    };
    let (reason, text) = match failure.refusal {
        Refusal::Throttled => (
            "re-authentication throttled",
            "Too many wrong passwords. Wait a few seconds, then enter your password again.",
        ),
        Refusal::Unavailable | Refusal::Busy => (
            "database unavailable or busy",
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

/// Finishes an administrator's action with the store's `outcome`: on success the action goes to
/// the audit trail with `details` and the browser is sent to `location`; on a failure it is
/// logged, written to the trail as failed, and answered with the failure page.
pub(crate) async fn finish<T: Send, E: ActionError>(
    state: &AppState,
    session: &AdminSession,
    (action, target): (Action, Option<&str>),
    outcome: Result<T, E>,
    details: impl FnOnce(&T) -> Value,
    location: &str,
) -> Result<Response, AdminError> {
    match outcome {
        Ok(done) => {
            let details = details(&done);
            record(
                state,
                &session.actor(),
                action,
                target,
                AuditOutcome::Success,
                details,
            )
            .await;
            Ok(see_other(location))
        }
        Err(e) => Err(store_failed(state, session, (action, target), &e).await),
    }
}

/// An action that the database failed: logged, written to the trail as failed (when the
/// database takes it), and answered with the failure page, or the 503 page when the database
/// cannot be reached.
pub(crate) async fn store_failed(
    state: &AppState,
    session: &AdminSession,
    (action, target): (Action, Option<&str>),
    e: &dyn ActionError,
) -> AdminError {
    tracing::error!(error = %e, action = action.as_str(), "an admin action failed");
    failed(state, session, action, target, "database error").await;
    if e.database_unreachable() {
        session.error(AdminErrorKind::Unavailable)
    } else {
        session.failure()
    }
}

/// The failure of an admin action, and whether it means the database cannot be reached.
pub(crate) trait ActionError: Display + Sync {
    /// Whether the database cannot be reached (or cannot do it now): the 503 page then.
    fn database_unreachable(&self) -> bool {
        false
    }
}

impl ActionError for StoreError {
    fn database_unreachable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl ActionError for anyhow::Error {
    fn database_unreachable(&self) -> bool {
        self.downcast_ref::<StoreError>()
            .is_some_and(ActionError::database_unreachable)
    }
}

impl ActionError for String {}

/// Writes the audit event of an action that was not done.
pub(crate) async fn failed(
    state: &AppState,
    session: &AdminSession,
    action: Action,
    target: Option<&str>,
    problem: &str,
) {
    record(
        state,
        &session.actor(),
        action,
        target,
        AuditOutcome::Failed,
        json!({ "problem": problem }),
    )
    .await;
}
