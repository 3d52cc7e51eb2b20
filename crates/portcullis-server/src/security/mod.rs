//! Security events (issue 11; `docs/MONITORING.md` lists every kind with what to do about it,
//! `docs/decisions/0017-security-events.md` says how the deployment counts as one).
//!
//! Request paths only count: [`Monitor::count`] adds one to an in-memory tally (a mutex and a
//! hash map entry; no I/O). Every `monitoring.flush_ms` the [`detect`] task adds the tally to the
//! deployment-wide totals in the database (one transaction, which returns the new totals) and
//! judges each total: a threshold crossed, or a client's rate far above its learned baseline,
//! raises an event through [`Monitor::raise`]. An event is raised at most once per open incident
//! (kind and subject) for the whole deployment: the store opens the incident and writes the event
//! in one conditional statement, so of several processes seeing one anomaly one writes it. The
//! one that does logs it as a JSON line (target `portcullis::security`), counts it
//! (`portcullis_security_events_total{kind,severity}`) and queues one delivery per matching
//! webhook ([`alerts`]).
//!
//! Subjects are client ids, addresses, networks, account names and endpoint names, never a
//! token, code, assertion or key; evidence holds numbers and those names only.

pub mod alerts;
pub mod detect;
pub mod seen;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_core::Timestamp;
use portcullis_store::Store;
use portcullis_store::security::SecurityEventRecord;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::config::Config;
use crate::monitoring::Metrics;
use crate::setup::clock::Clock;

/// How bad an event is.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum Severity {
    /// Worth knowing; nothing to do unless it was not expected.
    Info,
    /// Look at it: likely abuse or a mistake.
    Warning,
    /// Act now: a credential is likely stolen or being abused.
    Critical,
}

