//! DPoP proofs (RFC 9449 §4.3, R105–R113): one or more `DPoP` header values, with and without
//! an access token (`ath`) and a nonce key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::dpop::{self, Expect, NonceKey};
use portcullis_fuzz::{ISSUER, NOW, token};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let Some(proof) = token(rest, "dpop+jwt", true) else {
        return;
    };
    let nonce = NonceKey::new([7; 32]);
    let url = format!("{ISSUER}/token");
    let expect = Expect {
        method: "POST",
        url: &url,
        now: NOW,
        access_token: (mode & 1 == 1).then_some("an-access-token"),
        nonce: (mode & 2 == 2).then_some(&nonce),
    };
    let headers: Vec<&str> = if mode & 4 == 4 {
        proof.split('\n').collect()
    } else {
        vec![proof.as_str()]
    };
    if let Ok(valid) = dpop::validate(&headers, &expect) {
        assert_eq!(headers.len(), 1, "R105: one DPoP header");
        let _ = dpop::replay_key(&valid);
        let _ = dpop::replay_expires_at(&valid);
    }
});
