//! Contract checks of what repeated requests must not achieve: a pushed request's lifetime is
//! extended once, however often the authorization page loads (R47, R48), and an access token
//! written after a replayed code revoked its grant is revoked too (R74).

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::token::Confirmation;
use portcullis_store::Store;
use portcullis_store::flow::PushedRequest;

use super::{issue_code, token, user_and_client, user_client_and_code};

pub(crate) async fn r47_a_pushed_request_is_extended_once(store: Arc<dyn Store>) {
    user_and_client(&store).await;
    let hash = TokenHash::of(b"urn:ietf:params:oauth:request_uri:once");
    let pushed = PushedRequest {
        client_id: "c1".to_owned(),
        request: "{}".to_owned(),
        expires_at: Timestamp::from_unix(160),
        extended_at: None,
    };
    store.insert_pushed_request(&hash, &pushed).await.unwrap();
    let extend = |until: i64, now: i64| {
        let store = Arc::clone(&store);
        async move {
            store
                .extend_pushed_request(
                    &hash,
                    Timestamp::from_unix(until),
                    Timestamp::from_unix(now),
                )
                .await
                .unwrap()
        }
    };
    // The first load of the authorization page extends it, and says when.
    assert!(extend(700, 120).await);
    let read = store.pushed_request(&hash).await.unwrap().unwrap();
    assert_eq!(
        (read.expires_at, read.extended_at),
        (Timestamp::from_unix(700), Some(Timestamp::from_unix(120)))
    );
    // Later loads, even of concurrent tabs, extend nothing: the request still ends at 700.
    let mut tasks = Vec::new();
    for now in [300, 500, 690] {
        tasks.push(tokio::spawn(extend(now + 580, now)));
    }
    for task in tasks {
        assert!(!task.await.unwrap());
    }
    let read = store.pushed_request(&hash).await.unwrap().unwrap();
    assert_eq!(
        (read.expires_at, read.extended_at),
        (Timestamp::from_unix(700), Some(Timestamp::from_unix(120)))
    );
    // A lifetime is never shortened, and an expired request is not revived.
    let other = TokenHash::of(b"urn:ietf:params:oauth:request_uri:short");
    store.insert_pushed_request(&other, &pushed).await.unwrap();
    assert!(
        !store
            .extend_pushed_request(&other, Timestamp::from_unix(150), Timestamp::from_unix(100))
            .await
            .unwrap()
    );
    assert!(
        !store
            .extend_pushed_request(&other, Timestamp::from_unix(900), Timestamp::from_unix(160))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .pushed_request(&other)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        Timestamp::from_unix(160)
    );
}

pub(crate) async fn r74_a_token_written_after_its_grant_was_revoked_is_revoked(
    store: Arc<dyn Store>,
) {
    user_client_and_code(&store).await;
    // The replay's revocation commits before the winning redemption writes its token: the
    // revocation's cascade cannot see that token.
    store
        .revoke_grant("g1", Timestamp::from_unix(200))
        .await
        .unwrap();
    let mut late = token("at-late", "c1", 400, Confirmation::Jkt("j".into()));
    late.grant_id = Some("g1".to_owned());
    store.insert_access_token(&late).await.unwrap();
    let read = store.access_token(&late.token_hash).await.unwrap().unwrap();
    assert_eq!(read.revoked_at, Some(Timestamp::from_unix(200)));
    // A token without a grant (client_credentials) and one of a live grant stay live.
    let own = token("at-own", "c1", 400, Confirmation::Jkt("j".into()));
    store.insert_access_token(&own).await.unwrap();
    assert_eq!(
        store
            .access_token(&own.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    issue_code(&store, "g2", "code-2", "c1").await;
    let mut live = token("at-live", "c1", 400, Confirmation::Jkt("j".into()));
    live.grant_id = Some("g2".to_owned());
    store.insert_access_token(&live).await.unwrap();
    assert_eq!(
        store
            .access_token(&live.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}
