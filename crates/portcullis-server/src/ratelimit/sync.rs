//! Reconciling the deployment-wide budgets between processes (decision record 0012).
//!
//! Every `rate_limits.sync_interval_ms`, each process adds what it admitted per key since the
//! last round to its own running total in `rate_limit_usage` and reads the other processes'
//! totals that changed; the growth of each since it last looked is charged to its local counter
//! (the GCRA's TAT moves by that many intervals). So a process decides every request from memory
//! and learns the others' admissions at most one interval (plus a round trip) late. The same
//! round reloads the administrators' per-client budgets. With `rate_limits.redis_url` the totals
//! go through Redis instead ([`super::redis`]). A failed round keeps the local counts
//! for the next one and is logged once until a round succeeds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use portcullis_store::Store;
use portcullis_store::ratelimit::Usage;
use tokio::sync::watch;

use crate::ratelimit::RateLimits;
use crate::ratelimit::redis::RedisChannel;
use crate::transport::serve;

/// Running totals unchanged this long are deleted, milliseconds.
const IDLE_ROWS_MS: i64 = 10 * 60 * 1000;

/// How far back each read reaches before the previous one, milliseconds: covers clock skew
/// between the hosts that wrote `updated_at` (totals already seen are not charged twice).
const READ_MARGIN_MS: i64 = 5_000;

/// Rounds between purges of idle totals and sweeps of idle keys.
const PURGE_EVERY: u32 = 60;

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// Where the running totals are exchanged.
enum Channel {
    /// The `rate_limit_usage` table.
    Store(Arc<dyn Store>),
    /// `rate_limits.redis_url`.
    Redis(Box<RedisChannel>),
}

impl Channel {
    async fn exchange(
        &mut self,
        process: &str,
        deltas: &[(String, i64)],
        now_ms: i64,
        since_ms: i64,
    ) -> anyhow::Result<Vec<Usage>> {
        Ok(match self {
            Self::Store(store) => {
                store
                    .exchange_rate_usage(process, deltas, now_ms, since_ms)
                    .await?
            }
            Self::Redis(redis) => {
                redis
                    .exchange(process, deltas, now_ms, since_ms, IDLE_ROWS_MS)
                    .await?
            }
        })
    }

    async fn purge(&mut self, before_ms: i64) -> anyhow::Result<()> {
        match self {
            Self::Store(store) => {
                store.purge_rate_usage(before_ms).await?;
            }
            Self::Redis(redis) => redis.purge(before_ms).await?,
        }
        Ok(())
    }
}

/// The reconciliation task of one process.
pub(crate) async fn run(
    limits: Arc<RateLimits>,
    store: Arc<dyn Store>,
    mut stop: watch::Receiver<bool>,
) {
    let sync_ms = limits.settings().sync_interval_ms;
    // With reconciliation off, the overrides are still reloaded every second.
    let period = Duration::from_millis(if sync_ms == 0 { 1000 } else { sync_ms });
    let process = uuid::Uuid::new_v4().to_string();
    let started_ms = now_ms();
    // (key, process) → (created_at, total) last read.
    let mut seen: HashMap<(String, String), (i64, i64, i64)> = HashMap::new();
    let mut last_read_ms = started_ms;
    let mut failing = false;
    let mut round: u32 = 0;
    let mut channel = match limits.settings().redis_url.as_deref() {
        Some(url) => match RedisChannel::open(url, limits.namespace()) {
            Ok(redis) => Channel::Redis(Box::new(redis)),
            Err(e) => {
                tracing::error!(error = %e, "rate_limits.redis_url cannot be used; reconciling through the database");
                Channel::Store(Arc::clone(&store))
            }
        },
        None => Channel::Store(Arc::clone(&store)),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = serve::stopped(&mut stop) => return,
        }
        round = round.wrapping_add(1);
        match store.client_rate_limits().await {
            Ok(overrides) => limits.set_overrides(&overrides),
            Err(e) => tracing::debug!(error = %e, "reloading client rate limits failed"),
        }
        if sync_ms != 0 {
            let ok = exchange(
                &limits,
                &mut channel,
                &process,
                started_ms,
                &mut last_read_ms,
                &mut seen,
            )
            .await;
            match (ok, failing) {
                (Err(e), false) => {
                    tracing::warn!(error = %e, "reconciling rate limits failed; counting locally until it works");
                    failing = true;
                }
                (Ok(()), true) => {
                    tracing::info!("reconciling rate limits works again");
                    failing = false;
                }
                _ => {}
            }
        }
        if round.is_multiple_of(PURGE_EVERY) {
            limits.sweep();
            let now = now_ms();
            seen.retain(|_, (_, _, read_at)| *read_at >= now - IDLE_ROWS_MS);
            if sync_ms != 0
                && let Err(e) = channel.purge(now - IDLE_ROWS_MS).await
            {
                tracing::debug!(error = %e, "purging rate limit totals failed");
            }
        }
    }
}

/// One round: report, read, charge.
async fn exchange(
    limits: &RateLimits,
    channel: &mut Channel,
    process: &str,
    started_ms: i64,
    last_read_ms: &mut i64,
    seen: &mut HashMap<(String, String), (i64, i64, i64)>,
) -> anyhow::Result<()> {
    let pending = limits.shared.drain_pending();
    let deltas: Vec<(String, i64)> = pending
        .iter()
        .map(|(key, n)| (format!("{key:032x}"), i64::from(*n)))
        .collect();
    let now = now_ms();
    let rows = match channel
        .exchange(process, &deltas, now, *last_read_ms - READ_MARGIN_MS)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            limits.shared.restore_pending(&pending);
            return Err(e);
        }
    };
    *last_read_ms = now;
    for row in rows {
        let Ok(key) = u128::from_str_radix(&row.key, 16) else {
            continue;
        };
        let previous = seen.insert(
            (row.key, row.process),
            (row.created_at_ms, row.consumed, now),
        );
        let grown = match previous {
            // The same row: what it grew by since the last read.
            Some((created, total, _)) if created == row.created_at_ms => row.consumed - total,
            // A row created while this process runs (or re-created after a purge): all of it.
            _ if row.created_at_ms >= started_ms - READ_MARGIN_MS => row.consumed,
            // A row older than this process, first seen: its past is not charged.
            _ => 0,
        };
        if grown > 0 {
            limits
                .shared
                .charge(key, u32::try_from(grown).unwrap_or(u32::MAX));
        }
    }
    Ok(())
}
