//! The Postgres backend: the production store, shared by any number of server processes.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::StoreError;
use crate::health::{GuardedPool, Health};
use crate::sql::sql_backend;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connections per process. Each request on a hot path holds one for a single round trip.
const MAX_CONNECTIONS: u32 = 16;

/// Connections of the asynchronous-commit pool (see [`PgStore`]).
const MAX_FAST_CONNECTIONS: u32 = 8;

/// How long a statement waits for a connection. Short, because while Postgres refuses
/// connections the pool retries until this passes; once that has happened the database is marked
/// down and statements fail at once (`health`).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// [`Store`](crate::Store) on Postgres.
///
/// Two pools: `pool` commits synchronously (everything that must survive a crash once
/// acknowledged: revocations, grants, codes, keys, clients); `fast` runs with
/// `synchronous_commit = off` and serves only the token endpoint's two inserts, where losing the
/// last few hundred milliseconds in a crash fails safe: a lost access token row makes that token
/// invalid, and a lost spent-`jti` row can only matter for an assertion or proof that was
/// already used in that instant and is still unexpired. Decision record 0007.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: GuardedPool<sqlx::Postgres>,
    fast: GuardedPool<sqlx::Postgres>,
}

impl PgStore {
    /// Connects to `url`, failing fast when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid Postgres URL: {e}")))?
            // Notices (such as the migrator's "relation _sqlx_migrations already exists,
            // skipping") are not for operators; warnings and errors still reach the log.
            .options([("client_min_messages", "warning")]);
        let main = || {
            PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
        };
        let pool = match main().await {
            Ok(pool) => pool,
            // 3D000 invalid_catalog_name: the database does not exist yet; a first start
            // creates it, as the SQLite backend creates its file.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
                create_database(&options).await?;
                main().await?
            }
            Err(e) => return Err(e.into()),
        };
        let fast = PgPoolOptions::new()
            .max_connections(MAX_FAST_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.options([("synchronous_commit", "off")]));
        // One database: an outage seen on either pool makes both fail fast.
        let health = Health::of(&pool);
        Ok(Self {
            pool: GuardedPool::new(pool, Arc::clone(&health)),
            fast: GuardedPool::new(fast, health),
        })
    }

    /// The pool for the token endpoint's inserts.
    fn fast_pool(&self) -> &GuardedPool<sqlx::Postgres> {
        &self.fast
    }
}

/// Creates the database `options` names, through the `postgres` maintenance database. A
/// concurrent creation by another process (42P04 duplicate_database) is fine.
async fn create_database(options: &PgConnectOptions) -> Result<(), StoreError> {
    let name = options.get_database().unwrap_or_default().to_owned();
    // Only plain identifiers: the name goes into SQL and cannot be a bind parameter.
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::InvalidUrl(
            "the Postgres database does not exist, and its name is not a plain identifier to create it"
                .to_owned(),
        ));
    }
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let sql = format!("CREATE DATABASE \"{name}\"");
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
    {
        Ok(_) => {
            tracing::info!(database = %name, "created Postgres database");
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

sql_backend!(PgStore);
