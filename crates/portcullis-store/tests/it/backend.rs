//! Fresh databases for each test, and the runner that cleans them up.

use std::future::Future;
use std::sync::Arc;

use portcullis_store::Store;
use sqlx::Connection;

/// Admin URL of the Postgres server the tests create databases on.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

/// Runs `check` against a fresh, migrated store of `backend`, then removes the database, also
/// when the check panics.
pub(crate) async fn run<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (url, cleanup) = match backend {
        Backend::Postgres => {
            let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin =
                sqlx::PgConnection::connect(&format!("{}/postgres", postgres_admin_url()))
                    .await
                    .expect("Postgres for the store tests (set TEST_PG_URL)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            (
                format!("{}/{name}", postgres_admin_url()),
                Cleanup::Postgres(name),
            )
        }
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/store.db", dir.path().display());
            (url, Cleanup::Sqlite(dir))
        }
    };
    let store = portcullis_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let outcome = tokio::spawn(check(store)).await;
    cleanup.run().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

enum Cleanup {
    Postgres(String),
    Sqlite(tempfile::TempDir),
}

impl Cleanup {
    async fn run(self) {
        match self {
            Self::Postgres(name) => {
                let url = format!("{}/postgres", postgres_admin_url());
                if let Ok(mut admin) = sqlx::PgConnection::connect(&url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            }
            Self::Sqlite(dir) => drop(dir),
        }
    }
}
