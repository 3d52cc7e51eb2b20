//! The other admin pages: initial access tokens (issued with a policy, shown once, used over
//! `/register`, revoked), signing keys (listed, rotated), users (created, disabled, enabled, new
//! passwords) and the audit trail with its filters.

use portcullis_core::jose::Alg;
use portcullis_core::keys::KeyState;
use portcullis_store::admin::AuditFilter;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::admin::{Admin, add_admin, assert_admin_headers, audit, last_event};
use crate::support::browser::{Browser, between};
use crate::support::client::{PASSWORD, add_user, verify_password};
use crate::support::registration::register_with;

#[tokio::test]
async fn admin_issues_initial_access_tokens_shown_once_and_revokes_them() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let page = admin
        .post(
            "/admin/initial-access-tokens",
            &[
                ("expires_in", "86400"),
                ("uses", "1"),
                ("scope", "accounts openid"),
                ("grant_client_credentials", "on"),
                ("method_private_key_jwt", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_admin_headers(&page);
    assert!(page.body.contains("only time the token is shown"));
    let token = between(&page.body, "spellcheck=\"false\">", "</textarea>").to_owned();
    let id = between(&page.body, "id=\"token-id\">", "<").to_owned();
    assert!(token.len() >= 43);
    let store = &server.running().state.store;
    let record = store.initial_access_tokens().await.unwrap().remove(0);
    assert_eq!(record.id, id);
    assert_eq!(record.uses_left, Some(1));
    assert_eq!(record.expires_at, server.now().plus(86400));
    let policy: Value = serde_json::from_str(&record.policy).unwrap();
    assert_eq!(
        policy,
        json!({
            "scope": "accounts openid",
            "grant_types": ["client_credentials"],
            "auth_methods": ["private_key_jwt"],
        })
    );

    // The developer registers a client with it; the list shows the use, never the token.
    let body = register_with(&server, &token).await.assert_status(201);
    let client_id = body["client_id"].as_str().unwrap();
    let list = admin.get("/admin/initial-access-tokens").await;
    assert!(!list.body.contains(&token));
    let row = between(&list.body, &format!("<tr id=\"iat-{id}\">"), "</tr>");
    assert!(row.contains("used up") && row.contains(client_id), "{row}");
    let client = admin.get(&format!("/admin/clients/{client_id}")).await;
    assert!(client.body.contains(&format!("initial access token {id}")));
    assert_eq!(
        register_with(&server, &token).await.status,
        401,
        "single use"
    );

    // A second token, revoked, registers nothing; the audit trail never holds a token.
    let page = admin
        .post(
            "/admin/initial-access-tokens",
            &[("expires_in", "3600"), ("uses", "")],
        )
        .await;
    let second = between(&page.body, "spellcheck=\"false\">", "</textarea>").to_owned();
    let second_id = between(&page.body, "id=\"token-id\">", "<").to_owned();
    assert!(page.body.contains("unlimited"));
    let page = admin
        .post(
            &format!("/admin/initial-access-tokens/{second_id}/revoke"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        page.location(),
        "/admin/initial-access-tokens?done=iat_revoked"
    );
    assert_eq!(register_with(&server, &second).await.status, 401);
    let list = admin
        .get("/admin/initial-access-tokens?done=iat_revoked")
        .await;
    assert!(list.body.contains("Initial access token revoked."));
    let trail = admin.get("/admin/audit").await;
    assert!(trail.body.contains("initial_access_token.issue"));
    assert!(!trail.body.contains(&token) && !trail.body.contains(&second));
    // A bad form is refused with the values kept.
    let page = admin
        .post(
            "/admin/initial-access-tokens",
            &[("uses", "0"), ("scope", "ok")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("uses must be at least 1"));
    assert!(page.body.contains("value=\"ok\""));
    server.stop().await;
}

#[tokio::test]
async fn admin_lists_published_keys_and_rotates_them() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let state = &server.running().state;
    let before = state.keys.list(server.now());
    let page = admin.get("/admin/keys").await;
    for (schedule, _) in &before {
        assert!(page.body.contains(&schedule.kid));
    }
    assert!(page.body.contains("Published now"));
    let page = admin.rotate_es256().await;
    assert_eq!(page.location(), "/admin/keys?done=key_rotated");
    let after = state.keys.list(server.now());
    assert_eq!(after.len(), before.len() + 1);
    let (new, new_state) = after.last().unwrap();
    assert_eq!((new.alg, *new_state), (Alg::Es256, KeyState::Pending));
    assert_eq!(new.activates_at, server.now().plus(600));
    let jwks = server
        .client(None)
        .get(format!("{}/jwks", server.public_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(jwks.contains(&new.kid), "published at once");
    let page = admin.get("/admin/keys?done=key_rotated").await;
    assert!(page.body.contains(&new.kid) && page.body.contains("pending"));
    // Every configured algorithm at once; a made-up one is refused.
    let page = admin
        .post(
            "/admin/keys/rotate",
            &[("alg", "all"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(state.keys.list(server.now()).len(), before.len() + 4);
    let page = admin
        .post(
            "/admin/keys/rotate",
            &[("alg", "RS256"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 400);
    let event = last_event(&server).await;
    assert_eq!(
        (event.action.as_str(), event.outcome.as_str()),
        ("key.rotate", "failed")
    );
    assert!(
        !event.details.contains("\"d\""),
        "no private key in the trail"
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_creates_disables_enables_users_and_sets_their_passwords() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let store = &server.running().state.store;
    let page = admin
        .post(
            "/admin/users",
            &[
                ("username", "carol"),
                ("new_password", "carols first password"),
            ],
        )
        .await;
    assert_eq!(page.location(), "/admin/users?done=user_created");
    let carol = store.user_by_username("carol").await.unwrap().unwrap();
    assert!(!carol.is_admin && carol.password_hash.starts_with("$argon2id$"));
    let list = admin.get("/admin/users").await;
    assert!(list.body.contains("carol") && list.body.contains(&admin.username));
    assert!(!list.body.contains("carols first password"));

    // Refusals keep the user name, never the password.
    for (fields, message) in [
        (
            vec![("username", "carol"), ("new_password", "long enough pw")],
            "user name is taken",
        ),
        (
            vec![("username", "dave"), ("new_password", "short")],
            "at least 10",
        ),
        (
            vec![("username", "bad name"), ("new_password", "long enough pw")],
            "usernames are",
        ),
    ] {
        let page = admin.post("/admin/users", &fields).await;
        assert_eq!(page.status, 400, "{message}");
        assert!(page.body.contains(message), "{message}");
        assert!(!page.body.contains("long enough pw"));
    }

    // A new password: the old one stops working, the new one works, and whoever was signed in
    // with the old one is signed out.
    let mut carols = Browser::new(&server);
    let base = server.public_url();
    carols
        .sign_in(&base, "carol", "carols first password")
        .await;
    let account = carols.get(&format!("{base}/account")).await;
    assert!(account.body.contains("Your account"));
    let page = admin
        .post(
            &format!("/admin/users/{}/password", carol.user_id),
            &[
                ("new_password", "carols second password"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.location(), "/admin/users?done=password_reset");
    let carol = store.user(&carol.user_id).await.unwrap().unwrap();
    assert!(!verify_password(
        "carols first password",
        Some(&carol.password_hash)
    ));
    assert!(verify_password(
        "carols second password",
        Some(&carol.password_hash)
    ));
    let account = carols.get(&format!("{base}/account")).await;
    assert!(!account.body.contains("Your account") && account.body.contains("login-submit"));
    let weak = admin
        .post(
            &format!("/admin/users/{}/password", carol.user_id),
            &[("new_password", "short"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(weak.status, 400);

    // Disabling another administrator ends their admin sessions.
    let other = add_admin(&server).await;
    let mut other_admin = Admin::sign_in(&server, &other).await;
    let other_id = store
        .user_by_username(&other)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let page = admin
        .post(
            &format!("/admin/users/{other_id}/disable"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.location(), "/admin/users?done=user_disabled");
    assert_eq!(other_admin.get("/admin/clients").await.status, 303);
    let mut browser = Browser::new(&server);
    let form = browser.get(&format!("{base}/admin/login")).await;
    let csrf = form.field("csrf_token").unwrap();
    let refused = browser
        .post(
            &format!("{base}/admin/login"),
            &[
                ("csrf_token", &csrf),
                ("username", &other),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 401, "a disabled user cannot sign in");
    let page = admin
        .post(&format!("/admin/users/{other_id}/enable"), &[])
        .await;
    assert_eq!(page.location(), "/admin/users?done=user_enabled");
    Admin::sign_in(&server, &other).await;

    // Nobody disables themselves.
    let me = store
        .user_by_username(&admin.username)
        .await
        .unwrap()
        .unwrap();
    let page = admin
        .post(
            &format!("/admin/users/{}/disable", me.user_id),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("cannot disable your own account"));
    assert_eq!(
        store.user(&me.user_id).await.unwrap().unwrap().disabled_at,
        None
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_audit_trail_records_every_action_and_filters_it() {
    let server = TestServer::start().await;
    let user = add_user(&server).await;
    let mut admin = Admin::new(&server).await;
    admin
        .post(
            "/admin/users",
            &[("username", "erin"), ("new_password", "erins password 1")],
        )
        .await;
    admin
        .post_bare("/admin/users", &[("username", "mallory")])
        .await;
    let store = &server.running().state.store;
    let user_id = store
        .user_by_username(&user)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    admin
        .post(
            &format!("/admin/users/{user_id}/disable"),
            &[("password", "guess")],
        )
        .await;

    let all = audit(&server, AuditFilter::default()).await;
    let expected: Vec<(String, String)> = [
        ("user.disable", "denied"),
        ("admin.form_refused", "denied"),
        ("user.create", "success"),
        ("admin.sign_in", "success"),
    ]
    .iter()
    .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
    .collect();
    assert_eq!(all, expected);
    let event = last_event(&server).await;
    assert_eq!(event.actor_name.as_deref(), Some(admin.username.as_str()));
    assert_eq!(event.address, "127.0.0.1");
    assert_eq!(event.target.as_deref(), Some(user.as_str()));
    assert_eq!(event.at, server.now());

    let page = admin.get("/admin/audit").await;
    assert_admin_headers(&page);
    for (action, _) in &expected {
        assert!(page.body.contains(action.as_str()), "{action}");
    }
    assert!(!page.body.contains("erins password") && !page.body.contains("guess"));
    let filtered = admin.get("/admin/audit?action=user.create").await;
    assert!(filtered.body.contains("erin"));
    assert!(!filtered.body.contains("<code>admin.sign_in</code>"));
    assert!(
        filtered
            .body
            .contains("<option value=\"user.create\" selected>")
    );
    let by_target = admin.get(&format!("/admin/audit?target={user}")).await;
    assert!(by_target.body.contains("<code>user.disable</code>"));
    assert!(!by_target.body.contains("<code>user.create</code>"));
    let by_actor = admin.get("/admin/audit?actor=nobody-at-all").await;
    assert!(by_actor.body.contains("No event matches."));
    server.stop().await;
}
