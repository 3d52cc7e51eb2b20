//! The `application/x-www-form-urlencoded` parser behind `Params` (every token, PAR,
//! introspection, revocation, sign-in and consent request): no parameter twice (R187), no empty
//! value kept.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = portcullis_server::fuzzing::form(data);
});
