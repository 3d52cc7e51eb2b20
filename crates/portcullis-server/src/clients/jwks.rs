//! Client keys published at a `jwks_uri` (RFC 7591 §2, OIDC Core §10.1.1).
//!
//! Fetched over https only, with a timeout, a size limit, no redirects, and (unless configured
//! otherwise) never from loopback, private or link-local addresses, so that a registered URI
//! cannot make the server probe its own network. Kept for the document's `Cache-Control` max-age
//! (clamped to 1 minute – 1 day), refetched early when an assertion names an unknown `kid`, at
//! most once a minute per URI, with one fetch in flight per URI. A failed refetch keeps serving
//! the previous keys.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use axum::http::header;
use portcullis_core::client::usable_keys;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::config::Clients;
use crate::monitoring::Metrics;

/// Shortest and longest time a fetched key set is kept.
const MIN_CACHE: Duration = Duration::from_secs(60);
const MAX_CACHE: Duration = Duration::from_secs(24 * 3600);
/// Kept this long when the response does not say.
const DEFAULT_CACHE: Duration = Duration::from_secs(300);
/// At most one early refetch (unknown `kid`) per URI in this time.
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Public signing keys of a client.
pub(crate) type Keys = Arc<Vec<Map<String, Value>>>;

#[derive(Clone)]
struct Cached {
    keys: Keys,
    fetched_at: Instant,
    fresh_until: Instant,
}

#[derive(Default)]
struct Entry {
    cached: Mutex<Option<Cached>>,
    /// When an unknown `kid` last caused a fetch.
    last_forced: Mutex<Option<Instant>>,
    /// When a fetch last failed with nothing cached: no new attempt for a minute, so a dead
    /// `jwks_uri` does not cost every request a timeout.
    last_failure: Mutex<Option<Instant>>,
    /// Held while fetching: one fetch in flight per URI.
    fetching: tokio::sync::Mutex<()>,
}

/// Fetches and caches client key sets.
pub(crate) struct JwksFetcher {
    http: reqwest::Client,
    max_bytes: usize,
    allow_private: bool,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    metrics: Metrics,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher").finish_non_exhaustive()
    }
}

/// Resolves names, refusing addresses inside the server's own networks.
struct PublicOnly;

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

