//! `/admin/login` and `/admin/logout`: signing administrators in and out of the admin UI.
//!
//! The sign-in form carries a double-submit CSRF token (cookie `__Secure-portcullis-admin-csrf`,
//! scoped to `/admin`) and is throttled like `/login` (`crate::signin`). A correct password of a
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

use super::{done_notice, forbidden_page, not_found, query, see_other};
use crate::audit::{self, Action, Actor};
use crate::extract::admin::{ADMIN_COOKIE, ADMIN_CSRF_COOKIE, admin_cookie};
use crate::extract::{AdminForm, Params};
use crate::pages::admin::{LoginPage, Notice};
use crate::pages::{BRAND, render_admin};
use crate::peer::Peer;
use crate::session::{self, same_secret};
use crate::signin::{self, Refusal};
use crate::state::AppState;
use crate::tokens::random_b64url;

/// Lifetime of the sign-in form's CSRF cookie, seconds.
const FORM_LIFETIME_SECS: i64 = 3600;

/// GET /admin: the clients page.
pub(crate) async fn home(State(state): State<AppState>) -> Response {
    if !state.config.admin.enabled {
        return not_found();
    }
    see_other("/admin/clients")
}

/// GET /admin/login: the sign-in page (or the clients page when already signed in).
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !state.config.admin.enabled {
        return not_found();
    }
    if let Some(id) = session::cookie(&headers, ADMIN_COOKIE).filter(|v| !v.is_empty()) {
        let now = state.clock.now();
        let idle_since = now.plus(-state.config.admin.idle_timeout_secs);
        if let Ok(Some(_)) = state
            .store
            .touch_admin_session(&TokenHash::of(id.as_bytes()), now, idle_since)
            .await
        {
            return see_other("/admin/clients");
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
fn login_page(notice: Option<Notice>, username: &str, status: StatusCode) -> Response {
    let Ok(csrf) = random_b64url(32) else {
        return crate::error::server_error();
    };
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
    response
}

/// POST /admin/login: checks the credentials and the admin role, starts a session.
pub(crate) async fn post(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    if !state.config.admin.enabled {
        return not_found();
    }
    let address = peer.remote.ip().to_string();
    let username = params.get("username").unwrap_or("");
    let csrf_ok = match (
        params.get("csrf_token"),
        session::cookie(&headers, ADMIN_CSRF_COOKIE),
    ) {
        (Some(sent), Some(expected)) => same_secret(sent, expected),
        _ => false,
    };
    if !csrf_ok {
        audit::record(
            &state,
            &Actor::anonymous(&address),
            Action::Form,
            Some("/admin/login"),
            AuditOutcome::Denied,
            json!({ "reason": "no valid CSRF token" }),
        )
        .await;
        return login_page(
            Notice::error("The sign-in form had expired. Please try again."),
            username,
            StatusCode::FORBIDDEN,
        );
    }
    let password = params.get("password").unwrap_or("");
    let user = match signin::sign_in(&state, username, password, &address).await {
        Ok(user) => user,
        Err(failure) => {
            let actor = match &failure.known {
                Some(user) => Actor {
                    user_id: Some(user.user_id.clone()),
                    username: Some(user.username.clone()),
                    address: address.clone(),
                },
                None => Actor::anonymous(&address),
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
                Refusal::Wrong => (
                    "unknown user, disabled user or wrong password",
                    "The user name or password is not right.",
                    StatusCode::UNAUTHORIZED,
                ),
            };
            audit::record(
                &state,
                &actor,
                Action::SignIn,
                None,
                AuditOutcome::Denied,
                json!({ "reason": reason }),
            )
            .await;
            return login_page(Notice::error(text), username, status);
        }
    };
    let actor = Actor {
        user_id: Some(user.user_id.clone()),
        username: Some(user.username.clone()),
        address: address.clone(),
    };
    if !user.is_admin {
        audit::record(
            &state,
            &actor,
            Action::SignIn,
            None,
            AuditOutcome::Denied,
            json!({ "reason": "not an administrator" }),
        )
        .await;
        return forbidden_page(&user.username);
    }
    // A new session every time; the one the browser held (if any) ends.
    if let Some(old) = session::cookie(&headers, ADMIN_COOKIE).filter(|v| !v.is_empty())
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
        return crate::error::server_error();
    };
    let record = AdminSessionRecord {
        user_id: user.user_id.clone(),
        auth_time: now,
        last_seen_at: now,
        csrf_token,
        expires_at: now.plus(lifetime),
    };
    if let Err(e) = state
        .store
        .insert_admin_session(&TokenHash::of(id.as_bytes()), &record)
        .await
    {
        tracing::error!(error = %e, "storing an admin session failed");
        audit::record(
            &state,
            &actor,
            Action::SignIn,
            None,
            AuditOutcome::Failed,
            json!({ "reason": "the session could not be stored" }),
        )
        .await;
        return login_page(
            Notice::error("Sign-in is unavailable right now. Please try again."),
            username,
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    audit::record(
        &state,
        &actor,
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
    response
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
