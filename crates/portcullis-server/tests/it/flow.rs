//! The FAPI 2.0 authorization code flow end to end over real TLS: PAR → authorize → sign-in →
//! consent → redirect → token → userinfo → refresh, and the rejections of R24–R86.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::browser::{Browser, Page};
use crate::support::client::{DpopKey, JwtClient, PASSWORD, add_user, post_form};

pub(crate) const REDIRECT: &str = "https://client.example/cb?dummy1=lorem&dummy2=ipsum";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A code-flow client with a user to sign in.
pub(crate) struct Fixture {
    pub(crate) server: TestServer,
    pub(crate) client: JwtClient,
    username: String,
}

impl Fixture {
    /// `client` on `server`, with a new user to sign in.
    pub(crate) async fn with_client(server: TestServer, client: JwtClient) -> Self {
        let username = add_user(&server).await;
        Self {
            server,
            client,
            username,
        }
    }

    /// `client` on `server`, signing in `username` (an existing user with [`PASSWORD`]).
    pub(crate) fn with_user(server: TestServer, client: JwtClient, username: &str) -> Self {
        Self {
            server,
            client,
            username: username.to_owned(),
        }
    }
}

async fn fixture(extra: Value) -> Fixture {
    let server = TestServer::start().await;
    let mut metadata = json!({
        "client_name": "Budget Planner",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "scope": "openid profile accounts",
        "policy_uri": "https://client.example/privacy",
    });
    for (k, v) in extra.as_object().unwrap() {
        metadata[k] = v.clone();
    }
    let client = JwtClient::register(&server, metadata).await;
    Fixture::with_client(server, client).await
}

fn par_params(f: &Fixture, overrides: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", f.client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-123"),
        ("nonce", &"n".repeat(64)),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (name, value) in overrides {
        params.retain(|(k, _)| k != name);
        if let Some(value) = value {
            params.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    params.extend(f.client.auth(&f.client.assertion(&f.server)));
    params
}

async fn par(f: &Fixture, params: &[(String, String)], dpop: Option<&DpopKey>) -> (u16, Value) {
    let url = format!("{}/par", f.server.public_url());
    let headers: Vec<(&str, String)> = dpop
        .map(|k| vec![("DPoP", k.proof(&f.server, "POST", &url))])
        .unwrap_or_default();
    let (status, response_headers, body) =
        post_form(&f.server.client(None), &url, params, &headers).await;
    if status == 201 {
        assert_eq!(
            response_headers["cache-control"], "no-cache, no-store",
            "R26"
        );
    }
    (status, body)
}

fn authorize_url(f: &Fixture, request_uri: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &f.client.id)
        .append_pair("request_uri", request_uri)
        .finish();
    format!("{}/authorize?{query}", f.server.public_url())
}

/// Signs in on the page and returns the next page.
async fn sign_in(browser: &mut Browser, f: &Fixture, page: &Page, password: &str) -> Page {
    let csrf = page.field("csrf_token").expect("a CSRF field");
    let client_id = page.field("client_id").unwrap_or_default();
    let request_uri = page.field("request_uri").unwrap_or_default();
    let url = format!("{}/login", f.server.public_url());
    browser
        .post(
            &url,
            &[
                ("csrf_token", &csrf),
                ("client_id", &client_id),
                ("request_uri", &request_uri),
                ("username", &f.username),
                ("password", password),
            ],
        )
        .await
}

async fn decide(browser: &mut Browser, f: &Fixture, page: &Page, decision: &str) -> Page {
    let fields =
        ["csrf_token", "client_id", "request_uri"].map(|n| page.field(n).unwrap_or_default());
    let url = format!("{}/consent", f.server.public_url());
    browser
        .post(
            &url,
            &[
                ("csrf_token", &fields[0]),
                ("client_id", &fields[1]),
                ("request_uri", &fields[2]),
                ("decision", decision),
            ],
        )
        .await
}

