//! The SQL both backends share.
//!
//! Postgres and SQLite agree on everything Portcullis needs (`$N` placeholders, `RETURNING`,
//! `ON CONFLICT DO NOTHING`, integer times), so the [`Store`](crate::Store) implementation is
//! written once here as a macro and instantiated in `postgres.rs` and `sqlite.rs` for each pool
//! type. A statement that ever needs a dialect of its own moves into those files; nothing here
//! branches on the backend.

use portcullis_core::Timestamp;
use portcullis_core::keys::KeySchedule;

use crate::{StoreError, StoredKey, alg_from_db};

/// A `signing_keys` row.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    kid: String,
    alg: String,
    public_jwk: String,
    private_jwk_enc: Vec<u8>,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
    unpublish_at: Option<i64>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            schedule: KeySchedule {
                kid: row.kid,
                alg: alg_from_db(&row.alg)?,
                created_at: Timestamp::from_unix(row.created_at),
                activates_at: Timestamp::from_unix(row.activates_at),
                retires_at: row.retires_at.map(Timestamp::from_unix),
                unpublish_at: row.unpublish_at.map(Timestamp::from_unix),
            },
            public_jwk: row.public_jwk,
            private_jwk_enc: row.private_jwk_enc,
        })
    }
}

pub(crate) const SELECT_KEYS: &str = "SELECT kid, alg, public_jwk, private_jwk_enc, created_at, \
     activates_at, retires_at, unpublish_at FROM signing_keys ORDER BY generation, kid";

pub(crate) const INSERT_KEY: &str = "INSERT INTO signing_keys \
     (kid, alg, generation, public_jwk, private_jwk_enc, created_at, activates_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

pub(crate) const MAX_GENERATION: &str =
    "SELECT COALESCE(MAX(generation), 0) FROM signing_keys WHERE alg = $1";

pub(crate) const RETIRE_KEYS: &str = "UPDATE signing_keys SET retires_at = $2, unpublish_at = $3 \
     WHERE alg = $1 AND retires_at IS NULL";

pub(crate) const PURGE_KEYS: &str =
    "DELETE FROM signing_keys WHERE unpublish_at IS NOT NULL AND unpublish_at <= $1";

/// Implements [`Store`](crate::Store) for a struct with `pool` (a sqlx pool) and a `MIGRATOR`
/// static in scope.
macro_rules! sql_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn migrate(&self) -> Result<(), $crate::StoreError> {
                MIGRATOR.run(&self.pool).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn signing_keys(&self) -> Result<Vec<$crate::StoredKey>, $crate::StoreError> {
                let rows: Vec<$crate::sql::KeyRow> = sqlx::query_as($crate::sql::SELECT_KEYS)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::StoredKey::try_from).collect()
            }

            async fn insert_first_signing_key(
                &self,
                key: &$crate::StoredKey,
            ) -> Result<bool, $crate::StoreError> {
                let s = &key.schedule;
                let done = sqlx::query($crate::sql::INSERT_KEY)
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
                let (generation,): (i64,) = sqlx::query_as($crate::sql::MAX_GENERATION)
                    .bind(s.alg.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::RETIRE_KEYS)
                    .bind(s.alg.as_str())
                    .bind(s.activates_at.unix())
                    .bind(unpublish_at.unix())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query($crate::sql::INSERT_KEY)
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

            async fn purge_expired(
                &self,
                now: portcullis_core::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query($crate::sql::PURGE_KEYS)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use sql_store;
