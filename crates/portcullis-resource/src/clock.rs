//! The one place that reads the wall clock. Everything else receives the time from a [`Clock`],
//! so a test can move an API's time together with its authorization server's.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_core::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Time since the Unix epoch, UTC.
    fn now(&self) -> Duration;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the resource layer's one wall-clock read"
    )]
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// An instant in milliseconds since the epoch, for budgets and windows.
pub(crate) fn millis(now: Duration) -> i64 {
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// An instant in whole seconds since the epoch, for protocol checks.
pub(crate) fn seconds(now: Duration) -> Timestamp {
    Timestamp::from_unix(i64::try_from(now.as_secs()).unwrap_or(i64::MAX))
}
