//! ES256 verification with a per-key table (`portcullis_p256::Verifier`, decision 0020) against
//! aws-lc's own: every answer must be the same. First byte even: the rest is a 64-byte `r ‖ s`
//! and a message, as sent. Odd: the rest is a message, signed for real, and the signature then
//! altered by XOR with the message's first 64 bytes (all zero: the valid signature itself).
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use libfuzzer_sys::fuzz_target;
use portcullis_p256::Verifier;

struct Fixture {
    pair: EcdsaKeyPair,
    point: Vec<u8>,
    verifier: Verifier,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let verifier = Verifier::new(point[..].try_into().unwrap()).expect("a point of the curve");
    Fixture { pair, point, verifier }
});

fn same_answer(message: &[u8], signature: &[u8]) -> bool {
    let f = &*FIXTURE;
    let reference = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &f.point)
        .verify(message, signature)
        .is_ok();
    assert_eq!(f.verifier.verify(message, signature), reference, "{signature:02x?}");
    reference
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Some((signature, message)) = rest.split_at_checked(64) {
            same_answer(message, signature);
        }
        same_answer(rest, rest); // any length, as a signature of itself
    } else {
        let signature = FIXTURE.pair.sign(&SystemRandom::new(), rest).unwrap();
        let mut altered = signature.as_ref().to_vec();
        for (byte, mask) in altered.iter_mut().zip(rest) {
            *byte ^= mask;
        }
        assert!(same_answer(rest, signature.as_ref()), "a valid signature refused");
        let valid = same_answer(rest, &altered);
        assert!(valid || altered != signature.as_ref(), "a valid signature refused");
    }
});
