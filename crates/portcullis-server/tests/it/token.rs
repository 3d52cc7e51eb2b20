//! The token endpoint with client_credentials: sender-constrained tokens (R68, R113, R114,
//! R118), DPoP proofs (R105–R112), resource-side binding (R115, R116, R119), errors (R63, R67,
//! R187).

use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::client::{DpopKey, JwtClient, register, unique, x5c_jwks};
use crate::support::http::{Answer, FormPost};
use crate::support::pki::ClientCert;

/// `request` as a client_credentials request of `client`, authenticated.
fn client_credentials<'a>(request: FormPost<'a>, client: &JwtClient) -> FormPost<'a> {
    request
        .param("grant_type", "client_credentials")
        .auth(client)
}

/// The status of `GET {base}/test/resource` through `http` with `token` under `scheme` and a
/// DPoP proof if given.
async fn resource(
    http: &reqwest::Client,
    base: &str,
    scheme: &str,
    token: &str,
    proof: Option<String>,
) -> u16 {
    let mut request = http
        .get(format!("{base}/test/resource"))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn r113_dpop_bound_token_works_with_its_key_only() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({"access_token_format": "jwt"})).await;
    let http = server.client(None);
    let key = DpopKey::new();
    let Answer {
        status,
        headers,
        body,
    } = client_credentials(server.post("/token"), &client)
        .param("scope", "a")
        .dpop(&key)
        .send()
        .await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "a");
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "R87"
    );
    let token = body["access_token"].as_str().unwrap();

    // R172: an RFC 9068 JWT, verifiable with the published key, bound to the DPoP key.
    let header = portcullis_core::jose::peek_header(token).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    let claims = server.verify(token).await;
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
    assert_eq!(claims["client_id"], client.id.as_str());
    for name in ["iss", "sub", "aud", "jti", "iat", "exp", "scope"] {
        assert!(claims.contains_key(name), "{name}");
    }

    let resource_url = format!("{}/test/resource", server.public_url());
    let ath = portcullis_core::jose::sha256_b64url(token.as_bytes());
    let good = key.proof_with(&server, "GET", &resource_url, json!({ "ath": ath }));
    assert_eq!(
        resource(&http, &server.public_url(), "DPoP", token, Some(good)).await,
        200
    );
    // R115: scheme case-insensitive.
    let good = key.proof_with(&server, "GET", &resource_url, json!({ "ath": ath }));
    assert_eq!(
        resource(&http, &server.public_url(), "dPoP", token, Some(good)).await,
        200
    );
    // Token used with another DPoP key.
    let thief = DpopKey::new();
    let stolen = thief.proof_with(&server, "GET", &resource_url, json!({ "ath": ath }));
    assert_eq!(
        resource(&http, &server.public_url(), "DPoP", token, Some(stolen)).await,
        401
    );
    // R116: downgraded to Bearer, or sent without a proof.
    assert_eq!(
        resource(&http, &server.public_url(), "Bearer", token, None).await,
        401
    );
    assert_eq!(
        resource(&http, &server.public_url(), "DPoP", token, None).await,
        401
    );
    // R115: wrong ath.
    let wrong_ath = key.proof_with(&server, "GET", &resource_url, json!({ "ath": "AAAA" }));
    assert_eq!(
        resource(&http, &server.public_url(), "DPoP", token, Some(wrong_ath)).await,
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn r118_certificate_bound_token_works_over_its_certificate_only() {
    let server = TestServer::start().await;
    let cert = ClientCert::self_signed("holder");
    let id = unique("cert-bound");
    register(
        &server,
        &id,
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": x5c_jwks(&cert),
               "grant_types": ["client_credentials"], "tls_client_certificate_bound_access_tokens": true}),
    )
    .await;
    let http = server.client(Some(cert.identity()));
    let body = server
        .post_mtls("/token", Some(cert.identity()))
        .params(&[("grant_type", "client_credentials"), ("client_id", &id)])
        .send()
        .await
        .assert_ok();
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() >= 43, "R70: at least 256 bits");

    assert_eq!(
        resource(&http, &server.mtls_url(), "Bearer", token, None).await,
        200
    );
    assert_eq!(
        resource(&http, &server.mtls_url(), "bearer", token, None).await,
        200
    );
    // R119: another certificate, or none.
    let other = server.client(Some(ClientCert::self_signed("thief").identity()));
    assert_eq!(
        resource(&other, &server.mtls_url(), "Bearer", token, None).await,
        401
    );
    assert_eq!(
        resource(
            &server.client(None),
            &server.mtls_url(),
            "Bearer",
            token,
            None
        )
        .await,
        401
    );
    // Without a token: 401 with a challenge and no error code (R147).
    let response = http
        .get(format!("{}/test/resource", server.mtls_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("DPoP algs=") && !challenge.contains("error="),
        "{challenge}"
    );
    server.stop().await;
}

