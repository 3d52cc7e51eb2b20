//! Refresh tokens after the grant ends: revoked on the account page, revoked at `/revoke` (R159,
//! R160), or when the user is disabled.

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::client::DpopKey;
use crate::support::flow::Fixture;
use crate::support::token;

#[tokio::test]
async fn account_page_revocation_revokes_refresh_and_access_tokens() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let body = f.tokens(&mut browser, &key).await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let account = browser
        .get(&format!("{}/account", f.server.public_url()))
        .await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("Budget Planner"));
    let csrf = account.field("csrf_token").unwrap();
    let done = browser
        .post(
            &format!("{}/account/revoke", f.server.public_url()),
            &[("csrf_token", &csrf), ("client_id", &f.client.id)],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(f.userinfo(&access, &key).await.status, 401);
    f.refresh(&refresh)
        .dpop(&key)
        .send()
        .await
        .assert_error(400, "invalid_grant");
    let account = browser
        .get(&format!("{}/account", f.server.public_url()))
        .await;
    assert!(account.body.contains("no-grants"));
    f.server.stop().await;
}

#[tokio::test]
async fn r159_r160_revoking_a_refresh_token_revokes_its_grant() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let body = f.tokens(&mut browser, &key).await;
    let (access, refresh) = (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    );
    // A wrong hint is only a hint (R160).
    let revoked = token::revoke(&f.server, &f.client, &refresh)
        .param("token_type_hint", "access_token")
        .send()
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        f.userinfo(&access, &key).await.status,
        401,
        "R159: the grant's access token is revoked too"
    );
    f.refresh(&refresh)
        .dpop(&key)
        .send()
        .await
        .assert_error(400, "invalid_grant");
    f.server.stop().await;
}

#[tokio::test]
async fn a_disabled_user_loses_refresh() {
    let f = Fixture::new(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let body = f.tokens(&mut browser, &key).await;
    let store = &f.server.running().state.store;
    let user = store.user_by_username(&f.username).await.unwrap().unwrap();
    store
        .disable_user(&user.user_id, f.server.now())
        .await
        .unwrap();
    f.refresh(body["refresh_token"].as_str().unwrap())
        .dpop(&key)
        .send()
        .await
        .assert_error(400, "invalid_grant");
    f.server.stop().await;
}
