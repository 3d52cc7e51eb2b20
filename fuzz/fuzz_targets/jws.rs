//! Compact JWS/JWT parsing: the unverified peeks that choose a key, the verification itself, and
//! JWK thumbprints of whatever `jwk` header comes along.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::jose;
use portcullis_fuzz::{key, public_keys, token};

fuzz_target!(|data: &[u8]| {
    let Some(text) = token(data, "JWT", false) else {
        return;
    };
    let header = jose::peek_header(&text);
    let _ = jose::peek_claims(&text);
    if let Ok(header) = &header
        && let Some(serde_json::Value::Object(jwk)) = header.get("jwk")
    {
        let _ = jose::jwk_thumbprint(jwk);
        let _ = jose::is_private_jwk(jwk);
        let _ = jose::is_strong_public_jwk(jwk);
    }
    let keys = public_keys();
    if let Ok(verified) = jose::verify_jws(&text, &keys[0]) {
        // Only our key signs: what verifies was signed by it, and its header says so.
        assert_eq!(verified.alg, key().alg());
        assert!(header.is_ok());
    }
});
