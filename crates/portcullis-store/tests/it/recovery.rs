//! A Postgres that ended every connection (a restart, or an administrator's
//! `pg_terminate_backend`) leaves each pooled and writer connection with an error waiting for
//! its next statement (57P01 `admin_shutdown`). The first statement to meet one marks the
//! database down; once the probe finds it answering again, no connection opened before is used:
//! every read and token write succeeds from the first try (STYLE: no mock, the real server).

use std::time::Duration;

use futures_util::future::join_all;
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_store::testing::TestDatabase;
use portcullis_store::{JtiUse, StoreError};
use sqlx::Connection as _;

/// Longer than the probe's interval (250 ms) plus a local connection.
const PROBE_SETTLES: Duration = Duration::from_millis(1500);

/// Ends every connection to `database` but the caller's, as a restarting server does.
async fn end_connections(admin_url: &str, database: &str) -> u64 {
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    ended.into_iter().filter(|e| *e).count() as u64
}

#[tokio::test]
async fn connections_from_before_an_outage_are_never_used_after_it() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url();
    let (server, database) = url.rsplit_once('/').unwrap();
    let store = portcullis_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    // Twelve reads at once leave the pool with several idle connections; two token writes at
    // once give the writers theirs.
    for read in join_all((0..12).map(|_| store.client("nobody"))).await {
        assert!(read.unwrap().is_none());
    }
    let spend = |n: u32| {
        let store = store.clone();
        async move {
            store
                .record_jti(
                    &TokenHash::of(format!("jti-{n}").as_bytes()),
                    Timestamp::from_unix(4_000_000_000),
                )
                .await
        }
    };
    for spent in join_all((0..2).map(spend)).await {
        assert_eq!(spent.unwrap(), JtiUse::Fresh);
    }

    let ended = end_connections(&format!("{server}/postgres"), database).await;
    assert!(
        ended >= 3,
        "the pool and the writers held connections: {ended} ended"
    );

    // The first statement meets an ended connection: the database is marked down.
    assert!(matches!(
        store.client("nobody").await,
        Err(StoreError::Unavailable(_))
    ));
    tokio::time::sleep(PROBE_SETTLES).await;
    // Marked up again: from now on nothing fails, neither reads (each idle connection from
    // before would otherwise fail once and mark the database down again) nor token writes.
    for n in 0..40 {
        let read = store.client("nobody").await;
        assert!(read.is_ok(), "read {n} after the recovery: {read:?}");
    }
    for n in 10..16 {
        let spent = spend(n).await;
        assert!(
            matches!(spent, Ok(JtiUse::Fresh)),
            "token write {n} after the recovery: {spent:?}"
        );
    }
    drop(store);
    db.remove().await.unwrap();
}