/// Runs PAR → authorize → sign-in → consent → redirect and returns the redirect's parameters.
pub(crate) async fn authorize(
    f: &Fixture,
    browser: &mut Browser,
    dpop: Option<&DpopKey>,
) -> std::collections::BTreeMap<String, String> {
    let (status, body) = par(f, &par_params(f, &[]), dpop).await;
    assert_eq!(status, 201, "{body:?}");
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    let page = browser.get(&authorize_url(f, &request_uri)).await;
    let page = if page.field("password").is_some() || page.body.contains("id=\"password\"") {
        assert_eq!(page.status, 200);
        sign_in(browser, f, &page, PASSWORD).await
    } else {
        page
    };
    let page = if page.status == 200 {
        decide(browser, f, &page, "approve").await
    } else {
        page
    };
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.location().starts_with(REDIRECT),
        "R50: {}",
        page.location()
    );
    page.redirect_params()
}

pub(crate) async fn exchange(
    f: &Fixture,
    code: &str,
    verifier: &str,
    dpop: Option<&DpopKey>,
    client: &JwtClient,
) -> (u16, Value) {
    let url = format!("{}/token", f.server.public_url());
    let mut params = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.to_owned()),
        ("redirect_uri".to_owned(), REDIRECT.to_owned()),
        ("code_verifier".to_owned(), verifier.to_owned()),
    ];
    params.extend(client.auth(&client.assertion(&f.server)));
    let headers: Vec<(&str, String)> = dpop
        .map(|k| vec![("DPoP", k.proof(&f.server, "POST", &url))])
        .unwrap_or_default();
    let (status, _, body) = post_form(&f.server.client(None), &url, &params, &headers).await;
    (status, body)
}

