//! Contract checks of clients, single-use `jti`s and access tokens: the operations of the `Store`
//! trait itself besides signing keys.

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::token::Confirmation;
use portcullis_store::{JtiUse, Revocation, Store, StoreError};

use super::{client, token};

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

/// Many token-path writes at once (the writer batches what arrives together): each request is
/// answered by its own fate. Of repeated spends of one `jti`, exactly one is fresh, even inside
/// one batch; a token row the database refuses (its client does not exist) fails only its own
/// request, and every other row of its batch is stored.
pub(crate) async fn batched_token_writes_answer_each_request_by_its_own_fate(
    store: Arc<dyn Store>,
) {
    store.insert_client(&client("c1")).await.unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = store.clone();
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            match i % 4 {
                0 => {
                    let key = TokenHash::of(b"proof:shared");
                    let used = store.record_jti(&key, Timestamp::from_unix(1000)).await;
                    ("shared", used.map(|u| u == JtiUse::Fresh))
                }
                1 => {
                    let key = TokenHash::of(format!("proof:{i}").as_bytes());
                    let used = store.record_jti(&key, Timestamp::from_unix(1000)).await;
                    ("distinct", used.map(|u| u == JtiUse::Fresh))
                }
                2 => {
                    let t = token(&format!("t{i}"), "c1", 400, Confirmation::Jkt("j".into()));
                    ("token", store.insert_access_token(&t).await.map(|()| true))
                }
                _ if i == 99 => {
                    let t = token("ghost", "ghost", 400, Confirmation::Jkt("j".into()));
                    ("ghost", store.insert_access_token(&t).await.map(|()| true))
                }
                _ => {
                    let t = token(
                        &format!("t{i}"),
                        "c1",
                        400,
                        Confirmation::X5tS256("x".into()),
                    );
                    ("token", store.insert_access_token(&t).await.map(|()| true))
                }
            }
        }));
    }
    let (mut shared_fresh, mut distinct_fresh, mut tokens, mut ghost) = (0, 0, 0, None);
    for task in tasks {
        match task.await.unwrap() {
            ("shared", Ok(fresh)) => shared_fresh += usize::from(fresh),
            ("distinct", Ok(fresh)) => distinct_fresh += usize::from(fresh),
            ("token", Ok(_)) => tokens += 1,
            ("ghost", result) => ghost = Some(result.is_err()),
            (kind, Err(e)) => panic!("{kind} write failed: {e}"),
            _ => unreachable!(),
        }
    }
    assert_eq!(shared_fresh, 1, "one of 25 spends of one jti is fresh");
    assert_eq!(distinct_fresh, 25, "every distinct jti is fresh");
    assert_eq!(tokens, 49, "every valid token row is stored");
    assert_eq!(ghost, Some(true), "the row of an unknown client is refused");
    for i in (2..99).filter(|i| i % 4 >= 2) {
        let hash = token(&format!("t{i}"), "c1", 400, Confirmation::Jkt("j".into())).token_hash;
        assert!(store.access_token(&hash).await.unwrap().is_some(), "t{i}");
    }
}

