//! Introspection and revocation input besides client authentication (which `client_assertion`
//! covers): the form, the token and its hash, `token_type_hint`, and the `Accept` header (the
//! first line) choosing a signed introspection response.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(0);
    let (accept, body) = data.split_at(split);
    let _ = portcullis_server::fuzzing::introspection_and_revocation(body, accept);
});
