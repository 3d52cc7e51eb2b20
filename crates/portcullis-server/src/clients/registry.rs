//! The client registry as the server uses it: registrations read from the store and kept in
//! memory for `clients.cache_secs`, with their keys (by value, or fetched from `jwks_uri`).
//!
//! The cache is bounded: an identifier of impossible shape is never looked up nor cached; known
//! clients are held within `limits.client_cache_bytes`; identifiers found unknown or disabled are
//! remembered apart, at most `limits.unknown_client_entries` of them, so that a flood of unknown
//! identifiers never evicts a known client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use portcullis_core::Timestamp;
use portcullis_core::client::{Client, ClientMetadata, ClientPolicy, KeySource};
use portcullis_core::scope::Scope;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::{ClientRecord, Store, StoreError};
use tokio::time::Instant;

use crate::clients::jwks::{JwksFetcher, Keys};
use crate::config::Config;
use crate::monitoring::Metrics;
use crate::transport::tls::TrustAnchors;

/// A known, enabled client in the cache.
struct Cached {
    client: Arc<Client>,
    at: Instant,
    /// What the entry is counted as against `limits.client_cache_bytes`.
    bytes: usize,
}

/// Bytes an entry is counted as beyond its identifier and stored metadata: the parsed client,
/// its keys and the map's own overhead, roughly.
const ENTRY_OVERHEAD_BYTES: usize = 2048;

/// The two caches: known clients, bounded in bytes, and identifiers found unknown or disabled,
/// bounded in entries and kept apart so that a flood of unknown identifiers never evicts a
/// known client.
#[derive(Default)]
struct Cache {
    known: HashMap<String, Cached>,
    known_bytes: usize,
    unknown: HashMap<String, Instant>,
}

/// Registered clients with a short in-process cache.
pub struct Clients {
    pub(super) store: Arc<dyn Store>,
    /// The issuer: the audience of client assertions.
    pub(super) issuer: String,
    /// CAs trusted for `tls_client_auth`.
    pub(super) trust_anchors: TrustAnchors,
    policy: ClientPolicy,
    ttl: Duration,
    max_bytes: usize,
    max_unknown: usize,
    cache: Mutex<Cache>,
    fetcher: JwksFetcher,
    /// Identifiers last read from the store as disabled (bounded like the unknown ones): a
    /// request naming one is a `disabled_client` security event, not only a failure.
    disabled: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

/// The validation limits the configuration sets.
pub fn policy(config: &Config) -> ClientPolicy {
    ClientPolicy {
        max_access_token_lifetime: config.tokens.max_access_token_lifetime_secs,
    }
}

/// Validates `metadata` for `client_id` with the limits of `config` (R164, R165). Every way of
/// registering a client comes here, so this is the one place a client without a `scope` member
/// gets `registration.default_scope` (RFC 7591 §2), narrowed to `scope_limit` when the
/// registration may only hold those scopes (an initial access token's policy): the metadata
/// then holds the scope as registered, which the registration response, `client show` and the
/// admin UI all show.
pub fn validate(
    config: &Config,
    client_id: &str,
    mut metadata: ClientMetadata,
    scope_limit: Option<&Scope>,
) -> Result<Client, OAuthError> {
    if metadata.scope.is_none() {
        metadata.scope = Some(default_scope(config, scope_limit));
    }
    let client = Client::validate(client_id, metadata, policy(config))?;
    check_server_algs(&client, config)?;
    Ok(client)
}

/// `registration.default_scope`, without the tokens outside `limit` if there is one.
fn default_scope(config: &Config, limit: Option<&Scope>) -> String {
    // A malformed default is refused at start (`Config::validate`), so it parses here.
    let default = Scope::parse(&config.registration.default_scope).unwrap_or_default();
    match limit {
        None => default.to_string(),
        Some(limit) => default
            .iter()
            .filter(|token| limit.contains(token))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The record of a validated client, created (and last changed) at `now`.
pub fn record(client: &Client, now: Timestamp) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        client_id: client.client_id.clone(),
        metadata: serde_json::to_string(&client.metadata)
            .map_err(|_| StoreError::Corrupt("client metadata does not serialize"))?,
        created_at: now,
        updated_at: now,
        disabled_at: None,
    })
}

