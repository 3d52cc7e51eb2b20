//! The authorization server as the API knows it: its metadata (RFC 8414) and its JWK Set
//! (RFC 7517), cached.
//!
//! The metadata is read once, at start, and must name the configured issuer exactly (RFC 8414
//! §3.3, against mix-up). The key set is fetched at start, again when it is older than
//! `jwks.max_age_secs` (so a withdrawn key stops verifying), and when a token names a `kid` the
//! cached set lacks (a rotation the API has not seen yet), but never more often than
//! `jwks.min_refetch_secs`, so that tokens with made-up `kid`s cannot make the API hammer the
//! authorization server. A failed fetch keeps the keys already held.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use portcullis_core::Timestamp;
use serde_json::{Map, Value};

use crate::http::AsClient;
use crate::settings::Settings;
use crate::{ConnectError, Stats};

/// The members of the authorization server's metadata the API uses.
#[derive(Clone, Debug)]
pub(crate) struct Metadata {
    pub(crate) jwks_uri: String,
    /// The introspection endpoint, at the mTLS alias when there is one (RFC 8705 §5).
    pub(crate) introspection_endpoint: Option<String>,
    /// Where reports go: the configured endpoint, the advertised one, or
    /// `{issuer}/resource-events` (mTLS alias preferred).
    pub(crate) resource_events_endpoint: String,
}

impl Metadata {
    /// Reads `{issuer}/.well-known/oauth-authorization-server` and checks its `issuer`.
    pub(crate) async fn discover(
        http: &AsClient,
        settings: &Settings,
    ) -> Result<Self, ConnectError> {
        let issuer = settings.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/oauth-authorization-server");
        let doc = http
            .get_json(&url)
            .await
            .map_err(|e| ConnectError::new(format!("discovery at {url}: {e}")))?;
        // RFC 8414 §3.3: the issuer in the document is the one asked for, character for character.
        if doc.get("issuer").and_then(Value::as_str) != Some(settings.issuer.as_str()) {
            return Err(ConnectError::new(format!(
                "discovery at {url}: the document names another issuer"
            )));
        }
        let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
        let aliases = doc
            .get("mtls_endpoint_aliases")
            .cloned()
            .unwrap_or_default();
        let aliased = |name: &str| text(&aliases, name).or_else(|| text(&doc, name));
        let jwks_uri = text(&doc, "jwks_uri")
            .ok_or_else(|| ConnectError::new(format!("discovery at {url}: no jwks_uri")))?;
        let mtls_base = text(&aliases, "token_endpoint")
            .and_then(|t| t.strip_suffix("/token").map(str::to_owned))
            .unwrap_or_else(|| issuer.to_owned());
        let resource_events_endpoint = settings
            .reporting
            .endpoint
            .clone()
            .or_else(|| aliased("resource_events_endpoint"))
            .unwrap_or_else(|| format!("{mtls_base}/resource-events"));
        Ok(Self {
            jwks_uri,
            introspection_endpoint: aliased("introspection_endpoint"),
            resource_events_endpoint,
        })
    }
}

/// The cached key set.
#[derive(Debug, Default)]
struct KeySet {
    /// Signing keys by `kid`.
    keys: HashMap<String, Arc<Map<String, Value>>>,
    /// When the held set was fetched.
    fetched_at: i64,
    /// When a fetch was last tried, successful or not.
    tried_at: i64,
}

/// The authorization server's signing keys, cached.
#[derive(Debug)]
pub(crate) struct Keys {
    jwks_uri: String,
    min_refetch_secs: i64,
    max_age_secs: i64,
    set: RwLock<KeySet>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

/// What a lookup found.
enum Lookup {
    Fresh(Arc<Map<String, Value>>),
    Stale(Arc<Map<String, Value>>),
    Missing { may_fetch: bool },
}

impl Keys {
    /// Fetches the key set for the first time; the API does not start without it.
    pub(crate) async fn load(
        http: &AsClient,
        settings: &Settings,
        jwks_uri: String,
        now: Timestamp,
        stats: &Stats,
    ) -> Result<Self, ConnectError> {
        let keys = Self {
            jwks_uri,
            min_refetch_secs: settings.jwks.min_refetch_secs.max(0),
            max_age_secs: settings.jwks.max_age_secs.max(1),
            set: RwLock::new(KeySet::default()),
            fetching: tokio::sync::Mutex::new(()),
        };
        keys.fetch(http, now, stats)
            .await
            .map_err(|e| ConnectError::new(format!("JWK Set at {}: {e}", keys.jwks_uri)))?;
        Ok(keys)
    }

