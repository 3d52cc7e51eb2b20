//! JWK Sets: inline in client metadata (validated with the client) and fetched from a
//! `jwks_uri` (body and Cache-Control), keeping only usable public signing keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client::{Client, ClientMetadata, ClientPolicy};
use portcullis_core::jose;

fuzz_target!(|data: &[u8]| {
    // The first line is a Cache-Control value, the rest the document.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let cache_control = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    if let Some(keys) = portcullis_server::fuzzing::fetched_jwks(body, &cache_control) {
        for key in &keys {
            assert!(!jose::is_private_jwk(key));
        }
    }
    if let Ok(jwks) = serde_json::from_slice::<serde_json::Value>(body) {
        let metadata = ClientMetadata {
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            jwks: Some(jwks),
            grant_types: Some(vec!["client_credentials".into()]),
            scope: Some("accounts".into()),
            ..ClientMetadata::default()
        };
        let policy = ClientPolicy {
            max_access_token_lifetime: 600,
        };
        let _ = Client::validate("c1", metadata, policy);
    }
});
