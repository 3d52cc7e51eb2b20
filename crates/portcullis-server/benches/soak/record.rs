//! What the soak measures about its own requests: per traffic kind, the latency of every good
//! answer and the count of bad ones, both for the current sampling interval and for the whole
//! run; the refusals by cause; and, in outage mode, every request's completion time, so that
//! errors can be placed against the outage window.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The HTTP requests the soak sends, one kind per endpoint and step.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub(crate) enum Kind {
    /// Pushed authorization request (`/par`, private_key_jwt, DPoP proof).
    Par,
    /// `GET /authorize` in a fresh browser: the sign-in page.
    Authorize,
    /// `POST /login`: the password check (argon2id), then the consent page or the code.
    Login,
    /// `POST /consent` (approve): the redirect with the code.
    Consent,
    /// `authorization_code` at `/token`, DPoP-bound.
    Code,
    /// `refresh_token` at `/token`, DPoP-bound.
    Refresh,
    /// `client_credentials` at the mTLS listener, private_key_jwt, certificate-bound.
    ClientCredentials,
    /// A resource server introspects an active token.
    Introspect,
    /// The owning client revokes a token.
    Revoke,
    /// RFC 7591 registration with an initial access token.
    Register,
}

impl Kind {
    pub(crate) const ALL: [Self; 10] = [
        Self::Par,
        Self::Authorize,
        Self::Login,
        Self::Consent,
        Self::Code,
        Self::Refresh,
        Self::ClientCredentials,
        Self::Introspect,
        Self::Revoke,
        Self::Register,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Par => "par",
            Self::Authorize => "authorize",
            Self::Login => "login",
            Self::Consent => "consent",
            Self::Code => "code",
            Self::Refresh => "refresh",
            Self::ClientCredentials => "cc",
            Self::Introspect => "introspect",
            Self::Revoke => "revoke",
            Self::Register => "register",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Answer {
    /// The expected status (and body).
    Good,
    /// Another status; whether it carried `Retry-After`.
    Status { status: u16, retry_after: bool },
    /// No answer: connection refused or reset, or the request timed out.
    Transport,
    /// The expected status with a body the soak could not use (no token, no code).
    Unusable,
}

impl Answer {
    /// The cause, as counted in the refusal table.
    fn cause(self) -> String {
        match self {
            Self::Good => "good".to_owned(),
            Self::Status {
                status,
                retry_after: true,
            } => format!("{status} with Retry-After"),
            Self::Status { status, .. } => status.to_string(),
            Self::Transport => "transport".to_owned(),
            Self::Unusable => "unusable body".to_owned(),
        }
    }
}

/// One request's end, kept in outage mode.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    /// Since the recorder started.
    pub(crate) at: Duration,
    pub(crate) answer: Answer,
}

#[derive(Default)]
struct PerKind {
    /// Latencies of good answers in the current interval, microseconds.
    interval: Vec<u32>,
    interval_errors: u64,
    /// Latencies of every good answer of the run, microseconds.
    all: Vec<u32>,
    errors: u64,
}

/// Figures of one kind over an interval or the run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Figures {
    pub(crate) good: u64,
    pub(crate) errors: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

impl Figures {
    fn of(mut latencies: Vec<u32>, errors: u64) -> Self {
        latencies.sort_unstable();
        Self {
            good: latencies.len() as u64,
            errors,
            p50_ms: percentile_ms(&latencies, 50.0),
            p99_ms: percentile_ms(&latencies, 99.0),
        }
    }
}

/// Nearest-rank percentile of sorted latencies in microseconds, in milliseconds (NaN if none).
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

/// Everything the soak's requests report, shared by every task.
pub(crate) struct Recorder {
    started: Instant,
    kinds: Mutex<Vec<PerKind>>,
    causes: Mutex<BTreeMap<(Kind, String), u64>>,
    /// `Some` in outage mode.
    events: Option<Mutex<Vec<Event>>>,
    /// Operations (a whole code flow counts as one) that completed every step.
    pub(crate) ops_done: AtomicU64,
    /// Operations that stopped at a bad answer.
    pub(crate) ops_failed: AtomicU64,
    /// Operations not started: too many in flight (the server fell behind).
    pub(crate) shed: AtomicU64,
    /// Operations with nothing to do (no token in the pool yet).
    pub(crate) idle: AtomicU64,
    /// Operations running now.
    pub(crate) in_flight: AtomicU64,
}

impl Recorder {
    /// A recorder that keeps every request's end if `events`.
    pub(crate) fn new(events: bool) -> Self {
        Self {
            started: Instant::now(),
            kinds: Mutex::new(Kind::ALL.iter().map(|_| PerKind::default()).collect()),
            causes: Mutex::new(BTreeMap::new()),
            events: events.then(|| Mutex::new(Vec::new())),
            ops_done: AtomicU64::new(0),
            ops_failed: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            idle: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    /// When the recorder started.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// Records one request of `kind` that took `latency` and ended with `answer`.
    pub(crate) fn request(&self, kind: Kind, latency: Duration, answer: Answer) {
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        {
            let mut kinds = lock(&self.kinds);
            let stats = &mut kinds[kind.index()];
            if matches!(answer, Answer::Good) {
                stats.interval.push(micros);
                stats.all.push(micros);
            } else {
                stats.interval_errors += 1;
                stats.errors += 1;
            }
        }
        if !matches!(answer, Answer::Good) {
            *lock(&self.causes)
                .entry((kind, answer.cause()))
                .or_default() += 1;
        }
        if let Some(events) = &self.events {
            lock(events).push(Event {
                at: self.started.elapsed(),
                answer,
            });
        }
    }

    /// Each kind's figures since the last call, and a fresh interval.
    pub(crate) fn take_interval(&self) -> Vec<(Kind, Figures)> {
        let mut kinds = lock(&self.kinds);
        Kind::ALL
            .iter()
            .zip(kinds.iter_mut())
            .map(|(&kind, stats)| {
                let latencies = std::mem::take(&mut stats.interval);
                let errors = std::mem::take(&mut stats.interval_errors);
                (kind, Figures::of(latencies, errors))
            })
            .collect()
    }

    /// Each kind's figures over the whole run.
    pub(crate) fn totals(&self) -> Vec<(Kind, Figures)> {
        let kinds = lock(&self.kinds);
        Kind::ALL
            .iter()
            .zip(kinds.iter())
            .map(|(&kind, stats)| (kind, Figures::of(stats.all.clone(), stats.errors)))
            .collect()
    }

    /// Bad answers by kind and cause.
    pub(crate) fn causes(&self) -> BTreeMap<(Kind, String), u64> {
        lock(&self.causes).clone()
    }

    /// Every request's end, in outage mode (empty otherwise).
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events
            .as_ref()
            .map(|e| lock(e).clone())
            .unwrap_or_default()
    }
}

/// Locks `mutex`, also after a panic elsewhere (the figures stay usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts an operation in flight for as long as it lives.
pub(crate) struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    pub(crate) fn enter(recorder: &'a Recorder) -> Self {
        recorder.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(&recorder.in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
