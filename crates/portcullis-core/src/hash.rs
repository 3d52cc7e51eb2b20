//! How secrets are stored: as SHA-256 digests, never as the values themselves.
//!
//! Codes, access and refresh tokens, `request_uri`s, registration and initial access tokens and
//! replay-cache keys (`jti`) are looked up by [`TokenHash`]. The raw value only ever exists in the
//! response that carries it to its owner.

use aws_lc_rs::digest;

/// SHA-256 digest of a secret value, the only form in which secrets reach the store.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a secret value.
    pub fn of(value: &[u8]) -> Self {
        let d = digest::digest(&digest::SHA256, value);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    /// Rebuilds a hash read back from storage; `None` unless it is exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let h = TokenHash::of(b"abc");
        assert_eq!(h.as_bytes()[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(TokenHash::from_bytes(h.as_bytes()), Some(h));
        assert_eq!(TokenHash::from_bytes(&[0u8; 31]), None);
    }
}
