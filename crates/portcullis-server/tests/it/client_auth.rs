//! Client authentication over real TLS: private_key_jwt (R88–R97), jwks_uri rotation, mutual
//! TLS (R99–R104), replay across two server processes (R94).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::jose::{Alg, PrivateKey};
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::client::{DpopKey, JwtClient, form, register, unique, x5c_jwks};
use crate::support::http::Answer;
use crate::support::jwks_host::JwksHost;
use crate::support::pki::{ClientCert, TestCa};

/// A client_credentials request over the mTLS listener with `auth` and a DPoP proof; no token
/// response may be cached (R63).
async fn token_request(
    server: &TestServer,
    auth: Vec<(String, String)>,
    identity: Option<reqwest::Identity>,
) -> Answer {
    let answer = server
        .post_mtls("/token", identity)
        .param("grant_type", "client_credentials")
        .form(auth)
        .dpop(&DpopKey::new())
        .send()
        .await;
    assert_eq!(
        answer.header("cache-control"),
        "no-store",
        "R63 on every token response"
    );
    answer
}

#[tokio::test]
async fn r88_private_key_jwt_authenticates_and_each_violation_is_invalid_client() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let body = token_request(&server, client.auth(&client.assertion(&server)), None)
        .await
        .assert_ok();
    assert_eq!(body["token_type"], "DPoP");

    // R89: alg none.
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": client.key.kid()}).to_string());
    let claims = crate::support::client::assertion_claims(&server, &client.id);
    let none = format!(
        "{header}.{}.",
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    token_request(&server, client.auth(&none), None)
        .await
        .assert_error(401, "invalid_client");

    // R89: HS256 keyed with the registered public key.
    let secret = serde_json::to_vec(&client.key.public_jwk().unwrap()).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": client.key.kid()}).to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
        input.as_bytes(),
    );
    let hs256 = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag));
    token_request(&server, client.auth(&hs256), None)
        .await
        .assert_error(401, "invalid_client");

    let now = server.now().unix();
    for (what, changes) in [
        ("R91 wrong aud", json!({"aud": "https://elsewhere.example"})),
        (
            "R91 aud as an array",
            json!({"aud": [server.config.issuer]}),
        ),
        (
            "R91 token endpoint as aud",
            json!({"aud": format!("{}/token", server.config.issuer)}),
        ),
        ("R92 expired", json!({"exp": now - 300})),
        (
            "R93 iat 70 s ahead",
            json!({"iat": now + 70, "nbf": now + 70, "exp": now + 130}),
        ),
        ("R90 no sub", json!({"sub": null})),
        ("R94 no jti", json!({"jti": null})),
        ("R95 lives a day", json!({"exp": now + 86_400})),
    ] {
        token_request(
            &server,
            client.auth(&client.assertion_with(&server, changes)),
            None,
        )
        .await
        .assert_error_for(what, 401, "invalid_client");
    }
    // R93: 8 seconds ahead is fine.
    let ahead = client.assertion_with(&server, json!({"iat": now + 8, "nbf": now + 8}));
    assert_eq!(
        token_request(&server, client.auth(&ahead), None)
            .await
            .status,
        200
    );

    // R89: a key that is not in the client's JWKS.
    let stranger = PrivateKey::generate(Alg::Es256, client.key.kid()).unwrap();
    let forged = stranger
        .sign(
            "JWT",
            crate::support::client::assertion_claims(&server, &client.id),
        )
        .unwrap();
    token_request(&server, client.auth(&forged), None)
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

#[tokio::test]
async fn r94_a_replayed_assertion_is_refused() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let assertion = client.assertion(&server);
    assert_eq!(
        token_request(&server, client.auth(&assertion), None)
            .await
            .status,
        200
    );
    token_request(&server, client.auth(&assertion), None)
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