#[tokio::test]
async fn r68_r114_no_proof_of_possession_means_no_token() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    // On the public listener there is no certificate, and no DPoP proof is sent.
    client_credentials(server.post("/token"), &client)
        .send()
        .await
        .assert_error(400, "invalid_request");
    // R114: a dpop_bound_access_tokens client with a certificate but no proof.
    let bound = JwtClient::register(&server, json!({"dpop_bound_access_tokens": true})).await;
    let cert = ClientCert::self_signed("any");
    client_credentials(server.post_mtls("/token", Some(cert.identity())), &bound)
        .send()
        .await
        .assert_error(400, "invalid_request");
    // The same client with a certificate-bound token otherwise: a certificate is enough.
    let Answer { status, body, .. } =
        client_credentials(server.post_mtls("/token", Some(cert.identity())), &client)
            .send()
            .await;
    assert_eq!((status, body["token_type"].as_str()), (200, Some("Bearer")));
    server.stop().await;
}

/// A client_credentials request of `client` with a `DPoP` header for each of `proofs`.
async fn with_proofs(server: &TestServer, client: &JwtClient, proofs: &[String]) -> Answer {
    let mut request = client_credentials(server.post("/token"), client);
    for proof in proofs {
        request = request.header("DPoP", proof.clone());
    }
    request.send().await
}