/// Validates `metadata` and registers it (the `client_id` in it is kept, else one is made).
pub async fn register(
    store: &dyn Store,
    config: &Config,
    metadata: ClientMetadata,
    now: Timestamp,
) -> Result<Client, RegisterError> {
    let client_id = metadata
        .client_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let client = validate(config, &client_id, metadata, None).map_err(RegisterError::Invalid)?;
    let record = record(&client, now).map_err(RegisterError::Store)?;
    match store.insert_client(&record).await {
        Ok(()) => Ok(client),
        Err(StoreError::Conflict) => Err(RegisterError::Taken),
        Err(e) => Err(RegisterError::Store(e)),
    }
}

/// The server must hold a key for every algorithm the client wants it to sign with.
pub fn check_server_algs(client: &Client, config: &Config) -> Result<(), OAuthError> {
    let held = config.signing_algs().unwrap_or_default();
    let wanted = [
        Some(client.id_token_signed_response_alg),
        client.authorization_signed_response_alg,
        client.userinfo_signed_response_alg,
    ];
    if wanted.into_iter().flatten().all(|alg| held.contains(&alg)) {
        return Ok(());
    }
    Err(OAuthError::new(
        ErrorCode::InvalidClientMetadata,
        "the server holds no key for a requested signing algorithm",
    ))
}

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The metadata breaks a rule.
    #[error("{0}")]
    Invalid(OAuthError),
    /// The client_id is already registered.
    #[error("client_id is already registered")]
    Taken,
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Rebuilds a client from its stored record.
pub fn from_record(record: &ClientRecord, policy: ClientPolicy) -> anyhow::Result<Client> {
    let metadata: ClientMetadata =
        serde_json::from_str(&record.metadata).context("stored client metadata")?;
    Client::validate(&record.client_id, metadata, policy)
        .map_err(|e| anyhow::anyhow!("stored client {}: {e}", record.client_id))
}

