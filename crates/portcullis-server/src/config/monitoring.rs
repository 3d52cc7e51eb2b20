//! `[monitoring]` and `[alerts]`: the thresholds of the security detectors and the webhooks
//! their events go to (issue 11; `docs/MONITORING.md` explains each detector and default,
//! `docs/decisions/0017-security-events.md` the counting across processes).

use std::path::PathBuf;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// The security detectors.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Monitoring {
    /// Detect and record security events. Off: nothing is counted, stored or sent.
    pub enabled: bool,
    /// Milliseconds between two flushes of this process's counts to the database (each flush
    /// reads back the deployment's totals and judges them).
    pub flush_ms: u64,
    /// Seconds an incident stays open after its event: the same anomaly (kind and subject)
    /// raises no second event meanwhile.
    pub incident_secs: i64,
    /// Days security events are kept (0 keeps them).
    pub event_retention_days: i64,
    /// Hours the per-minute counts are kept (the security page charts the last 24).
    pub count_retention_hours: i64,
    /// A client's requests to one endpoint per minute, against its learned baseline.
    pub rate: RateDetector,
    /// Authentication failures (client authentication, sign-ins) per 5 minutes that raise an
    /// event: per client, per source address, per account.
    pub auth_failures_per_client: i64,
    /// See [`Self::auth_failures_per_client`].
    pub auth_failures_per_address: i64,
    /// See [`Self::auth_failures_per_client`].
    pub auth_failures_per_account: i64,
    /// Unknown or inactive tokens one resource server introspects per minute that raise a
    /// guessing event.
    pub introspection_misses_per_minute: i64,
    /// Seconds after a client is first seen during which its networks and certificates are
    /// learned without events; after it, a new one raises an event.
    pub learning_secs: i64,
    /// Days after which the signing key in use is overdue for rotation (0: never).
    pub key_max_age_days: i64,
    /// The prefix length that makes an IPv4 source address a network (new-network events).
    pub network_prefix_v4: u8,
    /// The prefix length that makes an IPv6 source address a network.
    pub network_prefix_v6: u8,
}

/// The rate-anomaly detector: per client and endpoint, requests per minute against an
/// exponentially weighted mean and variance learned over `baseline_minutes`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateDetector {
    /// The baseline's horizon, minutes (the weight of a new minute is 2 / (n + 1)).
    pub baseline_minutes: i64,
    /// Minutes a baseline learns before it is trusted; until then only `ceiling_per_minute`
    /// applies (a cold start neither floods nor stays blind).
    pub warmup_minutes: i64,
    /// Requests per minute that raise an event whatever the baseline (during warm-up, the only
    /// threshold).
    pub ceiling_per_minute: i64,
    /// Below this many requests per minute nothing is judged anomalous.
    pub floor_per_minute: i64,
    /// A minute is anomalous above `ratio` times the mean …
    pub ratio: f64,
    /// … and above the mean plus `sigmas` standard deviations.
    pub sigmas: f64,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            enabled: true,
            flush_ms: 1000,
            incident_secs: 3600,
            event_retention_days: 90,
            count_retention_hours: 26,
            rate: RateDetector::default(),
            auth_failures_per_client: 20,
            auth_failures_per_address: 30,
            auth_failures_per_account: 10,
            introspection_misses_per_minute: 20,
            learning_secs: 7 * 86_400,
            key_max_age_days: 120,
            network_prefix_v4: 24,
            network_prefix_v6: 48,
        }
    }
}

impl Default for RateDetector {
    fn default() -> Self {
        Self {
            baseline_minutes: 180,
            warmup_minutes: 60,
            ceiling_per_minute: 3000,
            floor_per_minute: 120,
            ratio: 3.0,
            sigmas: 4.0,
        }
    }
}

