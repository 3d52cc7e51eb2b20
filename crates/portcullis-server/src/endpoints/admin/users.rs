//! `/admin/users`: local users (resource owners and administrators). Creating one
//! (`users::add`, argon2id), enabling, and, with the administrator's password again, disabling
//! and setting a new password. Disabling a user or setting their password ends their sessions,
//! admin and browser alike, so that whoever held the old password is signed out. Administrators cannot
//! disable themselves, so that the last one cannot lock everyone out by a slip.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_store::admin::AuditOutcome;
use portcullis_store::flow::UserRecord;
use serde_json::json;

use super::clients::failed;
use super::{done_notice, failure_page, nav, query, reauthenticate, see_other};
use crate::audit::{self, Action};
use crate::extract::{AdminForm, AdminSession};
use crate::pages::admin::{Notice, UserRow, UsersPage, when};
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;
use crate::users::{self, MIN_PASSWORD_CHARS};

/// GET: the users and the form that creates one.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let notice = done_notice(&query(raw.as_deref()));
    page(&state, &session, notice, "", false, StatusCode::OK).await
}

async fn page(
    state: &AppState,
    session: &AdminSession,
    notice: Option<Notice>,
    username: &str,
    admin: bool,
    status: StatusCode,
) -> Response {
    let users = match state.store.users().await {
        Ok(users) => users,
        Err(e) => {
            tracing::error!(error = %e, "listing users failed");
            return failure_page(session);
        }
    };
    let rows = users
        .into_iter()
        .map(|u| UserRow {
            is_self: u.user_id == session.user.user_id,
            created: when(u.created_at),
            enabled: u.disabled_at.is_none(),
            admin: u.is_admin,
            failed_logins: u.failed_logins,
            user_id: u.user_id,
            username: u.username,
        })
        .collect();
    let page = UsersPage {
        brand: BRAND,
        nav: nav(session, "users"),
        notice,
        csrf_token: session.record.csrf_token.clone(),
        rows,
        username: username.to_owned(),
        admin,
        min_password: MIN_PASSWORD_CHARS,
    };
    render_admin(status, &page)
}

