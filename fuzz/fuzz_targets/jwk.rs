//! A single JWK: loading a private signing key from JSON (the key files of the data directory),
//! and the checks applied to any public JWK (private members, strength, thumbprint).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::jose::{self, PrivateKey};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PrivateKey::from_json(data) {
        let public = key.public_jwk();
        if let Ok(public) = public {
            assert!(
                !jose::is_private_jwk(&public),
                "R19: no private member published"
            );
        }
        let _ = key.to_json();
    }
    if let Ok(jwk) = serde_json::from_slice::<Map<String, Value>>(data) {
        let _ = jose::is_private_jwk(&jwk);
        let _ = jose::is_strong_public_jwk(&jwk);
        if let Some(thumbprint) = jose::jwk_thumbprint(&jwk) {
            assert!(jose::is_sha256_b64url(&thumbprint));
        }
    }
});
