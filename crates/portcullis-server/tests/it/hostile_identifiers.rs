//! Identifiers with a NUL byte or 10,000 characters, where a client, a user, a pushed request or
//! a key is named: `client_id` (a parameter, an assertion's `iss`/`sub`, the authorization
//! endpoint's query), `username` (both sign-in pages), `request_uri` and `kid` (of a client
//! assertion and of a request object). Each gets a 400 or 401 with the right OAuth error or
//! page, never a 5xx, and the server logs no ERROR line for any of them (Postgres refuses a NUL
//! in text: such a value must never reach it).

use portcullis_core::jose::PrivateKey;
use serde_json::{Value, json};

use crate::support::admin::add_admin;
use crate::support::browser::Browser;
use crate::support::client::{assertion_claims, unique};
use crate::support::flow::{CHALLENGE, Fixture, REDIRECT};
use crate::support::http::Answer;
use crate::support::logs::Logs;

/// The hostile values: a NUL alone, a NUL inside, and 10,000 characters.
fn hostile() -> [(&'static str, String); 3] {
    [
        ("NUL", "\0".to_owned()),
        ("inner NUL", format!("{}\0x", unique("id"))),
        ("10,000 characters", "x".repeat(10_000)),
    ]
}

/// `key` with its `kid` replaced by `kid`.
fn with_kid(key: &PrivateKey, kid: &str) -> PrivateKey {
    let mut jwk: Value = serde_json::from_slice(&key.to_json()).unwrap();
    jwk["kid"] = json!(kid);
    PrivateKey::from_json(jwk.to_string().as_bytes()).unwrap()
}

/// Asserts an HTML error page with `status` naming `code`, not a redirect.
#[track_caller]
fn assert_page(what: &str, status: u16, body: &str, location: bool, code: &str) {
    assert_eq!(status / 100, 4, "{what}: {body}");
    assert!(!location, "{what}: redirected");
    assert!(body.contains(code), "{what}: {code} in {body}");
}

#[tokio::test]
async fn hostile_identifiers_get_4xx_with_the_right_error_and_no_error_log() {
    let f = Fixture::new(json!({})).await;
    let server = &f.server;
    let admin = add_admin(server).await;
    let logs = Logs::capture();
    let token_like = |path: &'static str, answer: Answer, case: &str, status: u16, code: &str| {
        answer.assert_error_for(&format!("{path} {case}"), status, code);
    };
    for (case, value) in hostile() {
        // client_id as a parameter (mutual TLS authentication names the client by it).
        for path in ["/token", "/par", "/introspect", "/revoke"] {
            let answer = server
                .post(path)
                .params(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", value.as_str()),
                    ("token", "t"),
                ])
                .send()
                .await;
            token_like(path, answer, case, 401, "invalid_client");
        }
        // client_id as the iss and sub of a client assertion.
        let assertion = f
            .client
            .assertion_with(server, json!({ "iss": value, "sub": value }));
        let answer = server
            .post("/token")
            .param("grant_type", "client_credentials")
            .form(f.client.auth(&assertion))
            .send()
            .await;
        token_like("/token assertion", answer, case, 401, "invalid_client");
        // kid of a client assertion: no registered key has it.
        let assertion = with_kid(&f.client.key, &value)
            .sign("JWT", assertion_claims(server, &f.client.id))
            .unwrap();
        let answer = server
            .post("/token")
            .param("grant_type", "client_credentials")
            .form(f.client.auth(&assertion))
            .send()
            .await;
        token_like("/token kid", answer, case, 401, "invalid_client");
        // kid of a request object.
        let now = server.now().unix();
        let request = with_kid(&f.client.key, &value)
            .sign(
                "oauth-authz-req+jwt",
                json!({
                    "iss": f.client.id, "aud": server.config.issuer, "client_id": f.client.id,
                    "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
                    "code_challenge": CHALLENGE, "code_challenge_method": "S256",
                    "nbf": now, "exp": now + 60, "jti": unique("ro"),
                })
                .as_object()
                .unwrap()
                .clone(),
            )
            .unwrap();
        let answer = server
            .post("/par")
            .param("request", &request)
            .auth(&f.client)
            .send()
            .await;
        token_like(
            "/par request object kid",
            answer,
            case,
            400,
            "invalid_request_object",
        );

        // client_id and request_uri at the authorization endpoint: pages, never redirects.
        let mut browser = Browser::new(server);
        for (name, client_id, request_uri, code) in [
            ("client_id", value.as_str(), "urn:x", "invalid_client"),
            (
                "request_uri",
                f.client.id.as_str(),
                value.as_str(),
                "invalid_request_uri",
            ),
        ] {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", client_id)
                .append_pair("request_uri", request_uri)
                .finish();
            let page = browser
                .get(&format!("{}/authorize?{query}", server.public_url()))
                .await;
            let what = format!("/authorize {name} {case}");
            assert_page(
                &what,
                page.status,
                &page.body,
                page.headers.contains_key("location"),
                code,
            );
        }
        // username at both sign-in pages: an unknown user.
        for path in ["/login", "/admin/login"] {
            let mut browser = Browser::new(server);
            let form = browser.get(&format!("{}{path}", server.public_url())).await;
            let csrf = form.field("csrf_token").unwrap();
            let page = browser
                .post(
                    &format!("{}{path}", server.public_url()),
                    &[
                        ("csrf_token", &csrf),
                        ("username", &value),
                        ("password", "whatever-it-is"),
                    ],
                )
                .await;
            assert_eq!(page.status, 401, "{path} {case}: {}", page.body);
        }
        // request_uri at the sign-in form of a flow.
        let mut browser = Browser::new(server);
        let form = browser.get(&f.pushed(&[]).await).await;
        let csrf = form.field("csrf_token").unwrap();
        let page = browser
            .post(
                &format!("{}/login", server.public_url()),
                &[
                    ("csrf_token", &csrf),
                    ("client_id", &f.client.id),
                    ("request_uri", &value),
                    ("username", &admin),
                    ("password", "whatever-it-is"),
                ],
            )
            .await;
        let what = format!("/login request_uri {case}");
        assert_page(
            &what,
            page.status,
            &page.body,
            page.headers.contains_key("location"),
            "invalid_request_uri",
        );
    }
    let errors = logs.errors();
    assert!(errors.is_empty(), "ERROR lines: {errors:#?}");
    assert!(
        logs.text().contains("request"),
        "the capture works: {}",
        logs.text()
    );
    drop(logs);
    f.server.stop().await;
}