impl Severity {
    /// Every severity, least first.
    pub const ALL: [Self; 3] = [Self::Info, Self::Warning, Self::Critical];

    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// What kind of event.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Kind {
    /// A client's request rate to one endpoint far above its learned baseline (or, while the
    /// baseline learns, above the static ceiling).
    RateAnomaly,
    /// A sudden climb in the number of distinct users a client obtains tokens for.
    SubjectSurge,
    /// Many authentication failures in a few minutes, for one client, address or account.
    AuthFailureBurst,
    /// A replay refused: an assertion or DPoP `jti`, a code, a `request_uri`, a refresh token.
    ReplayRefused,
    /// A client's code or refresh token replayed, which revoked its grant.
    GrantRevokedOnReplay,
    /// Requests refused by a rate limit (summarised: one event per subject and incident).
    RateLimited,
    /// A client seen from a network it never used, after its learning period.
    NewNetwork,
    /// A client presenting a certificate it never presented, after its learning period.
    NewCertificate,
    /// A resource server introspecting many unknown or inactive tokens: guessing.
    IntrospectionGuessing,
    /// Requests authenticated for a client that is disabled.
    DisabledClient,
    /// Refused sign-ins to the admin UI.
    AdminSigninFailure,
    /// An administrator changed keys, clients or users.
    AdminChange,
    /// The signing key in use is older than `monitoring.key_max_age_days`.
    SigningKeyOverdue,
    /// A resource server reported abuse seen at its API (`POST /resource-events`).
    ResourceServerReport,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 14] = [
        Self::RateAnomaly,
        Self::SubjectSurge,
        Self::AuthFailureBurst,
        Self::ReplayRefused,
        Self::GrantRevokedOnReplay,
        Self::RateLimited,
        Self::NewNetwork,
        Self::NewCertificate,
        Self::IntrospectionGuessing,
        Self::DisabledClient,
        Self::AdminSigninFailure,
        Self::AdminChange,
        Self::SigningKeyOverdue,
        Self::ResourceServerReport,
    ];

    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateAnomaly => "rate_anomaly",
            Self::SubjectSurge => "subject_surge",
            Self::AuthFailureBurst => "auth_failure_burst",
            Self::ReplayRefused => "replay_refused",
            Self::GrantRevokedOnReplay => "grant_revoked_on_replay",
            Self::RateLimited => "rate_limited",
            Self::NewNetwork => "new_network",
            Self::NewCertificate => "new_certificate",
            Self::IntrospectionGuessing => "introspection_guessing",
            Self::DisabledClient => "disabled_client",
            Self::AdminSigninFailure => "admin_signin_failure",
            Self::AdminChange => "admin_change",
            Self::SigningKeyOverdue => "signing_key_overdue",
            Self::ResourceServerReport => "resource_server_report",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The severity events of this kind have unless their raiser says otherwise.
    pub fn severity(self) -> Severity {
        match self {
            Self::GrantRevokedOnReplay => Severity::Critical,
            Self::RateLimited | Self::NewNetwork | Self::AdminChange => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

/// An event to raise.
#[derive(Clone, Debug)]
pub struct Event {
    /// Its kind.
    pub kind: Kind,
    /// Its severity.
    pub severity: Severity,
    /// The client it is about.
    pub client_id: Option<String>,
    /// The account (username) it is about.
    pub account: Option<String>,
    /// The address or network it is about.
    pub address: Option<String>,
    /// The numbers behind it (a JSON object).
    pub evidence: Value,
    /// One sentence for a person.
    pub text: String,
    /// The incident key: with one, no second event of this kind and key is raised while the
    /// incident is open (`monitoring.incident_secs`). `None`: every occurrence is an event.
    pub incident: Option<String>,
}

impl Event {
    /// An event of `kind` at its usual severity, saying `text`.
    pub fn new(kind: Kind, text: impl Into<String>) -> Self {
        Self {
            kind,
            severity: kind.severity(),
            client_id: None,
            account: None,
            address: None,
            evidence: json!({}),
            text: text.into(),
            incident: None,
        }
    }

    /// About `client_id`.
    #[must_use]
    pub fn client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    /// About the account `username`.
    #[must_use]
    pub fn account(mut self, username: &str) -> Self {
        self.account = Some(username.to_owned());
        self
    }

    /// About the address or network `address`.
    #[must_use]
    pub fn address(mut self, address: &str) -> Self {
        self.address = Some(address.to_owned());
        self
    }

    /// With these numbers.
    #[must_use]
    pub fn evidence(mut self, evidence: Value) -> Self {
        self.evidence = evidence;
        self
    }

    /// At most one event per open incident keyed `key`.
    #[must_use]
    pub fn incident(mut self, key: impl Into<String>) -> Self {
        self.incident = Some(key.into());
        self
    }

    /// At `severity` instead of the kind's usual one.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// The event as sent to webhooks and written in the log: the stored record, with the evidence
/// as an object and the time also as RFC 3339.
pub fn event_json(event: &SecurityEventRecord) -> Value {
    let evidence: Value = serde_json::from_str(&event.evidence).unwrap_or_else(|_| json!({}));
    let time = time::OffsetDateTime::from_unix_timestamp(event.at.unix())
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    json!({
        "id": event.id,
        "at": event.at.unix(),
        "time": time,
        "kind": event.kind,
        "severity": event.severity,
        "client_id": event.client_id,
        "account": event.account,
        "address": event.address,
        "evidence": evidence,
        "text": event.text,
    })
}

/// A tally key: a series, a subject and a window start.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) struct TallyKey {
    pub(crate) series: &'static str,
    pub(crate) subject: Box<str>,
    pub(crate) window: i64,
}

/// The tally between two flushes: per (series, window), the count of each subject, found by a
/// borrowed `&str` (no allocation for a subject already counted in the window), and the number
/// of subjects held.
#[derive(Default)]
struct Tally {
    counts: HashMap<(&'static str, i64), HashMap<Box<str>, i64>>,
    keys: usize,
}

impl Tally {
    /// Adds `n`; `false` when the subject is new and the tally is full.
    fn add(&mut self, series: &'static str, window: i64, subject: &str, n: i64) -> bool {
        let subjects = self.counts.entry((series, window)).or_default();
        if let Some(count) = subjects.get_mut(subject) {
            *count += n;
        } else if self.keys < MAX_TALLY_KEYS {
            subjects.insert(subject.into(), n);
            self.keys += 1;
        } else {
            return false;
        }
        true
    }
}

/// The members counted this minute: the window, and (subject, member) pairs.
type Distinct = (i64, std::collections::HashSet<(Box<str>, Box<str>)>);

/// Tally entries one process keeps between two flushes at most; past it counts are dropped
/// (and the drops counted), so that a flood of distinct subjects cannot grow memory.
const MAX_TALLY_KEYS: usize = 20_000;

/// The security monitor of one process: its tally, its detectors' state and its sinks.
pub struct Monitor {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Metrics,
    tally: Mutex<Tally>,
    /// Members already counted by [`Self::count_distinct`] in the current minute.
    distinct: Mutex<Distinct>,
    /// Counts dropped because the tally was full.
    pub(crate) dropped: AtomicU64,
    /// What this process already recorded as seen (client, kind, value).
    pub(crate) seen: seen::SeenCache,
    /// Wakes the delivery task when an event was queued.
    pub(crate) deliveries: Notify,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("enabled", &self.enabled())
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// The monitor of a server configured by `config`.
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
    ) -> Self {
        Self {
            config,
            store,
            clock,
            metrics,
            tally: Mutex::default(),
            distinct: Mutex::default(),
            dropped: AtomicU64::new(0),
            seen: seen::SeenCache::default(),
            deliveries: Notify::new(),
        }
    }

    /// Whether events are detected (`monitoring.enabled`).
    pub fn enabled(&self) -> bool {
        self.config.monitoring.enabled
    }

    /// Adds one to `series` for `subject` in the current window of the series (no I/O).
    pub fn count(&self, series: &'static str, subject: &str) {
        self.count_n(series, subject, 1);
    }

    /// Adds `n` to `series` for `subject`.
    pub fn count_n(&self, series: &'static str, subject: &str, n: i64) {
        if !self.enabled() {
            return;
        }
        let window = detect::window_of(series, self.clock.now().unix());
        let added = self
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(series, window, subject, n);
        if !added {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds one to `series` for `subject` when `member` was not counted for it yet this minute
    /// (by this process: with several processes a member served by two counts twice).
    pub fn count_distinct(&self, series: &'static str, subject: &str, member: &str) {
        if !self.enabled() {
            return;
        }
        let window = detect::window_of(series, self.clock.now().unix());
        {
            let mut distinct = self.distinct.lock().unwrap_or_else(PoisonError::into_inner);
            if distinct.0 != window {
                distinct.0 = window;
                distinct.1.clear();
            }
            if distinct.1.len() >= MAX_TALLY_KEYS
                || !distinct.1.insert((subject.into(), member.into()))
            {
                return;
            }
        }
        self.count(series, subject);
    }

    /// Takes the tally (for a flush), one entry per (series, subject, window).
    pub(crate) fn take_tally(&self) -> Vec<(TallyKey, i64)> {
        let tally = std::mem::take(&mut *self.tally.lock().unwrap_or_else(PoisonError::into_inner));
        tally
            .counts
            .into_iter()
            .flat_map(|((series, window), subjects)| {
                subjects.into_iter().map(move |(subject, n)| {
                    (
                        TallyKey {
                            series,
                            subject,
                            window,
                        },
                        n,
                    )
                })
            })
            .collect()
    }

    /// Gives counts back to the tally (a flush that failed: they go with the next one).
    pub(crate) fn restore_tally(&self, counts: Vec<(TallyKey, i64)>) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, n) in counts {
            tally.add(key.series, key.window, &key.subject, n);
        }
    }

    /// The webhooks (their URLs) that want an event of `kind` and `severity`.
    pub fn sinks_for(&self, kind: Kind, severity: Severity) -> Vec<String> {
        self.config
            .alerts
            .webhooks
            .iter()
            .filter(|hook| {
                Severity::parse(&hook.min_severity).is_none_or(|least| severity >= least)
                    && (hook.kinds.is_empty() || hook.kinds.iter().any(|k| k == kind.as_str()))
            })
            .map(|hook| hook.url.clone())
            .collect()
    }

    /// Raises `event`: stores it (unless its incident is open), logs it, counts it and queues
    /// its deliveries. Returns whether it was raised here. A store failure is logged with the
    /// event, so that it is not lost from the log.
    pub async fn raise(&self, event: Event) -> bool {
        if !self.enabled() {
            return false;
        }
        let now = self.clock.now();
        let record = SecurityEventRecord {
            id: uuid::Uuid::new_v4().to_string(),
            at: now,
            kind: event.kind.as_str().to_owned(),
            severity: event.severity.as_str().to_owned(),
            client_id: event.client_id,
            account: event.account,
            address: event.address,
            evidence: event.evidence.to_string(),
            text: event.text,
            acknowledged_at: None,
            acknowledged_by: None,
        };
        let until = now.plus(self.config.monitoring.incident_secs);
        let incident = event.incident.as_deref().map(|key| (key, until));
        let sinks = self.sinks_for(event.kind, event.severity);
        match self
            .store
            .raise_security_event(&record, incident, &sinks)
            .await
        {
            Ok(true) => {
                log_event(&record, true);
                self.metrics
                    .security_event(event.kind.as_str(), event.severity.as_str());
                if !sinks.is_empty() {
                    self.deliveries.notify_one();
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "storing a security event failed");
                log_event(&record, false);
                false
            }
        }
    }

    /// Raises `event` without waiting (from a request path).
    pub fn raise_later(self: &Arc<Self>, event: Event) {
        if !self.enabled() {
            return;
        }
        let monitor = Arc::clone(self);
        tokio::spawn(async move {
            monitor.raise(event).await;
        });
    }

    /// Notes that `client_id` was served from `address` with the certificate `x5t_s256`:
    /// a network or certificate it never used raises an event after its learning period.
    pub fn seen(self: &Arc<Self>, client_id: &str, address: IpAddr, x5t_s256: Option<&str>) {
        if !self.enabled() {
            return;
        }
        seen::note(self, client_id, address, x5t_s256);
    }

    /// The time now, by the server's clock.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Counts an answered request for the detectors: every request by route template (`None`:
/// no route matched, counted as `unmatched`), and the rate-limited ones apart.
pub fn answered_request(monitor: &Monitor, route: Option<&str>, status: axum::http::StatusCode) {
    if !monitor.enabled() {
        return;
    }
    let route = route.unwrap_or("unmatched");
    monitor.count(detect::REQUESTS, route);
    if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
        monitor.count(detect::RATE_LIMITED, route);
    }
}

/// The event's log line (target `portcullis::security`): every field, the text as the message.
fn log_event(event: &SecurityEventRecord, stored: bool) {
    tracing::warn!(
        target: "portcullis::security",
        event_id = %event.id,
        kind = %event.kind,
        severity = %event.severity,
        client_id = event.client_id.as_deref(),
        account = event.account.as_deref(),
        address = event.address.as_deref(),
        evidence = %event.evidence,
        stored,
        "{}",
        event.text
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_adds_per_subject_and_drops_only_new_subjects_when_full() {
        let mut tally = Tally::default();
        assert!(tally.add("rate:token", 60, "c1", 1));
        assert!(tally.add("rate:token", 60, "c1", 2));
        assert!(tally.add("rate:token", 120, "c1", 1));
        assert_eq!(tally.counts[&("rate:token", 60)]["c1"], 3);
        assert_eq!(tally.keys, 2);
        tally.keys = MAX_TALLY_KEYS;
        assert!(!tally.add("rate:token", 60, "c2", 1));
        assert!(tally.add("rate:token", 60, "c1", 1));
        assert_eq!(tally.counts[&("rate:token", 60)]["c1"], 4);
    }
}
