//! Client certificates as DER: the subject DN and SAN matching of `tls_client_auth` (R100), the
//! self-signed match against a JWKS `x5c` (R101) and the `x5t#S256` thumbprint.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use portcullis_core::client::SubjectMatch;
use portcullis_core::client_auth;
use portcullis_core::dn::DistinguishedName;
use portcullis_core::jose;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let _ = DistinguishedName::of_certificate(data);
    let expected = [
        SubjectMatch::Dn(DistinguishedName::parse("CN=client.example,O=Example").expect("a DN")),
        SubjectMatch::SanDns("client.example".into()),
        SubjectMatch::SanUri("https://client.example".into()),
        SubjectMatch::SanIp("192.0.2.1".parse().expect("an address")),
        SubjectMatch::SanEmail("client@example.com".into()),
    ];
    for expected in &expected {
        let _ = client_auth::subject_matches(data, expected);
    }
    let keys = vec![
        json!({ "kty": "EC", "x5c": [STANDARD.encode(data)] })
            .as_object()
            .expect("an object")
            .clone(),
    ];
    assert!(client_auth::self_signed_certificate_matches(data, &keys));
    assert_eq!(jose::x5t_s256(data).len(), 43);
});