impl Clients {
    /// A registry over `store`, configured by `config`; `jwks_uri` fetches are counted in
    /// `metrics`.
    pub fn new(store: Arc<dyn Store>, config: &Config, metrics: Metrics) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            issuer: config.issuer.clone(),
            trust_anchors: TrustAnchors::load(config)?,
            policy: policy(config),
            ttl: Duration::from_secs(config.clients.cache_secs),
            max_bytes: config.limits.client_cache_bytes,
            max_unknown: config.limits.unknown_client_entries,
            cache: Mutex::default(),
            fetcher: JwksFetcher::new(&config.clients, metrics)?,
            disabled: Mutex::default(),
        })
    }

    /// The enabled client with this identifier; `None` if unknown or disabled.
    pub async fn get(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        // No client is registered under an identifier that breaks the rules of every client_id
        // (a NUL byte, 10,000 characters): such a value is unknown without a database look-up,
        // which Postgres would refuse (it stores no NUL in text) with an error.
        if !portcullis_core::client::client_id_is_valid(client_id) {
            return Ok(None);
        }
        if let Some(found) = self.cached(client_id) {
            return Ok(found);
        }
        let record = self.store.client(client_id).await?;
        let bytes = record.as_ref().map_or(0, |r| {
            r.client_id.len() + r.metadata.len() + ENTRY_OVERHEAD_BYTES
        });
        if let Some(record) = &record {
            let mut disabled = self.disabled.lock().unwrap_or_else(|e| e.into_inner());
            if record.disabled_at.is_some() {
                if disabled.len() >= self.max_unknown {
                    disabled.clear();
                }
                disabled.insert(record.client_id.clone());
            } else {
                disabled.remove(&record.client_id);
            }
        }
        let client = match record {
            Some(record) if record.disabled_at.is_none() => match from_record(&record, self.policy)
            {
                Ok(client) => Some(Arc::new(client)),
                Err(e) => {
                    tracing::error!(client_id, error = %e, "stored client no longer validates; refusing it");
                    None
                }
            },
            _ => None,
        };
        if self.ttl > Duration::ZERO {
            self.remember(client_id, client.as_ref(), bytes);
        }
        Ok(client)
    }

    /// Whether `client_id` was disabled when last read from the store.
    pub fn is_disabled(&self, client_id: &str) -> bool {
        self.disabled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(client_id)
    }

    /// The cached answer for `client_id` (`Some(None)`: known to be unknown or disabled), if
    /// still fresh.
    fn cached(&self, client_id: &str) -> Option<Option<Arc<Client>>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.known.get(client_id)
            && cached.at.elapsed() < self.ttl
        {
            return Some(Some(Arc::clone(&cached.client)));
        }
        match cache.unknown.get(client_id) {
            Some(at) if at.elapsed() < self.ttl => Some(None),
            _ => None,
        }
    }

    /// Caches what a look-up found: a known client within the byte budget (stale and, if still
    /// over, all other known entries are dropped first), an unknown one in the small cache of
    /// its own (emptied when full).
    fn remember(&self, client_id: &str, client: Option<&Arc<Client>>, bytes: usize) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let cache = &mut *cache;
        if let Some(old) = cache.known.remove(client_id) {
            cache.known_bytes -= old.bytes;
        }
        cache.unknown.remove(client_id);
        let Some(client) = client else {
            if cache.unknown.len() >= self.max_unknown {
                cache.unknown.clear();
            }
            cache.unknown.insert(client_id.to_owned(), Instant::now());
            return;
        };
        if bytes > self.max_bytes {
            return;
        }
        if cache.known_bytes + bytes > self.max_bytes {
            let ttl = self.ttl;
            cache.known.retain(|_, c| c.at.elapsed() < ttl);
            cache.known_bytes = cache.known.values().map(|c| c.bytes).sum();
            if cache.known_bytes + bytes > self.max_bytes {
                cache.known.clear();
                cache.known_bytes = 0;
            }
        }
        cache.known_bytes += bytes;
        cache.known.insert(
            client_id.to_owned(),
            Cached {
                client: Arc::clone(client),
                at: Instant::now(),
                bytes,
            },
        );
    }

    /// Whether `client_id` is in the cache of known clients (for tests).
    pub fn is_cached(&self, client_id: &str) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.known.contains_key(client_id)
    }

    /// Clients in the known cache and the unknown identifiers remembered (for tests and sizing).
    pub fn cache_counts(&self) -> (usize, usize) {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        (cache.known.len(), cache.unknown.len())
    }

    /// Drops this process's cached copy of `client_id` after it changed or deleted the client;
    /// other processes see the change within `clients.cache_secs`.
    pub fn forget(&self, client_id: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = cache.known.remove(client_id) {
            cache.known_bytes -= old.bytes;
        }
        cache.unknown.remove(client_id);
    }

    /// The client's public keys: registered by value, or fetched from its `jwks_uri` (refetched
    /// early when `unknown_kid`).
    pub async fn keys(&self, client: &Client, unknown_kid: bool) -> Result<Keys, OAuthError> {
        match &client.keys {
            // Only signing keys verify signatures, whether registered by value or by reference.
            KeySource::Jwks(keys) => Ok(Arc::clone(keys)),
            KeySource::JwksUri(uri) => self.fetcher.keys(uri, unknown_kid).await.map_err(|e| {
                tracing::warn!(client_id = %client.client_id, error = %e, "client keys could not be fetched");
                OAuthError::new(ErrorCode::InvalidClient, "the client's keys could not be retrieved")
            }),
            KeySource::None => Ok(Arc::new(Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::jose::{Alg, PrivateKey};
    use serde_json::json;

    use super::*;

    fn client(extra: serde_json::Value) -> Client {
        let mut metadata = json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [PrivateKey::generate(Alg::Es256, "k").unwrap().public_jwk().unwrap()] },
            "grant_types": ["client_credentials"],
        });
        for (k, v) in extra.as_object().unwrap() {
            metadata[k] = v.clone();
        }
        Client::validate(
            "c1",
            serde_json::from_value(metadata).unwrap(),
            ClientPolicy {
                max_access_token_lifetime: 600,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_client_needs_server_keys_for_what_it_asks_the_server_to_sign() {
        let mut config = Config::default();
        config.keys.algs = vec!["ES256".into()];
        // The default ID token algorithm is PS256, which this server does not hold.
        assert!(check_server_algs(&client(json!({})), &config).is_err());
        assert!(
            check_server_algs(
                &client(json!({"id_token_signed_response_alg": "ES256"})),
                &config
            )
            .is_ok()
        );
        let jarm = client(
            json!({"id_token_signed_response_alg": "ES256", "authorization_signed_response_alg": "EdDSA"}),
        );
        assert!(check_server_algs(&jarm, &config).is_err());
    }
}