/// A token issued with its request's single-use values (`issue_access_token`): stored only when
/// every spend is fresh, in one write. Of concurrent requests replaying one assertion `jti`, each
/// with its own DPoP proof, exactly one gets a token row; a spend used before, or a second spend
/// replayed, leaves no row; the answers say which spend was replayed.
pub(crate) async fn a_token_is_stored_only_when_every_spend_of_its_request_is_fresh(
    store: Arc<dyn Store>,
) {
    use portcullis_store::Spend;
    store.insert_client(&client("c1")).await.unwrap();
    let spend = |name: &str| Spend {
        key: TokenHash::of(name.as_bytes()),
        expires_at: Timestamp::from_unix(1000),
    };
    let start = Arc::new(tokio::sync::Barrier::new(40));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (store, start) = (store.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            let t = token(&format!("it{i}"), "c1", 400, Confirmation::Jkt("j".into()));
            start.wait().await;
            let spends = [spend("assertion:shared"), spend(&format!("proof:{i}"))];
            let used = store.issue_access_token(&t, &spends).await.unwrap();
            let stored = store.access_token(&t.token_hash).await.unwrap().is_some();
            (used, stored)
        }));
    }
    let mut winners = 0;
    for task in tasks {
        let (used, stored) = task.await.unwrap();
        assert_eq!(used[1], JtiUse::Fresh, "each request's own proof is fresh");
        match used[0] {
            JtiUse::Fresh => winners += 1,
            JtiUse::Replayed => {}
        }
        assert_eq!(
            stored,
            used[0] == JtiUse::Fresh,
            "a row exactly for the winner"
        );
    }
    assert_eq!(winners, 1, "one of 40 uses of one assertion jti is fresh");

    // Spent before by record_jti: replayed, no row.
    let old = spend("assertion:old");
    store.record_jti(&old.key, old.expires_at).await.unwrap();
    let t = token("late", "c1", 400, Confirmation::Jkt("j".into()));
    let used = store
        .issue_access_token(&t, &[old, spend("proof:late")])
        .await
        .unwrap();
    assert_eq!(used, [JtiUse::Replayed, JtiUse::Fresh]);
    assert!(store.access_token(&t.token_hash).await.unwrap().is_none());

    // The second spend replayed: the first is spent, still no row.
    let t = token("proof-replayed", "c1", 400, Confirmation::Jkt("j".into()));
    let used = store
        .issue_access_token(&t, &[spend("assertion:new"), spend("proof:late")])
        .await
        .unwrap();
    assert_eq!(used, [JtiUse::Fresh, JtiUse::Replayed]);
    assert!(store.access_token(&t.token_hash).await.unwrap().is_none());
    assert_eq!(
        store
            .record_jti(&TokenHash::of(b"assertion:new"), Timestamp::from_unix(1000))
            .await
            .unwrap(),
        JtiUse::Replayed
    );

    // One value twice in one request: the second use is a replay.
    let t = token("twice", "c1", 400, Confirmation::Jkt("j".into()));
    let used = store
        .issue_access_token(&t, &[spend("proof:twice"), spend("proof:twice")])
        .await
        .unwrap();
    assert_eq!(used, [JtiUse::Fresh, JtiUse::Replayed]);
    assert!(store.access_token(&t.token_hash).await.unwrap().is_none());

    // Fresh spends: stored; no spends: stored.
    for (name, spends) in [
        ("fresh", vec![spend("a:1"), spend("p:1")]),
        ("bare", vec![]),
    ] {
        let t = token(name, "c1", 400, Confirmation::Jkt("j".into()));
        let used = store.issue_access_token(&t, &spends).await.unwrap();
        assert!(used.iter().all(|u| *u == JtiUse::Fresh), "{name}");
        assert_eq!(used.len(), spends.len());
        assert!(
            store.access_token(&t.token_hash).await.unwrap().is_some(),
            "{name}"
        );
    }
}

/// The assertion `jti` of concurrent request `i`: a third of them replay one assertion, the rest
/// each have their own.
fn assertion_of(i: usize) -> String {
    if i.is_multiple_of(3) {
        "assertion:one".to_owned()
    } else {
        format!("assertion:{i}")
    }
}

