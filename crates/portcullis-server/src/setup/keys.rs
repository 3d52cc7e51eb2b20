//! The server's signing keys: created, encrypted at rest, rotated, published (R18–R22).
//!
//! Private keys are stored only as AES-256-GCM ciphertexts under the key-encryption key (KEK),
//! with the `kid` as associated data. Every process keeps a decrypted copy of the key set in
//! memory and reloads it from the database every `keys.refresh_secs`, so a rotation made by one
//! process (or by `portcullis keys rotate`) reaches all of them. The lifecycle rules themselves
//! (which key signs, which are published) live in `portcullis_core::keys`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use anyhow::{Context as _, anyhow, bail};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::Timestamp;
use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_core::keys::{self, KeySchedule, KeyState};
use portcullis_store::{Store, StoreError, StoredKey};
use serde_json::{Map, Value};

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
    fn seal(&self, aad: &str, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
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
    fn open(&self, aad: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
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

/// A key as the ring holds it: schedule, public JWK and the decrypted private key.
struct LoadedKey {
    schedule: KeySchedule,
    public_jwk: Map<String, Value>,
    private: Arc<PrivateKey>,
}

/// The process's view of the signing keys.
pub struct KeyRing {
    store: Arc<dyn Store>,
    kek: Kek,
    keys: RwLock<Arc<Vec<LoadedKey>>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").finish_non_exhaustive()
    }
}

/// A new key's public JWK and sealed private JWK, ready for the store.
fn new_stored_key(
    kek: &Kek,
    alg: Alg,
    created_at: Timestamp,
    activates_at: Timestamp,
) -> anyhow::Result<StoredKey> {
    let kid = uuid::Uuid::now_v7().simple().to_string();
    let key = PrivateKey::generate(alg, &kid)?;
    let public_jwk = serde_json::to_string(&key.public_jwk()?)?;
    let private_jwk_enc = kek.seal(&kid, &key.to_json())?;
    Ok(StoredKey {
        schedule: KeySchedule {
            kid,
            alg,
            created_at,
            activates_at,
            retires_at: None,
            unpublish_at: None,
        },
        public_jwk,
        private_jwk_enc,
    })
}

impl KeyRing {
    /// Loads the key set, first creating a key for every configured algorithm that has none.
    pub async fn bootstrap(
        store: Arc<dyn Store>,
        kek: Kek,
        algs: &[Alg],
        now: Timestamp,
    ) -> anyhow::Result<Self> {
        let existing = store.signing_keys().await?;
        for &alg in algs {
            if existing.iter().any(|k| k.schedule.alg == alg) {
                continue;
            }
            let key = new_stored_key(&kek, alg, now, now)?;
            if store.insert_first_signing_key(&key).await? {
                tracing::info!(kid = %key.schedule.kid, %alg, "created signing key");
            }
        }
        let ring = Self {
            store,
            kek,
            keys: RwLock::new(Arc::new(Vec::new())),
        };
        ring.reload().await?;
        Ok(ring)
    }

    /// Reloads the key set from the database, decrypting only keys not seen before.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let stored = self.store.signing_keys().await?;
        let current = self.snapshot();
        let known: HashMap<&str, &Arc<PrivateKey>> = current
            .iter()
            .map(|k| (k.schedule.kid.as_str(), &k.private))
            .collect();
        let mut loaded = Vec::with_capacity(stored.len());
        for key in stored {
            let kid = key.schedule.kid.clone();
            let private = match known.get(kid.as_str()) {
                Some(private) => Arc::clone(private),
                None => {
                    let json = self
                        .kek
                        .open(&kid, &key.private_jwk_enc)
                        .with_context(|| format!("signing key {kid}"))?;
                    Arc::new(
                        PrivateKey::from_json(&json)
                            .with_context(|| format!("signing key {kid}"))?,
                    )
                }
            };
            let public_jwk = serde_json::from_str(&key.public_jwk)
                .map_err(|_| StoreError::Corrupt("public JWK is not JSON"))?;
            loaded.push(LoadedKey {
                schedule: key.schedule,
                public_jwk,
                private,
            });
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<LoadedKey>> {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Introduces a new key for `alg`: published now, signing after `publish_ahead_secs`, its
    /// predecessors published for `overlap_secs` more (R22). Returns the new key's schedule.
    pub async fn rotate(
        &self,
        alg: Alg,
        now: Timestamp,
        publish_ahead_secs: i64,
        overlap_secs: i64,
    ) -> anyhow::Result<KeySchedule> {
        let plan = keys::plan_rotation(now, publish_ahead_secs, overlap_secs);
        let key = new_stored_key(&self.kek, alg, now, plan.activates_at)?;
        self.store
            .rotate_signing_key(&key, plan.unpublish_at)
            .await?;
        self.reload().await?;
        tracing::info!(kid = %key.schedule.kid, %alg, activates_at = %plan.activates_at, "rotated signing key");
        Ok(key.schedule)
    }

    /// The key that signs with `alg` at `now`.
    pub fn signing_key(&self, alg: Alg, now: Timestamp) -> Option<Arc<PrivateKey>> {
        let keys = self.snapshot();
        let schedules: Vec<KeySchedule> = keys.iter().map(|k| k.schedule.clone()).collect();
        let chosen = keys::signing_key(&schedules, alg, now)?;
        keys.iter()
            .find(|k| k.schedule.kid == chosen.kid)
            .map(|k| Arc::clone(&k.private))
    }

    /// The JWK Set published at `now`: public keys only (R19), each with a `kid` (R18).
    pub fn jwks(&self, now: Timestamp) -> Value {
        let keys: Vec<Value> = self
            .snapshot()
            .iter()
            .filter(|k| k.schedule.state(now).is_published())
            .map(|k| Value::Object(k.public_jwk.clone()))
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Every key with its state at `now`, oldest first (for listings).
    pub fn list(&self, now: Timestamp) -> Vec<(KeySchedule, KeyState)> {
        self.snapshot()
            .iter()
            .map(|k| (k.schedule.clone(), k.schedule.state(now)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
