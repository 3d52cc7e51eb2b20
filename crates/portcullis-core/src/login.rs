//! Throttling of failed logins: it slows password guessing without ever locking an account out.
//!
//! No requirement ID covers this (it is a project security rule, like R62's CSRF protection of
//! the same forms). The server counts recent failures per account (and per source), passes the
//! count and the time of the last failure here, and refuses to check a password before
//! [`allowed`] says so. The first [`FREE_FAILURES`] failures cost nothing, so a user mistyping a
//! password is never slowed; after that each failure doubles the wait, up to
//! [`MAX_DELAY_SECS`]. Because the wait is capped, an attacker cannot lock the real user out
//! for longer than that, while guessing drops to one attempt per [`MAX_DELAY_SECS`].

use crate::time::Timestamp;

/// Failures that cost no delay.
pub const FREE_FAILURES: u32 = 5;

/// The longest wait between attempts, in seconds.
pub const MAX_DELAY_SECS: i64 = 300;

/// Failures older than this no longer count, in seconds.
pub const FAILURE_MEMORY_SECS: i64 = 15 * 60;

/// The failures that still count at `now`: `count` failures the last of which was at `last`
/// count only within [`FAILURE_MEMORY_SECS`]; returns the count and the time to wait from.
pub fn recent(count: u32, last: Option<Timestamp>, now: Timestamp) -> (u32, Timestamp) {
    match last {
        Some(last) if now.unix() - last.unix() < FAILURE_MEMORY_SECS => (count, last),
        _ => (0, now),
    }
}

/// Seconds to wait after the last failure before the next attempt is checked: 0 for the first
/// [`FREE_FAILURES`] failures, then `2^(recent_failures - FREE_FAILURES)`, capped at
/// [`MAX_DELAY_SECS`].
pub fn delay_secs(recent_failures: u32) -> i64 {
    // Project rule: a few mistakes are free.
    if recent_failures <= FREE_FAILURES {
        return 0;
    }
    let exponent = recent_failures - FREE_FAILURES;
    // Project rule: exponential back-off, capped so that nobody is locked out for long.
    1_i64
        .checked_shl(exponent)
        .filter(|d| *d > 0)
        .map_or(MAX_DELAY_SECS, |d| d.min(MAX_DELAY_SECS))
}

/// Whether a login attempt may be checked at `now`, after `recent_failures` failures the last
/// of which was at `last_failure`.
pub fn allowed(recent_failures: u32, last_failure: Timestamp, now: Timestamp) -> bool {
    now >= last_failure.plus(delay_secs(recent_failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_unix(1_800_000_000);

    #[test]
    fn login_failures_are_forgotten_after_the_memory_window() {
        assert_eq!(recent(7, None, T), (0, T));
        let last = T.plus(-(FAILURE_MEMORY_SECS - 1));
        assert_eq!(recent(7, Some(last), T), (7, last));
        let old = T.plus(-FAILURE_MEMORY_SECS);
        assert_eq!(recent(7, Some(old), T), (0, T));
    }

    #[test]
    fn login_the_first_failures_cost_nothing() {
        for n in 0..=FREE_FAILURES {
            assert_eq!(delay_secs(n), 0, "{n}");
            assert!(allowed(n, T, T), "{n}");
        }
    }

    #[test]
    fn login_delay_doubles_after_the_free_failures() {
        assert_eq!(delay_secs(6), 2);
        assert_eq!(delay_secs(7), 4);
        assert_eq!(delay_secs(8), 8);
        assert_eq!(delay_secs(13), 256);
    }

    #[test]
    fn login_delay_is_capped_so_nobody_is_locked_out_for_long() {
        assert_eq!(delay_secs(14), MAX_DELAY_SECS);
        assert_eq!(delay_secs(60), MAX_DELAY_SECS);
        assert_eq!(delay_secs(68), MAX_DELAY_SECS);
        assert_eq!(delay_secs(u32::MAX), MAX_DELAY_SECS);
        assert!(allowed(u32::MAX, T, T.plus(300)));
    }

    #[test]
    fn login_attempts_wait_for_the_delay() {
        // 7 failures: 4 seconds.
        assert!(!allowed(7, T, T));
        assert!(!allowed(7, T, T.plus(3)));
        assert!(allowed(7, T, T.plus(4)));
        assert!(!allowed(20, T, T.plus(299)));
        assert!(allowed(20, T, T.plus(300)));
    }
}
