//! Storage for security monitoring (decision record 0017): deployment-wide counts per window,
//! learned baselines, the networks and certificates each client was seen with, security events
//! with their open incidents, and the webhook deliveries of those events.
//!
//! Everything that must happen once per deployment is one conditional statement here: a count's
//! new total is returned by the upsert that adds to it, an incident opens (and its event is
//! written) for exactly one of several processes that see one anomaly, a finished window is
//! folded into the baselines by the one process whose claim moves it forward, and a delivery is
//! attempted by the one process that claimed it.

use async_trait::async_trait;
use portcullis_core::Timestamp;

use crate::StoreError;

/// What one process counted for one (series, subject) in one window since its last flush.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CountDelta {
    /// What is counted (`rate:token`, `auth_failures:client`, …).
    pub series: String,
    /// Whom it is counted for (a client id, an address, an account; `""` for the deployment).
    pub subject: String,
    /// The window's start, unix seconds.
    pub window_start: i64,
    /// How many since the last flush.
    pub delta: i64,
}

/// A deployment-wide count as stored.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CountRow {
    /// What is counted.
    pub series: String,
    /// Whom it is counted for.
    pub subject: String,
    /// The window's start, unix seconds.
    pub window_start: i64,
    /// The total over every process.
    pub count: i64,
}

/// A learned baseline: an exponentially weighted mean and variance of a series' count per
/// window, in thousandths.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Baseline {
    /// The series.
    pub series: String,
    /// The subject.
    pub subject: String,
    /// Mean count per window, thousandths.
    pub mean_milli: i64,
    /// Variance, thousandths.
    pub var_milli: i64,
    /// Windows folded in so far.
    pub samples: i64,
    /// The last window folded in.
    pub last_window: i64,
}

/// Something a client was seen with.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum SeenKind {
    /// A network: an IPv4 /24 or an IPv6 /48.
    Network,
    /// A certificate, by its `x5t#S256`.
    Certificate,
}

impl SeenKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Certificate => "certificate",
        }
    }
}

/// The outcome of recording what a client was seen with.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Seen {
    /// Seen before (its `last_seen` moved).
    Known,
    /// Never seen before: this call recorded it first. `since` is when the client was first
    /// seen with anything of this kind (now, for the client's first).
    New {
        /// The earliest `first_seen` of the client's records of this kind.
        since: Timestamp,
    },
}

/// One network or certificate a client was seen with.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SeenRecord {
    /// `network` or `certificate`.
    pub kind: String,
    /// The network (`192.0.2.0/24`) or thumbprint.
    pub value: String,
    /// First time.
    pub first_seen: Timestamp,
    /// Last time recorded (a process records a pair again only after forgetting it).
    pub last_seen: Timestamp,
}

/// A security event as stored.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SecurityEventRecord {
    /// Unique id (a UUID).
    pub id: String,
    /// When it was raised.
    pub at: Timestamp,
    /// What kind of event (`rate_anomaly`, `auth_failure_burst`, …).
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The client it is about, if any.
    pub client_id: Option<String>,
    /// The account (a username) it is about, if any.
    pub account: Option<String>,
    /// The address or network it is about, if any.
    pub address: Option<String>,
    /// The numbers that support it, as a JSON object.
    pub evidence: String,
    /// One sentence for a person.
    pub text: String,
    /// When an administrator acknowledged it.
    pub acknowledged_at: Option<Timestamp>,
    /// Who acknowledged it (a username).
    pub acknowledged_by: Option<String>,
}

/// Which events to list.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct EventFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this severity.
    pub severity: Option<String>,
    /// Only about this client.
    pub client_id: Option<String>,
    /// Only those not acknowledged.
    pub unacknowledged: bool,
    /// Only those raised at or after this time.
    pub since: Option<Timestamp>,
}