/// client_credentials spends the assertion in the same write as the token (decision 0019); a
/// request refused before that write still spends it, and a replay is refused as a replay
/// whatever else is wrong with the request.
#[tokio::test]
async fn r94_an_assertion_is_spent_by_a_refused_request_and_a_replay_wins_over_other_errors() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let with_scope = |assertion: &str, scope: &str| {
        let mut auth = client.auth(assertion);
        auth.push(("scope".into(), scope.into()));
        auth
    };
    // Refused for its scope: the assertion is spent all the same.
    let refused = client.assertion(&server);
    token_request(&server, with_scope(&refused, "not-registered"), None)
        .await
        .assert_error(400, "invalid_scope");
    token_request(&server, client.auth(&refused), None)
        .await
        .assert_error(401, "invalid_client");
    // Refused for its grant type: spent too.
    let refused = client.assertion(&server);
    server
        .post_mtls("/token", None)
        .param("grant_type", "password")
        .form(client.auth(&refused))
        .send()
        .await
        .assert_error(400, "unsupported_grant_type");
    token_request(&server, client.auth(&refused), None)
        .await
        .assert_error(401, "invalid_client");
    // Used once; its replay with a bad scope is a replay first.
    let used = client.assertion(&server);
    token_request(&server, client.auth(&used), None)
        .await
        .assert_ok();
    token_request(&server, with_scope(&used, "not-registered"), None)
        .await
        .assert_error(401, "invalid_client");
    // A DPoP proof that does not validate: the assertion is spent before the refusal.
    let refused = client.assertion(&server);
    server
        .post_mtls("/token", None)
        .param("grant_type", "client_credentials")
        .form(client.auth(&refused))
        .header("DPoP", "not-a-jwt")
        .send()
        .await
        .assert_error(400, "invalid_dpop_proof");
    token_request(&server, client.auth(&refused), None)
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

#[tokio::test]
async fn r94_two_processes_on_one_postgres_accept_a_jti_exactly_once() {
    let first = TestServer::start().await;
    let second = TestServer::builder().sharing(&first).start().await;
    let client = JwtClient::register(&first, json!({})).await;
    for _ in 0..5 {
        let assertion = client.assertion(&first);
        let (a, b) = tokio::join!(
            token_request(&first, client.auth(&assertion), None),
            token_request(&second, client.auth(&assertion), None),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "exactly one wins: {a:?} {b:?}");
    }
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn r65_r66_one_method_and_a_matching_client_id() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let other = JwtClient::register(&server, json!({})).await;
    // R66: client_id of another client.
    let mut auth = client.auth(&client.assertion(&server));
    auth.push(("client_id".into(), other.id.clone()));
    token_request(&server, auth, None)
        .await
        .assert_error(401, "invalid_client");
    // R65: a Basic header next to an assertion.
    server
        .post_mtls("/token", None)
        .param("grant_type", "client_credentials")
        .auth(&client)
        .header("Authorization", "Basic YTpi")
        .send()
        .await
        .assert_error(400, "invalid_request");
    // A Basic header alone: 401 with a challenge.
    let basic = server
        .post_mtls("/token", None)
        .param("grant_type", "client_credentials")
        .header("Authorization", "Basic YTpi")
        .send()
        .await;
    basic.assert_error(401, "invalid_client");
    assert!(basic.headers.contains_key("www-authenticate"));
    // R64: no authentication at all.
    token_request(&server, Vec::new(), None)
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

#[tokio::test]
async fn jwks_uri_rotation_is_picked_up_on_an_unknown_kid() {
    let old = PrivateKey::generate(Alg::Es256, "old").unwrap();
    let host = JwksHost::start(json!({ "keys": [old.public_jwk().unwrap()] })).await;
    let ca = host.ca_file.path().to_path_buf();
    let server = TestServer::builder()
        .configure(move |c| {
            c.clients.jwks_uri_allow_private = true;
            c.clients.jwks_uri_ca_file = Some(ca);
        })
        .start()
        .await;
    let id = unique("rotating");
    register(
        &server,
        &id,
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": host.uri(), "grant_types": ["client_credentials"], "scope": "a"}),
    )
    .await;
    let sign = |key: &PrivateKey| {
        let assertion = key
            .sign(
                "JWT",
                crate::support::client::assertion_claims(&server, &id),
            )
            .unwrap();
        JwtClient {
            id: id.clone(),
            key: PrivateKey::generate(Alg::Es256, "unused").unwrap(),
        }
        .auth(&assertion)
    };
    token_request(&server, sign(&old), None).await.assert_ok();
    assert_eq!(token_request(&server, sign(&old), None).await.status, 200);
    assert_eq!(host.fetch_count(), 1, "cached between requests");

    // The client rotates: publishes a new key and signs with it. The server refetches once.
    let new = PrivateKey::generate(Alg::Es256, "new").unwrap();
    host.set(json!({ "keys": [new.public_jwk().unwrap()] }));
    assert_eq!(token_request(&server, sign(&new), None).await.status, 200);
    assert_eq!(host.fetch_count(), 2);
    // Another unknown kid within a minute does not trigger another fetch.
    let stranger = PrivateKey::generate(Alg::Es256, "stranger").unwrap();
    token_request(&server, sign(&stranger), None)
        .await
        .assert_error(401, "invalid_client");
    assert_eq!(host.fetch_count(), 2, "refetches are rate-limited");
    server.stop().await;
}

#[tokio::test]
async fn jwks_uri_on_a_private_address_is_not_fetched_by_default() {
    let key = PrivateKey::generate(Alg::Es256, "k").unwrap();
    let host = JwksHost::start(json!({ "keys": [key.public_jwk().unwrap()] })).await;
    let ca = host.ca_file.path().to_path_buf();
    let server = TestServer::builder()
        .configure(move |c| c.clients.jwks_uri_ca_file = Some(ca))
        .start()
        .await;
    let id = unique("ssrf");
    register(
        &server,
        &id,
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": host.uri(), "grant_types": ["client_credentials"]}),
    )
    .await;
    let assertion = key
        .sign(
            "JWT",
            crate::support::client::assertion_claims(&server, &id),
        )
        .unwrap();
    let auth = JwtClient {
        id: id.clone(),
        key: PrivateKey::generate(Alg::Es256, "unused").unwrap(),
    }
    .auth(&assertion);
    token_request(&server, auth, None)
        .await
        .assert_error(401, "invalid_client");
    assert_eq!(
        host.fetch_count(),
        0,
        "the server must not call into loopback"
    );
    server.stop().await;
}

#[tokio::test]
async fn r100_tls_client_auth_accepts_the_registered_dn_from_a_trusted_ca_only() {
    let ca = TestCa::new("Partner CA");
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), &ca.pem).unwrap();
    let path = ca_file.path().to_path_buf();
    let server = TestServer::builder()
        .configure(move |c| c.tls.client_ca_files = vec![path])
        .start()
        .await;
    let id = unique("mtls");
    register(
        &server,
        &id,
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=partner-one,O=Acme",
               "grant_types": ["client_credentials"], "scope": "a"}),
    )
    .await;
    let auth = form(&[("client_id", &id)]);
    let good = ca.issue("partner-one", "Acme", "one.example");
    token_request(&server, auth.clone(), Some(good.identity()))
        .await
        .assert_ok();

    // R100, R104: same CA, another DN (another client's certificate).
    let other = ca.issue("partner-two", "Acme", "two.example");
    token_request(&server, auth.clone(), Some(other.identity()))
        .await
        .assert_error(401, "invalid_client");
    // R100: the right DN from an untrusted CA.
    let rogue = TestCa::new("Rogue CA").issue("partner-one", "Acme", "one.example");
    token_request(&server, auth.clone(), Some(rogue.identity()))
        .await
        .assert_error(401, "invalid_client");
    // R102: no certificate.
    token_request(&server, auth, None)
        .await
        .assert_error(401, "invalid_client");
    // R99: no client_id.
    token_request(&server, Vec::new(), Some(good.identity()))
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

