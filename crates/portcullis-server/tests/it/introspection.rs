//! Introspection (R150–R155), revocation (R156–R161), and what the database holds.

use serde_json::json;

use crate::support::TestServer;
use crate::support::client::{DpopKey, JwtClient};
use crate::support::http::Answer;
use crate::support::token::{self, client_credentials, revoke};

/// Issues a DPoP-bound token for `a` to `client` and returns it.
async fn issue(server: &TestServer, client: &JwtClient) -> String {
    let body = client_credentials(server, client, "a").await.assert_ok();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Introspects `token` as `caller`.
async fn introspect(server: &TestServer, caller: &JwtClient, token: &str) -> Answer {
    token::introspect(server, caller, token).send().await
}

#[tokio::test]
async fn r151_r152_resource_server_sees_active_tokens_and_nothing_else() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let rs = JwtClient::register(&server, json!({"resource_server": true})).await;
    let stranger = JwtClient::register(&server, json!({})).await;
    let token = issue(&server, &client).await;

    let Answer {
        status,
        headers,
        body,
    } = introspect(&server, &rs, &token).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store", "R155");
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], client.id.as_str());
    assert_eq!(body["scope"], "a");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["iss"], server.config.issuer.as_str());
    assert!(body["cnf"]["jkt"].is_string(), "R113: cnf.jkt");
    for name in ["sub", "aud", "exp", "iat", "jti"] {
        assert!(body.get(name).is_some(), "{name}");
    }
    // The owner may introspect its own token; an unrelated non-resource-server may not.
    assert_eq!(
        introspect(&server, &client, &token).await.body["active"],
        true
    );
    assert_eq!(
        introspect(&server, &stranger, &token).await.body,
        json!({"active": false})
    );
    // Unknown, malformed and huge tokens look the same.
    for bogus in ["nope", "a.b.c", &"x".repeat(5000)] {
        assert_eq!(
            introspect(&server, &rs, bogus).await.body,
            json!({"active": false})
        );
    }
    // Expired.
    server.clock.advance(301);
    assert_eq!(
        introspect(&server, &rs, &token).await.body,
        json!({"active": false})
    );
    server.stop().await;
}

#[tokio::test]
async fn r150_r153_caller_must_authenticate_and_send_a_token() {
    let server = TestServer::start().await;
    let rs = JwtClient::register(&server, json!({"resource_server": true})).await;
    server
        .post("/introspect")
        .param("token", "x")
        .send()
        .await
        .assert_error(401, "invalid_client");
    server
        .post("/introspect")
        .auth(&rs)
        .send()
        .await
        .assert_error(400, "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn r154_jwt_introspection_response_is_signed_for_the_caller() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let rs = JwtClient::register(&server, json!({"resource_server": true})).await;
    let token = issue(&server, &client).await;
    let Answer {
        status,
        headers,
        body,
    } = token::introspect(&server, &rs, &token)
        .header("Accept", "application/token-introspection+jwt")
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "application/token-introspection+jwt"
    );
    let jwt = body.as_str().unwrap();
    let header = portcullis_core::jose::peek_header(jwt).unwrap();
    assert_eq!(header["typ"], "token-introspection+jwt");
    let claims = server.verify(jwt).await;
    assert_eq!(claims["iss"], server.config.issuer.as_str());
    assert_eq!(claims["aud"], rs.id.as_str());
    assert!(claims["iat"].is_number());
    assert_eq!(claims["token_introspection"]["active"], true);
    assert_eq!(
        claims["token_introspection"]["client_id"],
        client.id.as_str()
    );
    server.stop().await;
}