    /// The signing key named `kid`, refetching the set when it is old or lacks `kid` (within
    /// the limits above). `None`: no such key.
    pub(crate) async fn key(
        &self,
        kid: &str,
        http: &AsClient,
        now: Timestamp,
        stats: &Stats,
    ) -> Option<Arc<Map<String, Value>>> {
        match self.lookup(kid, now) {
            Lookup::Fresh(key) => Some(key),
            Lookup::Stale(_) => {
                // Refresh while still serving the held key; a failure leaves it in place.
                if let Ok(_guard) = self.fetching.try_lock()
                    && self.is_stale(now)
                    && let Err(e) = self.fetch(http, now, stats).await
                {
                    tracing::warn!(error = %e, "refreshing the authorization server's JWK Set failed");
                }
                // A key the refreshed set no longer holds was withdrawn.
                match self.lookup(kid, now) {
                    Lookup::Fresh(key) | Lookup::Stale(key) => Some(key),
                    Lookup::Missing { .. } => None,
                }
            }
            Lookup::Missing { may_fetch: false } => None,
            Lookup::Missing { may_fetch: true } => {
                let _guard = self.fetching.lock().await;
                // Another request may have fetched while this one waited.
                if let Lookup::Missing { may_fetch: true } = self.lookup(kid, now)
                    && let Err(e) = self.fetch(http, now, stats).await
                {
                    tracing::warn!(error = %e, "fetching the authorization server's JWK Set failed");
                }
                match self.lookup(kid, now) {
                    Lookup::Fresh(key) | Lookup::Stale(key) => Some(key),
                    Lookup::Missing { .. } => None,
                }
            }
        }
    }

    /// Whether the key named `kid` is in a key set younger than `jwks.max_age_secs`: a token it
    /// verified before may be taken as verified again.
    pub(crate) fn holds(&self, kid: &str, now: Timestamp) -> bool {
        matches!(self.lookup(kid, now), Lookup::Fresh(_))
    }

    fn lookup(&self, kid: &str, now: Timestamp) -> Lookup {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        match set.keys.get(kid) {
            Some(key) if now.unix() - set.fetched_at < self.max_age_secs => {
                Lookup::Fresh(Arc::clone(key))
            }
            Some(key) => Lookup::Stale(Arc::clone(key)),
            None => Lookup::Missing {
                may_fetch: now.unix() - set.tried_at >= self.min_refetch_secs,
            },
        }
    }

    fn is_stale(&self, now: Timestamp) -> bool {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        now.unix() - set.fetched_at >= self.max_age_secs
            && now.unix() - set.tried_at >= self.min_refetch_secs
    }

    /// Fetches the set and replaces the held one; keeps it on failure.
    async fn fetch(&self, http: &AsClient, now: Timestamp, stats: &Stats) -> Result<(), String> {
        Stats::add(&stats.jwks_fetches, 1);
        self.set.write().unwrap_or_else(|p| p.into_inner()).tried_at = now.unix();
        let doc = http
            .get_json(&self.jwks_uri)
            .await
            .map_err(|e| e.to_string())?;
        let keys = signing_keys(&doc).ok_or("not a JWK Set")?;
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        set.keys = keys;
        set.fetched_at = now.unix();
        Ok(())
    }
}

/// The signature keys of a JWK Set by `kid`: keys without `kid`, for encryption, or holding
/// private members are left out. `None` when `doc` is not a key set.
fn signing_keys(doc: &Value) -> Option<HashMap<String, Arc<Map<String, Value>>>> {
    let keys = doc.get("keys")?.as_array()?;
    Some(
        keys.iter()
            .filter_map(Value::as_object)
            .filter(|k| {
                k.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "sig")
            })
            .filter(|k| !portcullis_core::jose::is_private_jwk(k))
            .filter_map(|k| {
                let kid = k.get("kid")?.as_str()?.to_owned();
                Some((kid, Arc::new(k.clone())))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_public_signature_keys_with_a_kid_are_kept() {
        let doc = json!({"keys": [
            {"kty": "EC", "kid": "a", "use": "sig", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "EC", "kid": "b", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "EC", "kid": "c", "use": "enc", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "EC", "kid": "d", "crv": "P-256", "x": "x", "y": "y", "d": "secret"},
            {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
            "junk"
        ]});
        let keys = signing_keys(&doc).unwrap();
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["a", "b"]);
        assert!(signing_keys(&json!({"keys": "x"})).is_none());
    }
}
