//! Signed request objects (R131–R138): verification and the parameters taken out of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::request_object;
use portcullis_fuzz::{ISSUER, NOW, client, public_keys, token};

fuzz_target!(|data: &[u8]| {
    let Some(text) = token(data, "oauth-authz-req+jwt", false) else {
        return;
    };
    if let Ok(params) = request_object::verify(&text, client(), &public_keys(), ISSUER, NOW) {
        for claim in ["iss", "aud", "exp", "nbf", "iat", "jti"] {
            assert!(!params.contains_key(claim), "{claim} is not a parameter");
        }
    }
});
