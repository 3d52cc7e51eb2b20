//! Software statements of dynamic registration (R166): verification against a trusted
//! directory, then the metadata they override.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::registration::{self, Directory};
use portcullis_fuzz::{NOW, public_keys, token};

fuzz_target!(|data: &[u8]| {
    let Some(text) = token(data, "JWT", false) else {
        return;
    };
    let directories = [Directory {
        issuer: "https://directory.example".into(),
        keys: public_keys(),
    }];
    if let Ok(claims) = registration::verify_software_statement(&text, &directories, NOW) {
        assert_eq!(claims["iss"], "https://directory.example");
        let _ = registration::metadata(serde_json::Map::new(), Some(&claims));
    }
});
