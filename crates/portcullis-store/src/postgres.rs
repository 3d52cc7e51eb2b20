//! The Postgres backend: the production store, shared by any number of server processes.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::StoreError;
use crate::sql::sql_store;
use crate::sql_admin::sql_admin_store;
use crate::sql_flow::sql_flow_store;
use crate::sql_registration::sql_registration_store;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connections per process. Each request on a hot path holds one for a single round trip.
const MAX_CONNECTIONS: u32 = 16;

/// [`Store`](crate::Store) on Postgres.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url`, failing fast when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid Postgres URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

sql_store!(PgStore);
sql_flow_store!(PgStore);
sql_registration_store!(PgStore);
sql_admin_store!(PgStore);