/// A revocation with its request's assertion spend (`revoke_access_token_spending`): it happens
/// only when the spend is fresh, in one write. Of concurrent revocations replaying one spend,
/// exactly one acts; a spend used before revokes nothing; the owner check and unknown tokens
/// answer as `revoke_access_token` does.
pub(crate) async fn a_revocation_happens_only_when_its_spend_is_fresh(store: Arc<dyn Store>) {
    use portcullis_store::Spend;
    store.insert_client(&client("c1")).await.unwrap();
    store.insert_client(&client("c2")).await.unwrap();
    let spend = |name: &str| Spend {
        key: TokenHash::of(name.as_bytes()),
        expires_at: Timestamp::from_unix(1000),
    };
    let now = Timestamp::from_unix(200);
    for name in ["shared", "kept"] {
        let t = token(name, "c1", 400, Confirmation::Jkt("j".into()));
        store.insert_access_token(&t).await.unwrap();
    }
    let shared = TokenHash::of(b"shared");
    let start = Arc::new(tokio::sync::Barrier::new(30));
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (store, start) = (store.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            let name = assertion_of(i);
            start.wait().await;
            let done = store
                .revoke_access_token_spending(&shared, "c1", now, &spend(&name))
                .await
                .unwrap();
            (i % 3 == 0, done)
        }));
    }
    let (mut acted, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (true, Some(Revocation::Revoked)) => acted += 1,
            (true, None) => refused += 1,
            (false, done) => assert_eq!(done, Some(Revocation::Revoked), "own assertion"),
            (true, other) => panic!("replayed assertion answered {other:?}"),
        }
    }
    assert_eq!(
        (acted, refused),
        (1, 9),
        "one of 10 uses of one assertion acts"
    );

    // Spent before: nothing is revoked.
    let old = spend("assertion:old");
    store.record_jti(&old.key, old.expires_at).await.unwrap();
    let kept = TokenHash::of(b"kept");
    let done = store
        .revoke_access_token_spending(&kept, "c1", now, &old)
        .await
        .unwrap();
    assert_eq!(done, None);
    let record = store.access_token(&kept).await.unwrap().unwrap();
    assert_eq!(record.revoked_at, None, "a replay revoked a token");

    // Fresh spends: another client's token, an unknown one, then the owner's.
    let cases = [
        ("c2", "kept", Revocation::NotOwner),
        ("c1", "never", Revocation::Unknown),
        ("c1", "kept", Revocation::Revoked),
    ];
    for (n, (caller, name, expected)) in cases.into_iter().enumerate() {
        let hash = TokenHash::of(name.as_bytes());
        let done = store
            .revoke_access_token_spending(&hash, caller, now, &spend(&format!("fresh:{n}")))
            .await
            .unwrap();
        assert_eq!(done, Some(expected), "{caller} {name}");
    }
    let record = store.access_token(&kept).await.unwrap().unwrap();
    assert_eq!(record.revoked_at, Some(now));
}

/// A read with its request's assertion spend (`access_token_spending`, introspection): the
/// spend is recorded and its use answered with the token. Of concurrent reads replaying one
/// spend, exactly one is fresh (on Postgres the reads of one batch share a statement, and a key
/// repeated inside it is a replay); a spend used before is a replay; an unknown token is `None`.
pub(crate) async fn a_read_with_a_spend_answers_the_spend_and_the_token(store: Arc<dyn Store>) {
    use portcullis_store::Spend;
    store.insert_client(&client("c1")).await.unwrap();
    let spend = |name: &str| Spend {
        key: TokenHash::of(name.as_bytes()),
        expires_at: Timestamp::from_unix(1000),
    };
    let t = token("read", "c1", 400, Confirmation::Jkt("j".into()));
    store.insert_access_token(&t).await.unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(30));
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (store, start) = (store.clone(), Arc::clone(&start));
        let hash = t.token_hash;
        tasks.push(tokio::spawn(async move {
            let name = assertion_of(i);
            start.wait().await;
            let (used, record) = store
                .access_token_spending(&hash, &spend(&name))
                .await
                .unwrap();
            (i % 3 == 0, used, record)
        }));
    }
    let mut fresh_of_shared = 0;
    for task in tasks {
        let (shared, used, record) = task.await.unwrap();
        if used == JtiUse::Fresh {
            assert_eq!(record.as_ref(), Some(&t), "a fresh read finds the token");
        }
        match (shared, used) {
            (true, JtiUse::Fresh) => fresh_of_shared += 1,
            (true, JtiUse::Replayed) => {}
            (false, used) => assert_eq!(used, JtiUse::Fresh, "own assertion"),
        }
    }
    assert_eq!(
        fresh_of_shared, 1,
        "one of 10 uses of one assertion is fresh"
    );
    // The spends are recorded.
    for name in ["assertion:one", "assertion:1"] {
        let again = store
            .record_jti(&TokenHash::of(name.as_bytes()), Timestamp::from_unix(1000))
            .await
            .unwrap();
        assert_eq!(again, JtiUse::Replayed, "{name}");
    }
    let (used, _) = store
        .access_token_spending(&t.token_hash, &spend("assertion:1"))
        .await
        .unwrap();
    assert_eq!(used, JtiUse::Replayed, "a spend used before");
    let (used, record) = store
        .access_token_spending(&TokenHash::of(b"never"), &spend("assertion:new"))
        .await
        .unwrap();
    assert_eq!((used, record), (JtiUse::Fresh, None));
}

