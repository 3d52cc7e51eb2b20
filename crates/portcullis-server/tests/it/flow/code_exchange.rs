//! The code exchange: the whole flow with DPoP, userinfo and a refresh (R50–R85), and what the
//! token endpoint refuses to redeem (R72–R78).

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::client::{DpopKey, JwtClient};
use crate::support::flow::{Fixture, REDIRECT, VERIFIER, jwt_claims};

#[tokio::test]
async fn r50_r69_happy_flow_with_dpop_refresh_and_userinfo() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = f.authorize(&mut browser, Some(&key)).await;
    // R50: code, state and iss in the query; the registered query kept.
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], f.server.config.issuer);
    assert_eq!(params["dummy1"], "lorem");
    let code = &params["code"];
    assert!(code.len() >= 43, "R53: 256-bit codes");

    let body = f
        .exchange(code, VERIFIER, Some(&key), &f.client)
        .await
        .assert_ok();
    assert_eq!(body["token_type"], "DPoP");
    let id_token = body["id_token"].as_str().expect("R69: openid → id_token");
    let claims = jwt_claims(id_token);
    assert_eq!(
        claims["nonce"],
        "n".repeat(64),
        "R126: 64-char nonce kept whole"
    );
    assert_eq!(claims["aud"], f.client.id.as_str());
    assert_eq!(claims["iss"], f.server.config.issuer.as_str());
    assert!(claims["auth_time"].is_number() && claims["at_hash"].is_string());
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();

    let info = f.userinfo(&access, &key).await.assert_ok();
    assert_eq!(info["sub"], claims["sub"], "R146");
    assert_eq!(info["preferred_username"], f.username.as_str());

    // R82: a refresh with a brand-new DPoP key binds the new token to it; R83: no rotation.
    let new_key = DpopKey::new();
    let refreshed = f.refresh(&refresh).dpop(&new_key).send().await.assert_ok();
    assert!(
        refreshed.get("refresh_token").is_none(),
        "R83: FAPI refresh tokens are not rotated"
    );
    let refreshed_claims = jwt_claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(refreshed_claims["sub"], claims["sub"], "R85");
    assert!(
        refreshed_claims.get("nonce").is_none(),
        "R85: no nonce on refresh"
    );
    let second = refreshed["access_token"].as_str().unwrap();
    assert_eq!(f.userinfo(second, &new_key).await.status, 200);
    assert_eq!(
        f.userinfo(second, &key).await.status,
        401,
        "bound to the new key"
    );
    // R81: a refresh without proof of possession fails.
    f.refresh(&refresh)
        .send()
        .await
        .assert_error(400, "invalid_request");
    // R84: no wider scope.
    f.refresh(&refresh)
        .param("scope", "openid accounts")
        .dpop(&new_key)
        .send()
        .await
        .assert_error(400, "invalid_scope");

    // A remembered consent: the next flow goes straight to the client.
    let page = browser.get(&f.pushed(&[]).await).await;
    assert_eq!(
        page.status, 303,
        "no consent page for the same scopes: {}",
        page.body
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r74_a_replayed_code_fails_and_revokes_the_first_tokens() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = f.authorize(&mut browser, Some(&key)).await;
    let body = f
        .exchange(&params["code"], VERIFIER, Some(&key), &f.client)
        .await
        .assert_ok();
    let access = body["access_token"].as_str().unwrap().to_owned();
    f.exchange(&params["code"], VERIFIER, Some(&key), &f.client)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        f.userinfo(&access, &key).await.status,
        401,
        "the first redemption's token is revoked"
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r72_r76_r78_code_exchange_rejections() {
    let f = Fixture::new(json!({})).await;
    let other = JwtClient::register(
        &f.server,
        json!({"grant_types": ["authorization_code"], "redirect_uris": [REDIRECT], "scope": "openid"}),
    )
    .await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    for (what, verifier, client, dpop) in [
        ("R72 another client", VERIFIER, &other, Some(&key)),
        (
            "R76 wrong verifier",
            "wrong-verifier-wrong-verifier-wrong-verifier-00",
            &f.client,
            Some(&key),
        ),
        (
            "R78 another DPoP key",
            VERIFIER,
            &f.client,
            Some(&DpopKey::new()),
        ),
    ] {
        let params = f.authorize(&mut browser, Some(&key)).await;
        f.exchange(&params["code"], verifier, dpop, client)
            .await
            .assert_error_for(what, 400, "invalid_grant");
    }
    // R76: no verifier at all.
    let params = f.authorize(&mut browser, Some(&key)).await;
    f.server
        .post("/token")
        .params(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT),
        ])
        .auth(&f.client)
        .dpop(&key)
        .send()
        .await
        .assert_error(400, "invalid_grant");
    // R73: expired code.
    let params = f.authorize(&mut browser, Some(&key)).await;
    f.server.clock.advance(61);
    f.exchange(&params["code"], VERIFIER, Some(&key), &f.client)
        .await
        .assert_error(400, "invalid_grant");
    f.server.stop().await;
}
