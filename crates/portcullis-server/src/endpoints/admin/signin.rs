//! `/admin/login` and `/admin/logout`: signing administrators in and out of the admin UI.
//!
//! The sign-in form carries a double-submit CSRF token (cookie `__Secure-portcullis-admin-csrf`,
//! scoped to `/admin`) and is throttled like `/login` (`crate::browser::signin`). A correct password of a
//! user without the admin role is refused with 403 and starts no session. A successful sign-in
//! always starts a new session (a session id planted before sign-in is worthless) and ends the
//! one the browser held, if any.

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::hash::TokenHash;
use portcullis_store::admin::{AdminSessionRecord, AuditOutcome};
use serde_json::json;

use super::{done_notice, query};
use crate::audit::{self, Action, Actor};
use crate::browser::session;
use crate::browser::signin::{self, Refusal};
use crate::error::{AdminError, AdminErrorKind, page_retry_after};
use crate::extract::AdminForm;
use crate::extract::Params;
use crate::extract::admin::{ADMIN_COOKIE, ADMIN_CSRF_COOKIE, admin_cookie};
use crate::pages::admin::{LoginPage, Notice};
use crate::pages::{BRAND, render_admin, see_other};
use crate::secret::random_b64url;
use crate::state::AppState;
use crate::transport::peer::Peer;

/// Lifetime of the sign-in form's CSRF cookie, seconds.
const FORM_LIFETIME_SECS: i64 = 3600;

/// GET /admin: the clients page.
pub(crate) async fn home() -> Response {
    see_other("/admin/clients")
}

/// GET /admin/login: the sign-in page (or the clients page when already signed in).
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AdminError> {
    if let Some(id) = session::cookie(&headers, ADMIN_COOKIE).filter(|v| !v.is_empty()) {
        let now = state.clock.now();
        let idle_since = now.plus(-state.config.admin.idle_timeout_secs);
        if let Ok(Some(_)) = state
            .store
            .touch_admin_session(&TokenHash::of(id.as_bytes()), now, idle_since)
            .await
        {
            return Ok(see_other("/admin/clients"));
        }
    }
    let query = query(raw.as_deref());
    let notice = if query.contains_key("ended") {
        Notice::error(format!(
            "Your admin session has ended (after {} minutes without activity, or {} hours after sign-in). Sign in again.",
            state.config.admin.idle_timeout_secs / 60,
            state.config.admin.session_lifetime_secs / 3600,
        ))
    } else if query.get("done").is_some_and(|d| d == "signed_out") {
        Notice::done("You have signed out.")
    } else {
        done_notice(&query)
    };
    login_page(notice, "", StatusCode::OK)
}

