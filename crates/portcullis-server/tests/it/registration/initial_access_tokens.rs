//! Initial access tokens (R162, R163): what a token registers, what it refuses to, single use
//! under concurrency, and the policy a token carries.

use portcullis_core::hash::TokenHash;
use portcullis_core::registration::Policy;
use serde_json::json;

use super::{client_credentials, metadata, new_key};
use crate::support::TestServer;
use crate::support::client::JwtClient;
use crate::support::flow::REDIRECT;
use crate::support::http::Answer;
use crate::support::registration::{initial_access_token, register};

#[tokio::test]
async fn r162_r163_an_initial_access_token_registers_a_client_that_gets_a_client_credentials_token()
{
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let key = new_key();
    let Answer {
        status,
        headers,
        body,
    } = register(&server, Some(&token), &metadata(&key)).await;
    assert_eq!(status, 201, "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    // R163: the identifier, when it was issued, every effective value, the management pair.
    let client_id = body["client_id"].as_str().unwrap();
    assert_eq!(body["client_id_issued_at"], server.now().unix());
    assert_eq!(body["client_name"], "Budget Planner");
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["redirect_uris"], json!([REDIRECT]));
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["jwks"]["keys"][0]["kid"], key.kid());
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/register/{client_id}", server.public_url())
    );
    let rat = body["registration_access_token"].as_str().unwrap();
    assert!(rat.len() >= 43, "R171: at least 128 bits");
    assert!(body.get("client_secret").is_none(), "R163: no secret");
    // R171: only the hash is stored.
    let state = &server.running().state;
    let stored = state
        .store
        .client_by_registration_token(&TokenHash::of(rat.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client.client_id, client_id);
    assert!(!stored.client.metadata.contains(rat));

    // The client works at once: client_credentials with its registered key.
    let client = JwtClient {
        id: client_id.to_owned(),
        key,
    };
    let body = client_credentials(&server, &client).await.assert_ok();
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["scope"], "accounts");
    server.stop().await;
}

#[tokio::test]
async fn r162_registration_without_credentials_is_401_invalid_token() {
    let server = TestServer::start().await;
    let body = metadata(&new_key());
    register(&server, None, &body)
        .await
        .assert_error(401, "invalid_token");
    // Not a bearer token either.
    let url = format!("{}/register", server.public_url());
    let response = server
        .client(None)
        .post(&url)
        .basic_auth("client", Some("secret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn r162_unknown_spent_expired_and_revoked_initial_access_tokens_are_refused() {
    let server = TestServer::start().await;
    let body = metadata(&new_key());
    register(&server, Some("made-up"), &body)
        .await
        .assert_error(401, "invalid_token");

    let once = initial_access_token(&server, Policy::default(), Some(1)).await;
    assert_eq!(register(&server, Some(&once), &body).await.status, 201);
    register(&server, Some(&once), &body)
        .await
        .assert_error(401, "invalid_token");

    let expiring = initial_access_token(&server, Policy::default(), None).await;
    server.clock.advance(3600);
    register(&server, Some(&expiring), &body)
        .await
        .assert_error(401, "invalid_token");

    let revoked = initial_access_token(&server, Policy::default(), None).await;
    let store = &server.running().state.store;
    let id = store
        .initial_access_token(&TokenHash::of(revoked.as_bytes()))
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        store
            .revoke_initial_access_token(&id, server.now())
            .await
            .unwrap()
    );
    register(&server, Some(&revoked), &body)
        .await
        .assert_error(401, "invalid_token");
    server.stop().await;
}

#[tokio::test]
async fn r162_a_single_use_initial_access_token_registers_one_client_under_concurrency() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let server = std::sync::Arc::clone(&server);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            register(&server, Some(&token), &metadata(&new_key()))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 401, 401, 401, 401, 401]);
    let server = std::sync::Arc::into_inner(server).unwrap();
    server.stop().await;
}

#[tokio::test]
async fn an_initial_access_token_policy_limits_what_it_registers() {
    let server = TestServer::start().await;
    let key = new_key();
    let narrow = initial_access_token(
        &server,
        Policy {
            scope: Some("openid accounts".into()),
            grant_types: vec!["client_credentials".into()],
            auth_methods: vec!["private_key_jwt".into()],
            allow_resource_server: false,
        },
        None,
    )
    .await;
    let fits = json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["client_credentials"],
        "scope": "accounts",
    });
    assert_eq!(register(&server, Some(&narrow), &fits).await.status, 201);
    for changes in [
        json!({ "scope": "accounts payments" }),
        json!({ "grant_types": ["client_credentials", "authorization_code"], "redirect_uris": [REDIRECT] }),
        json!({ "resource_server": true }),
    ] {
        let mut body = fits.clone();
        for (k, v) in changes.as_object().unwrap() {
            body[k] = v.clone();
        }
        register(&server, Some(&narrow), &body)
            .await
            .assert_error(400, "invalid_client_metadata");
    }
    // Without a policy, a resource server is still refused; a token that allows it can.
    let mut rs = fits.clone();
    rs["resource_server"] = json!(true);
    let open = initial_access_token(&server, Policy::default(), None).await;
    register(&server, Some(&open), &rs)
        .await
        .assert_error(400, "invalid_client_metadata");
    let allowing = initial_access_token(
        &server,
        Policy {
            allow_resource_server: true,
            ..Policy::default()
        },
        None,
    )
    .await;
    let Answer { status, body, .. } = register(&server, Some(&allowing), &rs).await;
    assert_eq!(
        (status, &body["resource_server"]),
        (201, &json!(true)),
        "{body:?}"
    );
    server.stop().await;
}
