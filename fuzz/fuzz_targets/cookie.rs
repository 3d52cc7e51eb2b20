//! Cookies of the pages and the admin UI: `Cookie` headers (split on newlines into repeated
//! headers; the first line names the cookie) and the Set-Cookie written back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let name = lines
        .next()
        .and_then(|n| std::str::from_utf8(n).ok())
        .filter(|n| !n.is_empty())
        .unwrap_or("__Host-portcullis");
    let values: Vec<&[u8]> = lines.collect();
    let _ = portcullis_server::fuzzing::cookies(&values, name);
});