/// The state of one delivery.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum DeliveryState {
    /// Not delivered yet; another attempt is due at `next_attempt_at`.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Given up (attempts exhausted, or the receiver answered 410 Gone).
    Failed,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// One delivery of an event to a webhook, as stored (the delivery log).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DeliveryRecord {
    /// The event.
    pub event_id: String,
    /// The webhook: its `url` in `[[alerts.webhooks]]`.
    pub sink: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Timestamp,
    /// The last HTTP status received, if any.
    pub last_status: Option<i64>,
    /// The last error (a short reason, never a secret), if any.
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A claimed delivery with its event, to attempt now.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DeliveryJob {
    /// The event to send.
    pub event: SecurityEventRecord,
    /// The webhook.
    pub sink: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// How an attempt ended.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DeliveryOutcome {
    /// The new state.
    pub state: DeliveryState,
    /// The HTTP status, if a receiver answered.
    pub status: Option<i64>,
    /// A short reason, if it failed.
    pub error: Option<String>,
    /// When to try again (pending only).
    pub next_attempt_at: Timestamp,
}

/// Security monitoring storage.
#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// Adds each delta to its deployment-wide total and returns the new totals, in order. One
    /// transaction.
    async fn add_security_counts(&self, deltas: &[CountDelta]) -> Result<Vec<i64>, StoreError>;

    /// Counts of the series whose name starts with `series_prefix` (of `subject` only, if
    /// given) in windows starting at or after `since`, ordered by series, subject and window.
    async fn security_counts(
        &self,
        series_prefix: &str,
        subject: Option<&str>,
        since: i64,
    ) -> Result<Vec<CountRow>, StoreError>;

    /// Counts of the series starting with `series_prefix` in the window starting at
    /// `window_start`.
    async fn security_counts_in_window(
        &self,
        series_prefix: &str,
        window_start: i64,
    ) -> Result<Vec<CountRow>, StoreError>;

    /// The baselines of the series starting with `series_prefix` (of `subject` only, if given).
    async fn security_baselines(
        &self,
        series_prefix: &str,
        subject: Option<&str>,
    ) -> Result<Vec<Baseline>, StoreError>;

    /// Writes baselines (insert or replace). One transaction.
    async fn put_security_baselines(&self, baselines: &[Baseline]) -> Result<(), StoreError>;

    /// Moves the claim `name` forward to `value`: `true` for exactly one caller per value (the
    /// stored value was smaller), `false` for every other.
    async fn claim_security_window(&self, name: &str, value: i64) -> Result<bool, StoreError>;

    /// Records that `client_id` was seen with `value` of `kind` at `now`.
    async fn record_seen(
        &self,
        client_id: &str,
        kind: SeenKind,
        value: &str,
        now: Timestamp,
    ) -> Result<Seen, StoreError>;

    /// Every network and certificate `client_id` was seen with, most recent first.
    async fn seen_of_client(&self, client_id: &str) -> Result<Vec<SeenRecord>, StoreError>;

    /// Raises `event`: with `incident` (a key and the end of its window), only if no incident
    /// of the event's kind and that key is open at the event's time, which then opens until the
    /// given end. Returns `true` when the event was stored; with it, one pending delivery per
    /// sink in `sinks`. One transaction: of concurrent calls for one open incident, one stores.
    async fn raise_security_event(
        &self,
        event: &SecurityEventRecord,
        incident: Option<(&str, Timestamp)>,
        sinks: &[String],
    ) -> Result<bool, StoreError>;

    /// Events matching `filter`, newest first, at most `limit`, skipping `offset`.
    async fn security_events(
        &self,
        filter: &EventFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<SecurityEventRecord>, StoreError>;

    /// Counts of events by (kind, severity) raised at or after `since`.
    async fn security_event_counts(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, String, i64)>, StoreError>;

    /// Marks an event acknowledged by `by`. Returns `false` when there is no such event or it
    /// was already acknowledged.
    async fn acknowledge_security_event(
        &self,
        id: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Claims up to `limit` pending deliveries due at `now` (none claimed by another process
    /// until `claim_until`) and returns them with their events.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        claim_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DeliveryJob>, StoreError>;

    /// Records how an attempt ended (the attempt count grows by one; the claim is released).
    async fn finish_delivery(
        &self,
        event_id: &str,
        sink: &str,
        outcome: &DeliveryOutcome,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The deliveries of one event, or the most recent ones (`event_id` `None`), newest first.
    async fn security_deliveries(
        &self,
        event_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Deletes, in one batch of at most `limit` rows per kind: events raised before
    /// `events_before` (with their deliveries), counts of windows before `counts_before`, and
    /// incidents closed before `now`. Returns the rows deleted.
    async fn purge_security_batch(
        &self,
        events_before: Timestamp,
        counts_before: i64,
        now: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError>;
}
