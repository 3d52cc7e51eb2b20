//! The flow's SQL, shared by both backends like `sql/mod.rs`: rows, statements, and the
//! [`FlowStore`](crate::flow::FlowStore) implementation as a macro.

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;

use crate::StoreError;
use crate::flow::{
    CodeRecord, ConsentRecord, GrantRecord, PushedRequest, RefreshTokenRecord, SessionRecord,
    UserRecord,
};

fn ts(t: i64) -> Timestamp {
    Timestamp::from_unix(t)
}

fn hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    TokenHash::from_bytes(bytes).ok_or(StoreError::Corrupt("hash length"))
}

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

#[derive(sqlx::FromRow)]
pub(crate) struct PushedRow {
    client_id: String,
    request: String,
    expires_at: i64,
}

impl From<PushedRow> for PushedRequest {
    fn from(r: PushedRow) -> Self {
        Self {
            client_id: r.client_id,
            request: r.request,
            expires_at: ts(r.expires_at),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    grant_id: String,
    user_id: String,
    client_id: String,
    scope: String,
    auth_time: i64,
    acr: Option<String>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<GrantRow> for GrantRecord {
    fn from(r: GrantRow) -> Self {
        Self {
            grant_id: r.grant_id,
            user_id: r.user_id,
            client_id: r.client_id,
            scope: r.scope,
            auth_time: ts(r.auth_time),
            acr: r.acr,
            created_at: ts(r.created_at),
            revoked_at: r.revoked_at.map(ts),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CodeRow {
    code_hash: Vec<u8>,
    grant_id: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    dpop_jkt: Option<String>,
    nonce: Option<String>,
    expires_at: i64,
}

impl TryFrom<CodeRow> for CodeRecord {
    type Error = StoreError;

    fn try_from(r: CodeRow) -> Result<Self, StoreError> {
        Ok(Self {
            code_hash: hash(&r.code_hash)?,
            grant_id: r.grant_id,
            client_id: r.client_id,
            redirect_uri: r.redirect_uri,
            code_challenge: r.code_challenge,
            dpop_jkt: r.dpop_jkt,
            nonce: r.nonce,
            expires_at: ts(r.expires_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RefreshRow {
    token_hash: Vec<u8>,
    grant_id: String,
    client_id: String,
    issued_at: i64,
    last_used_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<RefreshRow> for RefreshTokenRecord {
    type Error = StoreError;

    fn try_from(r: RefreshRow) -> Result<Self, StoreError> {
        Ok(Self {
            token_hash: hash(&r.token_hash)?,
            grant_id: r.grant_id,
            client_id: r.client_id,
            issued_at: ts(r.issued_at),
            last_used_at: ts(r.last_used_at),
            expires_at: ts(r.expires_at),
            revoked_at: r.revoked_at.map(ts),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConsentRow {
    user_id: String,
    client_id: String,
    scope: String,
    granted_at: i64,
}

impl From<ConsentRow> for ConsentRecord {
    fn from(r: ConsentRow) -> Self {
        Self {
            user_id: r.user_id,
            client_id: r.client_id,
            scope: r.scope,
            granted_at: ts(r.granted_at),
        }
    }
}

pub(crate) const INSERT_USER: &str = "INSERT INTO users (user_id, username, password_hash, is_admin, created_at, disabled_at, failed_logins, last_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const USER_BY_NAME: &str = "SELECT user_id, username, password_hash, is_admin, created_at, disabled_at, failed_logins, last_failed_at FROM users WHERE username = $1";
pub(crate) const USER_BY_ID: &str = "SELECT user_id, username, password_hash, is_admin, created_at, disabled_at, failed_logins, last_failed_at FROM users WHERE user_id = $1";
pub(crate) const USERS: &str = "SELECT user_id, username, password_hash, is_admin, created_at, disabled_at, failed_logins, last_failed_at FROM users ORDER BY username";
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
pub(crate) const ADDRESS_FAILURES: &str =
    "SELECT failures, last_failed_at FROM login_failures WHERE address = $1";
pub(crate) const CLEAR_USER_FAILURES: &str =
    "UPDATE users SET failed_logins = 0, last_failed_at = NULL WHERE user_id = $1";
pub(crate) const CLEAR_ADDRESS_FAILURES: &str = "DELETE FROM login_failures WHERE address = $1";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions (session_hash, user_id, auth_time, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const SESSION: &str =
    "SELECT user_id, auth_time, csrf_token, expires_at FROM sessions WHERE session_hash = $1";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE session_hash = $1";

pub(crate) const INSERT_PUSHED: &str = "INSERT INTO pushed_requests (request_uri_hash, client_id, request, expires_at) VALUES ($1, $2, $3, $4)";
pub(crate) const PUSHED: &str =
    "SELECT client_id, request, expires_at FROM pushed_requests WHERE request_uri_hash = $1";
pub(crate) const TAKE_PUSHED: &str = "DELETE FROM pushed_requests WHERE request_uri_hash = $1 AND client_id = $2 AND expires_at > $3 \
     RETURNING client_id, request, expires_at";

pub(crate) const EXTEND_PUSHED: &str = "UPDATE pushed_requests SET expires_at = $2 WHERE request_uri_hash = $1 AND expires_at > $3 AND expires_at < $2";
pub(crate) const INSERT_GRANT: &str = "INSERT INTO grants (grant_id, user_id, client_id, scope, auth_time, acr, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const INSERT_CODE: &str = "INSERT INTO codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, dpop_jkt, nonce, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const UPSERT_CONSENT: &str = "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at";
pub(crate) const REDEEM_CODE: &str = "UPDATE codes SET redeemed_at = $2 WHERE code_hash = $1 AND redeemed_at IS NULL AND expires_at > $2 \
     RETURNING code_hash, grant_id, client_id, redirect_uri, code_challenge, dpop_jkt, nonce, expires_at";
pub(crate) const CODE_STATE: &str = "SELECT grant_id, redeemed_at FROM codes WHERE code_hash = $1";
pub(crate) const GRANT: &str = "SELECT grant_id, user_id, client_id, scope, auth_time, acr, created_at, revoked_at FROM grants WHERE grant_id = $1";
pub(crate) const REVOKE_GRANT: &str =
    "UPDATE grants SET revoked_at = COALESCE(revoked_at, $2) WHERE grant_id = $1";
pub(crate) const REVOKE_GRANT_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE grant_id = $1";
pub(crate) const REVOKE_GRANT_REFRESH: &str =
    "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE grant_id = $1";

pub(crate) const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, issued_at, last_used_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const REFRESH: &str = "SELECT token_hash, grant_id, client_id, issued_at, last_used_at, expires_at, revoked_at FROM refresh_tokens WHERE token_hash = $1";
pub(crate) const TOUCH_REFRESH: &str =
    "UPDATE refresh_tokens SET last_used_at = $2 WHERE token_hash = $1";

pub(crate) const CONSENT: &str = "SELECT user_id, client_id, scope, granted_at FROM consents WHERE user_id = $1 AND client_id = $2";
pub(crate) const CONSENTS: &str = "SELECT user_id, client_id, scope, granted_at FROM consents WHERE user_id = $1 ORDER BY client_id";
pub(crate) const DELETE_CONSENT: &str =
    "DELETE FROM consents WHERE user_id = $1 AND client_id = $2";
pub(crate) const REVOKE_USER_CLIENT_ACCESS: &str = "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $3) \
     WHERE grant_id IN (SELECT grant_id FROM grants WHERE user_id = $1 AND client_id = $2)";
pub(crate) const REVOKE_USER_CLIENT_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $3) \
     WHERE grant_id IN (SELECT grant_id FROM grants WHERE user_id = $1 AND client_id = $2)";
pub(crate) const REVOKE_USER_CLIENT_GRANTS: &str =
    "UPDATE grants SET revoked_at = COALESCE(revoked_at, $3) WHERE user_id = $1 AND client_id = $2";

/// Rows whose lifetime is over (`$1` = now), oldest tables last.
pub(crate) const PURGE: [&str; 5] = [
    "DELETE FROM sessions WHERE expires_at <= $1",
    "DELETE FROM login_failures WHERE last_failed_at <= $1 - 86400",
    "DELETE FROM pushed_requests WHERE expires_at <= $1",
    "DELETE FROM codes WHERE expires_at <= $1",
    "DELETE FROM refresh_tokens WHERE expires_at <= $1",
];

/// Implements [`FlowStore`](crate::flow::FlowStore) for a struct with a `pool` field.
macro_rules! sql_flow_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::flow::FlowStore for $store {
            async fn insert_user(
                &self,
                u: &$crate::flow::UserRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::INSERT_USER)
                    .bind(&u.user_id)
                    .bind(&u.username)
                    .bind(&u.password_hash)
                    .bind(u.is_admin)
                    .bind(u.created_at.unix())
                    .bind(u.disabled_at.map(|t| t.unix()))
                    .bind(i32::try_from(u.failed_logins).unwrap_or(i32::MAX))
                    .bind(u.last_failed_at.map(|t| t.unix()))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn user_by_username(
                &self,
                username: &str,
            ) -> Result<Option<$crate::flow::UserRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::UserRow> =
                    sqlx::query_as($crate::sql::flow::USER_BY_NAME)
                        .bind(username)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn user(
                &self,
                user_id: &str,
            ) -> Result<Option<$crate::flow::UserRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::UserRow> =
                    sqlx::query_as($crate::sql::flow::USER_BY_ID)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn users(&self) -> Result<Vec<$crate::flow::UserRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::flow::UserRow> =
                    sqlx::query_as($crate::sql::flow::USERS)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn set_password(
                &self,
                user_id: &str,
                password_hash: &str,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::flow::SET_PASSWORD)
                    .bind(user_id)
                    .bind(password_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn disable_user(
                &self,
                user_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::flow::DISABLE_USER)
                    .bind(user_id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_login_failure(
                &self,
                user_id: Option<&str>,
                address: &str,
                now: portcullis_core::Timestamp,
                forget_before: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                if let Some(user_id) = user_id {
                    sqlx::query($crate::sql::flow::USER_FAILURE)
                        .bind(user_id)
                        .bind(now.unix())
                        .bind(forget_before.unix())
                        .execute(&self.pool)
                        .await?;
                }
                sqlx::query($crate::sql::flow::ADDRESS_FAILURE)
                    .bind(address)
                    .bind(now.unix())
                    .bind(forget_before.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn address_failures(
                &self,
                address: &str,
            ) -> Result<Option<(u32, portcullis_core::Timestamp)>, $crate::StoreError> {
                let row: Option<(i32, i64)> = sqlx::query_as($crate::sql::flow::ADDRESS_FAILURES)
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(n, t)| {
                    (
                        u32::try_from(n).unwrap_or(0),
                        portcullis_core::Timestamp::from_unix(t),
                    )
                }))
            }

            async fn clear_login_failures(
                &self,
                user_id: &str,
                address: &str,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::CLEAR_USER_FAILURES)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                sqlx::query($crate::sql::flow::CLEAR_ADDRESS_FAILURES)
                    .bind(address)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                s: &$crate::flow::SessionRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::INSERT_SESSION)
                    .bind(&hash.as_bytes()[..])
                    .bind(&s.user_id)
                    .bind(s.auth_time.unix())
                    .bind(&s.csrf_token)
                    .bind(s.expires_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::flow::SessionRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::SessionRow> =
                    sqlx::query_as($crate::sql::flow::SESSION)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn delete_session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::DELETE_SESSION)
                    .bind(&hash.as_bytes()[..])
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                r: &$crate::flow::PushedRequest,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::INSERT_PUSHED)
                    .bind(&hash.as_bytes()[..])
                    .bind(&r.client_id)
                    .bind(&r.request)
                    .bind(r.expires_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::flow::PushedRequest>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::PushedRow> =
                    sqlx::query_as($crate::sql::flow::PUSHED)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn take_pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<Option<$crate::flow::PushedRequest>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::PushedRow> =
                    sqlx::query_as($crate::sql::flow::TAKE_PUSHED)
                        .bind(&hash.as_bytes()[..])
                        .bind(client_id)
                        .bind(now.unix())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn extend_pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                until: portcullis_core::Timestamp,
                now: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::EXTEND_PUSHED)
                    .bind(&hash.as_bytes()[..])
                    .bind(until.unix())
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn issue_code(
                &self,
                g: &$crate::flow::GrantRecord,
                c: &$crate::flow::CodeRecord,
                consent: &$crate::flow::ConsentRecord,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query($crate::sql::flow::INSERT_GRANT)
                    .bind(&g.grant_id)
                    .bind(&g.user_id)
                    .bind(&g.client_id)
                    .bind(&g.scope)
                    .bind(g.auth_time.unix())
                    .bind(&g.acr)
                    .bind(g.created_at.unix())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::flow::INSERT_CODE)
                    .bind(&c.code_hash.as_bytes()[..])
                    .bind(&c.grant_id)
                    .bind(&c.client_id)
                    .bind(&c.redirect_uri)
                    .bind(&c.code_challenge)
                    .bind(&c.dpop_jkt)
                    .bind(&c.nonce)
                    .bind(c.expires_at.unix())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::flow::UPSERT_CONSENT)
                    .bind(&consent.user_id)
                    .bind(&consent.client_id)
                    .bind(&consent.scope)
                    .bind(consent.granted_at.unix())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeem_code(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::flow::Redemption, $crate::StoreError> {
                let won: Option<$crate::sql::flow::CodeRow> =
                    sqlx::query_as($crate::sql::flow::REDEEM_CODE)
                        .bind(&hash.as_bytes()[..])
                        .bind(now.unix())
                        .fetch_optional(&self.pool)
                        .await?;
                if let Some(row) = won {
                    let code = $crate::flow::CodeRecord::try_from(row)?;
                    let grant: Option<$crate::sql::flow::GrantRow> =
                        sqlx::query_as($crate::sql::flow::GRANT)
                            .bind(&code.grant_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    let grant = grant.ok_or($crate::StoreError::Corrupt("code without grant"))?;
                    return Ok($crate::flow::Redemption::Fresh {
                        code: Box::new(code),
                        grant: Box::new(grant.into()),
                    });
                }
                let state: Option<(String, Option<i64>)> =
                    sqlx::query_as($crate::sql::flow::CODE_STATE)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(match state {
                    Some((grant_id, Some(_))) => $crate::flow::Redemption::Replayed { grant_id },
                    _ => $crate::flow::Redemption::Unknown,
                })
            }

            async fn grant(
                &self,
                grant_id: &str,
            ) -> Result<Option<$crate::flow::GrantRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::GrantRow> =
                    sqlx::query_as($crate::sql::flow::GRANT)
                        .bind(grant_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn revoke_grant(
                &self,
                grant_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                for statement in [
                    $crate::sql::flow::REVOKE_GRANT,
                    $crate::sql::flow::REVOKE_GRANT_ACCESS,
                    $crate::sql::flow::REVOKE_GRANT_REFRESH,
                ] {
                    sqlx::query(statement)
                        .bind(grant_id)
                        .bind(now.unix())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_refresh_token(
                &self,
                t: &$crate::flow::RefreshTokenRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::INSERT_REFRESH)
                    .bind(&t.token_hash.as_bytes()[..])
                    .bind(&t.grant_id)
                    .bind(&t.client_id)
                    .bind(t.issued_at.unix())
                    .bind(t.last_used_at.unix())
                    .bind(t.expires_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn refresh_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::flow::RefreshTokenRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::RefreshRow> =
                    sqlx::query_as($crate::sql::flow::REFRESH)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::flow::RefreshTokenRecord::try_from)
                    .transpose()
            }

            async fn touch_refresh_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                now: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::TOUCH_REFRESH)
                    .bind(&hash.as_bytes()[..])
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn revoke_refresh_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::Revocation, $crate::StoreError> {
                let Some(token) = self.refresh_token(hash).await? else {
                    return Ok($crate::Revocation::Unknown);
                };
                if token.client_id != client_id {
                    return Ok($crate::Revocation::NotOwner);
                }
                self.revoke_grant(&token.grant_id, now).await?;
                Ok($crate::Revocation::Revoked)
            }

            async fn consent(
                &self,
                user_id: &str,
                client_id: &str,
            ) -> Result<Option<$crate::flow::ConsentRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::ConsentRow> =
                    sqlx::query_as($crate::sql::flow::CONSENT)
                        .bind(user_id)
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn consents(
                &self,
                user_id: &str,
            ) -> Result<Vec<$crate::flow::ConsentRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::flow::ConsentRow> =
                    sqlx::query_as($crate::sql::flow::CONSENTS)
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_consent(
                &self,
                user_id: &str,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let deleted = sqlx::query($crate::sql::flow::DELETE_CONSENT)
                    .bind(user_id)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                for statement in [
                    $crate::sql::flow::REVOKE_USER_CLIENT_ACCESS,
                    $crate::sql::flow::REVOKE_USER_CLIENT_REFRESH,
                    $crate::sql::flow::REVOKE_USER_CLIENT_GRANTS,
                ] {
                    sqlx::query(statement)
                        .bind(user_id)
                        .bind(client_id)
                        .bind(now.unix())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(deleted.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use sql_flow_store;
