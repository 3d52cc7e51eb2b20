//! The SQL of [`SecurityStore`](crate::security::SecurityStore), shared by both backends: the
//! `security_*` tables of migration 0008.

use crate::security::{Baseline, CountRow, DeliveryRecord, SecurityEventRecord, SeenRecord};
use crate::sql::ts;

/// A `security_counts` row.
#[derive(sqlx::FromRow)]
pub(crate) struct CountRowSql {
    series: String,
    subject: String,
    window_start: i64,
    count: i64,
}

impl From<CountRowSql> for CountRow {
    fn from(r: CountRowSql) -> Self {
        Self {
            series: r.series,
            subject: r.subject,
            window_start: r.window_start,
            count: r.count,
        }
    }
}

/// A `security_baselines` row.
#[derive(sqlx::FromRow)]
pub(crate) struct BaselineRow {
    series: String,
    subject: String,
    mean_milli: i64,
    var_milli: i64,
    samples: i64,
    last_window: i64,
}

impl From<BaselineRow> for Baseline {
    fn from(r: BaselineRow) -> Self {
        Self {
            series: r.series,
            subject: r.subject,
            mean_milli: r.mean_milli,
            var_milli: r.var_milli,
            samples: r.samples,
            last_window: r.last_window,
        }
    }
}

/// A `security_seen` row.
#[derive(sqlx::FromRow)]
pub(crate) struct SeenRow {
    kind: String,
    value: String,
    first_seen: i64,
    last_seen: i64,
}

impl From<SeenRow> for SeenRecord {
    fn from(r: SeenRow) -> Self {
        Self {
            kind: r.kind,
            value: r.value,
            first_seen: ts(r.first_seen),
            last_seen: ts(r.last_seen),
        }
    }
}

/// The columns of `security_events`, prefixed with `$prefix` if given.
macro_rules! event_columns {
    () => {
        $crate::sql::security::event_columns!("")
    };
    ($prefix:literal) => {
        $crate::sql::columns!($prefix; id, at, kind, severity, client_id, account, address,
            evidence, text, acknowledged_at, acknowledged_by)
    };
}

pub(crate) use event_columns;

/// A `security_events` row.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: String,
    at: i64,
    kind: String,
    severity: String,
    client_id: Option<String>,
    account: Option<String>,
    address: Option<String>,
    evidence: String,
    text: String,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<String>,
}

impl From<EventRow> for SecurityEventRecord {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            at: ts(r.at),
            kind: r.kind,
            severity: r.severity,
            client_id: r.client_id,
            account: r.account,
            address: r.address,
            evidence: r.evidence,
            text: r.text,
            acknowledged_at: r.acknowledged_at.map(ts),
            acknowledged_by: r.acknowledged_by,
        }
    }
}

/// A `security_deliveries` row.
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    event_id: String,
    sink: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    updated_at: i64,
}

impl From<DeliveryRow> for DeliveryRecord {
    fn from(r: DeliveryRow) -> Self {
        Self {
            event_id: r.event_id,
            sink: r.sink,
            state: r.state,
            attempts: r.attempts,
            next_attempt_at: ts(r.next_attempt_at),
            last_status: r.last_status,
            last_error: r.last_error,
            updated_at: ts(r.updated_at),
        }
    }
}

pub(crate) const ADD_COUNT: &str = "INSERT INTO security_counts \
     (series, subject, window_start, count) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (series, subject, window_start) DO UPDATE SET \
     count = security_counts.count + excluded.count RETURNING count";

// A series prefix is compared as text (`substr`), not as a `LIKE` pattern: `_` in a series name
// would match any character, and SQLite's `LIKE` ignores ASCII case where Postgres's does not.
pub(crate) const SELECT_COUNTS: &str = "SELECT series, subject, window_start, count \
     FROM security_counts WHERE substr(series, 1, length($1)) = $1 \
     AND ($2 IS NULL OR subject = $2) AND window_start >= $3 \
     ORDER BY series, subject, window_start";

pub(crate) const COUNTS_IN_WINDOW: &str = "SELECT series, subject, window_start, count \
     FROM security_counts WHERE substr(series, 1, length($1)) = $1 AND window_start = $2";

pub(crate) const SELECT_BASELINES: &str = "SELECT series, subject, mean_milli, var_milli, \
     samples, last_window FROM security_baselines WHERE substr(series, 1, length($1)) = $1 \
     AND ($2 IS NULL OR subject = $2) ORDER BY series, subject";

pub(crate) const PUT_BASELINE: &str = "INSERT INTO security_baselines \
     (series, subject, mean_milli, var_milli, samples, last_window) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (series, subject) DO UPDATE SET \
     mean_milli = excluded.mean_milli, var_milli = excluded.var_milli, \
     samples = excluded.samples, last_window = excluded.last_window";

