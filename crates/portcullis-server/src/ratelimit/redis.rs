//! Reconciliation through Redis (`rate_limits.redis_url`), with the same running totals as the
//! `rate_limit_usage` table (decision record 0012): per key a hash `…u:<key>` holding each
//! process's total (field `<process>`) and when it first reported (field `<process>@`, unix
//! milliseconds), expiring after 10 minutes without a report; a sorted set `…changed` of keys
//! by the time of their last report. Every name starts with a prefix derived from the issuer, so
//! that deployments sharing a Redis do not mix.

use std::collections::HashMap;

use portcullis_store::ratelimit::Usage;
use redis::aio::ConnectionManager;

/// A Redis connection for the reconciliation rounds.
pub(crate) struct RedisChannel {
    client: redis::Client,
    connection: Option<ConnectionManager>,
    prefix: String,
}

impl RedisChannel {
    /// A channel to `url` (validated), under `namespace`; connects at its first round.
    pub(crate) fn open(url: &str, namespace: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: None,
            prefix: format!("portcullis:rl:{namespace}:"),
        })
    }

    async fn connection(&mut self) -> anyhow::Result<ConnectionManager> {
        if let Some(c) = &self.connection {
            return Ok(c.clone());
        }
        let c = self.client.get_connection_manager().await?;
        self.connection = Some(c.clone());
        Ok(c)
    }

    /// Adds `deltas` to `process`'s totals at `now_ms` and returns the other processes' totals
    /// of the keys reported at or after `since_ms`.
    pub(crate) async fn exchange(
        &mut self,
        process: &str,
        deltas: &[(String, i64)],
        now_ms: i64,
        since_ms: i64,
        idle_ms: i64,
    ) -> anyhow::Result<Vec<Usage>> {
        let mut c = self.connection().await?;
        let changed = format!("{}changed", self.prefix);
        if !deltas.is_empty() {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (key, delta) in deltas {
                let hash = format!("{}u:{key}", self.prefix);
                pipe.cmd("HINCRBY")
                    .arg(&hash)
                    .arg(process)
                    .arg(*delta)
                    .ignore();
                pipe.cmd("HSETNX")
                    .arg(&hash)
                    .arg(format!("{process}@"))
                    .arg(now_ms)
                    .ignore();
                pipe.cmd("PEXPIRE").arg(&hash).arg(idle_ms).ignore();
                pipe.cmd("ZADD").arg(&changed).arg(now_ms).arg(key).ignore();
            }
            pipe.query_async::<()>(&mut c).await?;
        }
        let keys: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&changed)
            .arg(since_ms)
            .arg("+inf")
            .query_async(&mut c)
            .await?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("HGETALL").arg(format!("{}u:{key}", self.prefix));
        }
        let hashes: Vec<HashMap<String, i64>> = pipe.query_async(&mut c).await?;
        let mut out = Vec::new();
        for (key, fields) in keys.into_iter().zip(hashes) {
            for (field, consumed) in &fields {
                if field.ends_with('@') || field == process {
                    continue;
                }
                out.push(Usage {
                    key: key.clone(),
                    process: field.clone(),
                    consumed: *consumed,
                    created_at_ms: fields.get(&format!("{field}@")).copied().unwrap_or(0),
                });
            }
        }
        Ok(out)
    }

    /// Forgets keys not reported since `before_ms` (their hashes expire by themselves).
    pub(crate) async fn purge(&mut self, before_ms: i64) -> anyhow::Result<()> {
        let mut c = self.connection().await?;
        redis::cmd("ZREMRANGEBYSCORE")
            .arg(format!("{}changed", self.prefix))
            .arg("-inf")
            .arg(format!("({before_ms}"))
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }
}