/// Many reads and revocations of access tokens at once (on Postgres they are batched, one
/// statement for what arrives together): each request is answered by its own fate. Reads find
/// their own token or none; an owner's revocation revokes, another client's is refused and
/// changes nothing, an unknown token is unknown, even when the owner and another client revoke
/// one token in the same instant; an earlier revocation time is kept.
pub(crate) async fn batched_token_reads_and_revocations_answer_each_request_by_its_own_fate(
    store: Arc<dyn Store>,
) {
    store.insert_client(&client("c1")).await.unwrap();
    store.insert_client(&client("c2")).await.unwrap();
    let owner = |i: usize| if i.is_multiple_of(2) { "c1" } else { "c2" };
    let other = |i: usize| if i.is_multiple_of(2) { "c2" } else { "c1" };
    let hash = |i: usize| TokenHash::of(format!("rt{i}").as_bytes());
    for i in 0..40 {
        let t = token(
            &format!("rt{i}"),
            owner(i),
            400,
            Confirmation::Jkt("j".into()),
        );
        store.insert_access_token(&t).await.unwrap();
    }
    // Revoked earlier: a later revocation keeps the first time.
    let early = Timestamp::from_unix(150);
    assert_eq!(
        store
            .revoke_access_token(&hash(39), "c2", early)
            .await
            .unwrap(),
        Revocation::Revoked
    );
    let now = Timestamp::from_unix(200);
    let start = Arc::new(tokio::sync::Barrier::new(160));
    let mut tasks = Vec::new();
    for n in 0..160 {
        let (store, start) = (store.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let i = n % 40;
            let outcome = match n / 40 {
                // Reads of every token, and of unknown ones.
                0 => {
                    let found = store.access_token(&hash(i)).await.unwrap();
                    assert_eq!(
                        found.map(|t| (t.token_hash, t.grant.client_id)),
                        Some((hash(i), owner(i).to_owned())),
                        "read of rt{i}"
                    );
                    let unknown = TokenHash::of(format!("unknown{i}").as_bytes());
                    assert_eq!(store.access_token(&unknown).await.unwrap(), None);
                    None
                }
                // The owner revokes every third token, twice at once for some.
                1 | 2 if i % 3 == 0 && (n / 40 == 1 || i % 2 == 0) => Some((
                    "owner",
                    store.revoke_access_token(&hash(i), owner(i), now).await,
                )),
                // Another client tries every other token, and the ones their owner revokes
                // in the same instant.
                1 | 2 if n / 40 == 1 || i % 3 == 0 => Some((
                    "other",
                    store.revoke_access_token(&hash(i), other(i), now).await,
                )),
                2 => Some((
                    "unknown",
                    store
                        .revoke_access_token(&TokenHash::of(format!("no{i}").as_bytes()), "c1", now)
                        .await,
                )),
                // Many revocations by its owner of the token revoked earlier.
                _ => {
                    return (
                        39,
                        Some((
                            "owner",
                            store.revoke_access_token(&hash(39), owner(39), now).await,
                        )),
                    );
                }
            };
            (i, outcome)
        }));
    }
    for task in tasks {
        match task.await.unwrap() {
            (_, None) => {}
            (i, Some(("owner", answer))) => {
                assert_eq!(answer.unwrap(), Revocation::Revoked, "rt{i}")
            }
            (i, Some(("other", answer))) => {
                assert_eq!(answer.unwrap(), Revocation::NotOwner, "rt{i}");
            }
            (i, Some((_, answer))) => assert_eq!(answer.unwrap(), Revocation::Unknown, "no{i}"),
        }
    }
    for i in 0..40 {
        let revoked_at = store
            .access_token(&hash(i))
            .await
            .unwrap()
            .unwrap()
            .revoked_at;
        let expected = match i {
            39 => Some(early),
            i if i % 3 == 0 => Some(now),
            _ => None,
        };
        assert_eq!(revoked_at, expected, "rt{i}: only its owner revokes it");
    }
}
