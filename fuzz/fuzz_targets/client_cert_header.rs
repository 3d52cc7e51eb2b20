//! Proxy mode's forwarded client certificate (RFC 9440 `Client-Cert` / `Client-Cert-Chain`, and
//! the legacy URL-encoded PEM header): the input is split on NUL into the three headers, each on
//! newlines into repeated values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let mut values = || -> Vec<&[u8]> {
        parts
            .next()
            .map(|p| p.split(|b| *b == b'\n').collect())
            .unwrap_or_default()
    };
    let (cert, chain, legacy) = (values(), values(), values());
    if let Ok(Some(thumbprint)) =
        portcullis_server::fuzzing::client_cert_headers(&cert, &chain, &legacy)
    {
        assert_eq!(thumbprint.len(), 43);
    }
});
