//! R47, R48: once the browser reaches the authorization endpoint in time, the pushed request
//! lives `flow.interaction_lifetime_secs` more for the person to sign in and consent; once.
//! Loading the page again extends nothing, so a request cannot be kept alive for ever.

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::client::PASSWORD;
use crate::support::flow::Fixture;

#[tokio::test]
async fn r47_reloading_the_authorization_page_does_not_extend_the_request_again() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let interaction = f.server.config.flow.interaction_lifetime_secs;
    let url = f.pushed(&[]).await;
    // The first load extends the request to `interaction` seconds from now.
    assert_eq!(browser.get(&url).await.status, 200);
    // Reloads shortly before that end extend nothing...
    for _ in 0..3 {
        f.server.clock.advance(interaction / 4);
        assert_eq!(browser.get(&url).await.status, 200);
    }
    // ...so the request ends when the first extension said, however often it was loaded.
    f.server.clock.advance(interaction / 4);
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("invalid_request_uri"));
    f.server.stop().await;
}

#[tokio::test]
async fn r48_a_request_extended_once_still_completes_within_its_interaction_lifetime() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let interaction = f.server.config.flow.interaction_lifetime_secs;
    let url = f.pushed(&[]).await;
    let page = browser.get(&url).await;
    // Well past the request_uri's own lifetime, within the interaction's.
    f.server.clock.advance(interaction - 5);
    let page = f.sign_in(&mut browser, &page, PASSWORD).await;
    let page = f.decide(&mut browser, &page, "approve").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.redirect_params().contains_key("code"));
    f.server.stop().await;
}
