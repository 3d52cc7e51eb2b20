//! The clients pages: create, edit, disable, enable and delete through the forms, the FAPI rules
//! on what is entered, search and paging, and a client's activity with its revocation.

use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_store::admin::AuditFilter;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::admin::{Admin, assert_admin_headers, audit, audit_events, last_event};
use crate::support::browser::{Browser, between};
use crate::support::client::{DpopKey, JwtClient, PASSWORD, unique};
use crate::support::flow::{Fixture, REDIRECT};
use crate::support::http::Answer;
use crate::support::token;

/// A client_credentials request of `client` for `accounts` ([`token::client_credentials`]).
async fn client_credentials(server: &TestServer, client: &JwtClient) -> Answer {
    token::client_credentials(server, client, "accounts").await
}

fn key() -> PrivateKey {
    PrivateKey::generate(Alg::Es256, &unique("kid")).unwrap()
}

fn jwks(key: &PrivateKey) -> String {
    json!({ "keys": [key.public_jwk().unwrap()] }).to_string()
}

/// The client_id in a redirect to a client page.
fn created_id(location: &str) -> String {
    let path = location.split('?').next().unwrap();
    path.strip_prefix("/admin/clients/").unwrap().to_owned()
}

#[tokio::test]
async fn admin_creates_edits_disables_enables_and_deletes_a_client() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let store = &server.running().state.store;
    let key = key();
    let jwks = jwks(&key);

    let page = admin
        .post(
            "/admin/clients",
            &[
                ("client_name", "Budget Planner"),
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("jwks", &jwks),
                ("grant_client_credentials", "on"),
                ("scope", "accounts"),
                ("binding", "dpop"),
                ("access_token_lifetime", "120"),
                ("profile", "fapi2"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location().ends_with("?done=client_created"));
    let id = created_id(&page.location());
    let shown = admin.get(&page.location()).await;
    assert_eq!(shown.status, 200);
    assert_admin_headers(&shown);
    for text in [
        "Budget Planner",
        "Client created.",
        "private_key_jwt",
        "DPoP always",
        "120 s",
    ] {
        assert!(shown.body.contains(text), "{text}");
    }
    assert!(shown.body.contains("By an administrator"));
    let client = JwtClient {
        id: id.clone(),
        key,
    };
    let answer = client_credentials(&server, &client).await;
    assert_eq!(
        answer.status, 200,
        "the new client works: {:?}",
        answer.body
    );
    assert_eq!(answer.body["expires_in"], 120);

    // Edit: the form shows the stored values; saving replaces the metadata.
    let edit = admin.get(&format!("/admin/clients/{id}/edit")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("value=\"Budget Planner\""));
    assert!(
        edit.body
            .contains("name=\"grant_client_credentials\" id=\"grant_client_credentials\" checked")
    );
    let page = admin
        .post(
            &format!("/admin/clients/{id}"),
            &[
                ("client_name", "Budget Planner 2"),
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("jwks", &jwks),
                ("grant_client_credentials", "on"),
                ("scope", "accounts payments"),
                ("access_token_format", "jwt"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let record = store.client(&id).await.unwrap().unwrap();
    let metadata: Value = serde_json::from_str(&record.metadata).unwrap();
    assert_eq!(metadata["client_name"], "Budget Planner 2");
    assert_eq!(metadata["scope"], "accounts payments");
    assert_eq!(metadata["access_token_format"], "jwt");
    assert!(
        metadata.get("access_token_lifetime").is_none(),
        "a full replacement"
    );
    let body = client_credentials(&server, &client).await.assert_ok();
    assert_eq!(
        body["access_token"].as_str().unwrap().split('.').count(),
        3,
        "the change applies at once in this process"
    );

    // Disable: refused at once; enable: accepted again.
    let page = admin
        .post(
            &format!("/admin/clients/{id}/disable"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        page.location(),
        format!("/admin/clients/{id}?done=client_disabled")
    );
    client_credentials(&server, &client)
        .await
        .assert_error(401, "invalid_client");
    let shown = admin.get(&page.location()).await;
    assert!(shown.body.contains("Disabled since") && shown.body.contains("enable-submit"));
    let page = admin
        .post(&format!("/admin/clients/{id}/enable"), &[])
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(client_credentials(&server, &client).await.status, 200);

    // Delete: gone with its tokens.
    let page = admin
        .post(
            &format!("/admin/clients/{id}/delete"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.location(), "/admin/clients?done=client_deleted");
    assert!(store.client(&id).await.unwrap().is_none());
    assert_eq!(admin.get(&format!("/admin/clients/{id}")).await.status, 404);
    assert_eq!(client_credentials(&server, &client).await.status, 401);

    let actions: Vec<String> = audit(
        &server,
        AuditFilter {
            target: Some(id.clone()),
            ..AuditFilter::default()
        },
    )
    .await
    .into_iter()
    .map(|(action, outcome)| format!("{action} {outcome}"))
    .collect();
    assert_eq!(
        actions,
        [
            "client.delete success",
            "client.enable success",
            "client.disable success",
            "client.update success",
            "client.create success",
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_client_forms_apply_the_fapi_rules_and_keep_what_was_entered() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let private = key();
    let private_jwks = format!(
        r#"{{"keys": [{}]}}"#,
        String::from_utf8(private.to_json()).unwrap()
    );
    for (fields, message) in [
        (
            vec![
                ("client_name", "Keyless"),
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("grant_client_credentials", "on"),
            ],
            "private_key_jwt needs jwks or jwks_uri",
        ),
        (
            vec![
                ("client_name", "Leaky"),
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("jwks", private_jwks.as_str()),
                ("grant_client_credentials", "on"),
            ],
            "jwks must hold public keys only",
        ),
        (
            vec![
                ("client_name", "Plain"),
                ("token_endpoint_auth_method", "private_key_jwt"),
                ("jwks", "{\"keys\": [}"),
                ("grant_client_credentials", "on"),
            ],
            "jwks is not valid JSON",
        ),
        (
            vec![
                ("client_name", "Insecure"),
                ("token_endpoint_auth_method", "tls_client_auth"),
                ("tls_client_auth_san_dns", "client.example"),
                ("grant_authorization_code", "on"),
                ("redirect_uris", "http://client.example/cb"),
            ],
            "redirect_uris must be absolute https URLs",
        ),
        (
            vec![
                ("client_name", "Secretive"),
                ("token_endpoint_auth_method", "client_secret_basic"),
                ("grant_client_credentials", "on"),
            ],
            "token_endpoint_auth_method must be",
        ),
    ] {
        let page = admin.post("/admin/clients", &fields).await;
        assert_eq!(page.status, 400, "{message}");
        assert!(page.body.contains(message), "{message}: {}", page.body);
        let name = fields[0].1;
        assert!(
            page.body.contains(&format!("value=\"{name}\"")),
            "the entered values stay"
        );
    }
    assert!(
        server
            .running()
            .state
            .store
            .clients()
            .await
            .unwrap()
            .is_empty()
    );
    let (_, total) = audit_events(&server, &AuditFilter::default(), 100).await;
    assert_eq!(total, 6, "one sign-in and one failed client.create each");
    server.stop().await;
}

#[tokio::test]
async fn admin_creates_a_tls_client_auth_client_from_the_certificate_subject() {
    let server = TestServer::start().await;
    let mut admin = Admin::new(&server).await;
    let page = admin
        .post(
            "/admin/clients",
            &[
                ("client_id", "payments-gateway"),
                ("client_name", "Payments Gateway"),
                ("token_endpoint_auth_method", "tls_client_auth"),
                (
                    "tls_client_auth_subject_dn",
                    "CN=gateway.example,O=Example Ltd",
                ),
                ("grant_client_credentials", "on"),
                ("binding", "mtls"),
                ("scope", "payments"),
            ],
        )
        .await;
    assert_eq!(
        page.location(),
        "/admin/clients/payments-gateway?done=client_created"
    );
    let shown = admin.get("/admin/clients/payments-gateway").await;
    assert!(shown.body.contains("CN=gateway.example,O=Example Ltd"));
    assert!(shown.body.contains("Client certificate always"));
    // The client_id is taken now.
    let again = admin
        .post(
            "/admin/clients",
            &[
                ("client_id", "payments-gateway"),
                ("token_endpoint_auth_method", "tls_client_auth"),
                ("tls_client_auth_san_dns", "gateway.example"),
                ("grant_client_credentials", "on"),
            ],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("already registered"));
    server.stop().await;
}

#[tokio::test]
async fn admin_client_list_searches_and_pages() {
    let server = TestServer::start().await;
    for i in 0..23 {
        let name = if i == 17 {
            "Needle Finder".to_owned()
        } else {
            format!("App {i}")
        };
        JwtClient::register(&server, json!({ "client_name": name })).await;
    }
    let mut admin = Admin::new(&server).await;
    let first = admin.get("/admin/clients").await;
    assert!(first.body.contains("1–20 of 23"), "{}", first.body);
    assert_eq!(
        first.body.matches("<tr>").count(),
        21,
        "a header and 20 rows"
    );
    assert!(first.body.contains("href=\"/admin/clients?page=2\""));
    let second = admin.get("/admin/clients?page=2").await;
    assert!(second.body.contains("21–23 of 23"));
    assert!(second.body.contains("rel=\"prev\""));
    assert!(!second.body.contains("rel=\"next\""));
    let found = admin.get("/admin/clients?q=needle").await;
    assert!(found.body.contains("Needle Finder") && found.body.contains("1–1 of 1"));
    let none = admin.get("/admin/clients?q=%3Cscript%3E").await;
    assert!(none.body.contains("No client matches"));
    assert!(!none.body.contains("<script>"), "the search is escaped");
    server.stop().await;
}

#[tokio::test]
async fn admin_activity_shows_live_tokens_and_revoking_everything_kills_them() {
    let server = TestServer::start().await;
    let client = JwtClient::register(
        &server,
        json!({
            "client_name": "Budget Planner",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "redirect_uris": [REDIRECT],
            "scope": "openid profile accounts",
        }),
    )
    .await;
    let f = Fixture::with_client(server, client).await;
    let mut browser = Browser::new(&f.server);
    let dpop = DpopKey::new();
    let tokens = f.tokens(&mut browser, &dpop).await;
    let cc = client_credentials(&f.server, &f.client).await.assert_ok();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let machine = cc["access_token"].as_str().unwrap();

    let mut admin = Admin::new(&f.server).await;
    let path = format!("/admin/clients/{}", f.client.id);
    let page = admin.get(&path).await;
    assert!(page.body.contains("Access tokens") && page.body.contains("DPoP key"));
    assert!(page.body.contains("Refresh tokens"));
    assert!(page.body.contains("openid profile"));
    assert!(page.body.contains("<span class=\"badge ok\">active</span>"));
    assert!(
        !page.body.contains(access) && !page.body.contains(refresh),
        "no token is shown"
    );

    let page = admin
        .post(&format!("{path}/revoke"), &[("password", PASSWORD)])
        .await;
    assert_eq!(page.location(), format!("{path}?done=tokens_revoked"));
    let page = admin.get(&page.location()).await;
    assert!(page.body.contains("No live tokens."));
    assert!(page.body.contains("<span class=\"badge off\""));
    for access_token in [access, machine] {
        let introspected = token::introspect(&f.server, &f.client, access_token)
            .send()
            .await;
        assert_eq!(introspected.body["active"], false);
    }
    f.refresh(refresh)
        .dpop(&dpop)
        .send()
        .await
        .assert_error(400, "invalid_grant");
    let event = last_event(&f.server).await;
    assert_eq!(event.action, "client.revoke_tokens");
    let details: Value = serde_json::from_str(&event.details).unwrap();
    assert_eq!(
        details,
        json!({ "access_tokens": 2, "refresh_tokens": 1, "grants": 1 })
    );

    // One grant at a time, too (after a new authorization).
    let tokens = f.tokens(&mut browser, &dpop).await;
    let page = admin.get(&path).await;
    let grant_id = between(&page.body, "id=\"revoke-grant-", "\"").to_owned();
    let page = admin
        .post(&format!("{path}/grants/{grant_id}/revoke"), &[])
        .await;
    assert_eq!(page.location(), format!("{path}?done=grant_revoked"));
    let access = tokens["access_token"].as_str().unwrap();
    let introspected = token::introspect(&f.server, &f.client, access).send().await;
    assert_eq!(introspected.body["active"], false);
    // A grant of another client cannot be revoked through this client's page.
    let page = admin
        .post(
            &format!("/admin/clients/other/grants/{grant_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(page.status, 404);
    f.server.stop().await;
}
