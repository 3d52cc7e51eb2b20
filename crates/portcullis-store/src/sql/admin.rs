//! The SQL of [`AdminStore`](crate::admin::AdminStore), shared by both backends: the
//! `admin_sessions` and `audit_events` tables (rows, columns, statements), the admin pages'
//! queries over the other tables, and the trait's implementation as a macro.
//!
//! Text filters are `LOWER(column) LIKE pattern ESCAPE '\'` with a pattern made by
//! [`contains`], which both engines read the same way; a filter parameter that is `NULL` matches
//! everything.

use crate::StoreError;
use crate::admin::{
    AdminSessionRecord, AuditEvent, AuditOutcome, ClientGrant, InitialAccessTokenUse,
    StoredAuditEvent,
};
use crate::sql::clients::client_columns;
use crate::sql::flow::grants::{GrantRow, grant_columns, revoke_cascade};
use crate::sql::registration::registration_columns;
use crate::sql::ts;

/// A row count as the engines return it, as a `u64`.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A `LIKE` pattern matching text that contains `term`, lower-cased, with `\`, `%` and `_`
/// escaped so that they match themselves. Empty (or blank) terms match everything: `None`.
pub(crate) fn contains(term: Option<&str>) -> Option<String> {
    let term = term.map(str::trim).filter(|t| !t.is_empty())?;
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

/// Converts a page bound to the engines' integer type.
pub(crate) fn bound(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An `admin_sessions` row.
#[derive(sqlx::FromRow)]
pub(crate) struct AdminSessionRow {
    user_id: String,
    auth_time: i64,
    last_seen_at: i64,
    csrf_token: String,
    expires_at: i64,
}

impl From<AdminSessionRow> for AdminSessionRecord {
    fn from(r: AdminSessionRow) -> Self {
        Self {
            user_id: r.user_id,
            auth_time: ts(r.auth_time),
            last_seen_at: ts(r.last_seen_at),
            csrf_token: r.csrf_token,
            expires_at: ts(r.expires_at),
        }
    }
}

/// The columns of an [`AdminSessionRow`].
macro_rules! admin_session_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; user_id, auth_time, last_seen_at, csrf_token, expires_at)
    };
}

/// An `audit_events` row.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    actor_id: Option<String>,
    actor_name: Option<String>,
    address: String,
    action: String,
    target: Option<String>,
    outcome: String,
    details: String,
}

impl TryFrom<AuditRow> for StoredAuditEvent {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            event: AuditEvent {
                at: ts(r.at),
                actor_id: r.actor_id,
                actor_name: r.actor_name,
                address: r.address,
                action: r.action,
                target: r.target,
                outcome: AuditOutcome::parse(&r.outcome)
                    .ok_or(StoreError::Corrupt("audit event outcome"))?,
                details: r.details,
            },
        })
    }
}

/// The columns of an [`AuditRow`].
macro_rules! audit_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; id, at, actor_id, actor_name, address, action, target,
            outcome, details)
    };
}

/// A `grants` row with its user's name and live refresh tokens.
#[derive(sqlx::FromRow)]
pub(crate) struct ClientGrantRow {
    #[sqlx(flatten)]
    grant: GrantRow,
    username: Option<String>,
    live_refresh_tokens: i64,
}

impl From<ClientGrantRow> for ClientGrant {
    fn from(r: ClientGrantRow) -> Self {
        Self {
            grant: r.grant.into(),
            username: r.username,
            live_refresh_tokens: count(r.live_refresh_tokens),
        }
    }
}

/// A client registered with an initial access token.
#[derive(sqlx::FromRow)]
pub(crate) struct UseRow {
    initial_access_token_id: String,
    client_id: String,
    created_at: i64,
}

impl From<UseRow> for InitialAccessTokenUse {
    fn from(r: UseRow) -> Self {
        Self {
            token_id: r.initial_access_token_id,
            client_id: r.client_id,
            registered_at: ts(r.created_at),
        }
    }
}

pub(crate) const INSERT_SESSION: &str = "INSERT INTO admin_sessions \
     (session_hash, user_id, auth_time, last_seen_at, csrf_token, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
