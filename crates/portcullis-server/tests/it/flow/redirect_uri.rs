//! R75: the code exchange must carry the authorization request's `redirect_uri`, byte for byte
//! (RFC 6749 §4.1.3: required whenever the authorization request had one, and every pushed
//! request has one, R31).
//!
//! A refused redemption spends the code, whatever the reason: RFC 6749 does not say that a
//! failed redemption leaves the code usable, and one attempt per code means its verifier, DPoP
//! key or redirect URI cannot be guessed at. A second attempt is a replay (R74), so the client
//! must start the flow again.

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::client::DpopKey;
use crate::support::flow::{Fixture, REDIRECT, VERIFIER};

#[tokio::test]
async fn r75_the_code_exchange_without_redirect_uri_is_refused_and_the_code_spent() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = f.authorize(&mut browser, Some(&key)).await;
    let without = f
        .server
        .post("/token")
        .params(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("code_verifier", VERIFIER),
        ])
        .auth(&f.client)
        .dpop(&key)
        .send()
        .await;
    without.assert_error(400, "invalid_request");
    assert!(
        without.body["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri"),
        "{:?}",
        without.body
    );
    // The code is spent: the same exchange done right is a replay now.
    f.exchange(&params["code"], VERIFIER, Some(&key), &f.client)
        .await
        .assert_error(400, "invalid_grant");
    f.server.stop().await;
}

#[tokio::test]
async fn r75_the_code_exchange_with_another_redirect_uri_is_refused_and_the_code_spent() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    // The registered URI without its query, and with its query changed (R50: the query is part
    // of it).
    for other in [
        "https://client.example/cb",
        &REDIRECT.replace("lorem", "LOREM"),
    ] {
        let params = f.authorize(&mut browser, Some(&key)).await;
        f.server
            .post("/token")
            .params(&[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", other),
                ("code_verifier", VERIFIER),
            ])
            .auth(&f.client)
            .dpop(&key)
            .send()
            .await
            .assert_error_for(other, 400, "invalid_grant");
        f.exchange(&params["code"], VERIFIER, Some(&key), &f.client)
            .await
            .assert_error_for(other, 400, "invalid_grant");
    }
    f.server.stop().await;
}
