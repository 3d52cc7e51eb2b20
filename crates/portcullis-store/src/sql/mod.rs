//! The SQL both backends share, beside the traits it implements.
//!
//! Postgres and SQLite agree on everything Portcullis needs (`$N` placeholders, `RETURNING`,
//! `ON CONFLICT DO NOTHING`, integer times), so each trait's implementation is written once, as a
//! macro that [`sql_backend`] instantiates in `postgres.rs` and `sqlite.rs` for their pool types.
//! A statement that ever needs a dialect of its own moves into those files; nothing here branches
//! on the backend.
//!
//! Where each trait's SQL is:
//! - [`Store`](crate::Store): `sql_store!` below, over [`keys`], [`clients`] and [`tokens`];
//! - [`FlowStore`](crate::flow::FlowStore): [`flow`];
//! - [`RegistrationStore`](crate::registration::RegistrationStore): [`registration`];
//! - [`AdminStore`](crate::admin::AdminStore): [`admin`];
//! - [`RateLimitStore`](crate::ratelimit::RateLimitStore): [`ratelimit`];
//! - [`SecurityStore`](crate::security::SecurityStore): [`security`].
//!
//! A table's rows, column list and statements live in one module; a statement that only one
//! trait needs lives with that trait's SQL. Each implementation stays one macro because
//! `async_trait` rewrites the methods of an `impl` block only when it sees the whole block.
//! Every `SELECT` or `RETURNING` of a row reads the columns of the row type through its table's
//! column-list macro (`client_columns!()`, or `client_columns!("c.")` in a join), built with
//! [`columns`].

pub(crate) mod admin;
pub(crate) mod clients;
pub(crate) mod flow;
pub(crate) mod keys;
pub(crate) mod purge;
pub(crate) mod ratelimit;
pub(crate) mod registration;
pub(crate) mod security;
pub(crate) mod tokens;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;

use crate::StoreError;

/// Implements [`Store`](crate::Store) and the three traits it extends for a backend struct: one
/// with a `pool` field (a [`GuardedPool`](crate::health::GuardedPool): statements fail fast
/// while the database is unreachable), a `writer` field (the token endpoint's batched writes,
/// [`crate::batch::Writer`]), a `lanes()` method (`Some` where token reads and revocations are
/// batched, [`crate::lanes`]) and a `MIGRATOR` static in scope.
macro_rules! sql_backend {
    ($store:ty) => {
        $crate::sql::sql_store!($store);
        $crate::sql::flow::sql_flow_store!($store);
        $crate::sql::registration::sql_registration_store!($store);
        $crate::sql::admin::sql_admin_store!($store);
        $crate::sql::ratelimit::sql_rate_limit_store!($store);
        $crate::sql::security::sql_security_store!($store);
    };
}

pub(crate) use sql_backend;

/// A comma-separated list of columns, each prefixed with `$prefix` if given (a table alias and a
/// dot, as in `"c."`): what each table's column-list macro expands to.
macro_rules! columns {
    (; $($column:ident),+ $(,)?) => {
        $crate::sql::columns!(""; $($column),+)
    };
    ($prefix:literal; $first:ident $(, $column:ident)* $(,)?) => {
        concat!($prefix, stringify!($first) $(, ", ", $prefix, stringify!($column))*)
    };
}

pub(crate) use columns;

/// A stored time: unix seconds.
pub(crate) fn ts(t: i64) -> Timestamp {
    Timestamp::from_unix(t)
}

/// A stored hash of a secret (a code, a token, a request_uri, a session id).
pub(crate) fn hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    TokenHash::from_bytes(bytes).ok_or(StoreError::Corrupt("hash length"))
}

