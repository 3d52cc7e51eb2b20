//! Webhook deliveries of security events (`[[alerts.webhooks]]`).
//!
//! Raising an event queues one `security_deliveries` row per matching webhook in the same
//! transaction as the event (an outbox: nothing is sent for an event that was not stored, and
//! nothing stored is forgotten by a crash). Each process runs [`run`]: it claims due rows (a
//! claim is one conditional update, so one process attempts a delivery at a time) and posts the
//! event as JSON with
//!
//! ```text
//! Portcullis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//! ```
//!
//! (Stripe's shape; `webhook-id` and `webhook-timestamp` are sent too, for receivers that
//! deduplicate by id). A 2xx answer delivers; 410 Gone gives up at once; anything else, or no
//! answer, is tried again after 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h (with up to 10 %
//! jitter, or the receiver's `Retry-After` when longer), until `alerts.max_attempts`. Each
//! attempt's outcome is kept on the row: the delivery log of the security page.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_lc_rs::hmac;
use portcullis_store::security::{DeliveryJob, DeliveryOutcome, DeliveryState};
use tokio::sync::watch;

use super::{Monitor, event_json};
use crate::config::Alerts;

/// Seconds before attempt n + 1 (n attempts made so far).
const BACKOFF_SECS: [i64; 8] = [5, 30, 120, 600, 1800, 3600, 7200, 14_400];

/// Deliveries one round claims at most.
const BATCH: u32 = 16;

/// How often due deliveries are looked for when nothing wakes the task.
const POLL: Duration = Duration::from_secs(2);

/// The `Portcullis-Signature` value of `body` sent at `t` (unix seconds).
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut hex = String::with_capacity(64);
    for b in tag.as_ref() {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("t={t},v1={hex}")
}

/// Checks a `Portcullis-Signature` header as a receiver should: a `t` within `tolerance_secs`
/// of `now` and a `v1` equal (in constant time, lengths first) to the HMAC of `"<t>.<body>"`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let expected = signature(secret, t, body);
    let Some((_, expected)) = expected.split_once(",v1=") else {
        return false;
    };
    sigs.iter().any(|sig| {
        sig.len() == expected.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                sig.as_bytes(),
                expected.as_bytes(),
            )
            .is_ok()
    })
}

/// The HTTP client of the deliveries: no redirects, no proxy, `alerts.timeout_secs`, the extra
/// CA of `alerts.ca_file`.
fn http_client(alerts: &Alerts) -> anyhow::Result<reqwest::Client> {
    let timeout = Duration::from_secs(alerts.timeout_secs);
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .user_agent("portcullis-alerts");
    if let Some(ca) = &alerts.ca_file {
        let pem = std::fs::read(ca).with_context(|| format!("{} cannot be read", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
        builder = builder.tls_certs_merge(certs);
    }
    Ok(builder.build()?)
}

/// The delivery task of one process, until `stop`.
pub(crate) async fn run(monitor: Arc<Monitor>, mut stop: watch::Receiver<bool>) {
    if !monitor.enabled() || monitor.config.alerts.webhooks.is_empty() {
        return;
    }
    let http = match http_client(&monitor.config.alerts) {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "webhook deliveries are off: the HTTP client failed");
            return;
        }
    };
    let mut failing = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = monitor.deliveries.notified() => {}
            _ = crate::transport::serve::stopped(&mut stop) => return,
        }
        match deliver_due(&monitor, &http).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
            }
            Err(_) => {}
        }
    }
}

/// Claims and attempts the due deliveries, until none is left.
async fn deliver_due(monitor: &Monitor, http: &reqwest::Client) -> anyhow::Result<()> {
    loop {
        let now = monitor.now();
        let claim = now.plus(i64::try_from(monitor.config.alerts.timeout_secs)? + 30);
        let jobs = monitor.store.claim_deliveries(now, claim, BATCH).await?;
        if jobs.is_empty() {
            return Ok(());
        }
        for job in jobs {
            let outcome = attempt(monitor, http, &job).await;
            monitor.metrics.webhook_delivery(match outcome.state {
                DeliveryState::Delivered => "delivered",
                DeliveryState::Failed => "failed",
                DeliveryState::Pending => "retry",
            });
            if outcome.state != DeliveryState::Delivered {
                tracing::warn!(
                    event_id = %job.event.id,
                    sink = %job.sink,
                    attempts = job.attempts + 1,
                    status = outcome.status,
                    error = outcome.error.as_deref(),
                    state = outcome.state.as_str(),
                    "a webhook delivery did not succeed"
                );
            }
            monitor
                .store
                .finish_delivery(&job.event.id, &job.sink, &outcome, monitor.now())
                .await?;
        }
    }
}