pub(crate) const CLAIM: &str =
    "UPDATE security_claims SET value = $2 WHERE name = $1 AND value < $2";

pub(crate) const INSERT_CLAIM: &str =
    "INSERT INTO security_claims (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING";

pub(crate) const INSERT_SEEN: &str = "INSERT INTO security_seen \
     (client_id, kind, value, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (client_id, kind, value) DO NOTHING RETURNING first_seen";

pub(crate) const TOUCH_SEEN: &str = "UPDATE security_seen SET last_seen = $4 \
     WHERE client_id = $1 AND kind = $2 AND value = $3 AND last_seen < $4";

pub(crate) const EARLIEST_SEEN: &str =
    "SELECT MIN(first_seen) FROM security_seen WHERE client_id = $1 AND kind = $2";

pub(crate) const SEEN_OF_CLIENT: &str = "SELECT kind, value, first_seen, last_seen \
     FROM security_seen WHERE client_id = $1 ORDER BY last_seen DESC, kind, value LIMIT 200";

/// Opens the incident (kind, key) unless one is open at `$4`; returns a row only if it opened.
pub(crate) const OPEN_INCIDENT: &str = "INSERT INTO security_incidents \
     (kind, key, event_id, opened_at, until_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (kind, key) DO UPDATE SET event_id = excluded.event_id, \
     opened_at = excluded.opened_at, until_at = excluded.until_at \
     WHERE security_incidents.until_at <= excluded.opened_at RETURNING event_id";

pub(crate) const INSERT_EVENT: &str = concat!(
    "INSERT INTO security_events (",
    event_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO security_deliveries \
     (event_id, sink, state, attempts, next_attempt_at, claimed_until, updated_at) \
     VALUES ($1, $2, 'pending', 0, $3, 0, $3)";

pub(crate) const SELECT_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM security_events WHERE ($1 IS NULL OR kind = $1) AND ($2 IS NULL OR severity = $2) \
     AND ($3 IS NULL OR client_id = $3) AND ($4 = 0 OR acknowledged_at IS NULL) \
     AND at >= $5 ORDER BY at DESC, id LIMIT $6 OFFSET $7"
);

pub(crate) const EVENT_COUNTS: &str = "SELECT kind, severity, COUNT(*) FROM security_events \
     WHERE at >= $1 GROUP BY kind, severity ORDER BY kind, severity";

pub(crate) const ACKNOWLEDGE: &str = "UPDATE security_events SET acknowledged_at = $3, \
     acknowledged_by = $2 WHERE id = $1 AND acknowledged_at IS NULL";

/// Claims due pending deliveries; the outer condition is checked again on each row, so two
/// processes never claim one row.
pub(crate) const CLAIM_DELIVERIES: &str = "UPDATE security_deliveries SET claimed_until = $2 \
     WHERE state = 'pending' AND next_attempt_at <= $1 AND claimed_until <= $1 \
     AND (event_id, sink) IN (SELECT event_id, sink FROM security_deliveries \
     WHERE state = 'pending' AND next_attempt_at <= $1 AND claimed_until <= $1 \
     ORDER BY next_attempt_at LIMIT $3) RETURNING event_id, sink, attempts";

pub(crate) const EVENT_BY_ID: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM security_events WHERE id = $1"
);

pub(crate) const FINISH_DELIVERY: &str = "UPDATE security_deliveries SET state = $3, \
     attempts = attempts + 1, next_attempt_at = $4, claimed_until = 0, last_status = $5, \
     last_error = $6, updated_at = $7 WHERE event_id = $1 AND sink = $2";

pub(crate) const DELIVERIES_OF_EVENT: &str = "SELECT event_id, sink, state, attempts, \
     next_attempt_at, last_status, last_error, updated_at FROM security_deliveries \
     WHERE event_id = $1 ORDER BY sink LIMIT $2";

pub(crate) const RECENT_DELIVERIES: &str = "SELECT event_id, sink, state, attempts, \
     next_attempt_at, last_status, last_error, updated_at FROM security_deliveries \
     ORDER BY updated_at DESC, event_id, sink LIMIT $1";

pub(crate) const PURGE_EVENTS: &str = "DELETE FROM security_events WHERE id IN \
     (SELECT id FROM security_events WHERE at < $1 ORDER BY at LIMIT $2)";

pub(crate) const PURGE_COUNTS: &str = "DELETE FROM security_counts WHERE \
     (series, subject, window_start) IN (SELECT series, subject, window_start \
     FROM security_counts WHERE window_start < $1 ORDER BY window_start LIMIT $2)";

pub(crate) const PURGE_INCIDENTS: &str = "DELETE FROM security_incidents WHERE (kind, key) IN \
     (SELECT kind, key FROM security_incidents WHERE until_at < $1 ORDER BY until_at LIMIT $2)";

