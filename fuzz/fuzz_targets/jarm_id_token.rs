//! JARM responses and ID tokens, round trip: whatever parameters and claims go in, the server's
//! signed JWT verifies with its published key and carries them unchanged (iss, aud, exp, iat
//! never replaced).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::jose::{self, Alg};
use portcullis_core::{id_token, jarm};
use portcullis_fuzz::{CLIENT_ID, ISSUER, NOW, key, public_keys};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = public_keys();
    // JARM: the input as `name=value` lines.
    let params: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let claims = jarm::claims(ISSUER, CLIENT_ID, NOW, &params);
    let jwt = key()
        .sign("oauth-authz-resp+jwt", claims.clone())
        .expect("signs");
    let verified = jose::verify_jws(&jwt, &keys[0]).expect("the server's own JARM verifies");
    assert_eq!(verified.claims, claims);
    assert_eq!(verified.claims["iss"], ISSUER);
    assert_eq!(verified.claims["aud"], CLIENT_ID);
    // ID token: the input's first line as nonce, the rest as extra claims if a JSON object.
    let (nonce, extra) = text.split_once('\n').unwrap_or((text, ""));
    let extra: Map<String, Value> = serde_json::from_str(extra).unwrap_or_default();
    let t = id_token::IdToken {
        issuer: ISSUER,
        subject: "user-1",
        client_id: CLIENT_ID,
        nonce: (!nonce.is_empty()).then_some(nonce),
        auth_time: NOW,
        acr: None,
        access_token: Some(nonce),
        alg: Alg::Es256,
        now: NOW,
        lifetime_secs: 300,
        extra,
    };
    let claims = id_token::claims(&t);
    let jwt = key().sign("JWT", claims.clone()).expect("signs");
    let verified = jose::verify_jws(&jwt, &keys[0]).expect("the server's own ID token verifies");
    assert_eq!(verified.claims, claims);
    assert_eq!(verified.claims["sub"], "user-1");
    assert_eq!(verified.claims["iss"], ISSUER);
    let _ = id_token::at_hash(nonce, Alg::Es256);
});
