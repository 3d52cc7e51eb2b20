//! Storage for rate limits (decision record 0012): administrators' per-client budgets, and the
//! running totals through which server processes share their deployment-wide counts.

use async_trait::async_trait;
use portcullis_core::Timestamp;

use crate::StoreError;

/// An administrator's budget for one client.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ClientRateLimit {
    /// The client.
    pub client_id: String,
    /// Sustained requests per second, in thousandths.
    pub per_second_milli: i64,
    /// Requests allowed at once.
    pub burst: i64,
    /// When it was last set.
    pub updated_at: Timestamp,
}

/// One process's running total for one key (`rate_limit_usage`).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Usage {
    /// The hashed key.
    pub key: String,
    /// The process that admitted the requests.
    pub process: String,
    /// Requests that process admitted under the key since the row was created.
    pub consumed: i64,
    /// When the row was created, unix milliseconds.
    pub created_at_ms: i64,
}

/// Rate limit storage.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Every administrator's per-client budget.
    async fn client_rate_limits(&self) -> Result<Vec<ClientRateLimit>, StoreError>;

    /// Sets (`Some((per_second_milli, burst))`, both positive) or removes (`None`) the
    /// client's budget. Returns `false`, and changes nothing, when there is no such client.
    async fn set_client_rate_limit(
        &self,
        client_id: &str,
        limit: Option<(i64, i64)>,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Adds `deltas` (key, requests admitted since the last call) to `process`'s running totals
    /// at `now_ms`, then returns the other processes' totals changed at or after `since_ms`.
    /// One transaction.
    async fn exchange_rate_usage(
        &self,
        process: &str,
        deltas: &[(String, i64)],
        now_ms: i64,
        since_ms: i64,
    ) -> Result<Vec<Usage>, StoreError>;

    /// Deletes running totals unchanged since `before_ms` (stopped processes, idle keys).
    async fn purge_rate_usage(&self, before_ms: i64) -> Result<u64, StoreError>;
}
