//! Contract checks of dynamic client registration storage (RFC 7591, RFC 7592).

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::token::Confirmation;
use portcullis_store::flow::{Redemption, RefreshTokenRecord};
use portcullis_store::registration::{
    InitialAccessTokenRecord, MetadataReplacement, RegisteredClient, RegistrationRecord,
};
use portcullis_store::{Store, StoreError};

use super::{client, issue_code, token, user};

fn initial(id: &str, expires_at: i64, uses_left: Option<u32>) -> InitialAccessTokenRecord {
    InitialAccessTokenRecord {
        id: id.to_owned(),
        token_hash: TokenHash::of(format!("iat-{id}").as_bytes()),
        policy: r#"{"scope":"a"}"#.to_owned(),
        created_at: Timestamp::from_unix(100),
        expires_at: Timestamp::from_unix(expires_at),
        uses_left,
        revoked_at: None,
    }
}

fn registration(client_id: &str, secret: &str) -> RegistrationRecord {
    RegistrationRecord {
        client_id: client_id.to_owned(),
        token_hash: TokenHash::of(secret.as_bytes()),
        policy: "{}".to_owned(),
        software_statement: Some("a.b.c".to_owned()),
        token_issued_at: Timestamp::from_unix(10),
        initial_access_token_id: Some("a".to_owned()),
    }
}

pub(crate) async fn initial_access_tokens_are_stored_listed_and_revoked(store: Arc<dyn Store>) {
    let a = initial("a", 1000, Some(3));
    let b = initial("b", 1000, None);
    store.insert_initial_access_token(&b).await.unwrap();
    store.insert_initial_access_token(&a).await.unwrap();
    assert!(matches!(
        store.insert_initial_access_token(&a).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.initial_access_token(&a.token_hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store
            .initial_access_token(&TokenHash::of(b"nope"))
            .await
            .unwrap(),
        None
    );
    let ids: Vec<String> = store
        .initial_access_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let now = Timestamp::from_unix(200);
    assert!(store.revoke_initial_access_token("a", now).await.unwrap());
    assert!(!store.revoke_initial_access_token("zz", now).await.unwrap());
    // Revoking again keeps the first time.
    store
        .revoke_initial_access_token("a", now.plus(5))
        .await
        .unwrap();
    let revoked = store.initial_access_token(&a.token_hash).await.unwrap();
    assert_eq!(revoked.unwrap().revoked_at, Some(now));
}

pub(crate) async fn r162_an_initial_access_token_is_used_only_while_live(store: Arc<dyn Store>) {
    let now = Timestamp::from_unix(500);
    let limited = initial("limited", 1000, Some(2));
    let unlimited = initial("unlimited", 1000, None);
    let expired = initial("expired", 500, Some(5));
    let revoked = initial("revoked", 1000, None);
    for t in [&limited, &unlimited, &expired, &revoked] {
        store.insert_initial_access_token(t).await.unwrap();
    }
    store
        .revoke_initial_access_token("revoked", now)
        .await
        .unwrap();
    let spend = |t: &InitialAccessTokenRecord| {
        let store = Arc::clone(&store);
        let hash = t.token_hash;
        async move { store.use_initial_access_token(&hash, now).await.unwrap() }
    };
    let policy = Some(r#"{"scope":"a"}"#.to_owned());
    assert_eq!(spend(&limited).await, policy);
    assert_eq!(spend(&limited).await, policy);
    assert_eq!(spend(&limited).await, None, "no use left");
    let left = store
        .initial_access_token(&limited.token_hash)
        .await
        .unwrap();
    assert_eq!(left.unwrap().uses_left, Some(0));
    for _ in 0..3 {
        assert_eq!(spend(&unlimited).await, policy);
    }
    let still = store
        .initial_access_token(&unlimited.token_hash)
        .await
        .unwrap();
    assert_eq!(still.unwrap().uses_left, None);
    assert_eq!(spend(&expired).await, None, "expired at 500");
    assert_eq!(spend(&revoked).await, None);
    assert_eq!(spend(&initial("unknown", 1000, None)).await, None);
}

pub(crate) async fn r162_a_single_use_initial_access_token_is_spent_exactly_once_under_concurrency(
    store: Arc<dyn Store>,
) {
    let once = initial("once", 1000, Some(1));
    store.insert_initial_access_token(&once).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let hash = once.token_hash;
        tasks.push(tokio::spawn(async move {
            store
                .use_initial_access_token(&hash, Timestamp::from_unix(500))
                .await
                .unwrap()
        }));
    }
    let mut used = 0;
    for task in tasks {
        used += usize::from(task.await.unwrap().is_some());
    }
    assert_eq!(used, 1);
}

pub(crate) async fn r171_a_registration_token_finds_its_client_and_rotates_once(
    store: Arc<dyn Store>,
) {
    let reg = registration("c1", "rat-1");
    store
        .insert_registered_client(&client("c1"), &reg)
        .await
        .unwrap();
    // The client and its token hash are written together, or not at all.
    assert!(matches!(
        store
            .insert_registered_client(&client("c2"), &registration("c2", "rat-1"))
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.client("c2").await.unwrap(), None);
    assert_eq!(
        store
            .client_by_registration_token(&TokenHash::of(b"rat-1"))
            .await
            .unwrap(),
        Some(RegisteredClient {
            client: client("c1"),
            registration: reg.clone(),
        })
    );
    let (old, new) = (TokenHash::of(b"rat-1"), TokenHash::of(b"rat-2"));
    let now = Timestamp::from_unix(50);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let next = if i == 0 {
                new
            } else {
                TokenHash::of(format!("other-{i}").as_bytes())
            };
            store
                .rotate_registration_token("c1", &old, &next, now)
                .await
                .unwrap()
        }));
    }
    let mut rotated = 0;
    for task in tasks {
        rotated += usize::from(task.await.unwrap());
    }
    assert_eq!(rotated, 1, "one rotation wins");
    assert_eq!(
        store.client_by_registration_token(&old).await.unwrap(),
        None
    );
    // A client registered without a registration (by an administrator) has no token to rotate.
    store.insert_client(&client("c3")).await.unwrap();
    assert!(
        !store
            .rotate_registration_token("c3", &old, &new, now)
            .await
            .unwrap()
    );
}

