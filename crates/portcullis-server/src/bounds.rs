//! Bounds that hold under a flood, whatever the rate limits let through
//! (`docs/decisions/0013-bounded-resources.md`):
//!
//! - [`HashGate`]: at most `limits.password_hashes` argon2 checks run at once (each takes about
//!   19 MiB for its whole run, and a started hash cannot be cancelled by the request timeout); a
//!   sign-in that finds every permit taken is refused at once, never queued.
//! - [`Refusals`]: refusals that anyone can cause without credentials (an admin POST without a
//!   session, a busy or throttled sign-in) are counted in memory and summarised every
//!   `limits.refusal_summary_secs` in one log line, instead of one stored row each.
//! - [`Shed`]: a cap on requests in flight per process (`limits.requests_in_flight`); past it a
//!   request is answered `503` with `Retry-After` at once, before it can wait in the database
//!   pool's queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::extract::Request;
use axum::response::{IntoResponse as _, Response};
use portcullis_core::{ErrorCode, OAuthError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;
use crate::error::{PageError, TokenError};

/// The process's bounds, shared by every request.
#[derive(Debug)]
pub struct Bounds {
    /// Password hashes running at once.
    pub hashes: HashGate,
    /// Counted (not stored) refusals.
    pub refusals: Refusals,
    /// Requests in flight.
    requests: Arc<Semaphore>,
    /// Requests refused because too many were in flight.
    pub shed: AtomicU64,
    /// Purge batches run since start.
    pub purge_batches: AtomicU64,
    /// Purges run to their end (the first at start included).
    pub purges: AtomicU64,
}

impl Bounds {
    /// The bounds `limits` configures.
    pub fn new(limits: &Limits) -> Self {
        Self {
            hashes: HashGate::new(limits.password_hashes),
            refusals: Refusals::default(),
            requests: Arc::new(Semaphore::new(limits.requests_in_flight)),
            shed: AtomicU64::new(0),
            purge_batches: AtomicU64::new(0),
            purges: AtomicU64::new(0),
        }
    }
}

/// The semaphore in front of argon2, with a count of the hashes running and the most seen.
#[derive(Debug)]
pub struct HashGate {
    permits: Arc<Semaphore>,
    counts: Arc<HashCounts>,
}

#[derive(Debug, Default)]
struct HashCounts {
    running: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU64,
}

/// The right to run one password hash; released when dropped (when the hash has finished, even
/// if the request that started it has gone).
#[derive(Debug)]
pub struct HashPermit {
    _permit: OwnedSemaphorePermit,
    counts: Arc<HashCounts>,
}

impl HashGate {
    fn new(permits: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            counts: Arc::default(),
        }
    }

    /// A permit if one is free; `None` (counted) when every permit is taken.
    pub fn try_enter(&self) -> Option<HashPermit> {
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => Some(HashPermit {
                _permit: permit,
                counts: Arc::clone(&self.counts),
            }),
            Err(_) => {
                self.counts.refused.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The most hashes seen running at once since start.
    pub fn peak(&self) -> usize {
        self.counts.peak.load(Ordering::Relaxed)
    }

    /// Sign-ins refused because every permit was taken, since start.
    pub fn refused(&self) -> u64 {
        self.counts.refused.load(Ordering::Relaxed)
    }
}

impl HashPermit {
    /// Runs `hash` (on the blocking pool, holding the permit), counting it as running.
    pub fn run<T>(self, hash: impl FnOnce() -> T) -> T {
        let now = self.counts.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.counts.peak.fetch_max(now, Ordering::SeqCst);
        let result = hash();
        self.counts.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// What kind of refusal was counted.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Refusal {
    /// A POST to `/admin` without a live admin session (or with a bad sign-in form).
    AnonymousAdmin,
    /// A sign-in refused because every hash permit was taken.
    SignInBusy,
    /// A sign-in refused by the failure throttle.
    SignInThrottled,
}

/// Refusals counted since start, and since the last summary.
#[derive(Debug, Default)]
pub struct Refusals {
    anonymous_admin: AtomicU64,
    busy: AtomicU64,
    throttled: AtomicU64,
    summarised: [AtomicU64; 3],
}

impl Refusals {
    /// Counts one refusal.
    pub fn count(&self, refusal: Refusal) {
        self.counter(refusal).fetch_add(1, Ordering::Relaxed);
    }

    fn counter(&self, refusal: Refusal) -> &AtomicU64 {
        match refusal {
            Refusal::AnonymousAdmin => &self.anonymous_admin,
            Refusal::SignInBusy => &self.busy,
            Refusal::SignInThrottled => &self.throttled,
        }
    }

    /// Refusals of `refusal`'s kind since start.
    pub fn total(&self, refusal: Refusal) -> u64 {
        self.counter(refusal).load(Ordering::Relaxed)
    }

    /// The counts since the last call (anonymous admin, busy, throttled), for the summary line.
    pub fn since_last(&self) -> [u64; 3] {
        let kinds = [
            Refusal::AnonymousAdmin,
            Refusal::SignInBusy,
            Refusal::SignInThrottled,
        ];
        let mut out = [0; 3];
        for (i, kind) in kinds.into_iter().enumerate() {
            let total = self.total(kind);
            let before = self.summarised[i].swap(total, Ordering::Relaxed);
            out[i] = total.saturating_sub(before);
        }
        out
    }
}

/// Whether `path` is an OAuth endpoint, answered with a JSON error body.
fn is_oauth(path: &str) -> bool {
    matches!(
        path,
        "/token" | "/par" | "/introspect" | "/revoke" | "/userinfo"
    ) || path == "/register"
        || path.starts_with("/register/")
}

/// Middleware ([`crate::around`]): holds one of `limits.requests_in_flight` permits for each
/// request until its response, and answers `503` at once when none is free.
#[derive(Clone)]
pub struct Shed(pub Arc<Bounds>);

impl crate::around::Around for Shed {
    type Guard = OwnedSemaphorePermit;

    fn before(&self, request: &mut Request) -> Result<OwnedSemaphorePermit, Response> {
        let bounds = &self.0;
        let Ok(permit) = Arc::clone(&bounds.requests).try_acquire_owned() else {
            bounds.shed.fetch_add(1, Ordering::Relaxed);
            if is_oauth(request.uri().path()) {
                let error = OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the server is busy; try again later",
                );
                return Err(TokenError::from(error).into_response());
            }
            return Err(PageError::new(
                ErrorCode::TemporarilyUnavailable,
                "The server is busy. Please try again in a moment.",
            )
            .into_response());
        };
        Ok(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_gate_refuses_past_its_permits_and_frees_them_when_done() {
        let gate = HashGate::new(2);
        let a = gate.try_enter().unwrap();
        let b = gate.try_enter().unwrap();
        assert!(gate.try_enter().is_none());
        assert_eq!(gate.refused(), 1);
        assert_eq!(a.run(|| 7), 7);
        assert_eq!(gate.peak(), 1);
        let c = gate.try_enter().unwrap();
        drop((b, c));
        assert!(gate.try_enter().is_some());
    }

    #[test]
    fn refusals_are_summarised_once() {
        let refusals = Refusals::default();
        for _ in 0..3 {
            refusals.count(Refusal::AnonymousAdmin);
        }
        refusals.count(Refusal::SignInBusy);
        assert_eq!(refusals.since_last(), [3, 1, 0]);
        assert_eq!(refusals.since_last(), [0, 0, 0]);
        assert_eq!(refusals.total(Refusal::AnonymousAdmin), 3);
    }
}