/// One attempt of one delivery.
async fn attempt(monitor: &Monitor, http: &reqwest::Client, job: &DeliveryJob) -> DeliveryOutcome {
    let now = monitor.now();
    let alerts = &monitor.config.alerts;
    let Some(hook) = alerts.webhooks.iter().find(|h| h.url == job.sink) else {
        return DeliveryOutcome {
            state: DeliveryState::Failed,
            status: None,
            error: Some("the webhook is no longer configured".to_owned()),
            next_attempt_at: now,
        };
    };
    let body = event_json(&job.event).to_string();
    let t = now.unix();
    let sent = http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header(
            "portcullis-signature",
            signature(hook.secret.as_bytes(), t, body.as_bytes()),
        )
        .header("webhook-id", &job.event.id)
        .header("webhook-timestamp", t.to_string())
        .body(body)
        .send()
        .await;
    let made = job.attempts + 1;
    let (status, retry_after, error) = match sent {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return DeliveryOutcome {
                    state: DeliveryState::Delivered,
                    status: Some(i64::from(status.as_u16())),
                    error: None,
                    next_attempt_at: now,
                };
            }
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok());
            if status == reqwest::StatusCode::GONE {
                return DeliveryOutcome {
                    state: DeliveryState::Failed,
                    status: Some(410),
                    error: Some("the receiver answered 410 Gone".to_owned()),
                    next_attempt_at: now,
                };
            }
            (
                Some(i64::from(status.as_u16())),
                retry_after,
                format!("the receiver answered {}", status.as_u16()),
            )
        }
        Err(e) => (None, None, short_error(&e)),
    };
    if made >= alerts.max_attempts {
        return DeliveryOutcome {
            state: DeliveryState::Failed,
            status,
            error: Some(error),
            next_attempt_at: now,
        };
    }
    let index = usize::try_from(job.attempts)
        .unwrap_or(0)
        .min(BACKOFF_SECS.len() - 1);
    let base = BACKOFF_SECS[index];
    let jitter = (uuid::Uuid::new_v4().as_u128() % 100) as i64 * base / 1000;
    let wait = (base + jitter).max(retry_after.unwrap_or(0).clamp(0, 86_400));
    DeliveryOutcome {
        state: DeliveryState::Pending,
        status,
        error: Some(error),
        next_attempt_at: now.plus(wait),
    }
}

/// A short reason for a failed request, without the URL's query (never a secret).
fn short_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_the_body_and_a_fresh_time() {
        let secret = b"0123456789abcdef";
        let body = br#"{"kind":"rate_anomaly"}"#;
        let header = signature(secret, 1_700_000_000, body);
        // The known answer (Python's hmac module over the same bytes).
        assert_eq!(
            header,
            "t=1700000000,v1=9cfebffaf3ab92f9c83e802d3c3eb5a31dbfb682800e35192d0784ab6e10ff0a"
        );
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert!(verify(secret, &header, body, 1_700_000_100, 300));
        assert!(!verify(
            b"another secret!!",
            &header,
            body,
            1_700_000_100,
            300
        ));
        assert!(!verify(secret, &header, b"{}", 1_700_000_100, 300));
        assert!(!verify(secret, &header, body, 1_700_000_400, 300));
        // An empty or shortened v1 never verifies.
        assert!(!verify(
            secret,
            "t=1700000000,v1=",
            body,
            1_700_000_000,
            300
        ));
        let short = &header[..header.len() - 2];
        assert!(!verify(secret, short, body, 1_700_000_000, 300));
    }
}
