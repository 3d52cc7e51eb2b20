//! The SQL of [`RateLimitStore`](crate::ratelimit::RateLimitStore), shared by both backends:
//! the `client_rate_limits` and `rate_limit_usage` tables.

use crate::ratelimit::{ClientRateLimit, Usage};
use crate::sql::ts;

/// A `client_rate_limits` row.
#[derive(sqlx::FromRow)]
pub(crate) struct LimitRow {
    client_id: String,
    per_second_milli: i64,
    burst: i64,
    updated_at: i64,
}

impl From<LimitRow> for ClientRateLimit {
    fn from(r: LimitRow) -> Self {
        Self {
            client_id: r.client_id,
            per_second_milli: r.per_second_milli,
            burst: r.burst,
            updated_at: ts(r.updated_at),
        }
    }
}

/// A `rate_limit_usage` row as read back.
#[derive(sqlx::FromRow)]
pub(crate) struct UsageRow {
    key: String,
    process: String,
    consumed: i64,
    created_at: i64,
}

impl From<UsageRow> for Usage {
    fn from(r: UsageRow) -> Self {
        Self {
            key: r.key,
            process: r.process,
            consumed: r.consumed,
            created_at_ms: r.created_at,
        }
    }
}

pub(crate) const SELECT_LIMITS: &str = "SELECT client_id, per_second_milli, burst, updated_at \
     FROM client_rate_limits ORDER BY client_id";

pub(crate) const CLIENT_EXISTS: &str = "SELECT COUNT(*) FROM clients WHERE client_id = $1";

pub(crate) const UPSERT_LIMIT: &str = "INSERT INTO client_rate_limits \
     (client_id, per_second_milli, burst, updated_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (client_id) DO UPDATE SET per_second_milli = excluded.per_second_milli, \
     burst = excluded.burst, updated_at = excluded.updated_at";

pub(crate) const DELETE_LIMIT: &str = "DELETE FROM client_rate_limits WHERE client_id = $1";

pub(crate) const ADD_USAGE: &str = "INSERT INTO rate_limit_usage \
     (key, process, consumed, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (key, process) DO UPDATE SET consumed = rate_limit_usage.consumed + \
     excluded.consumed, updated_at = excluded.updated_at";

pub(crate) const OTHERS_USAGE: &str = "SELECT key, process, consumed, created_at \
     FROM rate_limit_usage WHERE process <> $1 AND updated_at >= $2";

pub(crate) const PURGE_USAGE: &str = "DELETE FROM rate_limit_usage WHERE updated_at < $1";

/// Implements [`RateLimitStore`](crate::ratelimit::RateLimitStore) for a backend struct (see
/// [`sql_backend`](crate::sql::sql_backend)).
macro_rules! sql_rate_limit_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::ratelimit::RateLimitStore for $store {
            async fn client_rate_limits(
                &self,
            ) -> Result<Vec<$crate::ratelimit::ClientRateLimit>, $crate::StoreError> {
                let rows: Vec<$crate::sql::ratelimit::LimitRow> =
                    sqlx::query_as($crate::sql::ratelimit::SELECT_LIMITS)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn set_client_rate_limit(
                &self,
                client_id: &str,
                limit: Option<(i64, i64)>,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let (found,): (i64,) = sqlx::query_as($crate::sql::ratelimit::CLIENT_EXISTS)
                    .bind(client_id)
                    .fetch_one(&mut *tx)
                    .await?;
                if found == 0 {
                    return Ok(false);
                }
                match limit {
                    Some((per_second_milli, burst)) => {
                        sqlx::query($crate::sql::ratelimit::UPSERT_LIMIT)
                            .bind(client_id)
                            .bind(per_second_milli)
                            .bind(burst)
                            .bind(now.unix())
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {
                        sqlx::query($crate::sql::ratelimit::DELETE_LIMIT)
                            .bind(client_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn exchange_rate_usage(
                &self,
                process: &str,
                deltas: &[(String, i64)],
                now_ms: i64,
                since_ms: i64,
            ) -> Result<Vec<$crate::ratelimit::Usage>, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                for (key, delta) in deltas {
                    sqlx::query($crate::sql::ratelimit::ADD_USAGE)
                        .bind(key)
                        .bind(process)
                        .bind(delta)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                let rows: Vec<$crate::sql::ratelimit::UsageRow> =
                    sqlx::query_as($crate::sql::ratelimit::OTHERS_USAGE)
                        .bind(process)
                        .bind(since_ms)
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn purge_rate_usage(&self, before_ms: i64) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query($crate::sql::ratelimit::PURGE_USAGE)
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use sql_rate_limit_store;
