//! Fresh databases for tests: the store's contract suite and the server's end-to-end tests both
//! run each test on a database of its own.

use sqlx::Connection as _;

use crate::StoreError;

/// Admin URL (no database name) of the Postgres server that tests create databases on:
/// `TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432`.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A Postgres database created for one test; [`TestDatabase::remove`] drops it.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// Creates an empty database with a random name.
    pub async fn create() -> Result<Self, StoreError> {
        let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin =
            sqlx::PgConnection::connect(&format!("{}/postgres", postgres_admin_url())).await?;
        // The name is ours (a fixed prefix and hex digits), never input.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        Ok(Self { name })
    }

    /// The URL of the database.
    pub fn url(&self) -> String {
        format!("{}/{}", postgres_admin_url(), self.name)
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn remove(self) -> Result<(), StoreError> {
        let mut admin =
            sqlx::PgConnection::connect(&format!("{}/postgres", postgres_admin_url())).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
        Ok(())
    }
}
