//! PKCE (RFC 7636) with the `S256` method only (R34, R76, R77).
//!
//! At the pushed authorization request the server keeps the `code_challenge`, checked here with
//! [`challenge_is_valid`]; at the token endpoint the `code_verifier` must hash to it
//! ([`verify`]). `plain` is never accepted, so a stored challenge is always an S256 output, and
//! since an authorization request cannot be stored without one (R34), no code is ever redeemed
//! without a verifier (R77).

use aws_lc_rs::constant_time;

use crate::jose;

/// RFC 7636 §4.1: a verifier has at least 43 characters.
pub const MIN_VERIFIER_CHARS: usize = 43;

/// RFC 7636 §4.1: a verifier has at most 128 characters.
pub const MAX_VERIFIER_CHARS: usize = 128;

/// Whether `challenge` has the form of an S256 challenge: base64url(SHA-256(verifier)) without
/// padding, i.e. exactly 43 base64url characters (R34; RFC 7636 §4.2).
pub fn challenge_is_valid(challenge: &str) -> bool {
    jose::is_sha256_b64url(challenge)
}

/// RFC 7636 §4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." /
/// "_" / "~".
fn verifier_is_well_formed(verifier: &str) -> bool {
    (MIN_VERIFIER_CHARS..=MAX_VERIFIER_CHARS).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Whether `verifier` proves possession for `challenge` (R76; RFC 7636 §4.6): the verifier is
/// 43 to 128 unreserved characters and `BASE64URL(SHA256(verifier))` equals the challenge,
/// compared in constant time.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    // R76: the verifier's syntax is checked before hashing (RFC 7636 §4.1).
    if !verifier_is_well_formed(verifier) {
        return false;
    }
    // R76: S256 only (RFC 7636 §4.6; FAPI2-SP §5.3.2.2-5).
    let computed = jose::sha256_b64url(verifier.as_bytes());
    constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn r76_rfc7636_appendix_b_vector_verifies() {
        assert!(challenge_is_valid(CHALLENGE));
        assert!(verify(VERIFIER, CHALLENGE));
    }

    #[test]
    fn r76_a_wrong_verifier_or_challenge_is_refused() {
        let other = format!("{}A", &VERIFIER[..VERIFIER.len() - 1]);
        assert!(!verify(&other, CHALLENGE));
        assert!(!verify(VERIFIER, &jose::sha256_b64url(b"something else")));
        assert!(!verify(VERIFIER, ""));
        // plain: the verifier itself as the challenge.
        assert!(!verify(VERIFIER, VERIFIER));
    }

    #[test]
    fn r76_verifier_length_is_43_to_128() {
        for len in [43, 128] {
            let verifier = "a".repeat(len);
            assert!(
                verify(&verifier, &jose::sha256_b64url(verifier.as_bytes())),
                "{len}"
            );
        }
        // Matching challenges, but the verifiers are too short or too long.
        for len in [42, 129] {
            let verifier = "a".repeat(len);
            assert!(
                !verify(&verifier, &jose::sha256_b64url(verifier.as_bytes())),
                "{len}"
            );
        }
    }

    #[test]
    fn r76_verifier_characters_are_unreserved() {
        for bad in ['+', '/', '=', ' ', '%', 'é'] {
            let verifier = format!("{}{bad}", "a".repeat(45));
            assert!(
                !verify(&verifier, &jose::sha256_b64url(verifier.as_bytes())),
                "{bad:?}"
            );
        }
        let verifier = format!("{}-._~", "a".repeat(45));
        assert!(verify(&verifier, &jose::sha256_b64url(verifier.as_bytes())));
    }

    #[test]
    fn r34_challenge_is_exactly_43_base64url_characters() {
        for bad in [
            "",
            &CHALLENGE[..42],
            &format!("{CHALLENGE}A"),
            &format!("{CHALLENGE}="),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM",
        ] {
            assert!(!challenge_is_valid(bad), "{bad:?}");
        }
    }
}
