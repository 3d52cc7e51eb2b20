//! Contract checks of the server's signing keys: bootstrap once per algorithm, rotation in one
//! step (also under concurrency and when urgent), purge, and byte-exact storage; and migrating,
//! which leaves a store without keys.

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::jose::Alg;
use portcullis_core::keys::KeySchedule;
use portcullis_store::{Store, StoredKey};

fn key(kid: &str, alg: Alg, created_at: i64, activates_at: i64) -> StoredKey {
    StoredKey {
        schedule: KeySchedule {
            kid: kid.to_owned(),
            alg,
            created_at: Timestamp::from_unix(created_at),
            activates_at: Timestamp::from_unix(activates_at),
            retires_at: None,
            unpublish_at: None,
        },
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        private_jwk_enc: vec![1, 2, 3, 0, 255],
    }
}

pub(crate) async fn migrating_twice_is_harmless(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert!(store.signing_keys().await.unwrap().is_empty());
}

pub(crate) async fn first_key_is_inserted_once_per_alg(store: Arc<dyn Store>) {
    assert!(
        store
            .insert_first_signing_key(&key("a", Alg::Es256, 10, 10))
            .await
            .unwrap()
    );
    // A second process bootstrapping the same alg writes nothing.
    assert!(
        !store
            .insert_first_signing_key(&key("b", Alg::Es256, 11, 11))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_first_signing_key(&key("c", Alg::Ps256, 12, 12))
            .await
            .unwrap()
    );
    let kids: Vec<String> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.schedule.kid)
        .collect();
    assert_eq!(kids, ["a", "c"]);
}

pub(crate) async fn rotation_retires_every_predecessor_in_one_step(store: Arc<dyn Store>) {
    store
        .insert_first_signing_key(&key("old", Alg::Es256, 0, 0))
        .await
        .unwrap();
    store
        .insert_first_signing_key(&key("other", Alg::EdDsa, 0, 0))
        .await
        .unwrap();
    store
        .rotate_signing_key(
            &key("new", Alg::Es256, 100, 700),
            Timestamp::from_unix(4300),
        )
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    let by_kid = |kid: &str| {
        keys.iter()
            .find(|k| k.schedule.kid == kid)
            .unwrap()
            .schedule
            .clone()
    };
    let old = by_kid("old");
    assert_eq!(old.retires_at, Some(Timestamp::from_unix(700)));
    assert_eq!(old.unpublish_at, Some(Timestamp::from_unix(4300)));
    let new = by_kid("new");
    assert_eq!((new.retires_at, new.unpublish_at), (None, None));
    assert_eq!(new.activates_at, Timestamp::from_unix(700));
    // Keys of other algorithms are untouched.
    assert_eq!(by_kid("other").retires_at, None);
}

pub(crate) async fn concurrent_rotations_leave_one_signing_successor(store: Arc<dyn Store>) {
    store
        .insert_first_signing_key(&key("k0", Alg::Ps256, 0, 0))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 1..=4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .rotate_signing_key(
                    &key(&format!("k{i}"), Alg::Ps256, 10, 20),
                    Timestamp::from_unix(90),
                )
                .await
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            succeeded += 1;
        }
    }
    assert!(succeeded >= 1);
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(
        keys.len(),
        1 + succeeded,
        "a failed rotation must leave no row behind"
    );
    let open: Vec<_> = keys
        .iter()
        .filter(|k| k.schedule.retires_at.is_none())
        .collect();
    assert_eq!(open.len(), 1, "exactly one key may be without a successor");
}

pub(crate) async fn purge_removes_only_unpublished_keys(store: Arc<dyn Store>) {
    store
        .insert_first_signing_key(&key("old", Alg::Es256, 0, 0))
        .await
        .unwrap();
    store
        .rotate_signing_key(&key("new", Alg::Es256, 50, 50), Timestamp::from_unix(100))
        .await
        .unwrap();
    assert_eq!(
        store.purge_expired(Timestamp::from_unix(99)).await.unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_expired(Timestamp::from_unix(100))
            .await
            .unwrap(),
        1
    );
    let kids: Vec<String> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.schedule.kid)
        .collect();
    assert_eq!(kids, ["new"]);
}

pub(crate) async fn stored_key_round_trips_byte_for_byte(store: Arc<dyn Store>) {
    let mut k = key("rt", Alg::EdDsa, 1_700_000_000, 1_700_000_600);
    k.private_jwk_enc = (0..=255).collect();
    store.insert_first_signing_key(&k).await.unwrap();
    assert_eq!(store.signing_keys().await.unwrap(), vec![k]);
}

pub(crate) async fn an_urgent_rotation_shortens_the_previous_schedule(store: Arc<dyn Store>) {
    store
        .insert_first_signing_key(&key("k0", Alg::Es256, 0, 0))
        .await
        .unwrap();
    // A routine rotation: k1 signs from 3600, k0 published until 3600 + 86400.
    store
        .rotate_signing_key(
            &key("k1", Alg::Es256, 0, 3600),
            Timestamp::from_unix(90_000),
        )
        .await
        .unwrap();
    // k0 leaks at 100: rotate now with no publish-ahead and no overlap.
    store
        .rotate_signing_key(&key("k2", Alg::Es256, 100, 100), Timestamp::from_unix(100))
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    let at = |kid: &str| {
        keys.iter()
            .find(|k| k.schedule.kid == kid)
            .unwrap()
            .schedule
            .clone()
    };
    let now = Timestamp::from_unix(100);
    assert_eq!(
        at("k0").state(now),
        portcullis_core::keys::KeyState::Expired,
        "withdrawn at once"
    );
    assert_eq!(
        at("k1").state(now),
        portcullis_core::keys::KeyState::Expired,
        "never got to sign"
    );
    assert_eq!(
        portcullis_core::keys::signing_key(
            &keys.iter().map(|k| k.schedule.clone()).collect::<Vec<_>>(),
            Alg::Es256,
            now
        )
        .unwrap()
        .kid,
        "k2"
    );
    // A later routine rotation never lengthens what was shortened.
    store
        .rotate_signing_key(
            &key("k3", Alg::Es256, 200, 4000),
            Timestamp::from_unix(99_999),
        )
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    let k0 = keys.iter().find(|k| k.schedule.kid == "k0").unwrap();
    assert_eq!(k0.schedule.unpublish_at, Some(Timestamp::from_unix(100)));
}
