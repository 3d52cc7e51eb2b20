//! Client authentication by `private_key_jwt` (R89–R97): the assertion's client, read before
//! verification, then the full check against the client's keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client_auth;
use portcullis_fuzz::{CLIENT_ID, ISSUER, NOW, client, public_keys, token};

fuzz_target!(|data: &[u8]| {
    let Some(text) = token(data, "client-authentication+jwt", false) else {
        return;
    };
    let _ = client_auth::assertion_client_id(&text);
    if let Ok(assertion) =
        client_auth::verify_assertion(&text, client(), &public_keys(), ISSUER, NOW)
    {
        let claims = portcullis_core::jose::peek_claims(&text).expect("a verified assertion");
        assert_eq!(claims["sub"], CLIENT_ID);
        let _ = assertion;
    }
});
