//! Dynamic client registration as a developer meets it (RFC 7591, RFC 7592): initial access
//! tokens issued on the server's database, JSON requests to `/register` and the client
//! configuration endpoint, and a directory that signs software statements.

use std::path::PathBuf;

use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_core::registration::Policy;
use portcullis_server::clients::registration::{Lifetime, create_initial_access_token};
use portcullis_server::config::SoftwareStatementIssuer;
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::client::{apply_changes, unique};
use super::http::Answer;
use super::server::TestServer;

/// Issues an initial access token with `policy` for an hour, good for `uses` registrations
/// (unlimited if `None`).
pub(crate) async fn initial_access_token(
    server: &TestServer,
    policy: Policy,
    uses: Option<u32>,
) -> String {
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

/// A request to `url` with a JSON body and a bearer token, each if given.
pub(crate) async fn send_json(
    server: &TestServer,
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut request = server.client(None).request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    Answer::read(request.send().await.unwrap()).await
}

/// POSTs `metadata` to `/register`, with `bearer` (an initial access token) if given.
pub(crate) async fn register(
    server: &TestServer,
    bearer: Option<&str>,
    metadata: &Value,
) -> Answer {
    let url = format!("{}/register", server.public_url());
    send_json(server, Method::POST, &url, bearer, Some(metadata)).await
}

/// Registers a `private_key_jwt` client_credentials client for `accounts` with the initial access
/// token `token`, as a developer given one by an administrator would.
pub(crate) async fn register_with(server: &TestServer, token: &str) -> Answer {
    let key = PrivateKey::generate(Alg::Es256, &unique("kid")).unwrap();
    let metadata = json!({
        "client_name": "Self-registered",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["client_credentials"],
        "scope": "accounts",
    });
    register(server, Some(token), &metadata).await
}

/// A directory that signs software statements, trusted by servers built with [`Self::server`].
pub(crate) struct Directory {
    pub(crate) issuer: String,
    key: PrivateKey,
    _files: TempDir,
    jwks_file: PathBuf,
}

impl Directory {
    /// A directory with a new PS256 key, its public JWK Set in a file.
    pub(crate) fn new() -> Self {
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

    /// A server that trusts this directory's software statements.
    pub(crate) async fn server(&self) -> TestServer {
        let issuer = self.issuer.clone();
        let jwks_file = self.jwks_file.clone();
        TestServer::builder()
            .configure(move |c| {
                c.registration.software_statement_issuers =
                    vec![SoftwareStatementIssuer { issuer, jwks_file }];
            })
            .start()
            .await
    }

    /// A statement with the directory's claims for `key`, changed by `changes` (`null` removes).
    pub(crate) fn statement(
        &self,
        server: &TestServer,
        key: &PrivateKey,
        changes: Value,
    ) -> String {
        sign_statement(&self.key, &self.issuer, server, key, changes)
    }
}

/// A software statement by `issuer` for a Budget Planner client with `key`, signed by `signer`,
/// with claims changed by `changes` (`null` removes).
pub(crate) fn sign_statement(
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
        "redirect_uris": [super::flow::REDIRECT],
        "scope": "openid accounts",
    })
    .as_object()
    .unwrap()
    .clone();
    apply_changes(&mut claims, &changes);
    signer.sign("JWT", claims).unwrap()
}
