//! Backend-agnostic contract checks. Each is instantiated once per backend by [`instantiate`].

mod admin;
mod registration;

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::jose::Alg;
use portcullis_core::keys::KeySchedule;
use portcullis_core::scope::Scope;
use portcullis_core::token::{Confirmation, Grant};
use portcullis_store::flow::{
    CodeRecord, ConsentRecord, GrantRecord, PushedRequest, Redemption, RefreshTokenRecord,
    SessionRecord, UserRecord,
};
use portcullis_store::{
    AccessTokenRecord, ClientRecord, JtiUse, Revocation, Store, StoreError, StoredKey,
};

/// Declares one `#[tokio::test]` per suite check, each on a fresh store of `$backend`.
macro_rules! instantiate {
    ($backend:expr) => {
        $crate::suite::instantiate!(@each $backend;
            migrating_twice_is_harmless,
            first_key_is_inserted_once_per_alg,
            rotation_retires_every_predecessor_in_one_step,
            concurrent_rotations_leave_one_signing_successor,
            purge_removes_only_unpublished_keys,
            stored_key_round_trips_byte_for_byte,
            clients_are_inserted_once_read_listed_and_disabled,
            r94_r109_a_jti_is_spent_exactly_once_under_concurrency,
            access_tokens_round_trip_by_hash,
            r157_only_the_owner_revokes_an_access_token,
            purge_removes_spent_jtis_and_expired_tokens,
            an_urgent_rotation_shortens_the_previous_schedule,
            users_are_unique_by_name_and_track_failures,
            r48_a_pushed_request_is_read_many_times_but_taken_once,
            r74_a_code_is_redeemed_exactly_once_under_concurrency,
            revoking_a_grant_revokes_its_tokens,
            revoking_a_consent_revokes_every_grant_of_the_user_to_the_client,
            sessions_round_trip_and_end,
            initial_access_tokens_are_stored_listed_and_revoked,
            r162_an_initial_access_token_is_used_only_while_live,
            r162_a_single_use_initial_access_token_is_spent_exactly_once_under_concurrency,
            r171_a_registration_token_finds_its_client_and_rotates_once,
            r169_metadata_is_replaced_only_with_the_current_registration_token,
            r170_deleting_a_client_removes_its_registration_grants_and_tokens,
            purge_removes_expired_initial_access_tokens,
            admin_sessions_live_until_idle_or_their_end,
            audit_events_are_listed_newest_first_filtered_and_paged,
            clients_are_paged_and_searched_by_id_and_metadata,
            admins_update_client_metadata_and_enable_clients_and_users,
            a_client_s_activity_shows_grants_and_live_tokens_by_kind,
            revoking_a_client_s_tokens_revokes_its_live_tokens_and_grants_only,
            registrations_remember_their_initial_access_token,
        );
    };
    (@each $backend:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::backend::run($backend, $crate::suite::$check).await;
            }
        )*
    };
}
pub(crate) use admin::*;
pub(crate) use instantiate;
pub(crate) use registration::*;

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

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        client_id: id.to_owned(),
        metadata: format!(r#"{{"client_id":"{id}"}}"#),
        created_at: Timestamp::from_unix(10),
        updated_at: Timestamp::from_unix(10),
        disabled_at: None,
    }
}

fn token(
    secret: &str,
    client_id: &str,
    expires_at: i64,
    confirmation: Confirmation,
) -> AccessTokenRecord {
    AccessTokenRecord {
        token_hash: TokenHash::of(secret.as_bytes()),
        format: "opaque".to_owned(),
        grant: Grant {
            jti: format!("jti-{secret}"),
            client_id: client_id.to_owned(),
            subject: client_id.to_owned(),
            scope: Scope::parse("a b").unwrap(),
            audience: "https://as.example".to_owned(),
            confirmation,
            issued_at: Timestamp::from_unix(100),
            expires_at: Timestamp::from_unix(expires_at),
        },
        revoked_at: None,
        grant_id: None,
    }
}

