//! Dynamic client registration outside the endpoints: the trusted software statement
//! directories from configuration, and initial access tokens as an administrator issues them
//! (`portcullis initial-access-token create`, later the admin UI).

use std::collections::BTreeSet;

use anyhow::{Context as _, bail};
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::jose::{self, Alg};
use portcullis_core::registration::{Directory, Policy};
use portcullis_store::Store;
use portcullis_store::registration::InitialAccessTokenRecord;
use serde_json::Value;

use crate::config::Registration;
use crate::tokens::random_b64url;

/// Bytes of randomness in initial and registration access tokens (R171: at least 128 bits).
pub(crate) const TOKEN_BYTES: usize = 32;

/// Reads the configured directories' JWK Sets: readable JSON, at least one key, public keys of
/// an allowed type and strength only, unique issuers.
pub fn directories(config: &Registration) -> anyhow::Result<Vec<Directory>> {
    let mut issuers = BTreeSet::new();
    let mut out = Vec::with_capacity(config.software_statement_issuers.len());
    for entry in &config.software_statement_issuers {
        if entry.issuer.is_empty() {
            bail!("registration.software_statement_issuers: an issuer is empty");
        }
        if !issuers.insert(entry.issuer.as_str()) {
            bail!(
                "registration.software_statement_issuers: issuer {:?} is listed twice",
                entry.issuer
            );
        }
        let file = entry.jwks_file.display();
        let text = std::fs::read_to_string(&entry.jwks_file)
            .with_context(|| format!("software statement keys {file} cannot be read"))?;
        let jwks: Value = serde_json::from_str(&text)
            .with_context(|| format!("software statement keys {file} are not JSON"))?;
        let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
            bail!("software statement keys {file}: not a JWK Set (no keys array)");
        };
        if keys.is_empty() {
            bail!("software statement keys {file}: the JWK Set holds no key");
        }
        let mut public = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(key) = key.as_object() else {
                bail!("software statement keys {file}: a key is not a JSON object");
            };
            if jose::is_private_jwk(key) {
                bail!(
                    "software statement keys {file}: holds a private key; publish public keys only"
                );
            }
            if !jose::is_strong_public_jwk(key) {
                bail!(
                    "software statement keys {file}: keys must be RSA of 2048 bits or more, EC P-256 or Ed25519"
                );
            }
            if let Some(alg) = key.get("alg").and_then(Value::as_str)
                && Alg::parse(alg).is_none()
            {
                bail!(
                    "software statement keys {file}: key alg {alg:?} is not PS256, ES256 or EdDSA"
                );
            }
            public.push(key.clone());
        }
        out.push(Directory {
            issuer: entry.issuer.clone(),
            keys: public,
        });
    }
    Ok(out)
}

/// How long a new initial access token lives and how often it may be used.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    /// Seconds until it expires.
    pub expires_in: i64,
    /// Registrations it allows; `None`: unlimited until it expires.
    pub uses: Option<u32>,
}

/// Issues an initial access token with `policy` and stores its hash. Returns the stored record
/// and the token, which exists nowhere else: hand it to the client's developer.
pub async fn create_initial_access_token(
    store: &dyn Store,
    policy: &Policy,
    lifetime: Lifetime,
    now: Timestamp,
) -> anyhow::Result<(InitialAccessTokenRecord, String)> {
    policy.check().map_err(|e| anyhow::anyhow!("{e}"))?;
    if lifetime.expires_in < 1 {
        bail!("the token must live at least one second");
    }
    if lifetime.uses == Some(0) {
        bail!("the token must allow at least one use");
    }
    let token = random_b64url(TOKEN_BYTES).map_err(|e| anyhow::anyhow!("{e}"))?;
    let record = InitialAccessTokenRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        token_hash: TokenHash::of(token.as_bytes()),
        policy: serde_json::to_string(policy)?,
        created_at: now,
        expires_at: now.plus(lifetime.expires_in),
        uses_left: lifetime.uses,
        revoked_at: None,
    };
    store.insert_initial_access_token(&record).await?;
    Ok((record, token))
}

/// Whether an initial access token can still register a client at `now` (R162). Spending a
/// use is the store's single statement; this only lets a request fail before it is validated.
pub(crate) fn is_live(token: &InitialAccessTokenRecord, now: Timestamp) -> bool {
    token.revoked_at.is_none() && now < token.expires_at && token.uses_left != Some(0)
}
