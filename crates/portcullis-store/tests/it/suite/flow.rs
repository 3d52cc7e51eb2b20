//! Contract checks of the authorization code flow's storage: users and their sign-in failures,
//! pushed requests (R46–R48), single-use codes (R73, R74), revoking a grant or a consent with its
//! tokens (R159), and browser sessions.

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::token::Confirmation;
use portcullis_store::flow::{PushedRequest, Redemption, RefreshTokenRecord, SessionRecord};
use portcullis_store::{Revocation, Store, StoreError};

use super::{code, consent, grant, issue_code, token, user, user_and_client, user_client_and_code};

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
        extended_at: None,
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
    user_client_and_code(&store).await;
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
    issue_code(&store, "g2", "code-2", "c1").await;
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
    user_client_and_code(&store).await;
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
        issue_code(&store, g, c, "c1").await;
    }
    issue_code(&store, "g3", "code-3", "c2").await;
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
