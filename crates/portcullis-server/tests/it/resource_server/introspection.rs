//! Introspection at the API (R150–R155, R161): signed answers, a cache that never outlives the
//! token, revocation seen once the cache lifetime has passed (at once with lifetime zero), and
//! a closed door when the authorization server cannot answer.

use accounts_example::SCOPE;
use portcullis_resource::settings::Validation;

use crate::support::resource::{Api, Caller, assert_refused, authorization_server};
use crate::support::token::revoke;

#[tokio::test]
async fn r161_a_revoked_token_is_refused_once_the_cache_lifetime_has_passed() {
    let server = authorization_server("opaque").await;
    let api = Api::start(&server, |s| s.validation = Validation::introspection(30)).await;
    let caller = Caller::mtls(&server, SCOPE).await;
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    api.call(&server, &caller, "/accounts/2").await.assert_ok();
    assert_eq!(
        api.stats().introspections,
        1,
        "the second request used the cache"
    );

    revoke(&server, &caller.client, &caller.token)
        .send()
        .await
        .assert_ok();
    // Within the cache lifetime the API still holds the earlier answer: that is its meaning.
    server.clock.advance(29);
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    server.clock.advance(2);
    let answer = api.call(&server, &caller, "/accounts/1").await;
    assert_refused(&answer, 401, "Bearer", "invalid_token");
    assert_eq!(api.stats().introspections, 2);
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r161_with_a_cache_lifetime_of_zero_a_revocation_takes_effect_at_once() {
    let server = authorization_server("opaque").await;
    let api = Api::start(&server, |s| s.validation = Validation::introspection(0)).await;
    let caller = Caller::dpop(&server, SCOPE).await;
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    revoke(&server, &caller.client, &caller.token)
        .send()
        .await
        .assert_ok();
    let answer = api.call(&server, &caller, "/accounts/1").await;
    assert_refused(&answer, 401, "DPoP", "invalid_token");
    assert_eq!(api.stats().introspections, 2);
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r154_a_cached_answer_never_outlives_the_token() {
    let server = authorization_server("opaque").await;
    let api = Api::start(&server, |s| s.validation = Validation::introspection(3_600)).await;
    let caller = Caller::mtls(&server, SCOPE).await;
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    // The token lives 300 s: the hour-long cache lifetime is cut to that.
    server.clock.advance(299);
    api.call(&server, &caller, "/accounts/1").await.assert_ok();
    assert_eq!(api.stats().introspections, 1);
    server.clock.advance(1);
    let answer = api.call(&server, &caller, "/accounts/1").await;
    assert_refused(&answer, 401, "Bearer", "invalid_token");
    assert_eq!(api.stats().introspections, 2);
    api.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn introspection_fails_closed_when_the_authorization_server_is_down() {
    let mut server = authorization_server("opaque").await;
    let api = Api::start(&server, |s| s.validation = Validation::introspection(30)).await;
    let cached = Caller::mtls(&server, SCOPE).await;
    api.call(&server, &cached, "/accounts/1").await.assert_ok();
    let unseen = Caller::mtls(&server, SCOPE).await;

    server.running.take().unwrap().shutdown().await;
    let answer = api.call(&server, &unseen, "/accounts/1").await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), "5");
    assert_eq!(answer.header("cache-control"), "no-store");
    // An answer already cached still serves until its lifetime ends.
    api.call(&server, &cached, "/accounts/1").await.assert_ok();
    api.stop().await;
    server.stop().await;
}
