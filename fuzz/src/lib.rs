//! Fixtures shared by the fuzz targets: a fixed signing key (so a crash reproduces), a client
//! registered with it, the server's issuer and clock, and the turning of fuzz input into a token
//! (as it is, or its claims signed with the fixed key so the checks after the signature are
//! reached too).

use std::sync::OnceLock;

use portcullis_core::Timestamp;
use portcullis_core::client::{Client, ClientMetadata, ClientPolicy};
use portcullis_core::jose::PrivateKey;
use serde_json::{Map, Value, json};

/// The issuer the fuzzed server is.
pub const ISSUER: &str = "https://as.example";
/// The fuzzed server's clock.
pub const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);
/// The fixed client's identifier and redirect URI.
pub const CLIENT_ID: &str = "c1";
pub const REDIRECT: &str = "https://c.example/cb";

/// A fixed P-256 key (made for the fuzz targets; it signs nothing else), as ES256 with kid `k1`.
const KEY: &str = r#"{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","use":"sig",
 "x":"YldKvCpq2x2LfpGUVxeFidgK9FZvP_egM9JxI8yDx6k",
 "y":"q1u27ac6fNWe4pY3gl5klMyjzDOVu6YuWUYpxPxHI-E",
 "d":"FyYd_A2ESWPy2KuijXkp-LzrPKHD1g9amQ8dJaAKafQ"}"#;

/// The fixed signing key.
pub fn key() -> &'static PrivateKey {
    static KEY_CELL: OnceLock<PrivateKey> = OnceLock::new();
    KEY_CELL.get_or_init(|| PrivateKey::from_json(KEY.as_bytes()).expect("the fixed key"))
}

/// The fixed key's public JWK, as a client's or a directory's key set.
pub fn public_keys() -> Vec<Map<String, Value>> {
    vec![key().public_jwk().expect("a public JWK")]
}

/// A code-flow client using [`key`] for its assertions and request objects.
pub fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let metadata = ClientMetadata {
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            jwks: Some(json!({ "keys": public_keys() })),
            grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
            redirect_uris: Some(vec![REDIRECT.into()]),
            scope: Some("openid accounts".into()),
            ..ClientMetadata::default()
        };
        let policy = ClientPolicy {
            max_access_token_lifetime: 600,
        };
        Client::validate(CLIENT_ID, metadata, policy).expect("the fixed client")
    })
}

/// A token from fuzz input. First byte even: the rest as it is (any text a client can send).
/// Odd: the rest is a JSON object of claims, signed with [`key`] as a JWS of type `typ`
/// (or with the key in a `jwk` header, as a DPoP proof, if `embed_jwk`); `None` if josekit
/// will not sign them.
pub fn token(data: &[u8], typ: &str, embed_jwk: bool) -> Option<String> {
    let (first, rest) = data.split_first()?;
    if first % 2 == 0 {
        return std::str::from_utf8(rest).ok().map(str::to_owned);
    }
    let claims: Map<String, Value> = serde_json::from_slice(rest).ok()?;
    let signed = if embed_jwk {
        key().sign_with_jwk(typ, claims)
    } else {
        key().sign(typ, claims)
    };
    // josekit refuses to sign registered claims of the wrong type (`"exp": "soon"`); such
    // payloads reach the verifiers through the unsigned form instead.
    signed.ok()
}