pub(crate) async fn clients_are_inserted_once_read_listed_and_disabled(store: Arc<dyn Store>) {
    store.insert_client(&client("b")).await.unwrap();
    store.insert_client(&client("a")).await.unwrap();
    assert!(matches!(
        store.insert_client(&client("a")).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.client("a").await.unwrap(), Some(client("a")));
    assert_eq!(store.client("zz").await.unwrap(), None);
    let ids: Vec<String> = store
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(
        store
            .disable_client("a", Timestamp::from_unix(50))
            .await
            .unwrap()
    );
    assert!(
        !store
            .disable_client("zz", Timestamp::from_unix(50))
            .await
            .unwrap()
    );
    let disabled = store.client("a").await.unwrap().unwrap();
    assert_eq!(disabled.disabled_at, Some(Timestamp::from_unix(50)));
    // Disabling again keeps the first time.
    store
        .disable_client("a", Timestamp::from_unix(60))
        .await
        .unwrap();
    assert_eq!(
        store.client("a").await.unwrap().unwrap().disabled_at,
        Some(Timestamp::from_unix(50))
    );
}

pub(crate) async fn r94_r109_a_jti_is_spent_exactly_once_under_concurrency(store: Arc<dyn Store>) {
    let key = TokenHash::of(b"assertion:c1:jti-1");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_jti(&key, Timestamp::from_unix(1000))
                .await
                .unwrap()
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        if task.await.unwrap() == JtiUse::Fresh {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
    let other = TokenHash::of(b"assertion:c1:jti-2");
    assert_eq!(
        store
            .record_jti(&other, Timestamp::from_unix(1000))
            .await
            .unwrap(),
        JtiUse::Fresh
    );
}

pub(crate) async fn access_tokens_round_trip_by_hash(store: Arc<dyn Store>) {
    store.insert_client(&client("c1")).await.unwrap();
    let dpop = token("t1", "c1", 400, Confirmation::Jkt("thumb".into()));
    let mtls = token("t2", "c1", 400, Confirmation::X5tS256("x5t".into()));
    store.insert_access_token(&dpop).await.unwrap();
    store.insert_access_token(&mtls).await.unwrap();
    assert_eq!(
        store.access_token(&dpop.token_hash).await.unwrap(),
        Some(dpop)
    );
    assert_eq!(
        store.access_token(&mtls.token_hash).await.unwrap(),
        Some(mtls)
    );
    assert_eq!(
        store.access_token(&TokenHash::of(b"t3")).await.unwrap(),
        None
    );
    // A token for a client that does not exist is refused by the foreign key.
    assert!(
        store
            .insert_access_token(&token("t4", "ghost", 400, Confirmation::Jkt("j".into())))
            .await
            .is_err()
    );
}

pub(crate) async fn r157_only_the_owner_revokes_an_access_token(store: Arc<dyn Store>) {
    store.insert_client(&client("c1")).await.unwrap();
    store.insert_client(&client("c2")).await.unwrap();
    let t = token("t1", "c1", 400, Confirmation::Jkt("thumb".into()));
    store.insert_access_token(&t).await.unwrap();
    let now = Timestamp::from_unix(200);
    assert_eq!(
        store
            .revoke_access_token(&t.token_hash, "c2", now)
            .await
            .unwrap(),
        Revocation::NotOwner
    );
    assert_eq!(
        store
            .access_token(&t.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(
        store
            .revoke_access_token(&t.token_hash, "c1", now)
            .await
            .unwrap(),
        Revocation::Revoked
    );
    assert_eq!(
        store
            .access_token(&t.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(now)
    );
    assert_eq!(
        store
            .revoke_access_token(&TokenHash::of(b"nope"), "c1", now)
            .await
            .unwrap(),
        Revocation::Unknown
    );
}

pub(crate) async fn purge_removes_spent_jtis_and_expired_tokens(store: Arc<dyn Store>) {
    store.insert_client(&client("c1")).await.unwrap();
    let old = TokenHash::of(b"old");
    store
        .record_jti(&old, Timestamp::from_unix(100))
        .await
        .unwrap();
    store
        .record_jti(&TokenHash::of(b"new"), Timestamp::from_unix(300))
        .await
        .unwrap();
    let expired = token("t1", "c1", 150, Confirmation::Jkt("j".into()));
    let live = token("t2", "c1", 500, Confirmation::Jkt("j".into()));
    store.insert_access_token(&expired).await.unwrap();
    store.insert_access_token(&live).await.unwrap();
    assert_eq!(
        store
            .purge_expired(Timestamp::from_unix(200))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.access_token(&expired.token_hash).await.unwrap(), None);
    assert!(
        store
            .access_token(&live.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    // The purged jti can be recorded again: it had expired and could not be accepted anyway.
    assert_eq!(
        store
            .record_jti(&old, Timestamp::from_unix(400))
            .await
            .unwrap(),
        JtiUse::Fresh
    );
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

fn user(id: &str) -> UserRecord {
    UserRecord {
        user_id: id.to_owned(),
        username: format!("name-{id}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        is_admin: false,
        created_at: Timestamp::from_unix(1),
        disabled_at: None,
        failed_logins: 0,
        last_failed_at: None,
    }
}

fn grant(id: &str, user_id: &str, client_id: &str) -> GrantRecord {
    GrantRecord {
        grant_id: id.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: "openid a".to_owned(),
        auth_time: Timestamp::from_unix(90),
        acr: None,
        created_at: Timestamp::from_unix(100),
        revoked_at: None,
    }
}

fn code(secret: &str, grant_id: &str, client_id: &str) -> CodeRecord {
    CodeRecord {
        code_hash: TokenHash::of(secret.as_bytes()),
        grant_id: grant_id.to_owned(),
        client_id: client_id.to_owned(),
        redirect_uri: "https://c.example/cb?x=1".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        dpop_jkt: Some("thumb".to_owned()),
        nonce: Some("n".repeat(64)),
        expires_at: Timestamp::from_unix(160),
    }
}

fn consent(user_id: &str, client_id: &str) -> ConsentRecord {
    ConsentRecord {
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: "openid a".to_owned(),
        granted_at: Timestamp::from_unix(100),
    }
}

async fn user_and_client(store: &Arc<dyn Store>) {
    store.insert_user(&user("user-1")).await.unwrap();
    store.insert_client(&client("c1")).await.unwrap();
    store.insert_client(&client("c2")).await.unwrap();
}

pub(crate) async fn users_are_unique_by_name_and_track_failures(store: Arc<dyn Store>) {
    store.insert_user(&user("user-1")).await.unwrap();
    let mut twin = user("user-2");
    twin.username = "name-user-1".to_owned();
    assert!(matches!(
        store.insert_user(&twin).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.user_by_username("name-user-1").await.unwrap(),
        Some(user("user-1"))
    );
    let now = Timestamp::from_unix(500);
    store
        .record_login_failure(Some("user-1"), "192.0.2.7", now, Timestamp::from_unix(0))
        .await
        .unwrap();
    store
        .record_login_failure(None, "192.0.2.7", now.plus(1), Timestamp::from_unix(0))
        .await
        .unwrap();
    let u = store.user("user-1").await.unwrap().unwrap();
    assert_eq!((u.failed_logins, u.last_failed_at), (1, Some(now)));
    assert_eq!(
        store.address_failures("192.0.2.7").await.unwrap(),
        Some((2, now.plus(1)))
    );
    store
        .record_login_failure(
            Some("user-1"),
            "192.0.2.7",
            now.plus(2),
            Timestamp::from_unix(0),
        )
        .await
        .unwrap();
    assert_eq!(
        store.user("user-1").await.unwrap().unwrap().failed_logins,
        2
    );
    // Failures before the forget window no longer count: both counts start again at one.
    let later = now.plus(2000);
    store
        .record_login_failure(Some("user-1"), "192.0.2.7", later, now.plus(1000))
        .await
        .unwrap();
    let u = store.user("user-1").await.unwrap().unwrap();
    assert_eq!((u.failed_logins, u.last_failed_at), (1, Some(later)));
    assert_eq!(
        store.address_failures("192.0.2.7").await.unwrap(),
        Some((1, later))
    );
    store
        .clear_login_failures("user-1", "192.0.2.7")
        .await
        .unwrap();
    assert_eq!(
        store.user("user-1").await.unwrap().unwrap().failed_logins,
        0
    );
    assert_eq!(store.address_failures("192.0.2.7").await.unwrap(), None);
    assert!(store.set_password("user-1", "$argon2id$new").await.unwrap());
    assert!(store.disable_user("user-1", now).await.unwrap());
    let u = store.user("user-1").await.unwrap().unwrap();
    assert_eq!(
        (u.password_hash.as_str(), u.disabled_at),
        ("$argon2id$new", Some(now))
    );
    assert_eq!(store.users().await.unwrap().len(), 1);
}

pub(crate) async fn r48_a_pushed_request_is_read_many_times_but_taken_once(store: Arc<dyn Store>) {
    user_and_client(&store).await;
    let hash = TokenHash::of(b"urn:ietf:params:oauth:request_uri:abc");
    let pushed = PushedRequest {
        client_id: "c1".to_owned(),
        request: "{}".to_owned(),
        expires_at: Timestamp::from_unix(160),
    };
    store.insert_pushed_request(&hash, &pushed).await.unwrap();
    let now = Timestamp::from_unix(120);
    assert_eq!(
        store.pushed_request(&hash).await.unwrap(),
        Some(pushed.clone())
    );
    assert_eq!(
        store.pushed_request(&hash).await.unwrap(),
        Some(pushed.clone())
    );
    // R46: another client cannot take it.
    assert_eq!(
        store.take_pushed_request(&hash, "c2", now).await.unwrap(),
        None
    );
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.take_pushed_request(&hash, "c1", now).await.unwrap()
        }));
    }
    let mut taken = 0;
    for task in tasks {
        taken += usize::from(task.await.unwrap().is_some());
    }
    assert_eq!(taken, 1);
    // R47: an expired one cannot be taken, nor extended.
    let late = TokenHash::of(b"late");
    store.insert_pushed_request(&late, &pushed).await.unwrap();
    store
        .extend_pushed_request(&late, Timestamp::from_unix(700), Timestamp::from_unix(160))
        .await
        .unwrap();
    assert_eq!(
        store
            .take_pushed_request(&late, "c1", Timestamp::from_unix(160))
            .await
            .unwrap(),
        None
    );
}

pub(crate) async fn r74_a_code_is_redeemed_exactly_once_under_concurrency(store: Arc<dyn Store>) {
    user_and_client(&store).await;
    store
        .issue_code(
            &grant("g1", "user-1", "c1"),
            &code("code-1", "g1", "c1"),
            &consent("user-1", "c1"),
        )
        .await
        .unwrap();
    let hash = TokenHash::of(b"code-1");
    let now = Timestamp::from_unix(130);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.redeem_code(&hash, now).await.unwrap()
        }));
    }
    let (mut fresh, mut replayed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Redemption::Fresh { code: c, grant: g } => {
                fresh += 1;
                assert_eq!(*c, code("code-1", "g1", "c1"));
                assert_eq!(*g, grant("g1", "user-1", "c1"));
            }
            Redemption::Replayed { grant_id } => {
                replayed += 1;
                assert_eq!(grant_id, "g1");
            }
            Redemption::Unknown => panic!("a known code"),
        }
    }
    assert_eq!((fresh, replayed), (1, 5));
    // R73: expired codes cannot be redeemed; unknown ones are unknown.
    store
        .issue_code(
            &grant("g2", "user-1", "c1"),
            &code("code-2", "g2", "c1"),
            &consent("user-1", "c1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_code(&TokenHash::of(b"code-2"), Timestamp::from_unix(160))
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store
            .redeem_code(&TokenHash::of(b"nope"), now)
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store.consent("user-1", "c1").await.unwrap(),
        Some(consent("user-1", "c1"))
    );
}

pub(crate) async fn revoking_a_grant_revokes_its_tokens(store: Arc<dyn Store>) {
    user_and_client(&store).await;
    store
        .issue_code(
            &grant("g1", "user-1", "c1"),
            &code("code-1", "g1", "c1"),
            &consent("user-1", "c1"),
        )
        .await
        .unwrap();
    let mut at = token("at-1", "c1", 400, Confirmation::Jkt("j".into()));
    at.grant_id = Some("g1".to_owned());
    store.insert_access_token(&at).await.unwrap();
    let rt = RefreshTokenRecord {
        token_hash: TokenHash::of(b"rt-1"),
        grant_id: "g1".to_owned(),
        client_id: "c1".to_owned(),
        issued_at: Timestamp::from_unix(100),
        last_used_at: Timestamp::from_unix(100),
        expires_at: Timestamp::from_unix(10_000),
        revoked_at: None,
    };
    store.insert_refresh_token(&rt).await.unwrap();
    assert_eq!(
        store.refresh_token(&rt.token_hash).await.unwrap(),
        Some(rt.clone())
    );
    store
        .touch_refresh_token(&rt.token_hash, Timestamp::from_unix(150))
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh_token(&rt.token_hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Timestamp::from_unix(150)
    );
    // R159: revoking the refresh token (by its owner) revokes the grant and its access tokens.
    assert_eq!(
        store
            .revoke_refresh_token(&rt.token_hash, "c2", Timestamp::from_unix(200))
            .await
            .unwrap(),
        Revocation::NotOwner
    );
    assert_eq!(
        store
            .revoke_refresh_token(&rt.token_hash, "c1", Timestamp::from_unix(200))
            .await
            .unwrap(),
        Revocation::Revoked
    );
    assert!(
        store
            .refresh_token(&rt.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .access_token(&at.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .grant("g1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert_eq!(
        store
            .revoke_refresh_token(&TokenHash::of(b"x"), "c1", Timestamp::from_unix(200))
            .await
            .unwrap(),
        Revocation::Unknown
    );
}

pub(crate) async fn revoking_a_consent_revokes_every_grant_of_the_user_to_the_client(
    store: Arc<dyn Store>,
) {
    user_and_client(&store).await;
    for (g, c) in [("g1", "code-1"), ("g2", "code-2")] {
        store
            .issue_code(
                &grant(g, "user-1", "c1"),
                &code(c, g, "c1"),
                &consent("user-1", "c1"),
            )
            .await
            .unwrap();
    }
    store
        .issue_code(
            &grant("g3", "user-1", "c2"),
            &code("code-3", "g3", "c2"),
            &consent("user-1", "c2"),
        )
        .await
        .unwrap();
    let mut at = token("at-2", "c1", 400, Confirmation::Jkt("j".into()));
    at.grant_id = Some("g2".to_owned());
    store.insert_access_token(&at).await.unwrap();
    assert_eq!(store.consents("user-1").await.unwrap().len(), 2);
    assert!(
        store
            .revoke_consent("user-1", "c1", Timestamp::from_unix(300))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_consent("user-1", "c1", Timestamp::from_unix(300))
            .await
            .unwrap()
    );
    assert!(
        store
            .grant("g1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .grant("g2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .access_token(&at.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert_eq!(
        store.grant("g3").await.unwrap().unwrap().revoked_at,
        None,
        "other clients untouched"
    );
    let left: Vec<String> = store
        .consents("user-1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(left, ["c2"]);
}

pub(crate) async fn sessions_round_trip_and_end(store: Arc<dyn Store>) {
    store.insert_user(&user("user-1")).await.unwrap();
    let hash = TokenHash::of(b"session-id");
    let session = SessionRecord {
        user_id: "user-1".to_owned(),
        auth_time: Timestamp::from_unix(5),
        csrf_token: "csrf".to_owned(),
        expires_at: Timestamp::from_unix(99),
    };
    store.insert_session(&hash, &session).await.unwrap();
    assert_eq!(store.session(&hash).await.unwrap(), Some(session));
    store.delete_session(&hash).await.unwrap();
    assert_eq!(store.session(&hash).await.unwrap(), None);
}