async fn userinfo(f: &Fixture, token: &str, key: &DpopKey) -> (u16, Value) {
    let url = format!("{}/userinfo", f.server.public_url());
    let ath = portcullis_core::jose::sha256_b64url(token.as_bytes());
    let proof = key.proof_with(&f.server, "GET", &url, json!({ "ath": ath }));
    let response = f
        .server
        .client(None)
        .get(&url)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("date"), "R149");
    (status, response.json().await.unwrap_or(Value::Null))
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn r50_r69_happy_flow_with_dpop_refresh_and_userinfo() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = authorize(&f, &mut browser, Some(&key)).await;
    // R50: code, state and iss in the query; the registered query kept.
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], f.server.config.issuer);
    assert_eq!(params["dummy1"], "lorem");
    let code = &params["code"];
    assert!(code.len() >= 43, "R53: 256-bit codes");

    let (status, body) = exchange(&f, code, VERIFIER, Some(&key), &f.client).await;
    assert_eq!(status, 200, "{body:?}");
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

    let (status, info) = userinfo(&f, &access, &key).await;
    assert_eq!(status, 200, "{info:?}");
    assert_eq!(info["sub"], claims["sub"], "R146");
    assert_eq!(info["preferred_username"], f.username.as_str());

    // R82: a refresh with a brand-new DPoP key binds the new token to it; R83: no rotation.
    let new_key = DpopKey::new();
    let url = format!("{}/token", f.server.public_url());
    let mut p = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh.clone()),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, refreshed) = post_form(
        &f.server.client(None),
        &url,
        &p,
        &[("DPoP", new_key.proof(&f.server, "POST", &url))],
    )
    .await;
    assert_eq!(status, 200, "{refreshed:?}");
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
    assert_eq!(userinfo(&f, second, &new_key).await.0, 200);
    assert_eq!(
        userinfo(&f, second, &key).await.0,
        401,
        "bound to the new key"
    );
    // R81: a refresh without proof of possession fails.
    let mut p = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh.clone()),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, body) = post_form(&f.server.client(None), &url, &p, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // R84: no wider scope.
    let mut p = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh),
        ("scope".to_owned(), "openid accounts".to_owned()),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, body) = post_form(
        &f.server.client(None),
        &url,
        &p,
        &[("DPoP", new_key.proof(&f.server, "POST", &url))],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // A remembered consent: the next flow goes straight to the client.
    let (status, body) = par(&f, &par_params(&f, &[]), None).await;
    assert_eq!(status, 201);
    let page = browser
        .get(&authorize_url(&f, body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(
        page.status, 303,
        "no consent page for the same scopes: {}",
        page.body
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r74_a_replayed_code_fails_and_revokes_the_first_tokens() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = authorize(&f, &mut browser, Some(&key)).await;
    let (status, body) = exchange(&f, &params["code"], VERIFIER, Some(&key), &f.client).await;
    assert_eq!(status, 200);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = exchange(&f, &params["code"], VERIFIER, Some(&key), &f.client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(&f, &access, &key).await.0,
        401,
        "the first redemption's token is revoked"
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r72_r76_r78_code_exchange_rejections() {
    let f = fixture(json!({})).await;
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
        let params = authorize(&f, &mut browser, Some(&key)).await;
        let (status, body) = exchange(&f, &params["code"], verifier, dpop, client).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {body:?}"
        );
    }
    // R76: no verifier at all.
    let params = authorize(&f, &mut browser, Some(&key)).await;
    let url = format!("{}/token", f.server.public_url());
    let mut p = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), params["code"].clone()),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, body) = post_form(
        &f.server.client(None),
        &url,
        &p,
        &[("DPoP", key.proof(&f.server, "POST", &url))],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // R73: expired code.
    let params = authorize(&f, &mut browser, Some(&key)).await;
    f.server.clock.advance(61);
    let (status, body) = exchange(&f, &params["code"], VERIFIER, Some(&key), &f.client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r25_r29_r31_r34_par_rejections() {
    let f = fixture(json!({})).await;
    let url = format!("{}/par", f.server.public_url());
    // R25: no client authentication.
    let bare: Vec<(String, String)> = par_params(&f, &[])
        .into_iter()
        .filter(|(k, _)| !k.starts_with("client_assertion"))
        .collect();
    let (status, _, body) = post_form(&f.server.client(None), &url, &bare, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
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
        let (status, body) = par(&f, &par_params(&f, &overrides), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{what}: {body:?}"
        );
    }
    // R24: PUT is not allowed.
    let response = f.server.client(None).put(&url).send().await.unwrap();
    assert_eq!(response.status(), 405);
    // R37: dpop_jkt and a DPoP header of another key.
    let key = DpopKey::new();
    let (status, body) = par(
        &f,
        &par_params(&f, &[("dpop_jkt", Some(&DpopKey::new().jkt()))]),
        Some(&key),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r46_r47_r48_request_uri_is_bound_single_use_and_short_lived() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let (_, body) = par(&f, &par_params(&f, &[]), None).await;
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(body["expires_in"].as_i64().unwrap() < 600, "R27");
    // R48: loading the page twice is fine; the request is used at authorization.
    assert_eq!(
        browser.get(&authorize_url(&f, &request_uri)).await.status,
        200
    );
    let page = browser.get(&authorize_url(&f, &request_uri)).await;
    let page = sign_in(&mut browser, &f, &page, PASSWORD).await;
    let page = decide(&mut browser, &f, &page, "approve").await;
    assert_eq!(page.status, 303);
    // Reuse after the flow: an error page, no redirect.
    let page = browser.get(&authorize_url(&f, &request_uri)).await;
    assert_eq!(page.status, 400);
    assert!(page.headers.get("location").is_none());
    // R46: another client's request_uri.
    let (_, body) = par(&f, &par_params(&f, &[]), None).await;
    let other = format!(
        "{}/authorize?client_id=someone-else&request_uri={}",
        f.server.public_url(),
        body["request_uri"].as_str().unwrap()
    );
    assert_eq!(browser.get(&other).await.status, 400);
    // R47: expired.
    f.server.clock.advance(61);
    let page = browser
        .get(&authorize_url(&f, body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("invalid_request_uri"));
    // R44: no request_uri at all, and R52: unknown client → page, never a redirect.
    let page = browser
        .get(&format!(
            "{}/authorize?client_id={}&response_type=code&redirect_uri={REDIRECT}",
            f.server.public_url(),
            f.client.id
        ))
        .await;
    assert_eq!(
        (page.status, page.headers.contains_key("location")),
        (400, false)
    );
    let page = browser
        .get(&format!(
            "{}/authorize?client_id=nobody&request_uri=urn:x",
            f.server.public_url()
        ))
        .await;
    assert_eq!(
        (page.status, page.headers.contains_key("location")),
        (400, false)
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r49_state_only_in_the_front_channel_is_not_echoed() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let (_, body) = par(&f, &par_params(&f, &[("state", None)]), None).await;
    let url = format!(
        "{}&state=front&response_type=code&scope=openid",
        authorize_url(&f, body["request_uri"].as_str().unwrap())
    );
    let page = browser.get(&url).await;
    let page = sign_in(&mut browser, &f, &page, PASSWORD).await;
    let page = decide(&mut browser, &f, &page, "approve").await;
    let params = page.redirect_params();
    assert!(params.contains_key("code"));
    assert!(
        !params.contains_key("state"),
        "R49: the front-channel state is ignored"
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r51_r59_r62_denial_prompt_none_wrong_password_and_csrf() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    // R59: prompt=none without a session → login_required at the client.
    let (_, body) = par(&f, &par_params(&f, &[("prompt", Some("none"))]), None).await;
    let page = browser
        .get(&authorize_url(&f, body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(page.status, 303);
    let params = page.redirect_params();
    assert_eq!(
        (
            params["error"].as_str(),
            params["state"].as_str(),
            params["iss"].as_str()
        ),
        ("login_required", "st-123", f.server.config.issuer.as_str())
    );

    // A wrong password: the page again, 401, no session.
    let (_, body) = par(&f, &par_params(&f, &[]), None).await;
    let page = browser
        .get(&authorize_url(&f, body["request_uri"].as_str().unwrap()))
        .await;
    let wrong = sign_in(&mut browser, &f, &page, "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("login-error"));
    // R62: a sign-in without the CSRF token is refused, and nothing is issued.
    let url = format!("{}/login", f.server.public_url());
    let refused = browser
        .post(
            &url,
            &[
                ("username", &f.username),
                ("password", PASSWORD),
                ("client_id", &f.client.id),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    // The right password, then the user denies (R51).
    let page = sign_in(&mut browser, &f, &wrong, PASSWORD).await;
    assert_eq!(page.status, 200, "consent page");
    assert!(
        page.body.contains("Budget Planner") && page.body.contains("privacy policy"),
        "R57"
    );
    // R62: consent without the session's CSRF token.
    let consent_url = format!("{}/consent", f.server.public_url());
    let refused = browser
        .post(
            &consent_url,
            &[
                ("client_id", &f.client.id),
                ("request_uri", &page.field("request_uri").unwrap()),
                ("decision", "approve"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.headers.get("location").is_none());
    let denied = decide(&mut browser, &f, &page, "deny").await;
    assert_eq!(denied.status, 303);
    let params = denied.redirect_params();
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        ("access_denied", "st-123")
    );
    assert!(!params.contains_key("code"));
    // Pages carry the strict headers (R54–R56).
    let h = &page.headers;
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        !h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    assert_eq!(h["cache-control"], "no-store");
    f.server.stop().await;
}

#[tokio::test]
async fn account_page_revocation_revokes_refresh_and_access_tokens() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = authorize(&f, &mut browser, Some(&key)).await;
    let (_, body) = exchange(&f, &params["code"], VERIFIER, Some(&key), &f.client).await;
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
    assert_eq!(userinfo(&f, &access, &key).await.0, 401);
    let url = format!("{}/token", f.server.public_url());
    let mut p = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, body) = post_form(
        &f.server.client(None),
        &url,
        &p,
        &[("DPoP", key.proof(&f.server, "POST", &url))],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let account = browser
        .get(&format!("{}/account", f.server.public_url()))
        .await;
    assert!(account.body.contains("no-grants"));
    f.server.stop().await;
}

#[tokio::test]
async fn r131_r133_r134_signed_request_objects() {
    let f = fixture(json!({"require_signed_request_object": true})).await;
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
    assert_eq!(par(&f, &push(good), None).await.0, 201);
    // R133: an array containing the issuer is fine.
    let multi = f
        .client
        .key
        .sign(
            "oauth-authz-req+jwt",
            claims(json!({"aud": [f.server.config.issuer, "https://x.example"]})),
        )
        .unwrap();
    assert_eq!(par(&f, &push(multi), None).await.0, 201);
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
        let (status, body) = par(&f, &push(jwt), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request_object")),
            "{what}"
        );
    }
    // R41: plain parameters when signing is required.
    let (status, body) = par(&f, &par_params(&f, &[]), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    f.server.stop().await;
}

#[tokio::test]
async fn r140_r142_jarm_response_is_a_signed_jwt() {
    let f = fixture(json!({"authorization_signed_response_alg": "ES256"})).await;
    let mut browser = Browser::new(&f.server);
    let params = authorize(&f, &mut browser, None).await;
    let keys: Vec<&String> = params.keys().collect();
    assert_eq!(
        keys,
        ["dummy1", "dummy2", "response"],
        "R140: only `response` besides the registered query"
    );
    let jwt = &params["response"];
    let header = portcullis_core::jose::peek_header(jwt).unwrap();
    assert_eq!(header["alg"], "ES256");
    let jwks: Value = f
        .server
        .client(None)
        .get(format!("{}/jwks", f.server.public_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("R21");
    let claims = portcullis_core::jose::verify(jwt, key.as_object().unwrap()).unwrap();
    assert_eq!(claims["iss"], f.server.config.issuer.as_str());
    assert_eq!(claims["aud"], f.client.id.as_str());
    assert_eq!(claims["state"], "st-123");
    assert!(claims["code"].is_string() && claims["exp"].is_number());
    f.server.stop().await;
}

#[tokio::test]
async fn r159_r160_revoking_a_refresh_token_revokes_its_grant() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = authorize(&f, &mut browser, Some(&key)).await;
    let (_, body) = exchange(&f, &params["code"], VERIFIER, Some(&key), &f.client).await;
    let (access, refresh) = (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    );
    // A wrong hint is only a hint (R160).
    let mut p = vec![
        ("token".to_owned(), refresh.clone()),
        ("token_type_hint".to_owned(), "access_token".to_owned()),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, _) = post_form(
        &f.server.client(None),
        &format!("{}/revoke", f.server.public_url()),
        &p,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        userinfo(&f, &access, &key).await.0,
        401,
        "R159: the grant's access token is revoked too"
    );
    let url = format!("{}/token", f.server.public_url());
    let mut p = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, body) = post_form(
        &f.server.client(None),
        &url,
        &p,
        &[("DPoP", key.proof(&f.server, "POST", &url))],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    f.server.stop().await;
}

#[tokio::test]
async fn the_user_has_the_interaction_lifetime_once_the_browser_arrived_in_time() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let (_, body) = par(&f, &par_params(&f, &[]), None).await;
    let page = browser
        .get(&authorize_url(&f, body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(page.status, 200);
    // The user takes two minutes over the password: longer than the request_uri's 60 s.
    f.server.clock.advance(120);
    let page = sign_in(&mut browser, &f, &page, PASSWORD).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = decide(&mut browser, &f, &page, "approve").await;
    assert_eq!(page.status, 303);
    assert!(page.redirect_params().contains_key("code"));
    f.server.stop().await;
}

#[tokio::test]
async fn a_disabled_user_loses_refresh() {
    let f = fixture(json!({})).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = authorize(&f, &mut browser, Some(&key)).await;
    let (_, body) = exchange(&f, &params["code"], VERIFIER, Some(&key), &f.client).await;
    let store = &f.server.running().state.store;
    let user = store.user_by_username(&f.username).await.unwrap().unwrap();
    store
        .disable_user(&user.user_id, f.server.now())
        .await
        .unwrap();
    let url = format!("{}/token", f.server.public_url());
    let mut p = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        (
            "refresh_token".to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        ),
    ];
    p.extend(f.client.auth(&f.client.assertion(&f.server)));
    let (status, _, body) = post_form(
        &f.server.client(None),
        &url,
        &p,
        &[("DPoP", key.proof(&f.server, "POST", &url))],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    f.server.stop().await;
}
