//! Signing in: the `users`, `login_failures` and `sessions` tables (rows, columns, statements).

use crate::flow::{SessionRecord, UserRecord};
use crate::sql::ts;

/// A `users` row.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    user_id: String,
    username: String,
    password_hash: String,
    is_admin: bool,
    created_at: i64,
    disabled_at: Option<i64>,
    failed_logins: i32,
    last_failed_at: Option<i64>,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        Self {
            user_id: r.user_id,
            username: r.username,
            password_hash: r.password_hash,
            is_admin: r.is_admin,
            created_at: ts(r.created_at),
            disabled_at: r.disabled_at.map(ts),
            failed_logins: u32::try_from(r.failed_logins).unwrap_or(0),
            last_failed_at: r.last_failed_at.map(ts),
        }
    }
}

/// The columns of a [`UserRow`].
macro_rules! user_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; user_id, username, password_hash, is_admin, created_at,
            disabled_at, failed_logins, last_failed_at)
    };
}

/// A `sessions` row (without its key, the session id's hash).
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    user_id: String,
    auth_time: i64,
    csrf_token: String,
    expires_at: i64,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        Self {
            user_id: r.user_id,
            auth_time: ts(r.auth_time),
            csrf_token: r.csrf_token,
            expires_at: ts(r.expires_at),
        }
    }
}

/// The columns of a [`SessionRow`].
macro_rules! session_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; user_id, auth_time, csrf_token, expires_at)
    };
}

pub(crate) const INSERT_USER: &str = "INSERT INTO users (user_id, username, password_hash, is_admin, created_at, disabled_at, failed_logins, last_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const USER_BY_NAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username = $1"
);
pub(crate) const USER_BY_ID: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE user_id = $1");
pub(crate) const USERS: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");
pub(crate) const SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, failed_logins = 0 WHERE user_id = $1";
pub(crate) const DISABLE_USER: &str =
    "UPDATE users SET disabled_at = COALESCE(disabled_at, $2) WHERE user_id = $1";

/// Like the address's count, an account's count starts again at one when its last failure is
/// older than `$3` (the forget window).
pub(crate) const USER_FAILURE: &str = "UPDATE users SET failed_logins = CASE \
     WHEN last_failed_at IS NULL OR last_failed_at < $3 THEN 1 ELSE failed_logins + 1 END, \
     last_failed_at = $2 WHERE user_id = $1";
pub(crate) const ADDRESS_FAILURE: &str = "INSERT INTO login_failures (address, failures, last_failed_at) VALUES ($1, 1, $2) \
     ON CONFLICT (address) DO UPDATE SET failures = CASE WHEN login_failures.last_failed_at < $3 THEN 1 \
     ELSE login_failures.failures + 1 END, last_failed_at = excluded.last_failed_at";
/// Compare-and-set claims of a sign-in attempt (see `FlowStore::claim_login_attempt`): the
/// counter moves only if it still holds what was read.
pub(crate) const CLAIM_ADDRESS_NEW: &str = "INSERT INTO login_failures (address, failures, last_failed_at) \
     VALUES ($1, 1, $2) ON CONFLICT (address) DO NOTHING";
pub(crate) const CLAIM_ADDRESS: &str = "UPDATE login_failures SET failures = $2, last_failed_at = $3 \
     WHERE address = $1 AND failures = $4 AND last_failed_at = $5";
pub(crate) const CLAIM_USER: &str = "UPDATE users SET failed_logins = $2, last_failed_at = $3 \
     WHERE user_id = $1 AND failed_logins = $4 AND COALESCE(last_failed_at, -1) = $5";
pub(crate) const ADDRESS_FAILURES: &str =
    "SELECT failures, last_failed_at FROM login_failures WHERE address = $1";
pub(crate) const CLEAR_USER_FAILURES: &str =
    "UPDATE users SET failed_logins = 0, last_failed_at = NULL WHERE user_id = $1";
pub(crate) const CLEAR_ADDRESS_FAILURES: &str = "DELETE FROM login_failures WHERE address = $1";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions (session_hash, user_id, auth_time, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE session_hash = $1"
);
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE session_hash = $1";
