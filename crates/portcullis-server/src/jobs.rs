//! Background jobs of a running server: reloading the key set and purging expired rows.
//!
//! Every process runs both. The reload, every `keys.refresh_secs`, decrypts only the keys it has
//! not seen and keeps the previous set when it fails, so a rotation made elsewhere arrives within
//! that period. The hourly purge deletes signing keys past `unpublish_at`; spent `jti`s, access
//! tokens, sessions, admin sessions, pushed requests, codes, initial access tokens and refresh
//! tokens past their expiry (for refresh tokens, the absolute one); per-address sign-in failure
//! counts a day old; and audit events older than `admin.audit_retention_days` (0 keeps them).
//! Users, grants and consents are never purged.

use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;
use crate::transport::serve;

/// Seconds between purges of expired rows.
const PURGE_INTERVAL_SECS: u64 = 3600;

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

/// Deletes expired rows so that tables stay bounded.
pub(crate) async fn purge_expired(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(PURGE_INTERVAL_SECS)) => {}
            _ = serve::stopped(&mut stop) => return,
        }
        let now = state.clock.now();
        match state.store.purge_expired(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "purged expired rows"),
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
        let retention_days = state.config.admin.audit_retention_days;
        if retention_days > 0 {
            let before = now.plus(-retention_days.saturating_mul(86_400));
            match state.store.purge_audit_events(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "purged audit events past their retention"),
                Err(e) => tracing::warn!(error = %e, "purging audit events failed"),
            }
        }
    }
}
