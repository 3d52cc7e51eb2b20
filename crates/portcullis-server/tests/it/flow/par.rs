//! Pushed authorization requests: what PAR refuses (R24–R37) and signed request objects (R41,
//! R131–R136).

use serde_json::{Value, json};

use crate::support::client::DpopKey;
use crate::support::flow::{CHALLENGE, Fixture, REDIRECT};

#[tokio::test]
async fn r25_r29_r31_r34_par_rejections() {
    let f = Fixture::new(json!({})).await;
    // R25: no client authentication.
    let bare: Vec<(String, String)> = f
        .par_params(&[])
        .into_iter()
        .filter(|(k, _)| !k.starts_with("client_assertion"))
        .collect();
    f.par(bare, None).await.assert_error(401, "invalid_client");
    for (what, overrides, error) in [
        (
            "R34 plain PKCE",
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (
            "R34 no PKCE",
            vec![("code_challenge", None), ("code_challenge_method", None)],
            "invalid_request",
        ),
        (
            "R31 no redirect_uri",
            vec![("redirect_uri", None)],
            "invalid_request",
        ),
        (
            "R32 modified redirect_uri",
            vec![(
                "redirect_uri",
                Some("https://client.example/cb?dummy1=lorem&dummy2=ipsum&x=1"),
            )],
            "invalid_request",
        ),
        (
            "R32 unregistered redirect_uri",
            vec![("redirect_uri", Some("https://evil.example/cb"))],
            "invalid_request",
        ),
        (
            "R33 response_type token",
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (
            "R35 unregistered scope",
            vec![("scope", Some("openid admin"))],
            "invalid_scope",
        ),
        (
            "R29 request_uri in the body",
            vec![("request_uri", Some("urn:x"))],
            "invalid_request",
        ),
    ] {
        f.par(f.par_params(&overrides), None)
            .await
            .assert_error_for(what, 400, error);
    }
    // R24: PUT is not allowed.
    let url = format!("{}/par", f.server.public_url());
    let response = f.server.client(None).put(&url).send().await.unwrap();
    assert_eq!(response.status(), 405);
    // R37: dpop_jkt and a DPoP header of another key.
    let key = DpopKey::new();
    let other = DpopKey::new().jkt();
    f.par(f.par_params(&[("dpop_jkt", Some(&other))]), Some(&key))
        .await
        .assert_error(400, "invalid_request");
    f.server.stop().await;
}

#[tokio::test]
async fn r131_r133_r134_signed_request_objects() {
    let f = Fixture::new(json!({"require_signed_request_object": true})).await;
    let now = f.server.now().unix();
    let claims = |changes: Value| {
        let mut c = json!({
            "iss": f.client.id, "aud": f.server.config.issuer, "client_id": f.client.id,
            "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
            "code_challenge": CHALLENGE, "code_challenge_method": "S256", "state": "s",
            "nbf": now, "exp": now + 300,
        });
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c.as_object().unwrap().clone()
    };
    let push = |jwt: String| {
        let mut p = vec![
            ("client_id".to_owned(), f.client.id.clone()),
            ("request".to_owned(), jwt),
        ];
        p.extend(f.client.auth(&f.client.assertion(&f.server)));
        p
    };
    let good = f
        .client
        .key
        .sign("oauth-authz-req+jwt", claims(json!({})))
        .unwrap();
    assert_eq!(f.par(push(good), None).await.status, 201);
    // R133: an array containing the issuer is fine.
    let multi = f
        .client
        .key
        .sign(
            "oauth-authz-req+jwt",
            claims(json!({"aud": [f.server.config.issuer, "https://x.example"]})),
        )
        .unwrap();
    assert_eq!(f.par(push(multi), None).await.status, 201);
    for (what, changes) in [
        ("R133 wrong aud", json!({"aud": "https://other.example"})),
        ("R134 expired", json!({"exp": now - 10})),
        ("R134 no nbf", json!({"nbf": null})),
        ("R134 exp - nbf over 60 min", json!({"exp": now + 3700})),
        ("R136 request_uri inside", json!({"request_uri": "urn:x"})),
    ] {
        let mut c = claims(changes.clone());
        c.retain(|_, v| !v.is_null());
        let jwt = f.client.key.sign("oauth-authz-req+jwt", c).unwrap();
        f.par(push(jwt), None)
            .await
            .assert_error_for(what, 400, "invalid_request_object");
    }
    // R41: plain parameters when signing is required.
    f.par(f.par_params(&[]), None)
        .await
        .assert_error(400, "invalid_request");
    f.server.stop().await;
}
