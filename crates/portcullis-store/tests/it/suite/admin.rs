//! Contract checks of the admin UI's storage: sessions with idle and absolute timeouts, the audit
//! trail, client paging and search, a client's activity and its bulk revocation.

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::token::Confirmation;
use portcullis_store::Store;
use portcullis_store::admin::{
    AdminSessionRecord, AuditEvent, AuditFilter, AuditOutcome, ClientRevocation, TokenKind,
    TokenSummary,
};
use portcullis_store::flow::{RefreshTokenRecord, SessionRecord};
use portcullis_store::registration::RegistrationRecord;

use super::{client, code, consent, grant, token, user, user_and_client};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs)
}

fn session(user_id: &str) -> AdminSessionRecord {
    AdminSessionRecord {
        user_id: user_id.to_owned(),
        auth_time: t(1000),
        last_seen_at: t(1000),
        csrf_token: "csrf".to_owned(),
        expires_at: t(5000),
    }
}

pub(crate) async fn admin_sessions_live_until_idle_or_their_end(store: Arc<dyn Store>) {
    store.insert_user(&user("user-1")).await.unwrap();
    let (a, b, c) = (
        TokenHash::of(b"s-a"),
        TokenHash::of(b"s-b"),
        TokenHash::of(b"s-c"),
    );
    for hash in [&a, &b, &c] {
        store
            .insert_admin_session(hash, &session("user-1"))
            .await
            .unwrap();
    }
    // Seen within the idle window: live, and the last use moves forward.
    let live = store
        .touch_admin_session(&a, t(1500), t(1100 - 900))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            live.user_id.as_str(),
            live.last_seen_at,
            live.csrf_token.as_str()
        ),
        ("user-1", t(1500), "csrf")
    );
    // Idle since 1500: a request after 1500 + 900 finds it ended, and it stays ended.
    assert_eq!(
        store
            .touch_admin_session(&a, t(2400), t(1500))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .touch_admin_session(&a, t(2500), t(1600))
            .await
            .unwrap(),
        None
    );
    // The absolute end holds whatever the idle window.
    assert_eq!(
        store.touch_admin_session(&b, t(5000), t(0)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .touch_admin_session(&TokenHash::of(b"unknown"), t(1001), t(0))
            .await
            .unwrap(),
        None
    );
    store.delete_admin_session(&c).await.unwrap();
    assert_eq!(
        store.touch_admin_session(&c, t(1001), t(0)).await.unwrap(),
        None
    );
    // Ending a user's sessions ends their browser sessions too.
    let browser = TokenHash::of(b"browser");
    store
        .insert_session(
            &browser,
            &SessionRecord {
                user_id: "user-1".to_owned(),
                auth_time: t(1000),
                csrf_token: "c".to_owned(),
                expires_at: t(5000),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.end_sessions_of("user-1").await.unwrap(), 3);
    assert_eq!(store.session(&browser).await.unwrap(), None);
    assert_eq!(
        store.touch_admin_session(&a, t(2402), t(0)).await.unwrap(),
        None
    );
    // Sessions past their end are purged.
    store
        .insert_admin_session(&b, &session("user-1"))
        .await
        .unwrap();
    assert!(store.purge_expired(t(5000)).await.unwrap() >= 1);
    store
        .insert_admin_session(&b, &session("user-1"))
        .await
        .expect("the purged session's hash is free again");
}

fn event(at: i64, actor: Option<&str>, action: &str, target: &str) -> AuditEvent {
    AuditEvent {
        at: t(at),
        actor_id: actor.map(|a| format!("user-{a}")),
        actor_name: actor.map(str::to_owned),
        address: "192.0.2.7".to_owned(),
        action: action.to_owned(),
        target: Some(target.to_owned()),
        outcome: AuditOutcome::Success,
        details: r#"{"n":1}"#.to_owned(),
    }
}

pub(crate) async fn audit_events_are_listed_newest_first_filtered_and_paged(store: Arc<dyn Store>) {
    let mut refused = event(100, None, "admin.sign_in", "/admin/login");
    refused.outcome = AuditOutcome::Denied;
    let events = [
        refused,
        event(200, Some("Alice"), "client.create", "budget"),
        event(200, Some("alice"), "client.update", "budget"),
        event(300, Some("bob"), "key.rotate", "ES256"),
        event(400, Some("bob"), "client.delete", "100%_real"),
    ];
    for e in &events {
        store.insert_audit_event(e).await.unwrap();
    }
    let all = |filter: AuditFilter| {
        let store = Arc::clone(&store);
        async move {
            let (events, total) = store.audit_events(&filter, 0, 100).await.unwrap();
            assert_eq!(total, events.len() as u64);
            events
                .into_iter()
                .map(|e| (e.event.action, e.event.at.unix()))
                .collect::<Vec<_>>()
        }
    };
    // Newest first; within one second, the later insert first.
    assert_eq!(
        all(AuditFilter::default()).await,
        [
            ("client.delete".to_owned(), 400),
            ("key.rotate".to_owned(), 300),
            ("client.update".to_owned(), 200),
            ("client.create".to_owned(), 200),
            ("admin.sign_in".to_owned(), 100),
        ]
    );
    let (page, total) = store
        .audit_events(&AuditFilter::default(), 1, 2)
        .await
        .unwrap();
    assert_eq!(total, 5);
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].event, events[3]);
    assert!(page[0].id > page[1].id);
    // Text filters are case-insensitive substrings; they combine.
    let actions = |v: Vec<(String, i64)>| v.into_iter().map(|(a, _)| a).collect::<Vec<_>>();
    assert_eq!(
        actions(
            all(AuditFilter {
                actor: Some("ALICE".into()),
                ..AuditFilter::default()
            })
            .await
        ),
        ["client.update", "client.create"]
    );
    assert_eq!(
        actions(
            all(AuditFilter {
                action: Some("client".into()),
                actor: Some("bob".into()),
                ..AuditFilter::default()
            })
            .await
        ),
        ["client.delete"]
    );
    // LIKE wildcards in a filter match themselves.
    assert_eq!(
        actions(
            all(AuditFilter {
                target: Some("%_".into()),
                ..AuditFilter::default()
            })
            .await
        ),
        ["client.delete"]
    );
    assert!(
        all(AuditFilter {
            target: Some("_".into()),
            actor: Some("alice".into()),
            ..AuditFilter::default()
        })
        .await
        .is_empty()
    );
    // Retention: events before the cutoff go.
    assert_eq!(store.purge_audit_events(t(300)).await.unwrap(), 3);
    assert_eq!(
        store
            .audit_events(&AuditFilter::default(), 0, 10)
            .await
            .unwrap()
            .1,
        2
    );
}

