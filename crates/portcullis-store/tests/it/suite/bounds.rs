//! Contract checks of the bounds (issue 10): a sign-in attempt is claimed by compare-and-set
//! before its password is checked (of parallel attempts on one reading, one wins), and the purge
//! runs in bounded batches over every expired kind, ended grants included.

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_store::admin::{AuditEvent, AuditOutcome};
use portcullis_store::flow::{LoginAttempt, RefreshTokenRecord};
use portcullis_store::{JtiUse, PurgeProgress, Store};

use super::{issue_code, user_and_client};

pub(crate) async fn of_parallel_sign_in_attempts_on_one_reading_one_is_claimed(
    store: Arc<dyn Store>,
) {
    user_and_client(&store).await;
    let now = Timestamp::from_unix(10_000);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let attempt = LoginAttempt {
                account: Some(("user-1", 0, None)),
                address: "192.0.2.9",
                address_seen: None,
                now,
                forget_before: now.plus(-900),
            };
            store.claim_login_attempt(&attempt).await.unwrap()
        }));
    }
    let mut claimed = 0;
    for task in tasks {
        claimed += usize::from(task.await.unwrap());
    }
    assert_eq!(claimed, 1, "one of 16 parallel attempts on one reading");
    // The attempt counted before any password was checked.
    assert_eq!(
        store.address_failures("192.0.2.9").await.unwrap(),
        Some((1, now))
    );
    let user = store.user("user-1").await.unwrap().unwrap();
    assert_eq!((user.failed_logins, user.last_failed_at), (1, Some(now)));
    // The next attempt, on the new reading, is claimed; one on the stale reading is not.
    let later = now.plus(1);
    let next = LoginAttempt {
        account: Some(("user-1", 1, Some(now))),
        address: "192.0.2.9",
        address_seen: Some((1, now)),
        now: later,
        forget_before: later.plus(-900),
    };
    assert!(store.claim_login_attempt(&next).await.unwrap());
    let stale = LoginAttempt {
        now: later.plus(1),
        ..next
    };
    assert!(!store.claim_login_attempt(&stale).await.unwrap());
    // A count past the forget window starts again at one.
    let much_later = later.plus(10_000);
    let fresh = LoginAttempt {
        account: Some(("user-1", 2, Some(later))),
        address: "192.0.2.9",
        address_seen: Some((2, later)),
        now: much_later,
        forget_before: much_later.plus(-900),
    };
    assert!(store.claim_login_attempt(&fresh).await.unwrap());
    assert_eq!(
        store.address_failures("192.0.2.9").await.unwrap(),
        Some((1, much_later))
    );
    // Success clears both counts.
    store
        .clear_login_failures("user-1", "192.0.2.9")
        .await
        .unwrap();
    assert_eq!(store.address_failures("192.0.2.9").await.unwrap(), None);
}

pub(crate) async fn the_purge_runs_in_bounded_batches_over_every_expired_kind(
    store: Arc<dyn Store>,
) {
    user_and_client(&store).await;
    let now = Timestamp::from_unix(1_000_000);
    // 2,500 spent jtis past their expiry and 10 still live.
    for i in 0..2_510 {
        let expires = if i < 2_500 {
            now.plus(-1)
        } else {
            now.plus(60)
        };
        store
            .record_jti(&TokenHash::of(format!("jti-{i}").as_bytes()), expires)
            .await
            .unwrap();
    }
    // A grant revoked two days ago; a live grant with a refresh token; a grant two days old
    // with nothing left hanging from it.
    for id in ["g-revoked", "g-live", "g-ended"] {
        issue_code(&store, id, &format!("code-{id}"), "c1").await;
    }
    store
        .revoke_grant("g-revoked", now.plus(-2 * 86_400))
        .await
        .unwrap();
    store
        .insert_refresh_token(&RefreshTokenRecord {
            token_hash: TokenHash::of(b"rt-live"),
            grant_id: "g-live".to_owned(),
            client_id: "c1".to_owned(),
            issued_at: Timestamp::from_unix(100),
            last_used_at: Timestamp::from_unix(100),
            expires_at: now.plus(86_400),
            revoked_at: None,
        })
        .await
        .unwrap();
    // Audit events: 1,500 past retention, 5 within.
    for i in 0..1_505 {
        let at = if i < 1_500 { 10 } else { 999_000 };
        store
            .insert_audit_event(&AuditEvent {
                at: Timestamp::from_unix(at),
                actor_id: None,
                actor_name: None,
                address: "192.0.2.1".to_owned(),
                action: "admin.form_refused".to_owned(),
                target: None,
                outcome: AuditOutcome::Denied,
                details: "{}".to_owned(),
            })
            .await
            .unwrap();
    }

    let mut batches = Vec::new();
    let mut progress = PurgeProgress::new();
    loop {
        let removed = store
            .purge_expired_batch(now, 1_000, &mut progress)
            .await
            .unwrap();
        if removed == 0 {
            break;
        }
        batches.push(removed);
        assert!(batches.len() < 10, "the purge ends");
    }
    // At most 1,000 rows of a kind per batch: the jtis take three batches (the codes and two
    // grants go in the first).
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert!(batches[0] <= 1_000 * 11 && batches[1] == 1_000 && batches[2] == 500);
    assert_eq!(batches.iter().sum::<u64>(), 2_500 + 3 + 2);
    for (id, kept) in [("g-revoked", false), ("g-live", true), ("g-ended", false)] {
        assert_eq!(store.grant(id).await.unwrap().is_some(), kept, "{id}");
    }
    assert!(
        store
            .refresh_token(&TokenHash::of(b"rt-live"))
            .await
            .unwrap()
            .is_some()
    );
    // A live jti is still spent.
    assert_eq!(
        store
            .record_jti(&TokenHash::of(b"jti-2509"), now.plus(60))
            .await
            .unwrap(),
        portcullis_store::JtiUse::Replayed
    );

    let before = Timestamp::from_unix(1_000);
    assert_eq!(
        store.purge_audit_events_batch(before, 1_000).await.unwrap(),
        1_000
    );
    assert_eq!(store.purge_audit_events(before).await.unwrap(), 500);
    assert_eq!(store.purge_audit_events(before).await.unwrap(), 0);
}

pub(crate) async fn a_purge_pass_takes_the_oldest_first_and_skips_the_kinds_it_finished(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::from_unix(1_000_000);
    let jti = |name: &str| TokenHash::of(name.as_bytes());
    // Three expired jtis, written newest first: storage order is not expiry order.
    for (name, age) in [("newest", 10), ("middle", 20), ("oldest", 30)] {
        store.record_jti(&jti(name), now.plus(-age)).await.unwrap();
    }
    let mut pass = PurgeProgress::new();
    let round =
        async |pass: &mut PurgeProgress| store.purge_expired_batch(now, 2, pass).await.unwrap();
    // Rounds of two: the oldest two go first, the newest is still spent.
    assert_eq!(round(&mut pass).await, 2);
    assert_eq!(
        store
            .record_jti(&jti("newest"), now.plus(-10))
            .await
            .unwrap(),
        JtiUse::Replayed
    );
    // The kind had as many rows as a round takes, so it is not finished: the next round takes
    // the last one, fewer than two, and finishes it.
    assert_eq!(round(&mut pass).await, 1);
    // A jti that expires meanwhile is left to the next pass: this one skips the finished kind.
    store.record_jti(&jti("late"), now.plus(-5)).await.unwrap();
    assert_eq!(round(&mut pass).await, 0);
    assert_eq!(round(&mut PurgeProgress::new()).await, 1);
}
