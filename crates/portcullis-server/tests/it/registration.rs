//! Dynamic client registration (RFC 7591) and its management (RFC 7592) over real TLS
//! (R162–R171): initial access tokens, software statements, the FAPI metadata rules, read,
//! update with token rotation, delete, and registered clients that then use the token endpoint
//! and the authorization code flow.

use portcullis_core::hash::TokenHash;
use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_core::registration::Policy;
use portcullis_server::registration::{Lifetime, create_initial_access_token};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::TestServer;
use crate::support::browser::Browser;
use crate::support::client::{DpopKey, JwtClient, form, post_form, unique};
use crate::support::flow::{self, Fixture};

const REDIRECT: &str = flow::REDIRECT;

/// Issues an initial access token on `server`'s database.
async fn initial_access_token(server: &TestServer, policy: Policy, uses: Option<u32>) -> String {
    let state = &server.running().state;
    let lifetime = Lifetime {
        expires_in: 3600,
        uses,
    };
    create_initial_access_token(state.store.as_ref(), &policy, lifetime, server.now())
        .await
        .unwrap()
        .1
}

/// A JSON request with an optional bearer token; returns status, headers and body.
async fn send(
    server: &TestServer,
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (u16, HeaderMap, Value) {
    let mut request = server.client(None).request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, body)
}

async fn register(
    server: &TestServer,
    bearer: Option<&str>,
    body: &Value,
) -> (u16, HeaderMap, Value) {
    let url = format!("{}/register", server.public_url());
    send(server, Method::POST, &url, bearer, Some(body)).await
}