#[tokio::test]
async fn r101_self_signed_tls_client_auth_needs_the_registered_certificate() {
    let server = TestServer::start().await;
    let cert = ClientCert::self_signed("self-signed-client");
    let id = unique("selfsigned");
    register(
        &server,
        &id,
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": x5c_jwks(&cert),
               "grant_types": ["client_credentials"], "scope": "a"}),
    )
    .await;
    let auth = form(&[("client_id", &id)]);
    token_request(&server, auth.clone(), Some(cert.identity()))
        .await
        .assert_ok();
    let stranger = ClientCert::self_signed("self-signed-client");
    token_request(&server, auth, Some(stranger.identity()))
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}

#[tokio::test]
async fn a_disabled_client_cannot_authenticate() {
    let server = TestServer::builder()
        .configure(|c| c.clients.cache_secs = 0)
        .start()
        .await;
    let client = JwtClient::register(&server, json!({})).await;
    assert_eq!(
        token_request(&server, client.auth(&client.assertion(&server)), None)
            .await
            .status,
        200
    );
    server
        .running()
        .state
        .store
        .disable_client(&client.id, server.now())
        .await
        .unwrap();
    token_request(&server, client.auth(&client.assertion(&server)), None)
        .await
        .assert_error(401, "invalid_client");
    server.stop().await;
}