/// The sign-in page with a fresh double-submit CSRF token.
fn login_page(
    notice: Option<Notice>,
    username: &str,
    status: StatusCode,
) -> Result<Response, AdminError> {
    let csrf = random_b64url(32).map_err(|_| AdminError::new(AdminErrorKind::Failure))?;
    let page = LoginPage {
        brand: BRAND,
        nav: None,
        notice,
        csrf_token: csrf.clone(),
        username: username.to_owned(),
    };
    let mut response = render_admin(status, &page);
    if let Some(cookie) = admin_cookie(ADMIN_CSRF_COOKIE, &csrf, FORM_LIFETIME_SECS) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// POST /admin/login: checks the form, the credentials and the admin role, starts a session.
pub(crate) async fn post(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AdminError> {
    let address = peer.address.to_string();
    let username = params.get("username").unwrap_or("");
    // R62: the double-submit token of the form that was served.
    if !session::csrf_holds(
        params.get("csrf_token"),
        session::cookie(&headers, ADMIN_CSRF_COOKIE),
    ) {
        let reason = json!({ "reason": "no valid CSRF token" });
        let anonymous = Actor::anonymous(&address);
        let target = Some("/admin/login");
        audit::refusal(&state, &anonymous, Action::Form, target, reason).await;
        let notice = Notice::error("The sign-in form had expired. Please try again.");
        return login_page(notice, username, StatusCode::FORBIDDEN);
    }
    // The account's budget (rate_limits.account), before the password costs a hash. Not
    // written to the audit trail: a flood must not become one row per request.
    if let Err(refusal) = state.rate_limits.check_account(username) {
        state
            .monitor
            .count(crate::security::detect::limited_series("account"), username);
        let notice = Notice::error("Too many sign-in attempts. Wait a moment and try again.");
        return login_page(notice, username, StatusCode::TOO_MANY_REQUESTS)
            .map(|r| refusal.decorate(r));
    }
    let password = params.get("password").unwrap_or("");
    let user = match signin::sign_in(&state, username, password, &address).await {
        Ok(user) => user,
        Err(failure) => return refused(&state, failure, username, &address).await,
    };
    let actor = Actor {
        user_id: Some(user.user_id.clone()),
        username: Some(user.username.clone()),
        address: address.clone(),
    };
    if !user.is_admin {
        let reason = json!({ "reason": "not an administrator" });
        audit::record(
            &state,
            &actor,
            Action::SignIn,
            None,
            AuditOutcome::Denied,
            reason,
        )
        .await;
        return Err(AdminError::new(AdminErrorKind::NotAdmin(user.username)));
    }
    start_session(&state, &headers, &actor, &user.user_id, username).await
}

/// A refused sign-in: written to the audit trail, then the form again with the reason.
async fn refused(
    state: &AppState,
    failure: signin::Failure,
    username: &str,
    address: &str,
) -> Result<Response, AdminError> {
    let actor = match &failure.known {
        Some(user) => Actor {
            user_id: Some(user.user_id.clone()),
            username: Some(user.username.clone()),
            address: address.to_owned(),
        },
        None => Actor::anonymous(address),
    };
    let (reason, text, status) = match failure.refusal {
        Refusal::Throttled => (
            "throttled",
            "Too many failed attempts. Wait a few seconds and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Refusal::Unavailable => (
            "database unavailable",
            "Sign-in is unavailable right now. Please try again.",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        Refusal::Busy => (
            "busy",
            "The server is busy. Please try again in a moment.",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        Refusal::Wrong => (
            "unknown user, disabled user or wrong password",
            "The user name or password is not right.",
            StatusCode::UNAUTHORIZED,
        ),
    };
    // Busy and throttled refusals are counted (`bounds::Refusals`), not stored: anyone can cause
    // them at any rate. Others are stored when they name an account.
    if !matches!(failure.refusal, Refusal::Busy | Refusal::Throttled) {
        audit::refusal(
            state,
            &actor,
            Action::SignIn,
            None,
            json!({ "reason": reason }),
        )
        .await;
    }
    // A 503 (the database is unreachable) carries Retry-After.
    login_page(Notice::error(text), username, status).map(page_retry_after)
}

/// Starts a new admin session for a verified administrator; the one the browser held (if any)
/// ends, so a session id planted before sign-in is worthless.
async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    actor: &Actor,
    user_id: &str,
    username: &str,
) -> Result<Response, AdminError> {
    if let Some(old) = session::cookie(headers, ADMIN_COOKIE).filter(|v| !v.is_empty())
        && let Err(e) = state
            .store
            .delete_admin_session(&TokenHash::of(old.as_bytes()))
            .await
    {
        tracing::error!(error = %e, "ending the previous admin session failed");
    }
    let now = state.clock.now();
    let lifetime = state.config.admin.session_lifetime_secs;
    let (Ok(id), Ok(csrf_token)) = (random_b64url(32), random_b64url(32)) else {
        return Err(AdminError::new(AdminErrorKind::Failure));
    };
    let record = AdminSessionRecord {
        user_id: user_id.to_owned(),
        auth_time: now,
        last_seen_at: now,
        csrf_token,
        expires_at: now.plus(lifetime),
    };
    let id_hash = TokenHash::of(id.as_bytes());
    if let Err(e) = state.store.insert_admin_session(&id_hash, &record).await {
        tracing::error!(error = %e, "storing an admin session failed");
        let reason = json!({ "reason": "the session could not be stored" });
        audit::record(
            state,
            actor,
            Action::SignIn,
            None,
            AuditOutcome::Failed,
            reason,
        )
        .await;
        let notice = Notice::error("Sign-in is unavailable right now. Please try again.");
        return login_page(notice, username, StatusCode::SERVICE_UNAVAILABLE);
    }
    audit::record(
        state,
        actor,
        Action::SignIn,
        None,
        AuditOutcome::Success,
        json!({}),
    )
    .await;
    let mut response = see_other("/admin/clients");
    let headers = response.headers_mut();
    if let Some(cookie) = admin_cookie(ADMIN_COOKIE, &id, lifetime) {
        headers.append(header::SET_COOKIE, cookie);
    }
    if let Some(cookie) = admin_cookie(ADMIN_CSRF_COOKIE, "", 0) {
        headers.append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// POST /admin/logout: ends the session.
pub(crate) async fn logout(State(state): State<AppState>, form: AdminForm) -> Response {
    let session = &form.session;
    if let Err(e) = state.store.delete_admin_session(&session.id_hash).await {
        tracing::error!(error = %e, "ending an admin session failed");
    }
    audit::record(
        &state,
        &session.actor(),
        Action::SignOut,
        None,
        AuditOutcome::Success,
        json!({}),
    )
    .await;
    let mut response = see_other("/admin/login?done=signed_out");
    if let Some(cookie) = admin_cookie(ADMIN_COOKIE, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
