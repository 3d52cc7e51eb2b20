//! A test client and test users: clients registered directly in the store, client assertions and
//! DPoP proofs they sign, and local users with a known password.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::client::ClientMetadata;
use portcullis_core::jose::{Alg, PrivateKey};
use serde_json::{Map, Value, json};

use super::pki::ClientCert;
use super::server::TestServer;

/// Whether `password` matches a stored password hash (the server's own check).
pub(crate) use portcullis_server::browser::users::verify_password;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A fresh value for `jti`s.
pub(crate) fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::SeqCst)
    )
}

/// Applies `changes` to `claims`: each member replaces its claim, and `null` removes it.
pub(crate) fn apply_changes(claims: &mut Map<String, Value>, changes: &Value) {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
}

/// The claims of a valid assertion for `client_id` at `server`, at the server's clock.
pub(crate) fn assertion_claims(server: &TestServer, client_id: &str) -> Map<String, Value> {
    let now = server.now().unix();
    json!({
        "iss": client_id, "sub": client_id, "aud": server.config.issuer,
        "jti": unique("jti"), "iat": now, "nbf": now, "exp": now + 60,
    })
    .as_object()
    .unwrap()
    .clone()
}

/// Registers `metadata` (with `client_id`) on `server`.
pub(crate) async fn register(server: &TestServer, client_id: &str, mut metadata: Value) {
    metadata["client_id"] = json!(client_id);
    let metadata: ClientMetadata = serde_json::from_value(metadata).unwrap();
    let state = &server.running().state;
    portcullis_server::clients::registry::register(
        state.store.as_ref(),
        &state.config,
        metadata,
        server.now(),
    )
    .await
    .unwrap();
}

/// A client that authenticates with `private_key_jwt`.
pub(crate) struct JwtClient {
    pub(crate) id: String,
    pub(crate) key: PrivateKey,
}

impl JwtClient {
    /// Registers a client_credentials client with an ES256 key and scopes `a b`, plus `extra`
    /// metadata.
    pub(crate) async fn register(server: &TestServer, extra: Value) -> Self {
        let id = unique("pkjwt");
        let key = PrivateKey::generate(Alg::Es256, &unique("kid")).unwrap();
        let mut metadata = json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [key.public_jwk().unwrap()] },
            "grant_types": ["client_credentials"],
            "scope": "a b",
        });
        for (k, v) in extra.as_object().unwrap() {
            metadata[k] = v.clone();
        }
        register(server, &id, metadata).await;
        Self { id, key }
    }

    /// A valid assertion.
    pub(crate) fn assertion(&self, server: &TestServer) -> String {
        self.key
            .sign("JWT", assertion_claims(server, &self.id))
            .unwrap()
    }

    /// An assertion with claims changed (`null` removes a claim).
    pub(crate) fn assertion_with(&self, server: &TestServer, changes: Value) -> String {
        let mut claims = assertion_claims(server, &self.id);
        apply_changes(&mut claims, &changes);
        self.key.sign("JWT", claims).unwrap()
    }

    /// Form parameters authenticating with `assertion`.
    pub(crate) fn auth(&self, assertion: &str) -> Vec<(String, String)> {
        vec![
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), assertion.to_owned()),
        ]
    }
}

/// A DPoP key.
pub(crate) struct DpopKey(pub(crate) PrivateKey);

impl DpopKey {
    pub(crate) fn new() -> Self {
        Self(PrivateKey::generate(Alg::Es256, "dpop").unwrap())
    }

    /// RFC 7638 thumbprint of the public key.
    pub(crate) fn jkt(&self) -> String {
        portcullis_core::jose::jwk_thumbprint(&self.0.public_jwk().unwrap()).unwrap()
    }

    /// A proof for `method` `url`, with claims changed by `changes` (`null` removes).
    pub(crate) fn proof_with(
        &self,
        server: &TestServer,
        method: &str,
        url: &str,
        changes: Value,
    ) -> String {
        let mut claims =
            json!({ "jti": unique("dpop"), "htm": method, "htu": url, "iat": server.now().unix() })
                .as_object()
                .unwrap()
                .clone();
        apply_changes(&mut claims, &changes);
        self.0.sign_with_jwk("dpop+jwt", claims).unwrap()
    }

    pub(crate) fn proof(&self, server: &TestServer, method: &str, url: &str) -> String {
        self.proof_with(server, method, url, json!({}))
    }
}

/// `jwks` metadata registering a self-signed certificate (`x5c`).
pub(crate) fn x5c_jwks(cert: &ClientCert) -> Value {
    let key = PrivateKey::generate(Alg::Es256, &unique("x5c")).unwrap();
    let mut jwk = key.public_jwk().unwrap();
    jwk.insert("x5c".into(), json!([STANDARD.encode(&cert.der)]));
    json!({ "keys": [jwk] })
}

/// Form pairs from string slices.
pub(crate) fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The password of users made by [`create_user`].
pub(crate) const PASSWORD: &str = "correct horse battery";

/// Creates the local user `username` with [`PASSWORD`], an administrator if `admin`.
pub(crate) async fn create_user(server: &TestServer, username: &str, admin: bool) {
    let state = &server.running().state;
    portcullis_server::browser::users::add(
        state.store.as_ref(),
        username,
        PASSWORD,
        admin,
        server.now(),
    )
    .await
    .unwrap();
}

/// Creates a local user with [`PASSWORD`] and returns its username.
pub(crate) async fn add_user(server: &TestServer) -> String {
    let username = unique("user");
    create_user(server, &username, false).await;
    username
}