pub(crate) async fn clients_are_paged_and_searched_by_id_and_metadata(store: Arc<dyn Store>) {
    for i in 0..25 {
        let mut c = client(&format!("client-{i:02}"));
        if i == 7 {
            c.metadata = r#"{"client_id":"client-07","client_name":"Budget Planner"}"#.to_owned();
        }
        store.insert_client(&c).await.unwrap();
    }
    let ids = |v: Vec<portcullis_store::ClientRecord>| {
        v.into_iter().map(|c| c.client_id).collect::<Vec<_>>()
    };
    let (first, total) = store.clients_page(None, 0, 20).await.unwrap();
    assert_eq!((first.len(), total), (20, 25));
    assert_eq!(first[0].client_id, "client-00");
    let (rest, _) = store.clients_page(Some(""), 20, 20).await.unwrap();
    assert_eq!(
        ids(rest),
        [
            "client-20",
            "client-21",
            "client-22",
            "client-23",
            "client-24"
        ]
    );
    let (found, total) = store.clients_page(Some("budget"), 0, 20).await.unwrap();
    assert_eq!((ids(found), total), (vec!["client-07".to_owned()], 1));
    let (found, total) = store.clients_page(Some("ENT-1"), 0, 3).await.unwrap();
    assert_eq!(total, 10);
    assert_eq!(ids(found), ["client-10", "client-11", "client-12"]);
    // `_` and `%` are characters, not wildcards.
    assert_eq!(store.clients_page(Some("t-0"), 0, 20).await.unwrap().1, 10);
    assert_eq!(store.clients_page(Some("t_0"), 0, 20).await.unwrap().1, 0);
    assert_eq!(store.clients_page(Some("%"), 0, 20).await.unwrap().1, 0);
}

