//! Secrets: how they are made, compared, sealed at rest and kept out of log lines.
//!
//! Fresh values (codes, tokens, session ids, CSRF tokens) come from the system CSPRNG through
//! `random_b64url`; secrets are compared with `same_secret` in constant time; the
//! key-encryption key [`Kek`] seals private signing keys (AES-256-GCM) and derives the secrets
//! every process must share; [`redact_url`] strips passwords from database URLs before they
//! reach a log line or an error message.

use std::fmt;

use anyhow::{anyhow, bail};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_core::OAuthError;

use crate::error::unavailable;

/// `bytes` random bytes from the system CSPRNG, base64url (RFC 6749 A.12 characters only).
pub(crate) fn random_b64url(bytes: usize) -> Result<String, OAuthError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf)
        .map_err(|_| unavailable("random generator failed", &"aws-lc"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Constant-time equality of two secrets.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// The key-encryption key: 32 bytes protecting private signing keys at rest, and the root from
/// which other shared secrets (DPoP nonce keys) are derived.
pub struct Kek {
    aead: RandomizedNonceKey,
    root: aws_lc_rs::hmac::Key,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// Parses a base64-encoded 32-byte key.
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| anyhow!("key-encryption key is not valid base64"))?;
        if bytes.len() != 32 {
            bail!("key-encryption key must be 32 bytes, got {}", bytes.len());
        }
        let aead = RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| anyhow!("key-encryption key rejected"))?;
        Ok(Self {
            aead,
            root: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &bytes),
        })
    }

    /// A 32-byte key for `purpose`, the same in every process that shares this KEK
    /// (HMAC-SHA256(KEK, purpose)); knowing it reveals nothing about the KEK.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let tag = aws_lc_rs::hmac::sign(&self.root, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// A fresh random key, base64-encoded, for a first start.
    pub fn generate_base64() -> anyhow::Result<String> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow!("no randomness"))?;
        Ok(STANDARD.encode(bytes))
    }

    /// Encrypts `plaintext` bound to `aad`: nonce ‖ ciphertext ‖ tag.
    pub(crate) fn seal(&self, aad: &str, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut data = plaintext.to_vec();
        let nonce = self
            .aead
            .seal_in_place_append_tag(Aad::from(aad.as_bytes()), &mut data)
            .map_err(|_| anyhow!("encryption failed"))?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Decrypts what [`Kek::seal`] produced with the same `aad`.
    pub(crate) fn open(&self, aad: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            bail!("ciphertext too short");
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("bad nonce"))?;
        let mut data = body.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data)
            .map_err(|_| anyhow!("cannot decrypt (wrong key-encryption key?)"))?;
        Ok(plain.to_vec())
    }
}

/// A database URL with any password removed (user-info or `password=` query parameter), for log
/// lines and error messages.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        let redacted = redact_url("postgres://u:hunter2@db:5432/p");
        assert!(!redacted.contains("hunter2"));
        assert!(redacted.contains("u:***@db"));
        let redacted = redact_url("postgres://db/p?user=u&password=hunter2&sslmode=require");
        assert!(!redacted.contains("hunter2") && redacted.contains("sslmode=require"));
    }

    #[test]
    fn kek_seals_and_opens_bound_to_the_kid() {
        let kek = Kek::from_base64(&Kek::generate_base64().unwrap()).unwrap();
        let sealed = kek.seal("kid-1", b"private jwk").unwrap();
        assert!(
            !sealed.windows(11).any(|w| w == b"private jwk"),
            "stored in clear"
        );
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private jwk");
        assert!(
            kek.open("kid-2", &sealed).is_err(),
            "ciphertext moved to another kid"
        );
        let other = Kek::from_base64(&Kek::generate_base64().unwrap()).unwrap();
        assert!(
            other.open("kid-1", &sealed).is_err(),
            "wrong key-encryption key"
        );
    }

    #[test]
    fn derived_keys_depend_on_the_kek_and_the_purpose() {
        let text = Kek::generate_base64().unwrap();
        let (a, b) = (
            Kek::from_base64(&text).unwrap(),
            Kek::from_base64(&text).unwrap(),
        );
        assert_eq!(
            a.derive("dpop-nonce"),
            b.derive("dpop-nonce"),
            "shared across processes"
        );
        assert_ne!(a.derive("dpop-nonce"), a.derive("other"));
        let c = Kek::from_base64(&Kek::generate_base64().unwrap()).unwrap();
        assert_ne!(a.derive("dpop-nonce"), c.derive("dpop-nonce"));
    }

    #[test]
    fn kek_must_be_32_bytes_of_base64() {
        assert!(Kek::from_base64("not base64!").is_err());
        assert!(Kek::from_base64(&STANDARD.encode([0u8; 16])).is_err());
        assert!(Kek::from_base64(&STANDARD.encode([0u8; 32])).is_ok());
    }
}
