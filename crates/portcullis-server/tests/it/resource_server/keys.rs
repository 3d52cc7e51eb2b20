//! The authorization server's keys at the API: the JWK Set found by discovery, refreshed when
//! old, refetched for an unknown `kid` at most once a minute.

use accounts_example::SCOPE;
use portcullis_core::jose::{Alg, PrivateKey};
use serde_json::Value;

use crate::support::client::unique;
use crate::support::resource::{Api, Caller, assert_refused, authorization_server};

#[tokio::test]
async fn an_unknown_kid_refetches_the_key_set_at_most_once_a_minute() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |_| {}).await;
    let caller = Caller::mtls(&server, SCOPE).await;
    assert_eq!(api.stats().jwks_fetches, 1, "fetched once at start");

    // The claims of a real token, signed by a key the authorization server never published.
    let forged = |server: &crate::support::TestServer| {
        let mut claims = portcullis_core::jose::peek_claims(&caller.token).unwrap();
        claims.insert("iat".into(), Value::from(server.now().unix()));
        claims.insert("exp".into(), Value::from(server.now().unix() + 60));
        let key = PrivateKey::generate(Alg::Es256, &unique("forged-kid")).unwrap();
        key.sign("at+jwt", claims).unwrap()
    };
    let present = async |token: String| {
        let call = api
            .get(&server, "/accounts/1")
            .authorization("Bearer", &token);
        let certificate = match &caller.binding {
            crate::support::resource::Binding::Certificate(c) => c,
            crate::support::resource::Binding::Dpop(_) => unreachable!(),
        };
        call.certificate(certificate).send().await
    };
    // Within the minute after the start's fetch: refused without a fetch.
    assert_refused(
        &present(forged(&server)).await,
        401,
        "Bearer",
        "invalid_token",
    );
    assert_eq!(api.stats().jwks_fetches, 1);
    // A minute later, one unknown kid causes one fetch; the next within the minute none.
    server.clock.advance(61);
    assert_refused(
        &present(forged(&server)).await,
        401,
        "Bearer",
        "invalid_token",
    );
    assert_eq!(api.stats().jwks_fetches, 2);
    assert_refused(
        &present(forged(&server)).await,
        401,
        "Bearer",
        "invalid_token",
    );
    assert_eq!(api.stats().jwks_fetches, 2);
    // The real token still passes (its key is cached).
    let fresh = Caller::mtls(&server, SCOPE).await;
    api.call(&server, &fresh, "/accounts/1").await.assert_ok();
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_before_it_signs() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |_| {}).await;
    let caller = Caller::dpop(&server, SCOPE).await;
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    let old_kid = portcullis_core::jose::peek_header(&caller.token).unwrap()["kid"].clone();

    // A new ES256 key, published now, signing in 400 s (longer than the API's 300 s cache).
    let state = &server.running().state;
    state
        .keys
        .rotate(Alg::Es256, server.now(), 400, 3600)
        .await
        .unwrap();

    // Past the cache age the API refreshes the set while still serving the old key.
    server.clock.advance(301);
    let caller = Caller::dpop(&server, SCOPE).await;
    api.call(&server, &caller, "/accounts/2").await.assert_ok();
    assert_eq!(api.stats().jwks_fetches, 2);

    // Once the new key signs, its tokens pass with no further fetch.
    server.clock.advance(100);
    let caller = Caller::dpop(&server, SCOPE).await;
    let kid = portcullis_core::jose::peek_header(&caller.token).unwrap()["kid"].clone();
    assert_ne!(kid, old_kid, "the new key signs");
    api.call(&server, &caller, "/accounts/3").await.assert_ok();
    assert_eq!(api.stats().jwks_fetches, 2);
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_withdrawn_key_stops_verifying_even_tokens_verified_before() {
    let server = authorization_server("jwt").await;
    let api = Api::start(&server, |s| s.jwks.max_age_secs = 60).await;
    let caller = Caller::mtls(&server, SCOPE).await;
    // Verified once, then taken from the cache of verified tokens.
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    api.call(&server, &caller, "/accounts/1").await.assert_ok();

    // An emergency rotation: the old key leaves the JWK Set at once.
    let state = &server.running().state;
    state
        .keys
        .rotate(Alg::Es256, server.now(), 0, 0)
        .await
        .unwrap();
    // Once the API's key set is older than its max age, the old token (still unexpired) fails.
    server.clock.advance(61);
    let answer = api.call(&server, &caller, "/accounts/1").await;
    assert_refused(&answer, 401, "Bearer", "invalid_token");
    assert_eq!(api.stats().jwks_fetches, 2);
    let fresh = Caller::mtls(&server, SCOPE).await;
    api.call(&server, &fresh, "/accounts/1").await.assert_ok();
    api.stop().await;
    server.stop().await;
}
