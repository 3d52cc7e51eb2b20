//! Browser sessions and CSRF protection for the pages (R62).
//!
//! The session cookie `__Host-portcullis-session` is `Secure; HttpOnly; SameSite=Lax; Path=/`
//! and holds 256 random bits; the database keeps only their hash. Forms of signed-in users
//! carry the session's CSRF token; the sign-in form, which has no session yet, uses a
//! double-submit cookie. Every comparison is constant-time.

use axum::http::{HeaderMap, HeaderValue, header};
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_store::StoreError;
use portcullis_store::flow::{SessionRecord, UserRecord};

use crate::error::PageError;
use crate::secret::{random_b64url, same_secret};
use crate::state::AppState;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "__Host-portcullis-session";
/// The sign-in form's double-submit CSRF cookie.
pub(crate) const CSRF_COOKIE: &str = "__Host-portcullis-csrf";

/// A signed-in user on this request.
pub(crate) struct Session {
    pub(crate) id_hash: TokenHash,
    pub(crate) record: SessionRecord,
    pub(crate) user: UserRecord,
}

/// The value of cookie `name`.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the secure attributes; `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}"
    ))
    .ok()
}

/// R62: whether a form's CSRF token `sent` is the `expected` one (the session's, or the
/// sign-in form's double-submit cookie), compared in constant time. A missing token on either
/// side never holds. The one CSRF check of the pages and the admin UI.
pub(crate) fn csrf_holds(sent: Option<&str>, expected: Option<&str>) -> bool {
    match (sent, expected) {
        (Some(sent), Some(expected)) => same_secret(sent, expected),
        _ => false,
    }
}

/// The request's live session, if any: known, unexpired, and its user enabled. A database that
/// cannot answer is an error, never "nobody is signed in": that would show a signed-in person
/// the sign-in page, or tell them their session ended, during an outage.
pub(crate) async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, StoreError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = TokenHash::of(id.as_bytes());
    let Some(record) = state.store.session(&id_hash).await? else {
        return Ok(None);
    };
    if state.clock.now() >= record.expires_at {
        return Ok(None);
    }
    let Some(user) = state.store.user(&record.user_id).await? else {
        return Ok(None);
    };
    if user.disabled_at.is_some() {
        return Ok(None);
    }
    Ok(Some(Session {
        id_hash,
        record,
        user,
    }))
}

/// [`current`] on a page: a database failure is the page's 503.
pub(crate) async fn on_page(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, PageError> {
    current(state, headers)
        .await
        .map_err(|e| PageError::store("session lookup failed", &e))
}

/// Starts a session for `user`, authenticated now; returns it and its cookie.
pub(crate) async fn start(
    state: &AppState,
    user: UserRecord,
) -> Result<(Session, HeaderValue), PageError> {
    let now: Timestamp = state.clock.now();
    let (Ok(id), Ok(csrf_token)) = (random_b64url(32), random_b64url(32)) else {
        return Err(PageError::internal());
    };
    let id_hash = TokenHash::of(id.as_bytes());
    let lifetime = state.config.flow.session_lifetime_secs;
    let record = SessionRecord {
        user_id: user.user_id.clone(),
        auth_time: now,
        csrf_token,
        expires_at: now.plus(lifetime),
    };
    state
        .store
        .insert_session(&id_hash, &record)
        .await
        .map_err(|e| PageError::store("storing a session failed", &e))?;
    let cookie = set_cookie(SESSION_COOKIE, &id, lifetime).ok_or_else(PageError::internal)?;
    Ok((
        Session {
            id_hash,
            record,
            user,
        },
        cookie,
    ))
}