/// The idle and absolute timeouts and the touch in one statement (`$2` now, `$3` idle since).
pub(crate) const TOUCH_SESSION: &str = concat!(
    "UPDATE admin_sessions SET last_seen_at = $2 \
     WHERE session_hash = $1 AND last_seen_at > $3 AND expires_at > $2 RETURNING ",
    admin_session_columns!()
);
pub(crate) const DELETE_SESSION: &str = "DELETE FROM admin_sessions WHERE session_hash = $1";
pub(crate) const END_SESSIONS_OF: [&str; 2] = [
    "DELETE FROM admin_sessions WHERE user_id = $1",
    "DELETE FROM sessions WHERE user_id = $1",
];

pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_events \
     (at, actor_id, actor_name, address, action, target, outcome, details) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// The audit filter: `$1` action, `$2` actor, `$3` target patterns.
macro_rules! audit_where {
    () => {
        "WHERE ($1 IS NULL OR LOWER(action) LIKE $1 ESCAPE '\\') \
         AND ($2 IS NULL OR LOWER(COALESCE(actor_name, '')) LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR LOWER(COALESCE(target, '')) LIKE $3 ESCAPE '\\')"
    };
}
/// Newest first: by time, then by insertion for events of the same second.
pub(crate) const AUDIT_PAGE: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit_events ",
    audit_where!(),
    " ORDER BY at DESC, id DESC LIMIT $4 OFFSET $5"
);
pub(crate) const AUDIT_COUNT: &str = concat!("SELECT COUNT(*) FROM audit_events ", audit_where!());

/// The client search: `$1` pattern.
macro_rules! clients_where {
    () => {
        "WHERE $1 IS NULL OR LOWER(client_id) LIKE $1 ESCAPE '\\' \
         OR LOWER(metadata) LIKE $1 ESCAPE '\\'"
    };
}
pub(crate) const CLIENTS_PAGE: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients ",
    clients_where!(),
    " ORDER BY client_id LIMIT $2 OFFSET $3"
);
pub(crate) const CLIENTS_COUNT: &str = concat!("SELECT COUNT(*) FROM clients ", clients_where!());
pub(crate) const ENABLE_CLIENT: &str =
    "UPDATE clients SET disabled_at = NULL, updated_at = $2 WHERE client_id = $1";
pub(crate) const ENABLE_USER: &str = "UPDATE users SET disabled_at = NULL WHERE user_id = $1";
pub(crate) const REGISTRATION: &str = concat!(
    "SELECT ",
    registration_columns!(),
    " FROM client_registrations WHERE client_id = $1"
);
pub(crate) const IAT_USES: &str = "SELECT r.initial_access_token_id, r.client_id, c.created_at \
     FROM client_registrations r JOIN clients c ON c.client_id = r.client_id \
     WHERE r.initial_access_token_id IS NOT NULL ORDER BY c.created_at, r.client_id";

pub(crate) const CLIENT_GRANTS: &str = concat!(
    "SELECT ",
    grant_columns!("g."),
    ", u.username, \
     (SELECT COUNT(*) FROM refresh_tokens r WHERE r.grant_id = g.grant_id \
      AND r.revoked_at IS NULL AND r.expires_at > $2) AS live_refresh_tokens \
     FROM grants g LEFT JOIN users u ON u.user_id = g.user_id \
     WHERE g.client_id = $1 ORDER BY g.created_at DESC, g.grant_id LIMIT $3"
);
pub(crate) const LIVE_ACCESS_TOKENS: &str = "SELECT \
     CASE WHEN cnf_jkt IS NOT NULL THEN 'dpop' ELSE 'mtls' END AS binding, format, \
     COUNT(*) AS live, MIN(expires_at) AS soonest FROM access_tokens \
     WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2 GROUP BY 1, 2 ORDER BY 1, 2";
pub(crate) const LIVE_REFRESH_TOKENS: &str = "SELECT COUNT(*), MIN(expires_at) \
     FROM refresh_tokens WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2";
/// Every live access and refresh token of client `$1` and every grant to it, revoked at `$2`.
/// Tokens match by their own client_id, so those without a grant (client_credentials) are
/// revoked too; only rows not yet revoked match, so the counts are what this revocation did.
pub(crate) const REVOKE_CLIENT: [&str; 3] = revoke_cascade!(
    tokens: "client_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    grants: "client_id = $1 AND revoked_at IS NULL",
    at: "$2"
);

