//! ES256 verification: aws-lc's against the per-key table's, and the cost of a table.
//! `cargo bench -p portcullis-p256`; prints medians of 15 rounds (figures in docs/BENCHMARKS.md).

use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    ParsedPublicKey,
};
use portcullis_p256::Verifier;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median µs per call of `f` over 15 rounds of `n` calls.
fn time(n: u32, mut f: impl FnMut() -> bool) -> f64 {
    median(
        (0..15)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..n {
                    assert!(f(), "a valid signature refused");
                }
                start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
            })
            .collect(),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())?;
    let point = pair.public_key().as_ref().to_vec();
    let message = vec![b'a'; 600];
    let signature = pair.sign(&rng, &message)?;
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)?;
    let point: &[u8; 65] = point[..].try_into()?;
    let verifier = Verifier::new(point).ok_or("not a point of the curve")?;
    let build = time(20, || Verifier::new(point).is_some());
    let aws = time(2000, || {
        parsed.verify_sig(&message, signature.as_ref()).is_ok()
    });
    let table = time(2000, || verifier.verify(&message, signature.as_ref()));
    println!("ES256 verify, aws-lc (parsed key): {aws:.1} µs");
    println!(
        "ES256 verify, per-key table:       {table:.1} µs ({:.2}× faster)",
        aws / table
    );
    println!(
        "building one table:                {build:.0} µs ({} KiB)",
        portcullis_p256::TABLE_BYTES / 1024
    );
    Ok(())
}
