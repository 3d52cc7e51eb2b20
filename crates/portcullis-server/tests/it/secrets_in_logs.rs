//! No secret reaches the logs (issue 13, point 6; THREATS T86): a whole flow — PAR, sign-in,
//! consent, code exchange, refresh, userinfo, introspection, revocation, registration and its
//! management, admin sign-in — served by the real `portcullis serve` binary logging at `trace`
//! (every event and span of every crate, in the format operators get), then every line of its
//! output searched for every token, code, request_uri, assertion, proof, password, cookie,
//! registration access token, initial access token and the key-encryption key. A separate
//! process, so that nothing else running in the test binary shares or filters its log output.

use portcullis_core::registration::Policy;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::admin::Admin;
use crate::support::browser::Browser;
use crate::support::client::{DpopKey, PASSWORD};
use crate::support::flow::{Fixture, VERIFIER};
use crate::support::processes::Process;
use crate::support::registration::{initial_access_token, register_with, send_json};
use crate::support::token;

/// A secret and what it is, for the failure message.
struct Secrets(Vec<(&'static str, String)>);

impl Secrets {
    fn add(&mut self, what: &'static str, value: &str) {
        assert!(!value.is_empty(), "{what} is empty");
        self.0.push((what, value.to_owned()));
        // A compact JWS is found by any of its parts: a logged signature alone still lets one
        // correlate, a logged payload discloses the claims.
        let parts: Vec<&str> = value.split('.').collect();
        if parts.len() == 3 {
            for part in parts.into_iter().skip(1).filter(|p| p.len() >= 16) {
                self.0.push((what, part.to_owned()));
            }
        }
    }

    fn add_str(&mut self, what: &'static str, value: &Value) {
        self.add(what, value.as_str().unwrap_or_else(|| panic!("{what}")));
    }
}

#[tokio::test]
async fn no_token_code_assertion_password_cookie_or_key_appears_in_trace_logs() {
    let server = TestServer::builder().portless_issuer().start().await;
    let mut f = Fixture::new_on(server, json!({})).await;
    // Every request of the flow goes to the binary (the fixture's clients and browsers resolve
    // `localhost` to it); the in-process server only set up the client and the user.
    let process = Process::spawn(&f.server, "", "trace").await;
    f.server.route_to = Some(process.public);
    let mut secrets = Secrets(Vec::new());
    secrets.add("password", PASSWORD);
    let kek = match &f.server.config.keys.kek {
        Some(kek) => kek.clone(),
        None => std::fs::read_to_string(f.server.config.data_dir.join("kek.key")).unwrap(),
    };
    secrets.add("key-encryption key", kek.trim());

    // PAR → sign-in → consent → code, one step at a time to keep each secret.
    let key = DpopKey::new();
    let mut browser = Browser::new(&f.server);
    let params = f.par_params(&[]);
    let assertion = params
        .iter()
        .find(|(k, _)| k == "client_assertion")
        .map(|(_, v)| v.clone())
        .unwrap();
    secrets.add("client assertion", &assertion);
    let pushed = f.par(params, Some(&key)).await.assert_status(201);
    secrets.add_str("request_uri", &pushed["request_uri"]);
    let sign_in = browser
        .get(&f.authorize_url(pushed["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(sign_in.status, 200, "{}", sign_in.body);
    secrets.add("sign-in CSRF token", &sign_in.field("csrf_token").unwrap());
    let consent = f.sign_in(&mut browser, &sign_in, PASSWORD).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let redirect = f.decide(&mut browser, &consent, "approve").await;
    assert_eq!(redirect.status, 303, "{}", redirect.body);
    let code = redirect.redirect_params()["code"].clone();
    secrets.add("authorization code", &code);
    secrets.add("PKCE verifier", VERIFIER);
    for cookie in browser.cookie_values() {
        secrets.add("browser cookie", cookie);
    }

    // Code exchange, refresh, userinfo.
    let tokens = f
        .exchange(&code, VERIFIER, Some(&key), &f.client)
        .await
        .assert_ok();
    secrets.add_str("access token", &tokens["access_token"]);
    secrets.add_str("refresh token", &tokens["refresh_token"]);
    secrets.add_str("ID token", &tokens["id_token"]);
    let refreshed = f
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .dpop(&key)
        .send()
        .await
        .assert_ok();
    secrets.add_str("refreshed access token", &refreshed["access_token"]);
    // A rotated refresh token, if the server rotates them.
    let refresh_token = match refreshed["refresh_token"].as_str() {
        Some(rotated) => {
            secrets.add("rotated refresh token", rotated);
            rotated
        }
        None => tokens["refresh_token"].as_str().unwrap(),
    };
    let access_token = refreshed["access_token"].as_str().unwrap();
    f.userinfo(access_token, &key).await.assert_ok();

    // Introspection and revocation, of the access and the refresh token.
    // (Introspection answers for access tokens; a refresh token is inactive there.)
    for (t, active) in [(access_token, true), (refresh_token, false)] {
        let answer = token::introspect(&f.server, &f.client, t)
            .send()
            .await
            .assert_ok();
        assert_eq!(answer["active"], active);
        assert_eq!(
            token::revoke(&f.server, &f.client, t).send().await.status,
            200
        );
    }

    // Registration with an initial access token, then the client configuration endpoint.
    let iat = initial_access_token(&f.server, Policy::default(), None).await;
    secrets.add("initial access token", &iat);
    let registered = register_with(&f.server, &iat).await.assert_status(201);
    secrets.add_str(
        "registration access token",
        &registered["registration_access_token"],
    );
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let read = send_json(&f.server, Method::GET, uri, Some(rat), None).await;
    assert_eq!(read.status, 200, "{:?}", read.body);

    // The admin UI: sign-in (the password is PASSWORD) and a page.
    let mut admin = Admin::new(&f.server).await;
    secrets.add("admin CSRF token", &admin.csrf);
    for cookie in admin.browser.cookie_values() {
        secrets.add("admin cookie", cookie);
    }
    assert_eq!(admin.get("/admin/clients").await.status, 200);

    // Standard output is line-buffered: every line written so far is in the file.
    let text = without_colours(&process.logs());
    process.stop().await;
    // To read what was searched: SECRETS_IN_LOGS_DUMP=/tmp/file.
    if let Ok(path) = std::env::var("SECRETS_IN_LOGS_DUMP") {
        std::fs::write(path, &text).unwrap();
    }
    // The capture saw the server handle every step, at every level.
    for path in [
        "/par",
        "/authorize",
        "/login",
        "/consent",
        "/token",
        "/userinfo",
        "/introspect",
        "/revoke",
        "/register",
        "/admin/login",
        "/admin/clients",
    ] {
        assert!(
            text.contains(&format!("path={path} ")),
            "no log line of {path}"
        );
    }
    for level in [" TRACE ", " DEBUG ", " INFO "] {
        assert!(text.contains(level), "no{level}line");
    }
    let mut leaks = Vec::new();
    for line in text.lines() {
        for (what, secret) in &secrets.0 {
            if line.contains(secret.as_str()) {
                leaks.push(format!("{what}: {line}"));
            }
        }
        // Any compact JWS at all (a JSON header starts `eyJ`): assertions and proofs the
        // helpers sign internally are secrets too.
        if line.contains("eyJ") {
            leaks.push(format!("a JWS: {line}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
}

/// `text` without ANSI colour sequences (`ESC [ … m`), which the text format writes around field
/// names even into a file.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    out.push_str(rest);
    out
}
