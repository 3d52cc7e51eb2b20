//! Dynamic registration (RFC 7591/7592): the request JSON, the update request, the metadata
//! derived from it and its validation into a client, and the policy check of an initial access
//! token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client::{Client, ClientPolicy};
use portcullis_core::registration::{self, Policy};

fuzz_target!(|data: &[u8]| {
    let policy = ClientPolicy {
        max_access_token_lifetime: 600,
    };
    if let Ok(request) = registration::registration_request(data) {
        assert!(!request.members.contains_key("client_id"), "R171");
        if let Ok(metadata) = registration::metadata(request.members, None)
            && let Ok(client) = Client::validate("c1", metadata, policy)
        {
            let _ = Policy::default().permits(&client);
        }
    }
    if let Ok(request) = registration::update_request(data, "c1")
        && let Ok(metadata) = registration::metadata(request.members, None)
    {
        let _ = Client::validate("c1", metadata, policy);
    }
    if let Ok(policy) = serde_json::from_slice::<Policy>(data) {
        let _ = policy.check();
        let _ = policy.scope();
    }
});