impl Monitoring {
    /// Every threshold must be reachable and every period positive.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("monitoring.flush_ms", self.flush_ms as i64),
            ("monitoring.incident_secs", self.incident_secs),
            (
                "monitoring.count_retention_hours",
                self.count_retention_hours,
            ),
            (
                "monitoring.rate.baseline_minutes",
                self.rate.baseline_minutes,
            ),
            (
                "monitoring.rate.ceiling_per_minute",
                self.rate.ceiling_per_minute,
            ),
            (
                "monitoring.rate.floor_per_minute",
                self.rate.floor_per_minute,
            ),
            (
                "monitoring.auth_failures_per_client",
                self.auth_failures_per_client,
            ),
            (
                "monitoring.auth_failures_per_address",
                self.auth_failures_per_address,
            ),
            (
                "monitoring.auth_failures_per_account",
                self.auth_failures_per_account,
            ),
            (
                "monitoring.introspection_misses_per_minute",
                self.introspection_misses_per_minute,
            ),
        ];
        for (name, value) in positive {
            if value < 1 {
                bail!("{name} must be at least 1");
            }
        }
        for (name, value) in [
            ("monitoring.event_retention_days", self.event_retention_days),
            ("monitoring.learning_secs", self.learning_secs),
            ("monitoring.key_max_age_days", self.key_max_age_days),
            ("monitoring.rate.warmup_minutes", self.rate.warmup_minutes),
        ] {
            if value < 0 {
                bail!("{name} must not be negative");
            }
        }
        if !(1..=32).contains(&self.network_prefix_v4)
            || !(1..=128).contains(&self.network_prefix_v6)
        {
            bail!("monitoring.network_prefix_v4 must be 1 to 32 and network_prefix_v6 1 to 128");
        }
        if !(self.rate.ratio.is_finite() && self.rate.ratio >= 1.0) {
            bail!("monitoring.rate.ratio must be at least 1");
        }
        if !(self.rate.sigmas.is_finite() && self.rate.sigmas >= 0.0) {
            bail!("monitoring.rate.sigmas must not be negative");
        }
        Ok(())
    }
}

/// Where security events are sent.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    /// Webhooks (`[[alerts.webhooks]]`).
    pub webhooks: Vec<Webhook>,
    /// A PEM file of extra CA certificates trusted for webhook receivers (beside the system's).
    pub ca_file: Option<PathBuf>,
    /// Seconds one delivery attempt may take.
    pub timeout_secs: u64,
    /// Attempts before a delivery is given up.
    pub max_attempts: i64,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            ca_file: None,
            timeout_secs: 10,
            max_attempts: 8,
        }
    }
}

/// One webhook: where, with which secret, for which events.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `https://…`, or `http://` to a loopback address.
    pub url: String,
    /// The HMAC-SHA256 key of `Portcullis-Signature` (at least 16 bytes).
    pub secret: String,
    /// The least severity sent (`info`, `warning`, `critical`).
    #[serde(default = "default_min_severity")]
    pub min_severity: String,
    /// Only these kinds (empty: every kind).
    #[serde(default)]
    pub kinds: Vec<String>,
}

fn default_min_severity() -> String {
    "warning".to_owned()
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("min_severity", &self.min_severity)
            .field("kinds", &self.kinds)
            .finish()
    }
}

impl Alerts {
    /// URLs https (or http to loopback), unique; secrets long enough; severities known.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        let mut urls = std::collections::BTreeSet::new();
        for (i, hook) in self.webhooks.iter().enumerate() {
            let name = format!("alerts.webhooks[{i}]");
            let Ok(url) = url::Url::parse(&hook.url) else {
                bail!("{name}.url is not a URL");
            };
            let loopback = match url.host() {
                Some(url::Host::Ipv4(a)) => a.is_loopback(),
                Some(url::Host::Ipv6(a)) => a.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            match url.scheme() {
                "https" => {}
                "http" if loopback => {}
                _ => bail!("{name}.url must be https (http only to a loopback address)"),
            }
            if !urls.insert(hook.url.clone()) {
                bail!("{name}.url is listed twice");
            }
            if hook.secret.len() < 16 {
                bail!("{name}.secret must be at least 16 bytes");
            }
            if !["info", "warning", "critical"].contains(&hook.min_severity.as_str()) {
                bail!("{name}.min_severity must be info, warning or critical");
            }
        }
        if self.timeout_secs == 0 {
            bail!("alerts.timeout_secs must be at least 1");
        }
        if self.max_attempts < 1 {
            bail!("alerts.max_attempts must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        Monitoring::default().validate().unwrap();
        Alerts::default().validate().unwrap();
        let m = Monitoring {
            flush_ms: 0,
            ..Monitoring::default()
        };
        assert!(m.validate().unwrap_err().to_string().contains("flush_ms"));
        let hook = |url: &str, secret: &str| Webhook {
            url: url.to_owned(),
            secret: secret.to_owned(),
            min_severity: "warning".to_owned(),
            kinds: Vec::new(),
        };
        let alerts = |hooks: Vec<Webhook>| Alerts {
            webhooks: hooks,
            ..Alerts::default()
        };
        let secret = "0123456789abcdef";
        alerts(vec![hook("https://hooks.example/a", secret)])
            .validate()
            .unwrap();
        alerts(vec![hook("http://127.0.0.1:9/a", secret)])
            .validate()
            .unwrap();
        let err = alerts(vec![hook("http://hooks.example/a", secret)])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("must be https"), "{err}");
        let err = alerts(vec![hook("https://hooks.example/a", "short")])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");
        let err = alerts(vec![
            hook("https://hooks.example/a", secret),
            hook("https://hooks.example/a", secret),
        ])
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }
}