/// Implements [`Store`](crate::Store) for a backend struct (see [`sql_backend`]).
///
/// Migrations run with `ignore_missing`: a database already migrated by a newer release (an
/// applied migration this binary does not know) still opens, so old and new processes can share
/// it during a rolling upgrade; schema changes are expand/contract for that reason.
macro_rules! sql_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn migrate(&self) -> Result<(), $crate::StoreError> {
                let mut migrator = sqlx::migrate::Migrator {
                    migrations: MIGRATOR.migrations.clone(),
                    ..sqlx::migrate::Migrator::DEFAULT
                };
                migrator.set_ignore_missing(true);
                migrator.run(self.pool.inner()).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn pool_stats(&self) -> $crate::PoolStats {
                let pool = self.pool.inner();
                $crate::PoolStats {
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                }
            }

            async fn signing_keys(&self) -> Result<Vec<$crate::StoredKey>, $crate::StoreError> {
                let rows: Vec<$crate::sql::keys::KeyRow> =
                    sqlx::query_as($crate::sql::keys::SELECT_KEYS)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::StoredKey::try_from).collect()
            }

            async fn insert_first_signing_key(
                &self,
                key: &$crate::StoredKey,
            ) -> Result<bool, $crate::StoreError> {
                let s = &key.schedule;
                let done = sqlx::query($crate::sql::keys::INSERT_KEY)
                    .bind(&s.kid)
                    .bind(s.alg.as_str())
                    .bind(1_i64)
                    .bind(&key.public_jwk)
                    .bind(&key.private_jwk_enc)
                    .bind(s.created_at.unix())
                    .bind(s.activates_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn rotate_signing_key(
                &self,
                key: &$crate::StoredKey,
                unpublish_at: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                let s = &key.schedule;
                let mut tx = self.pool.begin().await?;
                let (generation,): (i64,) = sqlx::query_as($crate::sql::keys::MAX_GENERATION)
                    .bind(s.alg.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::keys::RETIRE_KEYS)
                    .bind(s.alg.as_str())
                    .bind(s.activates_at.unix())
                    .bind(unpublish_at.unix())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query($crate::sql::keys::INSERT_KEY)
                    .bind(&s.kid)
                    .bind(s.alg.as_str())
                    .bind(generation + 1)
                    .bind(&key.public_jwk)
                    .bind(&key.private_jwk_enc)
                    .bind(s.created_at.unix())
                    .bind(s.activates_at.unix())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    // A concurrent rotation took this generation; ours rolls back.
                    return Err($crate::StoreError::Conflict);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_client(
                &self,
                client: &$crate::ClientRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::clients::INSERT_CLIENT)
                    .bind(&client.client_id)
                    .bind(&client.metadata)
                    .bind(client.created_at.unix())
                    .bind(client.updated_at.unix())
                    .bind(client.disabled_at.map(|t| t.unix()))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> Result<Option<$crate::ClientRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::clients::ClientRow> =
                    sqlx::query_as($crate::sql::clients::SELECT_CLIENT)
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn clients(&self) -> Result<Vec<$crate::ClientRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::clients::ClientRow> =
                    sqlx::query_as($crate::sql::clients::SELECT_CLIENTS)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn disable_client(
                &self,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::clients::DISABLE_CLIENT)
                    .bind(client_id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_jti(
                &self,
                key: &portcullis_core::hash::TokenHash,
                expires_at: portcullis_core::Timestamp,
            ) -> Result<$crate::JtiUse, $crate::StoreError> {
                self.writer
                    .record_jti(key.as_bytes().to_vec(), expires_at.unix())
                    .await
            }

            async fn insert_access_token(
                &self,
                token: &$crate::AccessTokenRecord,
            ) -> Result<(), $crate::StoreError> {
                self.writer
                    .issue($crate::sql::tokens::row(token), Vec::new())
                    .await
                    .map(drop)
            }

            async fn issue_access_token(
                &self,
                token: &$crate::AccessTokenRecord,
                spends: &[$crate::Spend],
            ) -> Result<Vec<$crate::JtiUse>, $crate::StoreError> {
                let spends = spends.iter().map($crate::batch::JtiRow::from).collect();
                self.writer
                    .issue($crate::sql::tokens::row(token), spends)
                    .await
            }

            async fn access_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::AccessTokenRecord>, $crate::StoreError> {
                if let Some(lanes) = self.lanes() {
                    let read = $crate::postgres::Read {
                        hash: *hash,
                        spend: None,
                    };
                    return Ok(lanes.reads.submit(read).await?.1);
                }
                let row: Option<$crate::sql::tokens::AccessTokenReadRow> =
                    sqlx::query_as($crate::sql::tokens::SELECT_ACCESS_TOKEN)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::AccessTokenRecord::try_from).transpose()
            }

            async fn revoke_access_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::Revocation, $crate::StoreError> {
                if let Some(lanes) = self.lanes() {
                    let revoke = $crate::postgres::Revoke {
                        hash: *hash,
                        client_id: client_id.to_owned(),
                        now: now.unix(),
                        spend: None,
                    };
                    return lanes.revocations.submit(revoke).await?.ok_or(
                        $crate::StoreError::Corrupt("a revocation without a spend was a replay"),
                    );
                }
                let done = sqlx::query($crate::sql::tokens::REVOKE_ACCESS_TOKEN)
                    .bind(&hash.as_bytes()[..])
                    .bind(client_id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 1 {
                    return Ok($crate::Revocation::Revoked);
                }
                // Ownership never changes, so this second look cannot race with the first.
                let exists = sqlx::query($crate::sql::tokens::ACCESS_TOKEN_EXISTS)
                    .bind(&hash.as_bytes()[..])
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(if exists.is_some() {
                    $crate::Revocation::NotOwner
                } else {
                    $crate::Revocation::Unknown
                })
            }

            async fn access_token_spending(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                spend: &$crate::Spend,
            ) -> Result<($crate::JtiUse, Option<$crate::AccessTokenRecord>), $crate::StoreError>
            {
                if let Some(lanes) = self.lanes() {
                    let read = $crate::postgres::Read {
                        hash: *hash,
                        spend: Some(*spend),
                    };
                    return lanes.reads.submit(read).await;
                }
                // One after the other: SQLite answers in-process, there is no round trip to save.
                match self.record_jti(&spend.key, spend.expires_at).await? {
                    $crate::JtiUse::Fresh => {
                        Ok(($crate::JtiUse::Fresh, self.access_token(hash).await?))
                    }
                    $crate::JtiUse::Replayed => Ok(($crate::JtiUse::Replayed, None)),
                }
            }

            async fn revoke_access_token_spending(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                client_id: &str,
                now: portcullis_core::Timestamp,
                spend: &$crate::Spend,
            ) -> Result<Option<$crate::Revocation>, $crate::StoreError> {
                if let Some(lanes) = self.lanes() {
                    let revoke = $crate::postgres::Revoke {
                        hash: *hash,
                        client_id: client_id.to_owned(),
                        now: now.unix(),
                        spend: Some(*spend),
                    };
                    return lanes.revocations.submit(revoke).await;
                }
                // One after the other: SQLite answers in-process, there is no round trip to save.
                match self.record_jti(&spend.key, spend.expires_at).await? {
                    $crate::JtiUse::Fresh => self
                        .revoke_access_token(hash, client_id, now)
                        .await
                        .map(Some),
                    $crate::JtiUse::Replayed => Ok(None),
                }
            }

            async fn purge_expired(
                &self,
                now: portcullis_core::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                let mut removed = 0;
                let mut progress = $crate::PurgeProgress::new();
                loop {
                    let batch = self
                        .purge_expired_batch(now, $crate::sql::purge::DEFAULT_BATCH, &mut progress)
                        .await?;
                    removed += batch;
                    if batch == 0 {
                        break;
                    }
                }
                Ok(removed)
            }

            async fn purge_expired_batch(
                &self,
                now: portcullis_core::Timestamp,
                limit: u32,
                progress: &mut $crate::PurgeProgress,
            ) -> Result<u64, $crate::StoreError> {
                let mut removed = 0;
                for (kind, statement) in $crate::sql::purge::EXPIRED.into_iter().enumerate() {
                    if progress.is_finished(kind) {
                        continue;
                    }
                    let deleted = sqlx::query(statement)
                        .bind(now.unix())
                        .bind(i64::from(limit))
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    if deleted < u64::from(limit) {
                        progress.finish(kind);
                    }
                    removed += deleted;
                }
                Ok(removed)
            }
        }
    };
}

pub(crate) use sql_store;
