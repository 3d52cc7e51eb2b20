//! `[limits]`: the bounds that keep memory, connections and disk finite under a flood (issue 10,
//! `docs/decisions/0013-bounded-resources.md`). Rate limits are apart, in `[rate_limits]`.

use serde::{Deserialize, Serialize};

/// Resource bounds.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Password hashes (argon2id, about 19 MiB each) running at once; a sign-in that finds them
    /// all busy is answered `503` with `Retry-After` at once, never queued. Default 4 (≈ 76 MiB).
    pub password_hashes: usize,
    /// Requests being handled at once per process; past it a request is answered `503` with
    /// `Retry-After` (JSON `temporarily_unavailable` on the OAuth endpoints) instead of waiting
    /// for a database connection.
    pub requests_in_flight: usize,
    /// Open connections per listener; a connection past it is closed right after `accept`.
    pub connections_per_listener: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub http2_max_streams: u32,
    /// Seconds between purges of expired rows (the first runs at start).
    pub purge_interval_secs: u64,
    /// Rows one purge statement deletes at most (on SQLite it holds the write lock meanwhile).
    pub purge_batch_rows: u32,
    /// Bytes the client cache holds at most (registrations are counted by their metadata size).
    pub client_cache_bytes: usize,
    /// Unknown or disabled client ids remembered at most (kept apart from known clients, so
    /// that they never evict them).
    pub unknown_client_entries: usize,
    /// Seconds between the log lines (and audit events) summarising refusals that are only
    /// counted: anonymous admin POSTs, busy and throttled sign-ins.
    pub refusal_summary_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            password_hashes: 4,
            requests_in_flight: 512,
            connections_per_listener: 4096,
            http2_max_streams: 100,
            purge_interval_secs: 300,
            purge_batch_rows: 1000,
            client_cache_bytes: 16 * 1024 * 1024,
            unknown_client_entries: 1024,
            refusal_summary_secs: 60,
        }
    }
}

impl Limits {
    /// Every limit must let something through.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("limits.password_hashes", self.password_hashes as u64),
            ("limits.requests_in_flight", self.requests_in_flight as u64),
            (
                "limits.connections_per_listener",
                self.connections_per_listener as u64,
            ),
            (
                "limits.http2_max_streams",
                u64::from(self.http2_max_streams),
            ),
            ("limits.purge_interval_secs", self.purge_interval_secs),
            ("limits.purge_batch_rows", u64::from(self.purge_batch_rows)),
            ("limits.refusal_summary_secs", self.refusal_summary_secs),
        ];
        for (name, value) in positive {
            if value == 0 {
                anyhow::bail!("{name} must be at least 1");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_must_let_something_through() {
        Limits::default().validate().unwrap();
        let closed = Limits {
            password_hashes: 0,
            ..Limits::default()
        };
        assert!(
            closed
                .validate()
                .unwrap_err()
                .to_string()
                .contains("limits.password_hashes")
        );
        let closed = Limits {
            requests_in_flight: 0,
            ..Limits::default()
        };
        assert!(closed.validate().is_err());
    }
}
