//! Contract checks of rate-limit storage: administrators' per-client budgets and the running
//! totals processes reconcile through (decision record 0012).

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_store::Store;

use super::client;

pub(crate) async fn client_rate_limits_are_set_replaced_cleared_and_go_with_their_client(
    store: Arc<dyn Store>,
) {
    store.insert_client(&client("c1")).await.unwrap();
    let at = Timestamp::from_unix(100);
    assert!(
        !store
            .set_client_rate_limit("nobody", Some((1000, 5)), at)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_client_rate_limit("c1", Some((500, 5)), at)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_client_rate_limit("c1", Some((2000, 7)), at)
            .await
            .unwrap()
    );
    let limits = store.client_rate_limits().await.unwrap();
    assert_eq!(limits.len(), 1);
    assert_eq!((limits[0].per_second_milli, limits[0].burst), (2000, 7));
    assert!(store.set_client_rate_limit("c1", None, at).await.unwrap());
    assert!(store.client_rate_limits().await.unwrap().is_empty());
    // Deleting the client deletes its override.
    assert!(
        store
            .set_client_rate_limit("c1", Some((500, 5)), at)
            .await
            .unwrap()
    );
    assert!(store.delete_client("c1").await.unwrap());
    assert!(store.client_rate_limits().await.unwrap().is_empty());
}

pub(crate) async fn rate_usage_adds_up_per_process_and_shows_only_the_others(
    store: Arc<dyn Store>,
) {
    let k = "00ff".to_owned();
    let mine = store
        .exchange_rate_usage("p1", &[(k.clone(), 3)], 1_000, 0)
        .await
        .unwrap();
    assert!(mine.is_empty(), "a process never reads its own totals");
    store
        .exchange_rate_usage("p1", &[(k.clone(), 4)], 2_000, 0)
        .await
        .unwrap();
    let seen = store
        .exchange_rate_usage("p2", &[(k.clone(), 1)], 2_500, 0)
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (
            seen[0].process.as_str(),
            seen[0].consumed,
            seen[0].created_at_ms
        ),
        ("p1", 7, 1_000)
    );
    // Only totals changed since `since_ms`.
    assert!(
        store
            .exchange_rate_usage("p2", &[], 3_000, 2_001)
            .await
            .unwrap()
            .is_empty()
    );
    let seen = store
        .exchange_rate_usage("p1", &[], 3_000, 2_400)
        .await
        .unwrap();
    assert_eq!((seen[0].process.as_str(), seen[0].consumed), ("p2", 1));
    // Idle totals are purged.
    assert_eq!(store.purge_rate_usage(2_100).await.unwrap(), 1);
    assert_eq!(
        store
            .exchange_rate_usage("p3", &[], 3_000, 0)
            .await
            .unwrap()
            .len(),
        1
    );
}
