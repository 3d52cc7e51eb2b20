//! Distinguished names as text (`tls_client_auth_subject_dn`, RFC 4514): parsing and comparing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::dn::DistinguishedName;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(dn) = DistinguishedName::parse(text) {
        // Comparison is an equivalence: a DN equals itself.
        assert_eq!(dn, dn.clone());
    }
});
