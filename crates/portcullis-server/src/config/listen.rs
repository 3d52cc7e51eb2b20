//! `[listen]` and `[metrics]`: the addresses of the listeners. The public and mTLS listeners
//! serve the protocol; the metrics listener serves `GET /metrics` alone (issue 11;
//! `docs/MONITORING.md`, `docs/decisions/0016-metrics.md`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Listen addresses of the two listeners.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// The public listener: browsers and clients; never asks for a client certificate.
    pub public: SocketAddr,
    /// The mTLS listener: asks for (does not require) a client certificate.
    pub mtls: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            public: SocketAddr::from(([0, 0, 0, 0], 8443)),
            mtls: SocketAddr::from(([0, 0, 0, 0], 8444)),
        }
    }
}

/// The metrics listener.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// Serve `GET /metrics` (Prometheus text format) on [`Self::listen`] and record metrics. Off:
    /// no listener is opened and nothing is recorded.
    pub enabled: bool,
    /// Address of the metrics listener: plain HTTP, apart from the public and mTLS listeners,
    /// which never serve `/metrics`. The loopback default keeps it off the network; an operator
    /// who widens it must keep it away from the public (a firewall or a private network).
    pub listen: SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn defaults_to_an_enabled_loopback_listener() {
        let m = Config::default().metrics;
        assert!(m.enabled);
        assert_eq!(m.listen, SocketAddr::from(([127, 0, 0, 1], 9464)));
    }

    #[test]
    fn reads_the_metrics_section() {
        let config: Config = figment::Figment::new()
            .merge(figment::providers::Serialized::defaults(Config::default()))
            .merge(
                <figment::providers::Toml as figment::providers::Format>::string(
                    "[metrics]\nenabled = false\nlisten = \"0.0.0.0:9100\"\n",
                ),
            )
            .extract()
            .unwrap();
        assert!(!config.metrics.enabled);
        assert_eq!(config.metrics.listen.port(), 9100);
    }
}