/// Implements [`SecurityStore`](crate::security::SecurityStore) for a backend struct (see
/// [`sql_backend`](crate::sql::sql_backend)).
macro_rules! sql_security_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::security::SecurityStore for $store {
            async fn add_security_counts(
                &self,
                deltas: &[$crate::security::CountDelta],
            ) -> Result<Vec<i64>, $crate::StoreError> {
                // Rows are upserted (and so locked) in one order, whatever the caller's: two
                // processes flushing the same keys in other orders would deadlock on Postgres.
                let mut order: Vec<usize> = (0..deltas.len()).collect();
                order.sort_by_key(|&i| {
                    let d = &deltas[i];
                    (&d.series, &d.subject, d.window_start)
                });
                let mut tx = self.pool.begin().await?;
                let mut totals = vec![0; deltas.len()];
                for i in order {
                    let d = &deltas[i];
                    let (total,): (i64,) = sqlx::query_as($crate::sql::security::ADD_COUNT)
                        .bind(&d.series)
                        .bind(&d.subject)
                        .bind(d.window_start)
                        .bind(d.delta)
                        .fetch_one(&mut *tx)
                        .await?;
                    totals[i] = total;
                }
                tx.commit().await?;
                Ok(totals)
            }

            async fn security_counts(
                &self,
                series_prefix: &str,
                subject: Option<&str>,
                since: i64,
            ) -> Result<Vec<$crate::security::CountRow>, $crate::StoreError> {
                let rows: Vec<$crate::sql::security::CountRowSql> =
                    sqlx::query_as($crate::sql::security::SELECT_COUNTS)
                        .bind(series_prefix)
                        .bind(subject)
                        .bind(since)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn security_counts_in_window(
                &self,
                series_prefix: &str,
                window_start: i64,
            ) -> Result<Vec<$crate::security::CountRow>, $crate::StoreError> {
                let rows: Vec<$crate::sql::security::CountRowSql> =
                    sqlx::query_as($crate::sql::security::COUNTS_IN_WINDOW)
                        .bind(series_prefix)
                        .bind(window_start)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn security_baselines(
                &self,
                series_prefix: &str,
                subject: Option<&str>,
            ) -> Result<Vec<$crate::security::Baseline>, $crate::StoreError> {
                let rows: Vec<$crate::sql::security::BaselineRow> =
                    sqlx::query_as($crate::sql::security::SELECT_BASELINES)
                        .bind(series_prefix)
                        .bind(subject)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn put_security_baselines(
                &self,
                baselines: &[$crate::security::Baseline],
            ) -> Result<(), $crate::StoreError> {
                if baselines.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for b in baselines {
                    sqlx::query($crate::sql::security::PUT_BASELINE)
                        .bind(&b.series)
                        .bind(&b.subject)
                        .bind(b.mean_milli)
                        .bind(b.var_milli)
                        .bind(b.samples)
                        .bind(b.last_window)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn claim_security_window(
                &self,
                name: &str,
                value: i64,
            ) -> Result<bool, $crate::StoreError> {
                sqlx::query($crate::sql::security::INSERT_CLAIM)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                let done = sqlx::query($crate::sql::security::CLAIM)
                    .bind(name)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_seen(
                &self,
                client_id: &str,
                kind: $crate::security::SeenKind,
                value: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::security::Seen, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let inserted: Option<(i64,)> = sqlx::query_as($crate::sql::security::INSERT_SEEN)
                    .bind(client_id)
                    .bind(kind.as_str())
                    .bind(value)
                    .bind(now.unix())
                    .fetch_optional(&mut *tx)
                    .await?;
                let seen = if inserted.is_some() {
                    let (earliest,): (Option<i64>,) =
                        sqlx::query_as($crate::sql::security::EARLIEST_SEEN)
                            .bind(client_id)
                            .bind(kind.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                    $crate::security::Seen::New {
                        since: $crate::sql::ts(earliest.unwrap_or(now.unix())),
                    }
                } else {
                    sqlx::query($crate::sql::security::TOUCH_SEEN)
                        .bind(client_id)
                        .bind(kind.as_str())
                        .bind(value)
                        .bind(now.unix())
                        .execute(&mut *tx)
                        .await?;
                    $crate::security::Seen::Known
                };
                tx.commit().await?;
                Ok(seen)
            }

            async fn seen_of_client(
                &self,
                client_id: &str,
            ) -> Result<Vec<$crate::security::SeenRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::security::SeenRow> =
                    sqlx::query_as($crate::sql::security::SEEN_OF_CLIENT)
                        .bind(client_id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn raise_security_event(
                &self,
                event: &$crate::security::SecurityEventRecord,
                incident: Option<(&str, portcullis_core::Timestamp)>,
                sinks: &[String],
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                if let Some((key, until)) = incident {
                    let opened: Option<(String,)> =
                        sqlx::query_as($crate::sql::security::OPEN_INCIDENT)
                            .bind(&event.kind)
                            .bind(key)
                            .bind(&event.id)
                            .bind(event.at.unix())
                            .bind(until.unix())
                            .fetch_optional(&mut *tx)
                            .await?;
                    if opened.is_none() {
                        return Ok(false);
                    }
                }
                sqlx::query($crate::sql::security::INSERT_EVENT)
                    .bind(&event.id)
                    .bind(event.at.unix())
                    .bind(&event.kind)
                    .bind(&event.severity)
                    .bind(&event.client_id)
                    .bind(&event.account)
                    .bind(&event.address)
                    .bind(&event.evidence)
                    .bind(&event.text)
                    .bind(event.acknowledged_at.map(|t| t.unix()))
                    .bind(&event.acknowledged_by)
                    .execute(&mut *tx)
                    .await?;
                for sink in sinks {
                    sqlx::query($crate::sql::security::INSERT_DELIVERY)
                        .bind(&event.id)
                        .bind(sink)
                        .bind(event.at.unix())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn security_events(
                &self,
                filter: &$crate::security::EventFilter,
                limit: u32,
                offset: u32,
            ) -> Result<Vec<$crate::security::SecurityEventRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::security::EventRow> =
                    sqlx::query_as($crate::sql::security::SELECT_EVENTS)
                        .bind(filter.kind.as_deref())
                        .bind(filter.severity.as_deref())
                        .bind(filter.client_id.as_deref())
                        .bind(i64::from(filter.unacknowledged))
                        .bind(filter.since.map_or(i64::MIN, |t| t.unix()))
                        .bind(i64::from(limit))
                        .bind(i64::from(offset))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn security_event_counts(
                &self,
                since: portcullis_core::Timestamp,
            ) -> Result<Vec<(String, String, i64)>, $crate::StoreError> {
                Ok(sqlx::query_as($crate::sql::security::EVENT_COUNTS)
                    .bind(since.unix())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn acknowledge_security_event(
                &self,
                id: &str,
                by: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::security::ACKNOWLEDGE)
                    .bind(id)
                    .bind(by)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn claim_deliveries(
                &self,
                now: portcullis_core::Timestamp,
                claim_until: portcullis_core::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::security::DeliveryJob>, $crate::StoreError> {
                let claimed: Vec<(String, String, i64)> =
                    sqlx::query_as($crate::sql::security::CLAIM_DELIVERIES)
                        .bind(now.unix())
                        .bind(claim_until.unix())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                let mut jobs = Vec::with_capacity(claimed.len());
                for (event_id, sink, attempts) in claimed {
                    let row: Option<$crate::sql::security::EventRow> =
                        sqlx::query_as($crate::sql::security::EVENT_BY_ID)
                            .bind(&event_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    if let Some(row) = row {
                        jobs.push($crate::security::DeliveryJob {
                            event: row.into(),
                            sink,
                            attempts,
                        });
                    }
                }
                Ok(jobs)
            }

            async fn finish_delivery(
                &self,
                event_id: &str,
                sink: &str,
                outcome: &$crate::security::DeliveryOutcome,
                now: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::security::FINISH_DELIVERY)
                    .bind(event_id)
                    .bind(sink)
                    .bind(outcome.state.as_str())
                    .bind(outcome.next_attempt_at.unix())
                    .bind(outcome.status)
                    .bind(outcome.error.as_deref())
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn security_deliveries(
                &self,
                event_id: Option<&str>,
                limit: u32,
            ) -> Result<Vec<$crate::security::DeliveryRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::security::DeliveryRow> = match event_id {
                    Some(id) => {
                        sqlx::query_as($crate::sql::security::DELIVERIES_OF_EVENT)
                            .bind(id)
                            .bind(i64::from(limit))
                            .fetch_all(&self.pool)
                            .await?
                    }
                    None => {
                        sqlx::query_as($crate::sql::security::RECENT_DELIVERIES)
                            .bind(i64::from(limit))
                            .fetch_all(&self.pool)
                            .await?
                    }
                };
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn purge_security_batch(
                &self,
                events_before: portcullis_core::Timestamp,
                counts_before: i64,
                now: portcullis_core::Timestamp,
                limit: u32,
            ) -> Result<u64, $crate::StoreError> {
                let limit = i64::from(limit);
                let mut removed = 0;
                for (sql, cutoff) in [
                    ($crate::sql::security::PURGE_EVENTS, events_before.unix()),
                    ($crate::sql::security::PURGE_COUNTS, counts_before),
                    ($crate::sql::security::PURGE_INCIDENTS, now.unix()),
                ] {
                    removed += sqlx::query(sql)
                        .bind(cutoff)
                        .bind(limit)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                }
                Ok(removed)
            }
        }
    };
}

pub(crate) use sql_security_store;