#[tokio::test]
async fn r156_to_r161_only_the_owner_revokes_and_revoked_tokens_are_inactive() {
    let server = TestServer::start().await;
    let owner = JwtClient::register(&server, json!({})).await;
    let other = JwtClient::register(&server, json!({})).await;
    let rs = JwtClient::register(&server, json!({"resource_server": true})).await;
    let token = issue(&server, &owner).await;

    // R157: another client's revocation is refused and changes nothing.
    revoke(&server, &other, &token)
        .send()
        .await
        .assert_error(400, "unauthorized_client");
    assert_eq!(introspect(&server, &rs, &token).await.body["active"], true);
    // R160: an unsupported hint type.
    revoke(&server, &owner, &token)
        .param("token_type_hint", "id_token")
        .send()
        .await
        .assert_error(400, "unsupported_token_type");
    // R160: a wrong (but known) hint still revokes.
    let revoked = revoke(&server, &owner, &token)
        .param("token_type_hint", "refresh_token")
        .send()
        .await;
    assert_eq!(revoked.status, 200);
    // R161: revoked → inactive.
    assert_eq!(
        introspect(&server, &rs, &token).await.body,
        json!({"active": false})
    );
    // R158: unknown tokens and repeated revocations answer 200.
    assert_eq!(
        revoke(&server, &owner, "never-issued").send().await.status,
        200
    );
    assert_eq!(revoke(&server, &owner, &token).send().await.status, 200);
    // R156: authentication required.
    server
        .post("/revoke")
        .param("token", &token)
        .send()
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

/// R94 at introspection and revocation, where the caller's assertion is spent beside the token's
/// read or in the revocation's own statement (decision 0019): a replayed assertion is refused and
/// a replayed revocation revokes nothing, whichever hint it carries; a request refused for a
/// missing token still spends its assertion.
#[tokio::test]
async fn r94_a_replayed_assertion_introspects_nothing_and_revokes_nothing() {
    let server = TestServer::start().await;
    let owner = JwtClient::register(&server, json!({})).await;
    let rs = JwtClient::register(&server, json!({"resource_server": true})).await;
    let token = issue(&server, &owner).await;
    let post = |path: &'static str, caller: &JwtClient, assertion: &str| {
        server.post(path).form(caller.auth(assertion))
    };

    let used = rs.assertion(&server);
    let first = post("/introspect", &rs, &used)
        .param("token", &token)
        .send()
        .await;
    assert_eq!(first.body["active"], true);
    post("/introspect", &rs, &used)
        .param("token", &token)
        .send()
        .await
        .assert_error(401, "invalid_client");
    let refused = rs.assertion(&server);
    post("/introspect", &rs, &refused)
        .send()
        .await
        .assert_error(400, "invalid_request");
    post("/introspect", &rs, &refused)
        .param("token", &token)
        .send()
        .await
        .assert_error(401, "invalid_client");

    for hint in ["access_token", "refresh_token"] {
        // Spent on a harmless revocation, then replayed on the live token.
        let used = owner.assertion(&server);
        let first = post("/revoke", &owner, &used)
            .params(&[("token", "never-issued"), ("token_type_hint", hint)])
            .send()
            .await;
        assert_eq!(first.status, 200, "{hint}");
        post("/revoke", &owner, &used)
            .params(&[("token", &token), ("token_type_hint", hint)])
            .send()
            .await
            .assert_error(401, "invalid_client");
        assert_eq!(
            introspect(&server, &rs, &token).await.body["active"],
            true,
            "a replayed revocation ({hint} first) revoked the token"
        );
    }
    let refused = owner.assertion(&server);
    post("/revoke", &owner, &refused)
        .send()
        .await
        .assert_error(400, "invalid_request");
    post("/revoke", &owner, &refused)
        .param("token", &token)
        .send()
        .await
        .assert_error(401, "invalid_client");
    assert_eq!(introspect(&server, &rs, &token).await.body["active"], true);
    // A fresh assertion revokes.
    assert_eq!(revoke(&server, &owner, &token).send().await.status, 200);
    assert_eq!(
        introspect(&server, &rs, &token).await.body,
        json!({"active": false})
    );
    server.stop().await;
}

#[tokio::test]
async fn no_table_holds_a_raw_token_or_assertion() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({"access_token_format": "jwt"})).await;
    let url = format!("{}/token", server.public_url());
    let assertion = client.assertion(&server);
    let proof = DpopKey::new().proof(&server, "POST", &url);
    let body = server
        .post("/token")
        .param("grant_type", "client_credentials")
        .form(client.auth(&assertion))
        .header("DPoP", proof.clone())
        .send()
        .await
        .assert_ok();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let opaque_client =
        JwtClient::register(&server, json!({"access_token_format": "opaque"})).await;
    let opaque = issue(&server, &opaque_client).await;
    let assertion_jti = portcullis_core::jose::peek_claims(&assertion).unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&server.config.database_url())
        .await
        .unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.len() >= 4);
    let mut dump = String::new();
    for (table,) in tables {
        let sql = format!("SELECT row_to_json(t)::text FROM \"{table}\" t");
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for (row,) in rows {
            dump.push_str(&row);
            dump.push('\n');
        }
    }
    assert!(dump.contains(&client.id), "the dump reads the tables");
    for (what, secret) in [
        ("JWT access token", token.as_str()),
        ("opaque access token", opaque.as_str()),
        ("assertion", assertion.as_str()),
        ("DPoP proof", proof.as_str()),
        ("assertion jti", assertion_jti.as_str()),
    ] {
        assert!(!dump.contains(secret), "{what} stored in clear");
    }
    // The signature part of the JWT token must not be there either.
    assert!(!dump.contains(token.rsplit('.').next().unwrap()));
    server.stop().await;
}