pub(crate) async fn admins_update_client_metadata_and_enable_clients_and_users(
    store: Arc<dyn Store>,
) {
    user_and_client(&store).await;
    assert!(
        store
            .update_client_metadata("c1", r#"{"client_name":"New"}"#, t(70))
            .await
            .unwrap()
    );
    let c1 = store.client("c1").await.unwrap().unwrap();
    assert_eq!(
        (c1.metadata.as_str(), c1.updated_at, c1.created_at),
        (r#"{"client_name":"New"}"#, t(70), t(10))
    );
    assert!(
        !store
            .update_client_metadata("zz", "{}", t(70))
            .await
            .unwrap()
    );
    store.disable_client("c1", t(80)).await.unwrap();
    assert!(store.enable_client("c1", t(90)).await.unwrap());
    let c1 = store.client("c1").await.unwrap().unwrap();
    assert_eq!((c1.disabled_at, c1.updated_at), (None, t(90)));
    assert!(!store.enable_client("zz", t(90)).await.unwrap());
    store.disable_user("user-1", t(80)).await.unwrap();
    assert!(store.enable_user("user-1").await.unwrap());
    assert_eq!(
        store.user("user-1").await.unwrap().unwrap().disabled_at,
        None
    );
    assert!(!store.enable_user("user-zz").await.unwrap());
}

fn refresh(secret: &str, grant_id: &str, client_id: &str, expires_at: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: TokenHash::of(secret.as_bytes()),
        grant_id: grant_id.to_owned(),
        client_id: client_id.to_owned(),
        issued_at: t(100),
        last_used_at: t(100),
        expires_at: t(expires_at),
        revoked_at: None,
    }
}

/// Grants g1 (c1), g2 (c1, later) and g3 (c2); access tokens of c1 in two bindings and formats,
/// one expired and one revoked; refresh tokens of each grant.
async fn activity(store: &Arc<dyn Store>) {
    user_and_client(store).await;
    for (g, c, created) in [("g1", "c1", 100), ("g2", "c1", 150), ("g3", "c2", 100)] {
        let mut record = grant(g, "user-1", c);
        record.created_at = t(created);
        store
            .issue_code(
                &record,
                &code(&format!("code-{g}"), g, c),
                &consent("user-1", c),
            )
            .await
            .unwrap();
    }
    let mut jwt = token("at-jwt", "c1", 900, Confirmation::X5tS256("x".into()));
    jwt.format = "jwt".to_owned();
    let mut revoked = token("at-revoked", "c1", 900, Confirmation::Jkt("j".into()));
    revoked.grant_id = Some("g1".to_owned());
    for at in [
        token("at-1", "c1", 700, Confirmation::Jkt("j".into())),
        token("at-2", "c1", 600, Confirmation::Jkt("j".into())),
        token("at-old", "c1", 150, Confirmation::Jkt("j".into())),
        jwt,
        revoked.clone(),
        token("at-c2", "c2", 900, Confirmation::Jkt("j".into())),
    ] {
        store.insert_access_token(&at).await.unwrap();
    }
    store
        .revoke_access_token(&revoked.token_hash, "c1", t(190))
        .await
        .unwrap();
    for rt in [
        refresh("rt-1", "g1", "c1", 9000),
        refresh("rt-2", "g2", "c1", 8000),
        refresh("rt-old", "g2", "c1", 150),
        refresh("rt-3", "g3", "c2", 9000),
    ] {
        store.insert_refresh_token(&rt).await.unwrap();
    }
}

pub(crate) async fn a_client_s_activity_shows_grants_and_live_tokens_by_kind(
    store: Arc<dyn Store>,
) {
    activity(&store).await;
    let now = t(200);
    let grants = store.client_grants("c1", now, 10).await.unwrap();
    let lines: Vec<(&str, Option<&str>, u64)> = grants
        .iter()
        .map(|g| {
            (
                g.grant.grant_id.as_str(),
                g.username.as_deref(),
                g.live_refresh_tokens,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("g2", Some("name-user-1"), 1),
            ("g1", Some("name-user-1"), 1)
        ],
        "newest first, with the user's name and live refresh tokens only"
    );
    assert_eq!(grants[0].grant.scope, "openid a");
    assert_eq!(store.client_grants("c1", now, 1).await.unwrap().len(), 1);
    let summary = store.client_token_summary("c1", now).await.unwrap();
    assert_eq!(
        summary,
        [
            TokenSummary {
                kind: TokenKind::Access,
                binding: "dpop".into(),
                format: "opaque".into(),
                live: 2,
                soonest_expiry: t(600),
            },
            TokenSummary {
                kind: TokenKind::Access,
                binding: "mtls".into(),
                format: "jwt".into(),
                live: 1,
                soonest_expiry: t(900),
            },
            TokenSummary {
                kind: TokenKind::Refresh,
                binding: "client".into(),
                format: "opaque".into(),
                live: 2,
                soonest_expiry: t(8000),
            },
        ]
    );
    assert!(
        store
            .client_token_summary("nobody", now)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn revoking_a_client_s_tokens_revokes_its_live_tokens_and_grants_only(
    store: Arc<dyn Store>,
) {
    activity(&store).await;
    let now = t(200);
    assert_eq!(
        store.revoke_client_tokens("c1", now).await.unwrap(),
        ClientRevocation {
            access_tokens: 3,
            refresh_tokens: 2,
            grants: 2,
        }
    );
    assert!(
        store
            .client_token_summary("c1", now)
            .await
            .unwrap()
            .is_empty()
    );
    for secret in ["at-1", "at-2"] {
        let at = store
            .access_token(&TokenHash::of(secret.as_bytes()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(at.revoked_at, Some(now));
    }
    let earlier = store
        .access_token(&TokenHash::of(b"at-revoked"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        earlier.revoked_at,
        Some(t(190)),
        "the first revocation stays"
    );
    assert!(
        store
            .refresh_token(&TokenHash::of(b"rt-1"))
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    for g in ["g1", "g2"] {
        assert_eq!(store.grant(g).await.unwrap().unwrap().revoked_at, Some(now));
    }
    // The other client keeps everything.
    assert_eq!(store.grant("g3").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(
        store.client_token_summary("c2", now).await.unwrap().len(),
        2
    );
    assert_eq!(
        store.revoke_client_tokens("c1", t(300)).await.unwrap(),
        ClientRevocation::default(),
        "nothing is left to revoke"
    );
}

pub(crate) async fn registrations_remember_their_initial_access_token(store: Arc<dyn Store>) {
    let with_token = RegistrationRecord {
        client_id: "r1".to_owned(),
        token_hash: TokenHash::of(b"rat-1"),
        policy: "{}".to_owned(),
        software_statement: None,
        token_issued_at: t(20),
        initial_access_token_id: Some("iat-1".to_owned()),
    };
    let by_statement = RegistrationRecord {
        client_id: "r2".to_owned(),
        token_hash: TokenHash::of(b"rat-2"),
        initial_access_token_id: None,
        software_statement: Some("a.b.c".to_owned()),
        ..with_token.clone()
    };
    store
        .insert_registered_client(&client("r1"), &with_token)
        .await
        .unwrap();
    store
        .insert_registered_client(&client("r2"), &by_statement)
        .await
        .unwrap();
    store.insert_client(&client("cli")).await.unwrap();
    assert_eq!(
        store.client_registration("r1").await.unwrap(),
        Some(with_token.clone())
    );
    assert_eq!(
        store.client_registration("r2").await.unwrap(),
        Some(by_statement)
    );
    assert_eq!(store.client_registration("cli").await.unwrap(), None);
    let found = store
        .client_by_registration_token(&with_token.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.registration, with_token);
    let uses = store.initial_access_token_uses().await.unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(
        (
            uses[0].token_id.as_str(),
            uses[0].client_id.as_str(),
            uses[0].registered_at
        ),
        ("iat-1", "r1", t(10))
    );
}
