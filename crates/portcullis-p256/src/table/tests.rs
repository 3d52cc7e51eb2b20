//! Every answer compared with aws-lc's own ES256 verification.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};

use super::*;

/// A fresh key: aws-lc's pair and the table verifier of its public key.
fn key() -> (EcdsaKeyPair, Verifier, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let verifier = Verifier::new(point[..].try_into().unwrap()).expect("a point of the curve");
    (pair, verifier, point)
}

/// The uncompressed point `04 ‖ x ‖ y`.
fn uncompressed(x: &[u8; 32], y: &[u8; 32]) -> [u8; 65] {
    let mut point = [4; 65];
    point[1..33].copy_from_slice(x);
    point[33..].copy_from_slice(y);
    point
}

fn aws_lc(point: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(message, signature)
        .is_ok()
}

fn be(limbs: &[u64; 4]) -> [u8; 32] {
    let mut out = [0; 32];
    for (chunk, limb) in out.rchunks_exact_mut(8).zip(limbs) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    out
}

#[test]
fn signatures_aws_lc_accepts_are_accepted_and_altered_ones_refused() {
    let rng = SystemRandom::new();
    for _ in 0..4 {
        let (pair, verifier, point) = key();
        for len in [0usize, 1, 31, 64, 65, 300] {
            let mut message = vec![0u8; len];
            rng.fill(&mut message).unwrap();
            let signature = pair.sign(&rng, &message).unwrap();
            let signature = signature.as_ref();
            assert!(aws_lc(&point, &message, signature));
            assert!(
                verifier.verify(&message, signature),
                "valid signature refused"
            );
            // Another message, and every byte of r and s altered in turn.
            let mut other = message.clone();
            other.push(1);
            assert!(!verifier.verify(&other, signature));
            for i in 0..64 {
                let mut altered = signature.to_vec();
                altered[i] ^= 1 << (i % 8);
                assert_eq!(
                    verifier.verify(&message, &altered),
                    aws_lc(&point, &message, &altered),
                    "byte {i}"
                );
                assert!(!verifier.verify(&message, &altered), "byte {i}");
            }
            // (r, n − s) is the other valid signature of the same message: both accept it.
            let s = limbs(&signature[32..]);
            let mut twin = signature.to_vec();
            twin[32..].copy_from_slice(&be(&sub(&N, &s).0));
            assert!(aws_lc(&point, &message, &twin));
            assert!(verifier.verify(&message, &twin));
        }
    }
}

#[test]
fn out_of_range_and_malformed_signatures_are_refused() {
    let rng = SystemRandom::new();
    let (pair, verifier, point) = key();
    let message = b"header.payload";
    let good = pair.sign(&rng, message).unwrap().as_ref().to_vec();
    let (r, s) = (good[..32].to_vec(), good[32..].to_vec());
    let n = be(&N).to_vec();
    let n_plus_r = be(&add(&N, &limbs(&good[..32])).0).to_vec();
    let zero = vec![0u8; 32];
    let ones = vec![0xffu8; 32];
    for (name, candidate) in [
        ("r = 0", [zero.clone(), s.clone()].concat()),
        ("s = 0", [r.clone(), zero.clone()].concat()),
        ("r = n", [n.clone(), s.clone()].concat()),
        ("s = n", [r.clone(), n.clone()].concat()),
        ("r + n (mod 2²⁵⁶)", [n_plus_r, s.clone()].concat()),
        ("r = 2²⁵⁶ − 1", [ones.clone(), s.clone()].concat()),
        ("s = 2²⁵⁶ − 1", [r.clone(), ones.clone()].concat()),
        ("r ‖ s swapped", [s.clone(), r.clone()].concat()),
        ("63 bytes", good[..63].to_vec()),
        ("65 bytes", [good.clone(), vec![0]].concat()),
        ("empty", Vec::new()),
    ] {
        assert!(!aws_lc(&point, message, &candidate), "{name}");
        assert!(!verifier.verify(message, &candidate), "{name}");
    }
    assert!(verifier.verify(message, &good));
}

#[test]
fn a_signature_of_another_key_is_refused() {
    let rng = SystemRandom::new();
    let (pair, _, _) = key();
    let (_, other, _) = key();
    let signature = pair.sign(&rng, b"m").unwrap();
    assert!(!other.verify(b"m", signature.as_ref()));
}

#[test]
fn only_points_of_the_curve_get_a_verifier() {
    assert!(Verifier::new(&uncompressed(&GX, &GY)).is_some());
    let mut compressed = uncompressed(&GX, &GY);
    compressed[0] = 2;
    assert!(
        Verifier::new(&compressed).is_none(),
        "not tagged uncompressed"
    );
    let mut y = GY;
    y[31] ^= 1;
    assert!(
        Verifier::new(&uncompressed(&GX, &y)).is_none(),
        "off the curve"
    );
    assert!(
        Verifier::new(&uncompressed(&[0; 32], &[0; 32])).is_none(),
        "(0, 0)"
    );
    // x ≥ p: the same residue as a valid x, but not a canonical coordinate.
    let x_plus_p = add(&limbs(&GX), &P);
    if !x_plus_p.1 {
        assert!(Verifier::new(&uncompressed(&be(&x_plus_p.0), &GY)).is_none());
    }
    assert!(
        Verifier::new(&uncompressed(&be(&P), &GY)).is_none(),
        "x = p"
    );
}

#[test]
fn the_tables_hold_the_multiples_they_claim() {
    // 1·G, 2·G and (n − 1)·G = −G through the comb, against the table's first entries.
    let g = to_affine_mont(&GX, &GY).unwrap();
    let table = G.as_ref().expect("G's table");
    let one = table.mul(&[1, 0, 0, 0]);
    assert!(x_is(&one, &limbs(&GX)));
    let two = table.mul(&[2, 0, 0, 0]);
    let doubled = ffi::double(&Point {
        x: g.x,
        y: g.y,
        z: ONE_MONT,
    });
    assert_eq!(
        ffi::mul_mont(&two.x, &ffi::sqr_mont(&doubled.z)),
        ffi::mul_mont(&doubled.x, &ffi::sqr_mont(&two.z))
    );
    let minus_one = table.mul(&sub(&N, &[1, 0, 0, 0]).0);
    assert!(x_is(&minus_one, &limbs(&GX)));
    // k·G + (n − k)·G is infinity.
    let k = [0x1234_5678_9abc_def0, 7, 0, 1 << 40];
    let sum = ffi::add(&table.mul(&k), &table.mul(&sub(&N, &k).0));
    assert!(is_zero(&sum.z));
}

#[test]
fn booth_recoding_is_aws_lcs() {
    // booth_recode_w7 of every 8-bit window (the 7 bits and the one below them), by its
    // definition: digit = ⌈window / 2⌉, less 128 when the window's top bit is set (the carry goes
    // to the next window), as |digit| << 1 | the top bit (so 0xff is a "negative" zero).
    for window in 0..256usize {
        let value = (window as i64 + 1) >> 1;
        let signed = if window >= 128 { value - 128 } else { value };
        let expected = (signed.unsigned_abs() as usize) << 1 | usize::from(window >= 128);
        assert_eq!(booth(window), expected, "window {window:#x}");
    }
}
