//! The SQLite backend: the embedded default for a single server process.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use crate::StoreError;
use crate::health::{GuardedPool, Health};
use crate::postgres::ACQUIRE_TIMEOUT;
use crate::sql::sql_backend;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// SQLite serializes writers; a few connections let readers proceed under WAL.
const MAX_CONNECTIONS: u32 = 4;

/// [`Store`](crate::Store) on an SQLite file (WAL mode, foreign keys on).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: GuardedPool<sqlx::Sqlite>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file named by `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let health = Health::of(&pool);
        Ok(Self {
            pool: GuardedPool::new(pool, health),
        })
    }

    /// The pool for the token endpoint's inserts: the same one (SQLite has one writer).
    fn fast_pool(&self) -> &GuardedPool<sqlx::Sqlite> {
        &self.pool
    }
}

sql_backend!(SqliteStore);
