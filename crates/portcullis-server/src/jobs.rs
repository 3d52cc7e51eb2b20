//! Background jobs of a running server: reloading the key set and purging expired rows.
//!
//! Every process runs them. The reload, every `keys.refresh_secs`, decrypts only the keys it has
//! not seen and keeps the previous set when it fails, so a rotation made elsewhere arrives within
//! that period. The purge runs at start and every `limits.purge_interval_secs`, in batches of at
//! most `limits.purge_batch_rows` rows per kind (oldest first; a kind is finished for the pass
//! once a round had fewer) with a pause between batches (on SQLite no statement holds the write
//! lock for long): signing keys past `unpublish_at`; spent `jti`s,
//! access tokens, sessions, admin sessions, pushed requests, codes, initial access tokens and
//! refresh tokens past their expiry (for refresh tokens, the absolute one); per-address sign-in
//! failure counts a day old; ended grants; audit events older than
//! `admin.audit_retention_days` (0 keeps them); security events older than
//! `monitoring.event_retention_days`, security counts older than
//! `monitoring.count_retention_hours`, and closed incidents. Users and consents are never purged. A third
//! job logs, periodically, the refusals that were only counted (`bounds::Refusals`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;
use crate::transport::serve;

/// Reloads the key set so that rotations by other processes take effect here.
pub(crate) async fn refresh_keys(state: AppState, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config.keys.refresh_secs);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = serve::stopped(&mut stop) => return,
        }
        if let Err(e) = state.keys.reload().await {
            tracing::warn!(error = %e, "reloading signing keys failed; keeping the previous set");
        }
    }
}

/// Pause between two purge batches, so that other writers take the database in between (on
/// SQLite, the one write lock).
const PURGE_PAUSE: Duration = Duration::from_millis(20);

/// Deletes expired rows so that tables stay bounded: at start, then every
/// `limits.purge_interval_secs`, in batches of `limits.purge_batch_rows` per kind.
pub(crate) async fn purge_expired(state: AppState, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config.limits.purge_interval_secs);
    loop {
        tokio::select! {
            () = purge_once(&state) => {}
            _ = serve::stopped(&mut stop) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = serve::stopped(&mut stop) => return,
        }
    }
}

/// One purge: batches until nothing expired is left (or the database fails).
async fn purge_once(state: &AppState) {
    let batch_rows = state.config.limits.purge_batch_rows;
    let now = state.clock.now();
    let retention_days = state.config.admin.audit_retention_days;
    let audit_before =
        (retention_days > 0).then(|| now.plus(-retention_days.saturating_mul(86_400)));
    let (mut rows, mut batches) = (0_u64, 0_u64);
    let mut progress = portcullis_store::PurgeProgress::new();
    loop {
        let mut removed = match state
            .store
            .purge_expired_batch(now, batch_rows, &mut progress)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "purging expired rows failed");
                break;
            }
        };
        let monitoring = &state.config.monitoring;
        let events_before = if monitoring.event_retention_days > 0 {
            now.plus(-monitoring.event_retention_days.saturating_mul(86_400))
        } else {
            portcullis_core::Timestamp::from_unix(i64::MIN)
        };
        let counts_before = now.unix() - monitoring.count_retention_hours.saturating_mul(3600);
        match state
            .store
            .purge_security_batch(events_before, counts_before, now, batch_rows)
            .await
        {
            Ok(n) => removed += n,
            Err(e) => {
                tracing::warn!(error = %e, "purging security events and counts failed");
                break;
            }
        }
        if let Some(before) = audit_before {
            match state
                .store
                .purge_audit_events_batch(before, batch_rows)
                .await
            {
                Ok(n) => removed += n,
                Err(e) => {
                    tracing::warn!(error = %e, "purging audit events failed");
                    break;
                }
            }
        }
        if removed == 0 {
            break;
        }
        rows += removed;
        batches += 1;
        state.bounds.purge_batches.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(PURGE_PAUSE).await;
    }
    if rows > 0 {
        tracing::info!(rows, batches, "purged expired rows");
    }
    state.bounds.purges.fetch_add(1, Ordering::Relaxed);
}

/// Writes one line every `limits.refusal_summary_secs` with the refusals that were only counted
/// (anonymous admin POSTs, busy and throttled sign-ins), when there were any.
pub(crate) async fn summarise_refusals(state: AppState, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config.limits.refusal_summary_secs);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = serve::stopped(&mut stop) => return,
        }
        let [anonymous_admin, signin_busy, signin_throttled] = state.bounds.refusals.since_last();
        if anonymous_admin + signin_busy + signin_throttled > 0 {
            tracing::warn!(
                anonymous_admin,
                signin_busy,
                signin_throttled,
                period_secs = period.as_secs(),
                "requests refused without being stored"
            );
        }
    }
}
