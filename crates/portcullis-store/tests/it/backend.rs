//! Fresh databases for each test, and the runner that cleans them up.

use std::future::Future;
use std::sync::Arc;

use portcullis_store::Store;
use portcullis_store::testing::TestDatabase;

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
    let dir = tempfile::tempdir().unwrap();
    let (url, postgres) = match backend {
        Backend::Postgres => {
            let db = TestDatabase::create()
                .await
                .expect("Postgres for the store tests (TEST_PG_URL)");
            (db.url(), Some(db))
        }
        Backend::Sqlite => (format!("sqlite://{}/store.db", dir.path().display()), None),
    };
    let store = portcullis_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let outcome = tokio::spawn(check(store)).await;
    if let Some(db) = postgres {
        db.remove().await.unwrap();
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
