//! Stateless DPoP nonces (R112, RFC 9449 §8).
//!
//! A nonce names a time window and carries an HMAC of it, so every server process holding the
//! same key issues and accepts the same nonces without shared memory. Nonces need at least 128
//! bits that an attacker cannot predict (R184): the MAC has 256.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::time::Timestamp;

/// Length of a nonce window in seconds; a nonce is accepted in its window and the next one.
pub const NONCE_WINDOW_SECS: i64 = 300;

/// Domain separation for the nonce MAC.
const NONCE_LABEL: &[u8] = b"dpop-nonce";

/// A nonce decodes to the window number (8 bytes, big-endian) and its HMAC-SHA256 (32 bytes).
const NONCE_BYTES: usize = 8 + 32;

/// Length of a nonce in base64url characters, without padding.
const NONCE_CHARS: usize = (NONCE_BYTES * 8).div_ceil(6);

/// The key of stateless DPoP nonces (R112): HMAC-SHA256, derived by the server from its
/// key-encryption key so that every process issues and accepts the same nonces.
///
/// A nonce is `base64url(window ‖ HMAC-SHA256(key, "dpop-nonce" ‖ window))`, where `window` is
/// `now / NONCE_WINDOW_SECS` as a big-endian `u64`. It is accepted in its own window and the
/// next, so it lives between [`NONCE_WINDOW_SECS`] and twice that. It is not single-use: replay
/// is stopped by the `jti` record ([`replay_key`](super::replay_key)).
pub struct NonceKey([u8; 32]);

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// Wraps 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The nonce of the window holding `now`, for a `DPoP-Nonce` header. Base64url characters
    /// are all NQCHAR, as RFC 9449 §8.1 requires.
    pub fn issue(&self, now: Timestamp) -> String {
        let window = window_of(now);
        let tag = hmac::sign(&self.hmac_key(), &mac_input(window));
        let mut bytes = Vec::with_capacity(NONCE_BYTES);
        bytes.extend_from_slice(&window.to_be_bytes());
        bytes.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was issued with this key in the window of `now` or the one before. The MAC
    /// is compared in constant time; anything malformed is refused.
    pub fn verify(&self, nonce: &str, now: Timestamp) -> bool {
        // Checked first to bound the work done on hostile input.
        if nonce.len() != NONCE_CHARS {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((window, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let window = u64::from_be_bytes(*window);
        let current = window_of(now);
        if window != current && Some(window) != current.checked_sub(1) {
            return false;
        }
        hmac::verify(&self.hmac_key(), &mac_input(window), tag).is_ok()
    }

    fn hmac_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.0)
    }
}

/// The nonce window holding `now`; instants before the epoch fall in window 0.
fn window_of(now: Timestamp) -> u64 {
    u64::try_from(now.unix().div_euclid(NONCE_WINDOW_SECS)).unwrap_or(0)
}

/// What the nonce MAC covers: the label, then the window.
fn mac_input(window: u64) -> Vec<u8> {
    let mut input = Vec::with_capacity(NONCE_LABEL.len() + 8);
    input.extend_from_slice(NONCE_LABEL);
    input.extend_from_slice(&window.to_be_bytes());
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_700_000_000);

    fn nonce_key() -> NonceKey {
        NonceKey::new([7u8; 32])
    }

    #[test]
    fn r112_nonce_round_trip() {
        let nonces = nonce_key();
        let nonce = nonces.issue(NOW);
        assert!(nonces.verify(&nonce, NOW));
        assert_eq!(nonce.len(), NONCE_CHARS);
        // 1*NQCHAR (RFC 9449 §8.1): base64url has neither quote nor backslash.
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let start = Timestamp::from_unix(NOW.unix() - NOW.unix() % NONCE_WINDOW_SECS);
        assert_eq!(
            nonces.issue(start),
            nonces.issue(start.plus(NONCE_WINDOW_SECS - 1))
        );
        assert_ne!(
            nonces.issue(start),
            nonces.issue(start.plus(NONCE_WINDOW_SECS))
        );
    }

    #[test]
    fn r112_nonce_of_the_previous_window_is_accepted() {
        let nonces = nonce_key();
        assert!(nonces.verify(&nonces.issue(NOW.plus(-NONCE_WINDOW_SECS)), NOW));
    }

    #[test]
    fn r112_nonce_two_windows_back_or_ahead_is_refused() {
        let nonces = nonce_key();
        assert!(!nonces.verify(&nonces.issue(NOW.plus(-2 * NONCE_WINDOW_SECS)), NOW));
        assert!(!nonces.verify(&nonces.issue(NOW.plus(NONCE_WINDOW_SECS)), NOW));
    }

    #[test]
    fn r112_tampered_nonce_is_refused() {
        let nonces = nonce_key();
        let nonce = nonces.issue(NOW);
        for at in [2, 20, NONCE_CHARS - 2] {
            let mut chars: Vec<char> = nonce.chars().collect();
            chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
            let tampered: String = chars.into_iter().collect();
            assert!(!nonces.verify(&tampered, NOW), "{at}");
        }
        // The current window with the MAC of the previous one.
        let current = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        let previous = URL_SAFE_NO_PAD
            .decode(nonces.issue(NOW.plus(-NONCE_WINDOW_SECS)))
            .unwrap();
        let spliced = URL_SAFE_NO_PAD.encode([&current[..8], &previous[8..]].concat());
        assert!(!nonces.verify(&spliced, NOW));
    }

    #[test]
    fn r112_nonce_of_another_key_is_refused() {
        let nonce = NonceKey::new([8u8; 32]).issue(NOW);
        assert!(!nonce_key().verify(&nonce, NOW));
    }

    #[test]
    fn r112_malformed_nonce_is_refused() {
        let nonces = nonce_key();
        let nonce = nonces.issue(NOW);
        let mut trailing_bits: Vec<char> = nonce.chars().collect();
        // The last character carries 2 data bits and 4 zero bits (A, Q, g or w): the next letter
        // only sets a bit that must be zero.
        trailing_bits[NONCE_CHARS - 1] = char::from(trailing_bits[NONCE_CHARS - 1] as u8 + 1);
        let bad = [
            String::new(),
            "abc".into(),
            format!("{nonce}A"),
            format!("{nonce}="),
            format!("+{}", &nonce[1..]),
            "!".repeat(NONCE_CHARS),
            trailing_bits.into_iter().collect(),
        ];
        for bad in bad {
            assert!(!nonces.verify(&bad, NOW), "{bad}");
        }
    }
}
