//! The server's signing keys: created, encrypted at rest, rotated, published (R18–R22).
//!
//! Private keys are stored only as AES-256-GCM ciphertexts under the key-encryption key (KEK),
//! with the `kid` as associated data. Every process keeps a decrypted copy of the key set in
//! memory and reloads it from the database every `keys.refresh_secs`, so a rotation made by one
//! process (or by `portcullis keys rotate`) reaches all of them. The lifecycle rules themselves
//! (which key signs, which are published) live in `portcullis_core::keys`.
//!
//! The current key of `tokens.signing_alg` signs JWT access tokens and signed introspection
//! responses. ID tokens, JARM responses and signed userinfo responses are signed by the current
//! key of the algorithm the client registered (PS256 for ID tokens and for JARM when none is).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use portcullis_core::Timestamp;
use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_core::keys::{self, KeySchedule, KeyState};
use portcullis_store::{Store, StoreError, StoredKey};

use crate::secret::Kek;
use serde_json::{Map, Value};

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
