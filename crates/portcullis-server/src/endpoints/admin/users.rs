//! `/admin/users`: local users (resource owners and administrators). Creating one
//! (`users::add`, argon2id), enabling, and, with the administrator's password again, disabling
//! and setting a new password. Disabling a user or setting their password ends their sessions,
//! admin and browser alike, so that whoever held the old password is signed out. Administrators cannot
//! disable themselves, so that the last one cannot lock everyone out by a slip.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_store::StoreError;
use portcullis_store::flow::UserRecord;
use serde_json::json;

use super::{done_notice, failed, finish, query, reauthenticate, store_failed};
use crate::audit::Action;
use crate::browser::users::{self, MIN_PASSWORD_CHARS};
use crate::error::{AdminError, AdminErrorKind};
use crate::extract::{AdminForm, AdminSession};
use crate::pages::admin::{Notice, UserRow, UsersPage, when};
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

/// GET: the users and the form that creates one.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, AdminError> {
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
) -> Result<Response, AdminError> {
    let users = state.store.users().await.map_err(|e| {
        tracing::error!(error = %e, "listing users failed");
        session.store_failure(&e)
    })?;
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
        nav: session.nav("users"),
        notice,
        csrf_token: session.record.csrf_token.clone(),
        rows,
        username: username.to_owned(),
        admin,
        min_password: MIN_PASSWORD_CHARS,
    };
    Ok(render_admin(status, &page))
}

/// POST /admin/users: creates a user.
pub(crate) async fn create(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, AdminError> {
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
    let now = state.clock.now();
    match users::add(state.store.as_ref(), username, password, admin, now).await {
        Ok(user) => {
            let act = (Action::UserCreate, Some(user.username.as_str()));
            let added: Result<(), StoreError> = Ok(());
            let details = |_: &()| json!({ "user_id": user.user_id, "admin": admin });
            finish(
                &state,
                session,
                act,
                added,
                details,
                "/admin/users?done=user_created",
            )
            .await
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

/// The user named by the path, or the error page.
async fn target(
    state: &AppState,
    session: &AdminSession,
    user_id: &str,
    action: Action,
) -> Result<UserRecord, AdminError> {
    match state.store.user(user_id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => {
            failed(state, session, action, Some(user_id), "no such user").await;
            let unknown = AdminErrorKind::Unknown("No such user", "There is no such user.");
            Err(session.error(unknown).with_nav(session.nav("users")))
        }
        Err(e) => Err(store_failed(state, session, (action, Some(user_id)), &e).await),
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
) -> Result<Response, AdminError> {
    let session = &form.session;
    let user = target(&state, session, &user_id, Action::UserDisable).await?;
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
    let disabled = state.store.disable_user(&user_id, state.clock.now()).await;
    if disabled.is_ok() {
        end_sessions(&state, &user_id).await;
    }
    let act = (Action::UserDisable, Some(user.username.as_str()));
    let details = |_: &_| json!({ "user_id": user_id });
    finish(
        &state,
        session,
        act,
        disabled,
        details,
        "/admin/users?done=user_disabled",
    )
    .await
}

/// POST /admin/users/{user_id}/enable: the user can sign in again.
pub(crate) async fn enable(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let user = target(&state, session, &user_id, Action::UserEnable).await?;
    let enabled = state.store.enable_user(&user_id).await;
    let act = (Action::UserEnable, Some(user.username.as_str()));
    let details = |_: &_| json!({ "user_id": user_id });
    finish(
        &state,
        session,
        act,
        enabled,
        details,
        "/admin/users?done=user_enabled",
    )
    .await
}

/// POST /admin/users/{user_id}/password: sets the password the administrator entered
/// (re-authenticated).
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let user = target(&state, session, &user_id, Action::UserResetPassword).await?;
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
    // Whoever held the old password is signed out (the acting administrator stays signed in when
    // setting their own).
    if stored.is_ok() && user_id != session.user.user_id {
        end_sessions(&state, &user_id).await;
    }
    let act = (action, Some(user.username.as_str()));
    let details = |_: &_| json!({ "user_id": user_id });
    finish(
        &state,
        session,
        act,
        stored,
        details,
        "/admin/users?done=password_reset",
    )
    .await
}
