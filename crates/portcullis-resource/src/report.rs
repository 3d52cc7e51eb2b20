//! Reports of API-side events to the authorization server, without ever holding a request.
//!
//! The layer hands an [`Event`] to [`Reporter::report`], which only tries to put it on a bounded
//! queue: when the queue is full the event is dropped and counted (the next report says how
//! many). A background task takes events off the queue, waits up to `reporting.flush_millis` to
//! fill a batch of `reporting.batch`, and sends it as one [`Report`] to the authorization
//! server's `resource-events` endpoint:
//!
//! ```text
//! POST /resource-events                  (at the mTLS listener, with the API's certificate)
//! Content-Type: application/x-www-form-urlencoded
//!
//! client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
//! &client_assertion=<private_key_jwt assertion, aud = issuer>
//! &report=<the Report as JSON>
//! ```
//!
//! The client authenticates exactly as at introspection. A `2xx` answer means delivered; `429`,
//! `5xx` and network failures are retried twice with backoff (a fresh assertion each time);
//! anything else drops the batch with a log line. The wire format is `portcullis-core`'s
//! [`resource_events`](portcullis_core::resource_events).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portcullis_core::resource_events::{MAX_EVENTS, Report};
use tokio::sync::mpsc;

use crate::Stats;
use crate::clock::{Clock, seconds};
use crate::http::{AsClient, ClientAuth};
use crate::settings::Reporting;

pub(crate) use portcullis_core::resource_events::{Counter, Event, EventKind, Evidence};

/// Attempts per batch.
const ATTEMPTS: u32 = 3;

/// The sending side of the report queue.
#[derive(Debug)]
pub(crate) struct Reporter {
    queue: mpsc::Sender<Event>,
    /// Events dropped since the last report was built.
    dropped: Arc<AtomicU64>,
}

/// Everything the background sender needs.
pub(crate) struct Sender {
    pub(crate) http: Arc<AsClient>,
    pub(crate) auth: Arc<ClientAuth>,
    pub(crate) endpoint: String,
    pub(crate) resource: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) stats: Arc<Stats>,
}

impl Reporter {
    /// Starts the background sender on the current tokio runtime. It stops when the last
    /// [`Reporter`] is dropped, after sending what is queued.
    pub(crate) fn start(settings: &Reporting, sender: Sender) -> Self {
        let (queue, events) = mpsc::channel(settings.queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let batch = settings.batch.clamp(1, MAX_EVENTS);
        let flush = Duration::from_millis(settings.flush_millis);
        tokio::spawn(run(events, batch, flush, sender, Arc::clone(&dropped)));
        Self { queue, dropped }
    }

    /// Queues `event` if there is room; never waits.
    pub(crate) fn report(&self, event: Event, stats: &Stats) {
        match self.queue.try_send(event) {
            Ok(()) => Stats::add(&stats.reports_queued, 1),
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Stats::add(&stats.reports_dropped, 1);
            }
        }
    }
}

/// The background sender: batches and sends until the queue closes.
async fn run(
    mut events: mpsc::Receiver<Event>,
    batch: usize,
    flush: Duration,
    sender: Sender,
    dropped: Arc<AtomicU64>,
) {
    while let Some(first) = events.recv().await {
        let mut pending = vec![first];
        let deadline = tokio::time::Instant::now() + flush;
        while pending.len() < batch {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => pending.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        let count = u64::try_from(pending.len()).unwrap_or(u64::MAX);
        let report = Report {
            resource: sender.resource.clone(),
            sent_at: seconds(sender.clock.now()).unix(),
            dropped: dropped.swap(0, Ordering::Relaxed),
            events: pending,
        };
        if send(&sender, &report).await {
            Stats::add(&sender.stats.reports_sent, count);
        } else {
            Stats::add(&sender.stats.reports_dropped, count);
            // The receiver learns of these with the next report that gets through.
            dropped.fetch_add(count + report.dropped, Ordering::Relaxed);
        }
    }
}

/// Sends one report, retrying what may succeed later; whether it was delivered.
async fn send(sender: &Sender, report: &Report) -> bool {
    let json = match serde_json::to_string(report) {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(error = %e, "serializing a report failed");
            return false;
        }
    };
    let mut backoff = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        let now = seconds(sender.clock.now());
        let auth = match sender.auth.form(now) {
            Ok(auth) => auth,
            Err(e) => {
                tracing::error!(error = %e, "building the client assertion failed");
                return false;
            }
        };
        let [(t1, v1), (t2, v2)] = &auth;
        let form = [
            (*t1, v1.as_str()),
            (*t2, v2.as_str()),
            ("report", json.as_str()),
        ];
        let retry = match sender
            .http
            .post_form(&sender.endpoint, &form, "application/json")
            .await
        {
            Ok(answer) if (200..300).contains(&answer.status) => return true,
            Ok(answer) if answer.status == 429 || answer.status >= 500 => {
                format!("status {}", answer.status)
            }
            Ok(answer) => {
                tracing::warn!(
                    status = answer.status,
                    endpoint = %sender.endpoint,
                    events = report.events.len(),
                    "the authorization server refused a report; dropped"
                );
                return false;
            }
            Err(e) => e.to_string(),
        };
        if attempt == ATTEMPTS {
            tracing::warn!(
                error = %retry,
                endpoint = %sender.endpoint,
                events = report.events.len(),
                "sending a report failed; dropped"
            );
            return false;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    false
}
