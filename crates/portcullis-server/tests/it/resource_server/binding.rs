//! The sender constraint at the API (R115–R119), scopes and malformed requests (R144, R147).

use accounts_example::SCOPE;
use serde_json::json;

use crate::support::client::DpopKey;
use crate::support::pki::ClientCert;
use crate::support::resource::{Api, Binding, Caller, assert_refused, authorization_server};

#[tokio::test]
async fn r115_r116_a_dpop_bound_token_works_with_its_key_only() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |_| {}).await;
    let caller = Caller::dpop(&server, SCOPE).await;
    let Binding::Dpop(key) = &caller.binding else {
        unreachable!()
    };
    let token = caller.token.as_str();

    let body = api.call(&server, &caller, "/accounts/7").await.assert_ok();
    assert_eq!(body["id"], 7);
    assert_eq!(body["requested_by"], caller.client.id.as_str());
    // R115: the scheme name is case-insensitive.
    let lower = api.get(&server, "/accounts/7").authorization("dpop", token);
    lower.proof(key, token).send().await.assert_ok();

    // R116: the same token as Bearer, or without a proof, or with another key's proof.
    let bearer = api
        .get(&server, "/accounts/7")
        .authorization("Bearer", token);
    assert_refused(&bearer.send().await, 401, "Bearer", "invalid_token");
    let no_proof = api.get(&server, "/accounts/7").authorization("DPoP", token);
    assert_refused(&no_proof.send().await, 401, "DPoP", "invalid_token");
    let other_key = api.get(&server, "/accounts/7").authorization("DPoP", token);
    let answer = other_key.proof(&DpopKey::new(), token).send().await;
    assert_refused(&answer, 401, "DPoP", "invalid_token");
    // R117: the DPoP challenge lists the proof algorithms.
    assert!(
        answer
            .header("www-authenticate")
            .contains("algs=\"PS256 ES256 EdDSA\"")
    );

    // R115, R107: the proof must cover this token, this method and this URL.
    let other_url = format!("{}/accounts/8", api.base_url);
    for changes in [
        json!({"ath": null}),
        json!({"ath": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        json!({"htm": "POST"}),
        json!({"htu": other_url}),
    ] {
        let call = api.get(&server, "/accounts/7").authorization("DPoP", token);
        let answer = call.proof_with(key, token, changes.clone()).send().await;
        assert_refused(&answer, 401, "DPoP", "invalid_dpop_proof");
    }
    // R109: a proof is accepted once.
    let url = format!("{}/accounts/7", api.base_url);
    let ath = portcullis_core::jose::sha256_b64url(token.as_bytes());
    let proof = key.proof_with(&server, "GET", &url, json!({ "ath": ath }));
    let once = api.get(&server, "/accounts/7").authorization("DPoP", token);
    once.header("DPoP", proof.clone()).send().await.assert_ok();
    let twice = api.get(&server, "/accounts/7").authorization("DPoP", token);
    let answer = twice.header("DPoP", proof).send().await;
    assert_refused(&answer, 401, "DPoP", "invalid_dpop_proof");
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r119_a_certificate_bound_token_works_over_its_certificate_only() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |_| {}).await;
    let caller = Caller::mtls(&server, SCOPE).await;
    let token = caller.token.as_str();

    let body = api.call(&server, &caller, "/accounts/9").await.assert_ok();
    assert_eq!(body["id"], 9);
    let stranger = ClientCert::self_signed("stranger");
    let other = api
        .get(&server, "/accounts/9")
        .authorization("Bearer", token);
    let answer = other.certificate(&stranger).send().await;
    assert_refused(&answer, 401, "Bearer", "invalid_token");
    let none = api
        .get(&server, "/accounts/9")
        .authorization("Bearer", token);
    assert_refused(&none.send().await, 401, "Bearer", "invalid_token");
    // A certificate-bound token is not a DPoP token, whatever proof comes with it.
    let Binding::Certificate(certificate) = &caller.binding else {
        unreachable!()
    };
    let dpop = api.get(&server, "/accounts/9").authorization("DPoP", token);
    let answer = dpop
        .proof(&DpopKey::new(), token)
        .certificate(certificate)
        .send()
        .await;
    assert_refused(&answer, 401, "DPoP", "invalid_token");
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r144_r147_no_token_another_scope_and_malformed_requests() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |_| {}).await;

    // R147: no token: 401 with both challenges and no error code.
    let answer = api.get(&server, "/accounts/1").send().await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.header("www-authenticate"),
        "DPoP algs=\"PS256 ES256 EdDSA\", Bearer"
    );
    // R144: a token in the query is no token.
    let caller = Caller::dpop(&server, SCOPE).await;
    let query = format!("/accounts/1?access_token={}", caller.token);
    assert_eq!(api.get(&server, &query).send().await.status, 401);
    // Two Authorization headers, or a token with a space: invalid_request.
    let two = api
        .get(&server, "/accounts/1")
        .authorization("DPoP", &caller.token);
    let answer = two.authorization("Bearer", &caller.token).send().await;
    assert_refused(&answer, 400, "Bearer", "invalid_request");
    let spaced = api
        .get(&server, "/accounts/1")
        .authorization("Bearer", "a b");
    assert_refused(&spaced.send().await, 400, "Bearer", "invalid_request");

    // RFC 6750 §3.1: a valid token without the route's scope: 403 naming the scope.
    let other = Caller::dpop(&server, "other").await;
    let answer = api.call(&server, &other, "/accounts/1").await;
    assert_refused(&answer, 403, "DPoP", "insufficient_scope");
    assert!(
        answer
            .header("www-authenticate")
            .contains("scope=\"accounts:read\"")
    );
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r172_r173_a_token_for_another_resource_or_of_another_kind_is_refused() {
    let server = authorization_server("jwt").await;
    // An API with another resource identifier than the tokens' audience.
    let elsewhere = Api::start(&server, |s| s.resource = "https://other.example".into()).await;
    let caller = Caller::dpop(&server, SCOPE).await;
    let answer = elsewhere.call(&server, &caller, "/accounts/1").await;
    assert_refused(&answer, 401, "DPoP", "invalid_token");
    elsewhere.stop().await;

    // R173: a JWT the authorization server signed that is not an access token (a signed
    // introspection response, typ token-introspection+jwt) is refused although it verifies.
    let api = Api::start(&server, |_| {}).await;
    let rs = &api.registration;
    let signed = crate::support::token::introspect(&server, rs, &caller.token)
        .header("Accept", "application/token-introspection+jwt")
        .send()
        .await
        .assert_ok();
    let jwt = signed.as_str().unwrap();
    let call = api.get(&server, "/accounts/1").authorization("Bearer", jwt);
    assert_refused(&call.send().await, 401, "Bearer", "invalid_token");
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r112_an_api_that_requires_nonces_answers_use_dpop_nonce_then_accepts_it() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |s| s.dpop.require_nonce = true).await;
    let caller = Caller::dpop(&server, SCOPE).await;
    let Binding::Dpop(key) = &caller.binding else {
        unreachable!()
    };
    let token = caller.token.as_str();

    let answer = api.call(&server, &caller, "/accounts/1").await;
    assert_refused(&answer, 401, "DPoP", "use_dpop_nonce");
    let nonce = answer.header("dpop-nonce").to_owned();
    assert!(
        !nonce.is_empty(),
        "RFC 9449 §9: the nonce comes with the challenge"
    );
    // A made-up nonce is no better than none.
    let made_up = api.get(&server, "/accounts/1").authorization("DPoP", token);
    let answer = made_up
        .proof_with(key, token, json!({"nonce": "made-up"}))
        .send()
        .await;
    assert_refused(&answer, 401, "DPoP", "use_dpop_nonce");

    let retry = api.get(&server, "/accounts/1").authorization("DPoP", token);
    let answer = retry
        .proof_with(key, token, json!({ "nonce": nonce }))
        .send()
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(
        !answer.header("dpop-nonce").is_empty(),
        "a fresh nonce on success"
    );
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r103_a_forwarded_certificate_binds_only_from_a_trusted_proxy() {
    use base64::Engine as _;
    let server = authorization_server("jwt").await;
    let caller = Caller::mtls(&server, SCOPE).await;
    let Binding::Certificate(certificate) = &caller.binding else {
        unreachable!()
    };
    let header = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(&certificate.der)
    );
    // The test client, at 127.0.0.1, plays the TLS-terminating proxy.
    let behind_proxy = Api::start(&server, |s| {
        s.proxy.trusted = vec!["127.0.0.1/32".parse().unwrap()]
    })
    .await;
    let call = behind_proxy
        .get(&server, "/accounts/4")
        .authorization("Bearer", &caller.token);
    call.header("Client-Cert", header.clone())
        .send()
        .await
        .assert_ok();
    let stranger = ClientCert::self_signed("stranger");
    let other = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(&stranger.der)
    );
    let call = behind_proxy
        .get(&server, "/accounts/4")
        .authorization("Bearer", &caller.token);
    let answer = call.header("Client-Cert", other).send().await;
    assert_refused(&answer, 401, "Bearer", "invalid_token");
    behind_proxy.stop().await;

    // Without a trusted proxy the header is refused, even naming the right certificate.
    let direct = Api::start(&server, |_| {}).await;
    let call = direct
        .get(&server, "/accounts/4")
        .authorization("Bearer", &caller.token);
    let answer = call.header("Client-Cert", header).send().await;
    assert_refused(&answer, 400, "Bearer", "invalid_request");
    direct.stop().await;
    server.stop().await;
}
