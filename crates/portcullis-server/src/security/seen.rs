//! New networks and certificates: each client's source networks (IPv4 /24, IPv6 /48) and
//! certificate thumbprints are recorded the first time a process serves them; a pair the
//! deployment never saw raises an event once the client's learning period is over
//! (`monitoring.learning_secs` after the first network, or certificate, it was seen with).
//!
//! The request path only looks the pair up in this process's memory; a miss records it in the
//! background (one insert-or-nothing: of several processes the first insert wins, and only its
//! process raises the event).

use std::collections::HashSet;
use std::hash::{BuildHasher as _, Hash, RandomState};
use std::net::IpAddr;

use ipnet::IpNet;
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_store::security::{Seen, SeenKind};
use serde_json::json;

use super::{Event, Kind, Monitor};

/// Pairs one process remembers at most; when full it forgets them all (and records again,
/// which only moves `last_seen`).
const MAX_REMEMBERED: usize = 50_000;

/// What this process already recorded: the 64-bit hash of each (client, kind, value), with this
/// process's random key. Looking a pair up allocates nothing; two pairs with one hash (about one
/// chance in 2^64 / 50,000) would only mean that the second is not recorded by this process.
#[derive(Debug, Default)]
pub(crate) struct SeenCache(Mutex<HashSet<u64>>, RandomState);

impl SeenCache {
    /// Remembers the pair; `true` if it was new to this process.
    fn remember<V: Hash + ?Sized>(&self, client_id: &str, kind: SeenKind, value: &V) -> bool {
        let key = self.1.hash_one((client_id, kind, value));
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if set.contains(&key) {
            return false;
        }
        if set.len() >= MAX_REMEMBERED {
            set.clear();
        }
        set.insert(key)
    }
}

/// The network of an address: its first `v4` bits (IPv4, an IPv4-mapped address as IPv4) or
/// `v6` bits (defaults /24 and /48, `monitoring.network_prefix_v4/_v6`).
fn network(address: IpAddr, v4: u8, v6: u8) -> IpNet {
    let address = match address {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    let prefix = if address.is_ipv4() { v4 } else { v6 };
    IpNet::new(address, prefix).map_or_else(|_| IpNet::from(address), |net| net.trunc())
}

/// [`network`] as `address/prefix`.
pub fn network_of(address: IpAddr, v4: u8, v6: u8) -> String {
    network(address, v4, v6).to_string()
}

/// Notes the pair(s) of a served request; records misses in the background.
pub(super) fn note(
    monitor: &Arc<Monitor>,
    client_id: &str,
    address: IpAddr,
    x5t_s256: Option<&str>,
) {
    let m = &monitor.config.monitoring;
    let network = network(address, m.network_prefix_v4, m.network_prefix_v6);
    let mut misses = Vec::new();
    if monitor
        .seen
        .remember(client_id, SeenKind::Network, &network)
    {
        misses.push((SeenKind::Network, network.to_string()));
    }
    if let Some(x5t) = x5t_s256
        && monitor.seen.remember(client_id, SeenKind::Certificate, x5t)
    {
        misses.push((SeenKind::Certificate, x5t.to_owned()));
    }
    if misses.is_empty() {
        return;
    }
    let monitor = Arc::clone(monitor);
    let client_id = client_id.to_owned();
    tokio::spawn(async move {
        for (kind, value) in misses {
            record(&monitor, &client_id, kind, &value).await;
        }
    });
}

/// Records one pair, raising an event when it is new after the learning period.
async fn record(monitor: &Monitor, client_id: &str, kind: SeenKind, value: &str) {
    let now = monitor.now();
    let since = match monitor.store.record_seen(client_id, kind, value, now).await {
        Ok(Seen::New { since }) => since,
        Ok(Seen::Known) => return,
        Err(e) => {
            tracing::debug!(error = %e, "recording a client's network or certificate failed");
            return;
        }
    };
    let learning = monitor.config.monitoring.learning_secs;
    let learned_for = now.unix() - since.unix();
    if learned_for < learning {
        return;
    }
    let event = match kind {
        SeenKind::Network => Event::new(
            Kind::NewNetwork,
            format!(
                "Client {client_id} was used from the network {value}, which it never used before."
            ),
        )
        .address(value),
        SeenKind::Certificate => Event::new(
            Kind::NewCertificate,
            format!(
                "Client {client_id} presented a certificate it never presented before (x5t#S256 {value})."
            ),
        ),
    };
    monitor
        .raise(
            event
                .client(client_id)
                .evidence(json!({
                    "kind": kind.as_str(),
                    "value": value,
                    "first_seen_anything_at": since.unix(),
                    "learning_secs": learning,
                }))
                .incident(format!("{client_id}|{}|{value}", kind.as_str())),
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_new_once_per_process() {
        let cache = SeenCache::default();
        let net = network("192.0.2.77".parse().unwrap(), 24, 48);
        assert!(cache.remember("c1", SeenKind::Network, &net));
        assert!(!cache.remember("c1", SeenKind::Network, &net));
        // Another address of the same network is the same pair.
        let same = network("192.0.2.5".parse().unwrap(), 24, 48);
        assert!(!cache.remember("c1", SeenKind::Network, &same));
        assert!(cache.remember("c2", SeenKind::Network, &net));
        assert!(cache.remember("c1", SeenKind::Certificate, "x5t"));
        assert!(!cache.remember("c1", SeenKind::Certificate, "x5t"));
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        let net = |a: &str| network_of(a.parse().unwrap(), 24, 48);
        assert_eq!(net("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(net("2001:db8:1:2::5"), "2001:db8:1::/48");
        assert_eq!(net("::ffff:127.0.0.2"), "127.0.0.0/24");
        assert_eq!(
            network_of("127.0.0.2".parse().unwrap(), 32, 128),
            "127.0.0.2/32"
        );
    }
}
