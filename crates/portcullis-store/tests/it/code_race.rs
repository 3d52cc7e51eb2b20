//! A code redeemed at two processes at once (R74; THREATS T84): the replay revokes the grant,
//! but only after the winner has read it, so the winner always gets its tokens (which the
//! revocation then covers) and never a grant revoked by its own replay. On Postgres, where
//! another process can observe the spend between two statements, the spend must stay invisible
//! until the grant is read: a lock on `grants` holds the winner between the two, deterministically.

use std::time::{Duration, Instant};

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_store::flow::Redemption;
use portcullis_store::testing::TestDatabase;
use sqlx::Connection as _;

use crate::suite::user_client_and_code;

/// Waits until a statement on `database` is waiting for a lock.
async fn until_one_waits(admin: &mut sqlx::PgConnection, database: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        )
        .bind(database)
        .fetch_one(&mut *admin)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the redemption never reached the grant"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn r74_a_code_s_spend_is_seen_by_others_only_once_its_grant_is_read() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url();
    let (server, database) = url.rsplit_once('/').unwrap();
    let store = portcullis_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    user_client_and_code(&store).await;
    let hash = TokenHash::of(b"code-1");
    let now = Timestamp::from_unix(130);

    // The grants table locked: the redemption spends the code, then waits to read the grant.
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE grants IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let winner = tokio::spawn({
        let store = store.clone();
        async move { store.redeem_code(&hash, now).await.unwrap() }
    });
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    until_one_waits(&mut admin, database).await;

    // Meanwhile another process finds the code unspent: it cannot yet replay it and revoke the
    // grant under the winner.
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let redeemed: Option<i64> =
        sqlx::query_scalar("SELECT redeemed_at FROM codes WHERE code_hash = $1")
            .bind(&hash.as_bytes()[..])
            .fetch_one(&mut other)
            .await
            .unwrap();
    assert_eq!(
        redeemed, None,
        "the spend was visible before its grant was read"
    );

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    match winner.await.unwrap() {
        Redemption::Fresh { grant: g, .. } => assert_eq!(g.revoked_at, None),
        other => panic!("the first redemption: {other:?}"),
    }
    // Now the spend is visible: a replay finds it, and its revocation comes after the read.
    assert_eq!(
        store.redeem_code(&hash, now).await.unwrap(),
        Redemption::Replayed {
            grant_id: "g1".to_owned()
        }
    );
    drop((other, holder, admin));
    db.remove().await.unwrap();
}