#[tokio::test]
async fn r105_to_r111_dpop_proofs_are_checked_in_full() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let key = DpopKey::new();
    let url = format!("{}/token", server.public_url());
    let now = server.now().unix();
    let private = {
        // A proof carrying its private key in `jwk`.
        let mut claims = serde_json::Map::new();
        claims.insert("jti".into(), json!(unique("p")));
        claims.insert("htm".into(), json!("POST"));
        claims.insert("htu".into(), json!(url));
        claims.insert("iat".into(), json!(now));
        let header_jwk: Value = serde_json::from_slice(&key.0.to_json()).unwrap();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": header_jwk});
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", b64(&header), b64(&Value::Object(claims)))
    };
    for (what, proofs) in [
        ("R107 wrong htm", vec![key.proof(&server, "GET", &url)]),
        (
            "R107 wrong htu",
            vec![key.proof(
                &server,
                "POST",
                &format!("{}/introspect", server.public_url()),
            )],
        ),
        (
            "R108 stale iat",
            vec![key.proof_with(&server, "POST", &url, json!({"iat": now - 3600}))],
        ),
        (
            "R108 iat an hour ahead",
            vec![key.proof_with(&server, "POST", &url, json!({"iat": now + 3600}))],
        ),
        (
            "R105 two proofs",
            vec![
                key.proof(&server, "POST", &url),
                key.proof(&server, "POST", &url),
            ],
        ),
        ("R106 private key in jwk", vec![private]),
        ("R105 not a JWT", vec!["not-a-jwt".to_owned()]),
    ] {
        with_proofs(&server, &client, &proofs)
            .await
            .assert_error_for(what, 400, "invalid_dpop_proof");
    }
    // R107: normalisation: upper-case host and the default port... the test server uses a
    // non-default port, so only the host case is exercised here; and R110 extra claims.
    let upper = url.replace("localhost", "LOCALHOST");
    let proof = key.proof_with(
        &server,
        "POST",
        &upper,
        json!({"nbf": now, "exp": now + 300, "extra": 1}),
    );
    with_proofs(&server, &client, std::slice::from_ref(&proof))
        .await
        .assert_ok();
    // R109: the same proof again is a replay.
    with_proofs(&server, &client, &[proof])
        .await
        .assert_error(400, "invalid_dpop_proof");
    // R108: 10 seconds either way is fine.
    for skew in [-10, 10] {
        let proof = key.proof_with(&server, "POST", &url, json!({"iat": now + skew}));
        assert_eq!(
            with_proofs(&server, &client, &[proof]).await.status,
            200,
            "iat {skew:+}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn r112_nonces_work_across_two_processes() {
    let first = TestServer::builder()
        .configure(|c| c.dpop.require_nonce = true)
        .start()
        .await;
    let second = TestServer::builder()
        .sharing(&first)
        .configure(|c| c.dpop.require_nonce = true)
        .start()
        .await;
    let client = JwtClient::register(&first, json!({})).await;
    let key = DpopKey::new();
    let url = format!("{}/token", first.public_url());
    let challenged = client_credentials(first.post("/token"), &client)
        .dpop(&key)
        .send()
        .await;
    challenged.assert_error(400, "use_dpop_nonce");
    let nonce = challenged.header("dpop-nonce").to_owned();
    assert!(
        nonce.len() >= 22
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    // The nonce from the first process is good at the second (no shared memory).
    let url2 = format!("{}/token", second.public_url());
    let proof = key.proof_with(&second, "POST", &url2, json!({ "nonce": nonce }));
    let Answer {
        status,
        headers,
        body,
    } = client_credentials(second.post("/token"), &client)
        .header("DPoP", proof)
        .send()
        .await;
    assert_eq!(status, 200, "{body:?}");
    assert!(
        headers.contains_key("dpop-nonce"),
        "a fresh nonce rides along on success"
    );
    // A made-up nonce is refused with a new challenge.
    let proof = key.proof_with(&first, "POST", &url, json!({ "nonce": "made-up" }));
    let refused = client_credentials(first.post("/token"), &client)
        .header("DPoP", proof)
        .send()
        .await;
    refused.assert_error(400, "use_dpop_nonce");
    assert!(refused.headers.contains_key("dpop-nonce"));
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn r67_r187_grant_scope_and_form_errors() {
    let server = TestServer::start().await;
    let client = JwtClient::register(&server, json!({})).await;
    let cert = ClientCert::self_signed("x");
    let http = server.client(Some(cert.identity()));
    let url = format!("{}/token", server.mtls_url());
    for (what, extra, status, error) in [
        (
            "R67 password grant",
            vec![("grant_type", "password")],
            400,
            "unsupported_grant_type",
        ),
        (
            "R67 unknown grant",
            vec![("grant_type", "urn:x")],
            400,
            "unsupported_grant_type",
        ),
        (
            "R35 unregistered scope",
            vec![("grant_type", "client_credentials"), ("scope", "a admin")],
            400,
            "invalid_scope",
        ),
        ("no grant_type", vec![], 400, "invalid_request"),
    ] {
        let answer = server
            .post_mtls("/token", Some(cert.identity()))
            .params(&extra)
            .auth(&client)
            .send()
            .await;
        answer.assert_error_for(what, status, error);
        assert_eq!(answer.header("content-type"), "application/json", "{what}");
    }
    // R187: a repeated parameter.
    client_credentials(server.post_mtls("/token", Some(cert.identity())), &client)
        .param("scope", "a")
        .param("scope", "b")
        .send()
        .await
        .assert_error(400, "invalid_request");
    // Not a form.
    let response = http
        .post(&url)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // R24: other methods.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 405);
    // A client registered without client_credentials.
    let code_only = JwtClient::register(
        &server,
        json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://c.example/cb"]}),
    )
    .await;
    client_credentials(
        server.post_mtls("/token", Some(cert.identity())),
        &code_only,
    )
    .send()
    .await
    .assert_error(400, "unauthorized_client");
    server.stop().await;
}