/// Implements [`AdminStore`](crate::admin::AdminStore) for a struct with a `pool` field.
macro_rules! sql_admin_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::admin::AdminStore for $store {
            async fn insert_admin_session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                s: &$crate::admin::AdminSessionRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::admin::INSERT_SESSION)
                    .bind(&hash.as_bytes()[..])
                    .bind(&s.user_id)
                    .bind(s.auth_time.unix())
                    .bind(s.last_seen_at.unix())
                    .bind(&s.csrf_token)
                    .bind(s.expires_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn touch_admin_session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                now: portcullis_core::Timestamp,
                idle_since: portcullis_core::Timestamp,
            ) -> Result<Option<$crate::admin::AdminSessionRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::admin::AdminSessionRow> =
                    sqlx::query_as($crate::sql::admin::TOUCH_SESSION)
                        .bind(&hash.as_bytes()[..])
                        .bind(now.unix())
                        .bind(idle_since.unix())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn delete_admin_session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::admin::DELETE_SESSION)
                    .bind(&hash.as_bytes()[..])
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn end_sessions_of(&self, user_id: &str) -> Result<u64, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let mut ended = 0;
                for statement in $crate::sql::admin::END_SESSIONS_OF {
                    ended += sqlx::query(statement)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(ended)
            }

            async fn insert_audit_event(
                &self,
                e: &$crate::admin::AuditEvent,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::admin::INSERT_AUDIT)
                    .bind(e.at.unix())
                    .bind(&e.actor_id)
                    .bind(&e.actor_name)
                    .bind(&e.address)
                    .bind(&e.action)
                    .bind(&e.target)
                    .bind(e.outcome.as_str())
                    .bind(&e.details)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn audit_events(
                &self,
                filter: &$crate::admin::AuditFilter,
                offset: u64,
                limit: u64,
            ) -> Result<(Vec<$crate::admin::StoredAuditEvent>, u64), $crate::StoreError> {
                let action = $crate::sql::admin::contains(filter.action.as_deref());
                let actor = $crate::sql::admin::contains(filter.actor.as_deref());
                let target = $crate::sql::admin::contains(filter.target.as_deref());
                let rows: Vec<$crate::sql::admin::AuditRow> =
                    sqlx::query_as($crate::sql::admin::AUDIT_PAGE)
                        .bind(&action)
                        .bind(&actor)
                        .bind(&target)
                        .bind($crate::sql::admin::bound(limit))
                        .bind($crate::sql::admin::bound(offset))
                        .fetch_all(&self.pool)
                        .await?;
                let (total,): (i64,) = sqlx::query_as($crate::sql::admin::AUDIT_COUNT)
                    .bind(&action)
                    .bind(&actor)
                    .bind(&target)
                    .fetch_one(&self.pool)
                    .await?;
                let events = rows
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((events, $crate::sql::admin::count(total)))
            }

            async fn purge_audit_events(
                &self,
                before: portcullis_core::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                let mut removed = 0;
                loop {
                    let batch = self
                        .purge_audit_events_batch(before, $crate::sql::purge::DEFAULT_BATCH)
                        .await?;
                    removed += batch;
                    if batch == 0 {
                        return Ok(removed);
                    }
                }
            }

            async fn purge_audit_events_batch(
                &self,
                before: portcullis_core::Timestamp,
                limit: u32,
            ) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query($crate::sql::purge::AUDIT)
                    .bind(before.unix())
                    .bind(i64::from(limit))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn clients_page(
                &self,
                search: Option<&str>,
                offset: u64,
                limit: u64,
            ) -> Result<(Vec<$crate::ClientRecord>, u64), $crate::StoreError> {
                let pattern = $crate::sql::admin::contains(search);
                let rows: Vec<$crate::sql::clients::ClientRow> =
                    sqlx::query_as($crate::sql::admin::CLIENTS_PAGE)
                        .bind(&pattern)
                        .bind($crate::sql::admin::bound(limit))
                        .bind($crate::sql::admin::bound(offset))
                        .fetch_all(&self.pool)
                        .await?;
                let (total,): (i64,) = sqlx::query_as($crate::sql::admin::CLIENTS_COUNT)
                    .bind(&pattern)
                    .fetch_one(&self.pool)
                    .await?;
                Ok((
                    rows.into_iter().map(Into::into).collect(),
                    $crate::sql::admin::count(total),
                ))
            }

            async fn update_client_metadata(
                &self,
                client_id: &str,
                metadata: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::clients::REPLACE_METADATA)
                    .bind(client_id)
                    .bind(metadata)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn enable_client(
                &self,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::admin::ENABLE_CLIENT)
                    .bind(client_id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn enable_user(&self, user_id: &str) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::admin::ENABLE_USER)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn client_registration(
                &self,
                client_id: &str,
            ) -> Result<Option<$crate::registration::RegistrationRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::registration::RegistrationRow> =
                    sqlx::query_as($crate::sql::admin::REGISTRATION)
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn initial_access_token_uses(
                &self,
            ) -> Result<Vec<$crate::admin::InitialAccessTokenUse>, $crate::StoreError> {
                let rows: Vec<$crate::sql::admin::UseRow> =
                    sqlx::query_as($crate::sql::admin::IAT_USES)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn client_grants(
                &self,
                client_id: &str,
                now: portcullis_core::Timestamp,
                limit: u64,
            ) -> Result<Vec<$crate::admin::ClientGrant>, $crate::StoreError> {
                let rows: Vec<$crate::sql::admin::ClientGrantRow> =
                    sqlx::query_as($crate::sql::admin::CLIENT_GRANTS)
                        .bind(client_id)
                        .bind(now.unix())
                        .bind($crate::sql::admin::bound(limit))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn client_token_summary(
                &self,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<Vec<$crate::admin::TokenSummary>, $crate::StoreError> {
                let access: Vec<(String, String, i64, i64)> =
                    sqlx::query_as($crate::sql::admin::LIVE_ACCESS_TOKENS)
                        .bind(client_id)
                        .bind(now.unix())
                        .fetch_all(&self.pool)
                        .await?;
                let mut out: Vec<$crate::admin::TokenSummary> = access
                    .into_iter()
                    .map(
                        |(binding, format, live, soonest)| $crate::admin::TokenSummary {
                            kind: $crate::admin::TokenKind::Access,
                            binding,
                            format,
                            live: $crate::sql::admin::count(live),
                            soonest_expiry: portcullis_core::Timestamp::from_unix(soonest),
                        },
                    )
                    .collect();
                let (live, soonest): (i64, Option<i64>) =
                    sqlx::query_as($crate::sql::admin::LIVE_REFRESH_TOKENS)
                        .bind(client_id)
                        .bind(now.unix())
                        .fetch_one(&self.pool)
                        .await?;
                if let (true, Some(soonest)) = (live > 0, soonest) {
                    out.push($crate::admin::TokenSummary {
                        kind: $crate::admin::TokenKind::Refresh,
                        binding: "client".to_owned(),
                        format: "opaque".to_owned(),
                        live: $crate::sql::admin::count(live),
                        soonest_expiry: portcullis_core::Timestamp::from_unix(soonest),
                    });
                }
                Ok(out)
            }

            async fn revoke_client_tokens(
                &self,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::admin::ClientRevocation, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let mut counts = [0_u64; 3];
                for (n, statement) in $crate::sql::admin::REVOKE_CLIENT.into_iter().enumerate() {
                    counts[n] = sqlx::query(statement)
                        .bind(client_id)
                        .bind(now.unix())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok($crate::admin::ClientRevocation {
                    access_tokens: counts[0],
                    refresh_tokens: counts[1],
                    grants: counts[2],
                })
            }
        }
    };
}

pub(crate) use sql_admin_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_escapes_like_wildcards_and_ignores_blank_terms() {
        assert_eq!(contains(None), None);
        assert_eq!(contains(Some("  ")), None);
        assert_eq!(contains(Some("Budget")).as_deref(), Some("%budget%"));
        assert_eq!(
            contains(Some(r"50%_off\")).as_deref(),
            Some(r"%50\%\_off\\%")
        );
    }
}