/// Asserts an error response: status, `error` code, a JSON body and no caching.
fn assert_error(outcome: &(u16, HeaderMap, Value), status: u16, code: &str) {
    let (got, headers, body) = outcome;
    assert_eq!(
        (*got, body["error"].as_str()),
        (status, Some(code)),
        "{body:?}"
    );
    assert!(body["error_description"].is_string(), "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    if status == 401 {
        assert_eq!(
            headers["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
    }
}

/// Metadata of a private_key_jwt client for client_credentials and the code flow.
fn metadata(key: &PrivateKey) -> Value {
    json!({
        "client_name": "Budget Planner",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "redirect_uris": [REDIRECT],
        "scope": "openid profile accounts",
    })
}

fn new_key() -> PrivateKey {
    PrivateKey::generate(Alg::Es256, &unique("kid")).unwrap()
}

/// Registers a client with a fresh key and an unlimited token; returns it and the response.
async fn register_client(server: &TestServer) -> (JwtClient, Value) {
    let token = initial_access_token(server, Policy::default(), None).await;
    let key = new_key();
    let (status, _, body) = register(server, Some(&token), &metadata(&key)).await;
    assert_eq!(status, 201, "{body:?}");
    let client = JwtClient {
        id: body["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    (client, body)
}

/// A client_credentials request authenticated by `client`, with a DPoP proof.
async fn client_credentials(server: &TestServer, client: &JwtClient) -> (u16, Value) {
    let url = format!("{}/token", server.public_url());
    let mut params = form(&[("grant_type", "client_credentials"), ("scope", "accounts")]);
    params.extend(client.auth(&client.assertion(server)));
    let dpop = DpopKey::new();
    let (status, _, body) = post_form(
        &server.client(None),
        &url,
        &params,
        &[("DPoP", dpop.proof(server, "POST", &url))],
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn r162_r163_an_initial_access_token_registers_a_client_that_gets_a_client_credentials_token()
{
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let key = new_key();
    let (status, headers, body) = register(&server, Some(&token), &metadata(&key)).await;
    assert_eq!(status, 201, "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    // R163: the identifier, when it was issued, every effective value, the management pair.
    let client_id = body["client_id"].as_str().unwrap();
    assert_eq!(body["client_id_issued_at"], server.now().unix());
    assert_eq!(body["client_name"], "Budget Planner");
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["redirect_uris"], json!([REDIRECT]));
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["jwks"]["keys"][0]["kid"], key.kid());
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/register/{client_id}", server.public_url())
    );
    let rat = body["registration_access_token"].as_str().unwrap();
    assert!(rat.len() >= 43, "R171: at least 128 bits");
    assert!(body.get("client_secret").is_none(), "R163: no secret");
    // R171: only the hash is stored.
    let state = &server.running().state;
    let stored = state
        .store
        .client_by_registration_token(&TokenHash::of(rat.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client.client_id, client_id);
    assert!(!stored.client.metadata.contains(rat));

    // The client works at once: client_credentials with its registered key.
    let client = JwtClient {
        id: client_id.to_owned(),
        key,
    };
    let (status, body) = client_credentials(&server, &client).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["scope"], "accounts");
    server.stop().await;
}

#[tokio::test]
async fn r162_registration_without_credentials_is_401_invalid_token() {
    let server = TestServer::start().await;
    let body = metadata(&new_key());
    assert_error(&register(&server, None, &body).await, 401, "invalid_token");
    // Not a bearer token either.
    let url = format!("{}/register", server.public_url());
    let response = server
        .client(None)
        .post(&url)
        .basic_auth("client", Some("secret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn r162_unknown_spent_expired_and_revoked_initial_access_tokens_are_refused() {
    let server = TestServer::start().await;
    let body = metadata(&new_key());
    assert_error(
        &register(&server, Some("made-up"), &body).await,
        401,
        "invalid_token",
    );

    let once = initial_access_token(&server, Policy::default(), Some(1)).await;
    assert_eq!(register(&server, Some(&once), &body).await.0, 201);
    assert_error(
        &register(&server, Some(&once), &body).await,
        401,
        "invalid_token",
    );

    let expiring = initial_access_token(&server, Policy::default(), None).await;
    server.clock.advance(3600);
    assert_error(
        &register(&server, Some(&expiring), &body).await,
        401,
        "invalid_token",
    );

    let revoked = initial_access_token(&server, Policy::default(), None).await;
    let store = &server.running().state.store;
    let id = store
        .initial_access_token(&TokenHash::of(revoked.as_bytes()))
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        store
            .revoke_initial_access_token(&id, server.now())
            .await
            .unwrap()
    );
    assert_error(
        &register(&server, Some(&revoked), &body).await,
        401,
        "invalid_token",
    );
    server.stop().await;
}

#[tokio::test]
async fn r162_a_single_use_initial_access_token_registers_one_client_under_concurrency() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let server = std::sync::Arc::clone(&server);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            register(&server, Some(&token), &metadata(&new_key()))
                .await
                .0
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 401, 401, 401, 401, 401]);
    let server = std::sync::Arc::into_inner(server).unwrap();
    server.stop().await;
}

#[tokio::test]
async fn r164_r165_fapi_metadata_rules_are_enforced_without_spending_the_token() {
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let key = new_key();
    let mut private = serde_json::from_slice::<Value>(&key.to_json()).unwrap();
    private["kid"] = json!("private");
    let refusals = [
        (
            json!({ "token_endpoint_auth_method": "client_secret_basic" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "token_endpoint_auth_method": "none" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["http://client.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://client.example/cb#frag"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "response_types": ["code", "token"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "grant_types": ["password"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "jwks": { "keys": [private] } }),
            "invalid_client_metadata",
        ),
        (
            json!({ "jwks_uri": "https://client.example/jwks" }),
            "invalid_client_metadata",
        ),
        (json!({ "jwks": null }), "invalid_client_metadata"),
        (
            json!({ "id_token_signed_response_alg": "RS256" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": "https://client.example/cb" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "software_statement": 42 }),
            "invalid_software_statement",
        ),
    ];
    for (changes, code) in refusals {
        let mut body = metadata(&key);
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        assert_error(&register(&server, Some(&token), &body).await, 400, code);
    }
    // Not JSON.
    let url = format!("{}/register", server.public_url());
    let response = server
        .client(None)
        .post(&url)
        .bearer_auth(&token)
        .form(&[("client_name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // None of these spent the single use.
    assert_eq!(
        register(&server, Some(&token), &metadata(&key)).await.0,
        201
    );
    server.stop().await;
}

#[tokio::test]
async fn r171_the_server_chooses_the_client_id_and_unknown_metadata_is_ignored() {
    let server = TestServer::start().await;
    let token = initial_access_token(&server, Policy::default(), None).await;
    let mut body = metadata(&new_key());
    body["client_id"] = json!("user-alice");
    body["client_secret"] = json!("chosen");
    body["frobnication_level"] = json!(11);
    let (status, _, response) = register(&server, Some(&token), &body).await;
    assert_eq!(status, 201, "{response:?}");
    let client_id = response["client_id"].as_str().unwrap();
    assert_ne!(client_id, "user-alice");
    assert!(!client_id.starts_with("user-"));
    assert!(response.get("client_secret").is_none());
    assert!(response.get("frobnication_level").is_none());
    let (_, _, again) = register(&server, Some(&token), &body).await;
    assert_ne!(again["client_id"], response["client_id"]);
    server.stop().await;
}

#[tokio::test]
async fn an_initial_access_token_policy_limits_what_it_registers() {
    let server = TestServer::start().await;
    let key = new_key();
    let narrow = initial_access_token(
        &server,
        Policy {
            scope: Some("openid accounts".into()),
            grant_types: vec!["client_credentials".into()],
            auth_methods: vec!["private_key_jwt".into()],
            allow_resource_server: false,
        },
        None,
    )
    .await;
    let fits = json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["client_credentials"],
        "scope": "accounts",
    });
    assert_eq!(register(&server, Some(&narrow), &fits).await.0, 201);
    for changes in [
        json!({ "scope": "accounts payments" }),
        json!({ "grant_types": ["client_credentials", "authorization_code"], "redirect_uris": [REDIRECT] }),
        json!({ "resource_server": true }),
    ] {
        let mut body = fits.clone();
        for (k, v) in changes.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_error(
            &register(&server, Some(&narrow), &body).await,
            400,
            "invalid_client_metadata",
        );
    }
    // Without a policy, a resource server is still refused; a token that allows it can.
    let mut rs = fits.clone();
    rs["resource_server"] = json!(true);
    let open = initial_access_token(&server, Policy::default(), None).await;
    assert_error(
        &register(&server, Some(&open), &rs).await,
        400,
        "invalid_client_metadata",
    );
    let allowing = initial_access_token(
        &server,
        Policy {
            allow_resource_server: true,
            ..Policy::default()
        },
        None,
    )
    .await;
    let (status, _, body) = register(&server, Some(&allowing), &rs).await;
    assert_eq!(
        (status, &body["resource_server"]),
        (201, &json!(true)),
        "{body:?}"
    );
    server.stop().await;
}

/// A directory that signs software statements, trusted by servers built with [`Self::server`].
struct Directory {
    issuer: String,
    key: PrivateKey,
    _files: TempDir,
    jwks_file: std::path::PathBuf,
}

impl Directory {
    fn new() -> Self {
        let key = PrivateKey::generate(Alg::Ps256, &unique("directory")).unwrap();
        let files = tempfile::tempdir().unwrap();
        let jwks_file = files.path().join("directory-jwks.json");
        std::fs::write(
            &jwks_file,
            json!({ "keys": [key.public_jwk().unwrap()] }).to_string(),
        )
        .unwrap();
        Self {
            issuer: "https://directory.example".to_owned(),
            key,
            _files: files,
            jwks_file,
        }
    }

    async fn server(&self) -> TestServer {
        let issuer = self.issuer.clone();
        let jwks_file = self.jwks_file.clone();
        TestServer::builder()
            .configure(move |c| {
                c.registration.software_statement_issuers =
                    vec![portcullis_server::config::SoftwareStatementIssuer { issuer, jwks_file }];
            })
            .start()
            .await
    }

    /// A statement with the directory's claims for `key`, changed by `changes` (`null` removes).
    fn statement(&self, server: &TestServer, key: &PrivateKey, changes: Value) -> String {
        sign_statement(&self.key, &self.issuer, server, key, changes)
    }
}

fn sign_statement(
    signer: &PrivateKey,
    issuer: &str,
    server: &TestServer,
    key: &PrivateKey,
    changes: Value,
) -> String {
    let now = server.now().unix();
    let mut claims = json!({
        "iss": issuer,
        "iat": now,
        "exp": now + 300,
        "jti": unique("ssa"),
        "software_id": "budget-planner",
        "client_name": "Budget Planner (directory)",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["authorization_code", "client_credentials"],
        "redirect_uris": [REDIRECT],
        "scope": "openid accounts",
    })
    .as_object()
    .unwrap()
    .clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    signer.sign("JWT", claims).unwrap()
}

#[tokio::test]
async fn r166_a_software_statement_registers_a_client_with_its_claims() {
    let directory = Directory::new();
    let server = directory.server().await;
    let key = new_key();
    let statement = directory.statement(&server, &key, json!({}));
    // The request says otherwise; the statement wins. No initial access token is needed.
    let body = json!({
        "software_statement": statement,
        "client_name": "Something Else",
        "redirect_uris": ["https://attacker.example/cb"],
        "logo_uri": "https://planner.example/logo.png",
    });
    let (status, _, response) = register(&server, None, &body).await;
    assert_eq!(status, 201, "{response:?}");
    assert_eq!(response["client_name"], "Budget Planner (directory)");
    assert_eq!(response["redirect_uris"], json!([REDIRECT]));
    assert_eq!(response["logo_uri"], "https://planner.example/logo.png");
    assert_eq!(
        response["software_statement"], statement,
        "returned unmodified"
    );
    let client = JwtClient {
        id: response["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    assert_eq!(client_credentials(&server, &client).await.0, 200);
    // A statement alone never registers a resource server (that needs an initial access token).
    let other = new_key();
    let rs = directory.statement(&server, &other, json!({ "resource_server": true }));
    assert_error(
        &register(&server, None, &json!({ "software_statement": rs })).await,
        400,
        "invalid_client_metadata",
    );
    server.stop().await;
}

#[tokio::test]
async fn r166_software_statements_of_untrusted_keys_or_issuers_are_unapproved() {
    let directory = Directory::new();
    let server = directory.server().await;
    let key = new_key();
    // The directory's name, signed by a key the directory does not hold.
    let rogue = PrivateKey::generate(Alg::Ps256, "rogue").unwrap();
    let forged = sign_statement(&rogue, &directory.issuer, &server, &key, json!({}));
    let body = json!({ "software_statement": forged });
    assert_error(
        &register(&server, None, &body).await,
        400,
        "unapproved_software_statement",
    );
    // Another directory's statement, even with an initial access token.
    let other = directory.statement(&server, &key, json!({ "iss": "https://rogue.example" }));
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let body = json!({ "software_statement": other });
    assert_error(
        &register(&server, Some(&token), &body).await,
        400,
        "unapproved_software_statement",
    );
    // A server trusting no directory approves none.
    let plain = TestServer::start().await;
    let body = json!({ "software_statement": directory.statement(&plain, &key, json!({})) });
    assert_error(
        &register(&plain, None, &body).await,
        400,
        "unapproved_software_statement",
    );
    plain.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r166_expired_or_badly_signed_software_statements_are_invalid() {
    let directory = Directory::new();
    let server = directory.server().await;
    let key = new_key();
    let now = server.now().unix();
    let expired = directory.statement(&server, &key, json!({ "exp": now - 60, "iat": now - 360 }));
    assert_error(
        &register(&server, None, &json!({ "software_statement": expired })).await,
        400,
        "invalid_software_statement",
    );
    let no_exp = directory.statement(&server, &key, json!({ "exp": null }));
    assert_error(
        &register(&server, None, &json!({ "software_statement": no_exp })).await,
        400,
        "invalid_software_statement",
    );
    // A valid statement with its signature damaged.
    let good = directory.statement(&server, &key, json!({}));
    let (head, signature) = good.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let damaged = format!("{head}.{flipped}{}", &signature[1..]);
    assert_error(
        &register(&server, None, &json!({ "software_statement": damaged })).await,
        400,
        "invalid_software_statement",
    );
    assert_error(
        &register(&server, None, &json!({ "software_statement": "not-a-jwt" })).await,
        400,
        "invalid_software_statement",
    );
    server.stop().await;
}

#[tokio::test]
async fn r168_read_returns_the_registration_to_its_own_token_only() {
    let server = TestServer::start().await;
    let (client, registered) = register_client(&server).await;
    let (other, other_registered) = register_client(&server).await;
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let (status, headers, body) = send(&server, Method::GET, uri, Some(rat), None).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body, registered, "the same document, token included");
    // Missing, wrong, or another client's token: 401 alike.
    assert_error(
        &send(&server, Method::GET, uri, None, None).await,
        401,
        "invalid_token",
    );
    assert_error(
        &send(&server, Method::GET, uri, Some("nope"), None).await,
        401,
        "invalid_token",
    );
    let other_rat = other_registered["registration_access_token"]
        .as_str()
        .unwrap();
    assert_error(
        &send(&server, Method::GET, uri, Some(other_rat), None).await,
        401,
        "invalid_token",
    );
    // A disabled client cannot be managed.
    let state = &server.running().state;
    state
        .store
        .disable_client(&client.id, server.now())
        .await
        .unwrap();
    assert_error(
        &send(&server, Method::GET, uri, Some(rat), None).await,
        401,
        "invalid_token",
    );
    let other_uri = other_registered["registration_client_uri"]
        .as_str()
        .unwrap();
    assert_eq!(
        send(&server, Method::GET, other_uri, Some(other_rat), None)
            .await
            .0,
        200
    );
    assert_ne!(client.id, other.id);
    server.stop().await;
}

#[tokio::test]
async fn r169_an_update_replaces_the_metadata_and_rotates_the_registration_access_token() {
    let server = TestServer::start().await;
    let (client, registered) = register_client(&server).await;
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let old = registered["registration_access_token"].as_str().unwrap();
    // The client is in use (and so in this process's cache) before it changes.
    assert_eq!(client_credentials(&server, &client).await.0, 200);
    // The client's own view, changed: a new redirect URI, no client_name (cleared), a new key.
    let new_key = new_key();
    let mut update = registered.clone();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
        "client_name",
    ] {
        update.as_object_mut().unwrap().remove(member);
    }
    update["redirect_uris"] = json!(["https://client.example/new-cb"]);
    update["jwks"] = json!({ "keys": [new_key.public_jwk().unwrap()] });
    server.clock.advance(5);
    let (status, headers, body) = send(&server, Method::PUT, uri, Some(old), Some(&update)).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["client_id"], client.id.as_str());
    assert_eq!(
        body["redirect_uris"],
        json!(["https://client.example/new-cb"])
    );
    assert!(
        body.get("client_name").is_none(),
        "R169: omitted members are cleared"
    );
    assert_eq!(
        body["client_id_issued_at"],
        registered["client_id_issued_at"]
    );
    assert_eq!(body["registration_client_uri"], uri);
    let new = body["registration_access_token"].as_str().unwrap();
    assert_ne!(new, old, "rotated on update");

    // The old token is refused from now on; the new one reads the new metadata.
    assert_error(
        &send(&server, Method::GET, uri, Some(old), None).await,
        401,
        "invalid_token",
    );
    assert_error(
        &send(&server, Method::PUT, uri, Some(old), Some(&update)).await,
        401,
        "invalid_token",
    );
    let (status, _, read) = send(&server, Method::GET, uri, Some(new), None).await;
    assert_eq!(
        (status, &read["redirect_uris"]),
        (200, &body["redirect_uris"])
    );
    // The new key authenticates at once in this process; the old one no longer does.
    let rotated = JwtClient {
        id: client.id.clone(),
        key: new_key,
    };
    assert_eq!(client_credentials(&server, &rotated).await.0, 200);
    let (status, body) = client_credentials(&server, &client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    server.stop().await;
}

#[tokio::test]
async fn r169_updates_are_validated_again_and_held_to_the_registration_policy() {
    let server = TestServer::start().await;
    let key = new_key();
    let narrow = initial_access_token(
        &server,
        Policy {
            scope: Some("openid profile accounts".into()),
            ..Policy::default()
        },
        None,
    )
    .await;
    let (status, _, registered) = register(&server, Some(&narrow), &metadata(&key)).await;
    assert_eq!(status, 201, "{registered:?}");
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let base = {
        let mut m = metadata(&key);
        m["client_id"] = json!(client_id);
        m
    };
    let with = |changes: Value| {
        let mut m = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    let refusals = [
        (
            with(json!({ "redirect_uris": ["http://client.example/cb"] })),
            "invalid_redirect_uri",
        ),
        (
            with(json!({ "token_endpoint_auth_method": "client_secret_basic" })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "jwks_uri": "https://client.example/jwks" })),
            "invalid_client_metadata",
        ),
        // Wider than the initial access token allowed.
        (
            with(json!({ "scope": "openid accounts payments" })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "resource_server": true })),
            "invalid_client_metadata",
        ),
        // RFC 7592 §2.2: the client_id must be there and be this client's.
        (
            with(json!({ "client_id": "someone-else" })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "registration_access_token": rat })),
            "invalid_client_metadata",
        ),
        (
            with(json!({ "client_id_issued_at": 1 })),
            "invalid_client_metadata",
        ),
    ];
    for (body, code) in refusals {
        assert_error(
            &send(&server, Method::PUT, uri, Some(rat), Some(&body)).await,
            400,
            code,
        );
    }
    let mut no_id = base.clone();
    no_id.as_object_mut().unwrap().remove("client_id");
    assert_error(
        &send(&server, Method::PUT, uri, Some(rat), Some(&no_id)).await,
        400,
        "invalid_client_metadata",
    );
    // Refused updates changed nothing: the token still works and reads the original document.
    let (status, _, read) = send(&server, Method::GET, uri, Some(rat), None).await;
    assert_eq!((status, &read), (200, &registered));
    server.stop().await;
}

#[tokio::test]
async fn r170_delete_removes_the_client_its_tokens_and_its_registration() {
    let server = TestServer::start().await;
    let (client, registered) = register_client(&server).await;
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let (status, body) = client_credentials(&server, &client).await;
    assert_eq!(status, 200, "{body:?}");
    let access = TokenHash::of(body["access_token"].as_str().unwrap().as_bytes());
    assert_error(
        &send(&server, Method::DELETE, uri, Some("nope"), None).await,
        401,
        "invalid_token",
    );

    let (status, headers, body) = send(&server, Method::DELETE, uri, Some(rat), None).await;
    assert_eq!((status, &body), (204, &Value::Null));
    assert_eq!(headers["cache-control"], "no-store");
    // R170: the registration access token is gone with the client.
    assert_error(
        &send(&server, Method::GET, uri, Some(rat), None).await,
        401,
        "invalid_token",
    );
    assert_error(
        &send(&server, Method::DELETE, uri, Some(rat), None).await,
        401,
        "invalid_token",
    );
    let (status, body) = client_credentials(&server, &client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let store = &server.running().state.store;
    assert_eq!(
        store.access_token(&access).await.unwrap(),
        None,
        "its tokens are deleted"
    );
    assert_eq!(store.client(&client.id).await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn a_client_registered_over_register_completes_the_authorization_code_flow() {
    let server = TestServer::start().await;
    let (client, _) = register_client(&server).await;
    let f = Fixture::with_client(server, client).await;
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    let params = f.authorize(&mut browser, Some(&key)).await;
    assert_eq!(params["iss"], f.server.config.issuer);
    let body = f
        .exchange(&params["code"], flow::VERIFIER, Some(&key), &f.client)
        .await
        .assert_ok();
    assert_eq!(body["token_type"], "DPoP");
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());
    f.server.stop().await;
}

#[tokio::test]
async fn the_registration_endpoint_is_advertised_and_served_on_its_mtls_alias() {
    let server = TestServer::start().await;
    let url = format!("{}/.well-known/openid-configuration", server.public_url());
    let doc: Value = server
        .client(None)
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/register", server.public_url())
    );
    let alias = doc["mtls_endpoint_aliases"]["registration_endpoint"]
        .as_str()
        .unwrap();
    assert_eq!(alias, format!("{}/register", server.mtls_url()));
    let token = initial_access_token(&server, Policy::default(), None).await;
    let (status, _, body) = send(
        &server,
        Method::POST,
        alias,
        Some(&token),
        Some(&metadata(&new_key())),
    )
    .await;
    assert_eq!(status, 201, "{body:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_disabled_registration_endpoint_is_neither_served_nor_advertised() {
    let server = TestServer::builder()
        .configure(|c| c.registration.enabled = false)
        .start()
        .await;
    let url = format!("{}/.well-known/openid-configuration", server.public_url());
    let doc: Value = server
        .client(None)
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc.get("registration_endpoint").is_none());
    assert!(
        doc["mtls_endpoint_aliases"]
            .get("registration_endpoint")
            .is_none()
    );
    let token = initial_access_token(&server, Policy::default(), None).await;
    assert_eq!(
        register(&server, Some(&token), &metadata(&new_key()))
            .await
            .0,
        404
    );
    server.stop().await;
}
