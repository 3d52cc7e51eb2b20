//! The lifecycle of the server's signing keys (R18, R20–R22).
//!
//! A key is created **published but not yet signing** ([`KeyState::Pending`]) so that relying
//! parties can fetch it before the first signature they must verify appears. It signs from
//! `activates_at` until `retires_at`, the moment its successor starts signing. After that it stays
//! in the JWKS ([`KeyState::Retired`]) until `unpublish_at`, so that everything it signed can still
//! be verified for the configured overlap (OIDC §10.1.1, FAPI2-SP §6.8).

use crate::jose::Alg;
use crate::time::Timestamp;

/// The timestamps that decide a key's state.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeySchedule {
    /// Key identifier.
    pub kid: String,
    /// Signature algorithm of the key.
    pub alg: Alg,
    /// When the key was created (and published).
    pub created_at: Timestamp,
    /// When the key starts signing.
    pub activates_at: Timestamp,
    /// When the key stops signing (its successor's `activates_at`); `None` while it has none.
    pub retires_at: Option<Timestamp>,
    /// When the key leaves the JWKS; `None` while it has no successor.
    pub unpublish_at: Option<Timestamp>,
}

/// Where a key is in its life at a given instant.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum KeyState {
    /// Signs new tokens and is published.
    Active,
    /// Neither signs nor is published.
    Expired,
    /// Published ahead of its activation; does not sign yet.
    Pending,
    /// Published so that earlier signatures verify; no longer signs.
    Retired,
}

impl KeyState {
    /// Whether the key belongs in the JWKS.
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Expired)
    }

    /// Lower-case name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Pending => "pending",
            Self::Retired => "retired",
        }
    }
}

impl KeySchedule {
    /// The key's state at `now`.
    pub fn state(&self, now: Timestamp) -> KeyState {
        if self.unpublish_at.is_some_and(|t| now >= t) {
            return KeyState::Expired;
        }
        if self.retires_at.is_some_and(|t| now >= t) {
            return KeyState::Retired;
        }
        if now < self.activates_at {
            return KeyState::Pending;
        }
        KeyState::Active
    }
}

/// The key that signs with `alg` at `now`: the most recently activated active key.
pub fn signing_key(keys: &[KeySchedule], alg: Alg, now: Timestamp) -> Option<&KeySchedule> {
    keys.iter()
        .filter(|k| k.alg == alg && k.state(now) == KeyState::Active)
        .max_by_key(|k| k.activates_at)
}

/// What a rotation at `now` writes: the new key's activation, and the moment the keys it
/// replaces stop signing and leave the JWKS.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Rotation {
    /// When the new key starts signing (and its predecessors stop).
    pub activates_at: Timestamp,
    /// When the predecessors leave the JWKS.
    pub unpublish_at: Timestamp,
}

/// Plans a rotation: the new key is published at `now`, signs after `publish_ahead_secs`, and
/// the keys it replaces stay published for `overlap_secs` after that (R22).
pub fn plan_rotation(now: Timestamp, publish_ahead_secs: i64, overlap_secs: i64) -> Rotation {
    let activates_at = now.plus(publish_ahead_secs.max(0));
    Rotation {
        activates_at,
        unpublish_at: activates_at.plus(overlap_secs.max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, activates_at: i64) -> KeySchedule {
        KeySchedule {
            kid: kid.into(),
            alg: Alg::Es256,
            created_at: Timestamp::from_unix(activates_at),
            activates_at: Timestamp::from_unix(activates_at),
            retires_at: None,
            unpublish_at: None,
        }
    }

    #[test]
    fn r22_rotation_publishes_before_signing_and_keeps_the_old_key_for_the_overlap() {
        let t = |s| Timestamp::from_unix(s);
        let mut old = key("old", 0);
        let plan = plan_rotation(t(1000), 600, 3600);
        assert_eq!(
            plan,
            Rotation {
                activates_at: t(1600),
                unpublish_at: t(5200)
            }
        );
        let mut new = key("new", 1600);
        new.created_at = t(1000);
        old.retires_at = Some(plan.activates_at);
        old.unpublish_at = Some(plan.unpublish_at);
        let keys = vec![old.clone(), new.clone()];

        // Right after the rotation: both published, the old one still signs.
        assert_eq!(new.state(t(1000)), KeyState::Pending);
        assert!(new.state(t(1000)).is_published());
        assert_eq!(signing_key(&keys, Alg::Es256, t(1000)).unwrap().kid, "old");
        assert_eq!(signing_key(&keys, Alg::Es256, t(1599)).unwrap().kid, "old");
        // Activation: the new one signs, the old one is retired but published.
        assert_eq!(signing_key(&keys, Alg::Es256, t(1600)).unwrap().kid, "new");
        assert_eq!(old.state(t(1600)), KeyState::Retired);
        assert!(old.state(t(5199)).is_published());
        // After the overlap the old key leaves the JWKS.
        assert_eq!(old.state(t(5200)), KeyState::Expired);
        assert!(!old.state(t(5200)).is_published());
    }

    #[test]
    fn signing_key_is_per_alg() {
        let mut ps = key("ps", 0);
        ps.alg = Alg::Ps256;
        let keys = vec![key("es", 0), ps];
        let now = Timestamp::from_unix(10);
        assert_eq!(signing_key(&keys, Alg::Ps256, now).unwrap().kid, "ps");
        assert_eq!(signing_key(&keys, Alg::Es256, now).unwrap().kid, "es");
        assert!(signing_key(&keys, Alg::EdDsa, now).is_none());
    }

    #[test]
    fn negative_durations_are_clamped() {
        let plan = plan_rotation(Timestamp::from_unix(5), -10, -10);
        assert_eq!(plan.activates_at, Timestamp::from_unix(5));
        assert_eq!(plan.unpublish_at, Timestamp::from_unix(5));
    }
}