/// POST /admin/users: creates a user.
pub(crate) async fn create(State(state): State<AppState>, form: AdminForm) -> Response {
    let session = &form.session;
    let username = form.params.get("username").unwrap_or("").trim();
    let password = form.params.get("new_password").unwrap_or("");
    let admin = form.params.get("admin").is_some();
    // A taken name is told apart here, so that the trail's reason never repeats the name.
    if let Ok(Some(_)) = state.store.user_by_username(username).await {
        let problem = "this user name is taken";
        failed(&state, session, Action::UserCreate, Some(username), problem).await;
        return page(
            &state,
            session,
            Notice::error(format!("The user was not created: {problem}.")),
            username,
            admin,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    match users::add(
        state.store.as_ref(),
        username,
        password,
        admin,
        state.clock.now(),
    )
    .await
    {
        Ok(user) => {
            audit::record(
                &state,
                &session.actor(),
                Action::UserCreate,
                Some(&user.username),
                AuditOutcome::Success,
                json!({ "user_id": user.user_id, "admin": admin }),
            )
            .await;
            see_other("/admin/users?done=user_created")
        }
        Err(e) => {
            // The messages of `users::add` name the rule broken, never the password.
            let problem = e.to_string();
            failed(
                &state,
                session,
                Action::UserCreate,
                Some(username),
                &problem,
            )
            .await;
            page(
                &state,
                session,
                Notice::error(format!("The user was not created: {problem}.")),
                username,
                admin,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

/// The user named by the path, or the page to show instead.
async fn target(
    state: &AppState,
    session: &AdminSession,
    user_id: &str,
    action: Action,
) -> Result<UserRecord, Response> {
    match state.store.user(user_id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => {
            failed(state, session, action, Some(user_id), "no such user").await;
            Err(page(
                state,
                session,
                Notice::error("There is no such user."),
                "",
                false,
                StatusCode::NOT_FOUND,
            )
            .await)
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a user failed");
            Err(failure_page(session))
        }
    }
}

/// Ends a user's admin and browser sessions (after disabling them or setting their password).
async fn end_sessions(state: &AppState, user_id: &str) {
    if let Err(e) = state.store.end_sessions_of(user_id).await {
        tracing::error!(error = %e, "ending a user's sessions failed");
    }
}

/// POST /admin/users/{user_id}/disable: the user can no longer sign in (re-authenticated).
pub(crate) async fn disable(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let user = match target(&state, session, &user_id, Action::UserDisable).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    if let Err(notice) = reauthenticate(&state, &form, Action::UserDisable, &user.username).await {
        return page(&state, session, notice, "", false, StatusCode::FORBIDDEN).await;
    }
    if user.user_id == session.user.user_id {
        let problem = "you cannot disable your own account";
        failed(
            &state,
            session,
            Action::UserDisable,
            Some(&user.username),
            problem,
        )
        .await;
        return page(
            &state,
            session,
            Notice::error("You cannot disable your own account; ask another administrator."),
            "",
            false,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    if let Err(e) = state.store.disable_user(&user_id, state.clock.now()).await {
        tracing::error!(error = %e, "disabling a user failed");
        failed(
            &state,
            session,
            Action::UserDisable,
            Some(&user.username),
            "database error",
        )
        .await;
        return failure_page(session);
    }
    end_sessions(&state, &user_id).await;
    audit::record(
        &state,
        &session.actor(),
        Action::UserDisable,
        Some(&user.username),
        AuditOutcome::Success,
        json!({ "user_id": user_id }),
    )
    .await;
    see_other("/admin/users?done=user_disabled")
}

/// POST /admin/users/{user_id}/enable: the user can sign in again.
pub(crate) async fn enable(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let user = match target(&state, session, &user_id, Action::UserEnable).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    if let Err(e) = state.store.enable_user(&user_id).await {
        tracing::error!(error = %e, "enabling a user failed");
        failed(
            &state,
            session,
            Action::UserEnable,
            Some(&user.username),
            "database error",
        )
        .await;
        return failure_page(session);
    }
    audit::record(
        &state,
        &session.actor(),
        Action::UserEnable,
        Some(&user.username),
        AuditOutcome::Success,
        json!({ "user_id": user_id }),
    )
    .await;
    see_other("/admin/users?done=user_enabled")
}

/// POST /admin/users/{user_id}/password: sets the password the administrator entered
/// (re-authenticated).
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let user = match target(&state, session, &user_id, Action::UserResetPassword).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    let action = Action::UserResetPassword;
    if let Err(notice) = reauthenticate(&state, &form, action, &user.username).await {
        return page(&state, session, notice, "", false, StatusCode::FORBIDDEN).await;
    }
    let new_password = form.params.get("new_password").unwrap_or("").to_owned();
    if let Err(e) = users::check_password(&new_password) {
        let problem = e.to_string();
        failed(&state, session, action, Some(&user.username), &problem).await;
        return page(
            &state,
            session,
            Notice::error(format!("The password was not changed: {problem}.")),
            "",
            false,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let hashed = tokio::task::spawn_blocking(move || users::hash_password(&new_password)).await;
    let stored = match hashed {
        Ok(Ok(hash)) => state
            .store
            .set_password(&user_id, &hash)
            .await
            .map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "setting a password failed");
        failed(&state, session, action, Some(&user.username), "not stored").await;
        return failure_page(session);
    }
    // Whoever held the old password is signed out (the acting administrator stays signed in when
    // setting their own).
    if user_id != session.user.user_id {
        end_sessions(&state, &user_id).await;
    }
    audit::record(
        &state,
        &session.actor(),
        action,
        Some(&user.username),
        AuditOutcome::Success,
        json!({ "user_id": user_id }),
    )
    .await;
    see_other("/admin/users?done=password_reset")
}