pub(crate) async fn r169_metadata_is_replaced_only_with_the_current_registration_token(
    store: Arc<dyn Store>,
) {
    store
        .insert_registered_client(&client("c1"), &registration("c1", "rat-1"))
        .await
        .unwrap();
    let (rat1, rat2, rat3) = (
        TokenHash::of(b"rat-1"),
        TokenHash::of(b"rat-2"),
        TokenHash::of(b"rat-3"),
    );
    let update = MetadataReplacement {
        client_id: "c1",
        metadata: r#"{"client_id":"c1","client_name":"New"}"#,
        software_statement: None,
        current: &rat1,
        next: &rat2,
        now: Timestamp::from_unix(60),
    };
    assert!(store.replace_client_metadata(&update).await.unwrap());
    let found = store
        .client_by_registration_token(&rat2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.client.metadata, update.metadata);
    assert_eq!(found.client.updated_at, Timestamp::from_unix(60));
    assert_eq!(found.client.created_at, Timestamp::from_unix(10));
    assert_eq!(found.registration.software_statement, None);
    assert_eq!(found.registration.token_issued_at, Timestamp::from_unix(60));
    // The old token no longer updates anything.
    let stale = MetadataReplacement {
        metadata: r#"{"client_id":"c1","client_name":"Stale"}"#,
        next: &rat3,
        ..update
    };
    assert!(!store.replace_client_metadata(&stale).await.unwrap());
    let client = store.client("c1").await.unwrap().unwrap();
    assert_eq!(client.metadata, update.metadata);
    assert_eq!(
        store.client_by_registration_token(&rat1).await.unwrap(),
        None
    );
}

pub(crate) async fn r170_deleting_a_client_removes_its_registration_grants_and_tokens(
    store: Arc<dyn Store>,
) {
    store.insert_user(&user("user-1")).await.unwrap();
    store
        .insert_registered_client(&client("c1"), &registration("c1", "rat-1"))
        .await
        .unwrap();
    store.insert_client(&client("c2")).await.unwrap();
    issue_code(&store, "g1", "code-1", "c1").await;
    let mut at = token("at-1", "c1", 400, Confirmation::Jkt("j".into()));
    at.grant_id = Some("g1".to_owned());
    store.insert_access_token(&at).await.unwrap();
    let cc = token("at-2", "c1", 400, Confirmation::Jkt("j".into()));
    store.insert_access_token(&cc).await.unwrap();
    let other = token("at-3", "c2", 400, Confirmation::Jkt("j".into()));
    store.insert_access_token(&other).await.unwrap();
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

    assert!(store.delete_client("c1").await.unwrap());
    assert!(!store.delete_client("c1").await.unwrap());
    assert_eq!(store.client("c1").await.unwrap(), None);
    assert_eq!(
        store
            .client_by_registration_token(&TokenHash::of(b"rat-1"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.grant("g1").await.unwrap(), None);
    assert_eq!(store.access_token(&at.token_hash).await.unwrap(), None);
    assert_eq!(store.access_token(&cc.token_hash).await.unwrap(), None);
    assert_eq!(store.refresh_token(&rt.token_hash).await.unwrap(), None);
    assert_eq!(store.consent("user-1", "c1").await.unwrap(), None);
    assert_eq!(
        store
            .redeem_code(&TokenHash::of(b"code-1"), Timestamp::from_unix(130))
            .await
            .unwrap(),
        Redemption::Unknown
    );
    // Other clients and the user are untouched.
    assert_eq!(
        store.access_token(&other.token_hash).await.unwrap(),
        Some(other)
    );
    assert!(store.user("user-1").await.unwrap().is_some());
}

pub(crate) async fn purge_removes_expired_initial_access_tokens(store: Arc<dyn Store>) {
    store
        .insert_initial_access_token(&initial("old", 300, None))
        .await
        .unwrap();
    store
        .insert_initial_access_token(&initial("live", 3000, None))
        .await
        .unwrap();
    store
        .purge_expired(Timestamp::from_unix(300))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .initial_access_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["live"]);
}