impl JwksFetcher {
    /// A fetcher configured by `clients.*`.
    pub(crate) fn new(config: &Clients, metrics: Metrics) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(config.jwks_uri_timeout_secs))
            .connect_timeout(Duration::from_secs(config.jwks_uri_timeout_secs))
            .no_proxy()
            .user_agent("portcullis");
        if let Some(ca) = &config.jwks_uri_ca_file {
            let pem =
                std::fs::read(ca).with_context(|| format!("{} cannot be read", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| anyhow!("{}: {e}", ca.display()))?;
            builder = builder.tls_certs_merge(certs);
        }
        if !config.jwks_uri_allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            http: builder.build()?,
            max_bytes: config.jwks_uri_max_bytes,
            allow_private: config.jwks_uri_allow_private,
            entries: Mutex::default(),
            metrics,
        })
    }

    fn entry(&self, uri: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(entries.entry(uri.to_owned()).or_default())
    }

    /// The keys at `uri`. With `unknown_kid`, refetch early (rate-limited) because the caller
    /// met a key it does not know, as a client that rotated its keys would present.
    pub(crate) async fn keys(&self, uri: &str, unknown_kid: bool) -> anyhow::Result<Keys> {
        let entry = self.entry(uri);
        let cached = entry
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let now = Instant::now();
        if let Some(c) = &cached {
            if now < c.fresh_until && !unknown_kid {
                return Ok(Arc::clone(&c.keys));
            }
            if unknown_kid {
                // At most one early refetch a minute per URI, however many unknown kids arrive.
                let mut last = entry.last_forced.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_some_and(|t| now.duration_since(t) < REFETCH_INTERVAL) {
                    return Ok(Arc::clone(&c.keys));
                }
                *last = Some(now);
            }
        }
        if cached.is_none()
            && entry
                .last_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|t| now.duration_since(t) < REFETCH_INTERVAL)
        {
            bail!("jwks_uri failed recently; not retrying yet");
        }
        let _guard = entry.fetching.lock().await;
        // Another task may have fetched while this one waited.
        if let Some(c) = entry
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && c.fetched_at >= now
        {
            return Ok(Arc::clone(&c.keys));
        }
        let fetched = self.fetch(uri).await;
        self.metrics.jwks_fetch(match &fetched {
            Ok(_) => "success",
            Err((outcome, _)) => outcome,
        });
        match fetched.map_err(|(_, e)| e) {
            Ok((keys, max_age)) => {
                let fetched_at = Instant::now();
                let fresh = Cached {
                    keys: Arc::clone(&keys),
                    fetched_at,
                    fresh_until: fetched_at + max_age,
                };
                *entry.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(fresh);
                Ok(keys)
            }
            Err(e) => match cached {
                None => {
                    *entry.last_failure.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Instant::now());
                    Err(e)
                }
                Some(c) => {
                    tracing::warn!(jwks_uri = uri, error = %e, "jwks_uri fetch failed; using the keys fetched before");
                    Ok(c.keys)
                }
            },
        }
    }

    /// Fetches the document at `uri`; a failure comes with its outcome label for the
    /// `portcullis_jwks_fetches_total` counter.
    async fn fetch(&self, uri: &str) -> Result<(Keys, Duration), (&'static str, anyhow::Error)> {
        // Names are checked by the resolver; an address literal never reaches it.
        if !self.allow_private {
            let host = url::Url::parse(uri)
                .map_err(|e| ("refused", e.into()))?
                .host()
                .map(|h| h.to_owned());
            let literal = match host {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !is_public(ip)) {
                return Err((
                    "refused",
                    anyhow!("jwks_uri points at a non-public address"),
                ));
            }
        }
        let mut response = self
            .http
            .get(uri)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                (
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "network_error"
                    },
                    e.into(),
                )
            })?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(("http_error", anyhow!("jwks_uri answered {status}")));
        }
        let max_age = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map_or(DEFAULT_CACHE, cache_lifetime);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            (
                if e.is_timeout() {
                    "timeout"
                } else {
                    "network_error"
                },
                e.into(),
            )
        })? {
            if body.len() + chunk.len() > self.max_bytes {
                let max = self.max_bytes;
                return Err((
                    "too_large",
                    anyhow!("jwks_uri document is larger than {max} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let document: Value = serde_json::from_slice(&body)
            .context("jwks_uri document is not JSON")
            .map_err(|e| ("invalid", e))?;
        Ok((Arc::new(usable_keys(&document)), max_age))
    }
}

/// How long a response may be kept, from its `Cache-Control`, clamped.
pub(crate) fn cache_lifetime(cache_control: &str) -> Duration {
    let mut lifetime = DEFAULT_CACHE;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_CACHE;
        }
        if let Some(secs) = lower
            .strip_prefix("max-age=")
            .and_then(|s| s.trim_matches('"').parse::<u64>().ok())
        {
            lifetime = Duration::from_secs(secs);
        }
    }
    lifetime.clamp(MIN_CACHE, MAX_CACHE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetime_follows_max_age_within_bounds() {
        assert_eq!(
            cache_lifetime("public, max-age=600"),
            Duration::from_secs(600)
        );
        assert_eq!(cache_lifetime("max-age=5"), MIN_CACHE);
        assert_eq!(cache_lifetime("max-age=9999999"), MAX_CACHE);
        assert_eq!(cache_lifetime("no-store"), MIN_CACHE);
        assert_eq!(cache_lifetime("private"), DEFAULT_CACHE);
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
