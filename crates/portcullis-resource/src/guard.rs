//! API-side abuse protection (OWASP API4 and API1; `abuse-and-monitoring.md` §9): request
//! budgets per token and per client, and the enumeration guard.
//!
//! - **Budgets** are GCRA rate limits (a sustained rate per minute and a burst), kept per token
//!   and per client. Over a budget the API answers `429` with `Retry-After`.
//! - **The enumeration guard** counts, per route, the distinct identifiers (the route parameter
//!   the API names, e.g. `{id}` of `/accounts/{id}`) one token and one client touch in a sliding
//!   window. An identifier already touched in the window always passes; a new one past the
//!   threshold gets `429`, and the first refusal in a report period is reported. The set is exact
//!   and never larger than the threshold, so no estimate is needed.
//!
//! Both are in-process: with several API processes, each holds its own counts (document the
//! per-process limit as the deployment's limit divided by the number of processes). When a map
//! is full of live entries, new keys pass: only validated tokens reach here, so that means
//! heavy legitimate traffic, not an attack on the map.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use portcullis_core::hash::TokenHash;

use crate::cache::{Entry, Shards};
use crate::settings::{Budget, Enumeration};

/// Keys kept per map at most.
const CAPACITY: usize = 200_000;

/// A refusal by a budget or the enumeration guard.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct Over {
    /// Milliseconds until a retry may pass.
    pub(crate) retry_after_ms: i64,
    /// The count that crossed the limit (distinct identifiers, or the burst).
    pub(crate) observed: u64,
    /// Whether this refusal is the first of its report period: report it.
    pub(crate) report: bool,
}

impl Over {
    /// Whole seconds to put in `Retry-After`, rounded up.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        u64::try_from(self.retry_after_ms.max(0))
            .unwrap_or(u64::MAX)
            .div_ceil(1000)
    }
}

/// The state of one budget.
#[derive(Debug)]
struct Cell {
    /// GCRA's theoretical arrival time, ms.
    tat_ms: i64,
    /// Refusals are not reported again before this, ms.
    quiet_until_ms: i64,
}

/// The identifiers one key touched on one route.
#[derive(Debug, Default)]
struct Window {
    /// Identifier (hashed) → when it was last touched, ms.
    seen: HashMap<u64, i64>,
    quiet_until_ms: i64,
}

/// Budgets and enumeration windows.
#[derive(Debug)]
pub(crate) struct Guard {
    enumeration: Enumeration,
    repeat_ms: i64,
    cells: Shards<[u8; 32], Cell>,
    windows: Shards<[u8; 32], Window>,
    ids: RandomState,
}

impl Guard {
    /// A guard with the enumeration settings; reports are repeated at most every `repeat_secs`.
    pub(crate) fn new(enumeration: &Enumeration, repeat_secs: i64) -> Self {
        Self {
            enumeration: enumeration.clone(),
            repeat_ms: repeat_secs.max(0).saturating_mul(1000),
            cells: Shards::new(CAPACITY),
            windows: Shards::new(CAPACITY),
            ids: RandomState::new(),
        }
    }

    /// The key of a budget or window: its kind and the token's or client's identity.
    pub(crate) fn key(parts: &[&str]) -> [u8; 32] {
        *TokenHash::of(parts.join("\0").as_bytes()).as_bytes()
    }

    /// Spends one request of `budget` under `key`.
    pub(crate) fn spend(&self, key: [u8; 32], budget: Budget, now_ms: i64) -> Result<(), Over> {
        let mut map = self.cells.lock(&key);
        let (tat_ms, quiet_until_ms) = map.get(&key).map_or((now_ms, i64::MIN), |e| {
            (e.value.tat_ms, e.value.quiet_until_ms)
        });
        match gcra(tat_ms, now_ms, budget) {
            Ok(tat_ms) => {
                if map.contains_key(&key) || self.cells.has_room(&mut map, now_ms) {
                    let cell = Cell {
                        tat_ms,
                        quiet_until_ms,
                    };
                    let expires_ms = tat_ms.max(quiet_until_ms);
                    map.insert(
                        key,
                        Entry {
                            value: cell,
                            expires_ms,
                        },
                    );
                }
                Ok(())
            }
            Err(retry_after_ms) => {
                let report = quiet_until_ms <= now_ms;
                if let Some(entry) = map.get_mut(&key)
                    && report
                {
                    entry.value.quiet_until_ms = now_ms.saturating_add(self.repeat_ms);
                    entry.expires_ms = entry.expires_ms.max(entry.value.quiet_until_ms);
                }
                Err(Over {
                    retry_after_ms,
                    observed: u64::from(budget.burst) + 1,
                    report,
                })
            }
        }
    }

    /// Records that `key` touched the identifier `id` on its route; refuses a new identifier
    /// past `threshold` distinct ones in the window (0: no limit).
    pub(crate) fn touch(
        &self,
        key: [u8; 32],
        id: &str,
        threshold: usize,
        now_ms: i64,
    ) -> Result<(), Over> {
        if threshold == 0 {
            return Ok(());
        }
        let window_ms = self.enumeration.window_secs.max(1).saturating_mul(1000);
        let id = self.ids.hash_one(id);
        let mut map = self.windows.lock(&key);
        if !map.contains_key(&key) && !self.windows.has_room(&mut map, now_ms) {
            return Ok(());
        }
        let entry = map.entry(key).or_insert_with(|| Entry {
            value: Window::default(),
            expires_ms: now_ms,
        });
        let window = &mut entry.value;
        if !window.seen.contains_key(&id) && window.seen.len() >= threshold {
            window.seen.retain(|_, t| *t > now_ms - window_ms);
        }
        if window.seen.contains_key(&id) || window.seen.len() < threshold {
            window.seen.insert(id, now_ms);
            entry.expires_ms = entry.expires_ms.max(now_ms + window_ms);
            return Ok(());
        }
        // The oldest identifier leaves the window first.
        let oldest = window.seen.values().min().copied().unwrap_or(now_ms);
        let report = window.quiet_until_ms <= now_ms;
        if report {
            window.quiet_until_ms = now_ms.saturating_add(self.repeat_ms);
            entry.expires_ms = entry.expires_ms.max(window.quiet_until_ms);
        }
        Err(Over {
            retry_after_ms: oldest + window_ms - now_ms,
            observed: u64::try_from(threshold).unwrap_or(u64::MAX) + 1,
            report,
        })
    }

    /// The enumeration settings.
    pub(crate) fn enumeration(&self) -> &Enumeration {
        &self.enumeration
    }
}

/// GCRA: whether a request at `now_ms` fits a budget whose theoretical arrival time is `tat_ms`.
/// `Ok(new tat)`, or `Err(milliseconds until one fits)`. `burst` requests fit at once, then one
/// every `60 000 / per_minute` ms.
pub(crate) fn gcra(tat_ms: i64, now_ms: i64, budget: Budget) -> Result<i64, i64> {
    let interval = 60_000 / i64::from(budget.per_minute.max(1));
    let interval = interval.max(1);
    let limit = interval.saturating_mul(i64::from(budget.burst.max(1)));
    let next = tat_ms.max(now_ms).saturating_add(interval);
    if next - now_ms > limit {
        Err(next - limit - now_ms)
    } else {
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        per_minute: 60,
        burst: 3,
    };

    fn guard(per_token: usize) -> Guard {
        Guard::new(
            &Enumeration {
                window_secs: 10,
                per_token,
                per_client: per_token,
            },
            600,
        )
    }

    #[test]
    fn gcra_allows_the_burst_then_the_rate() {
        let mut tat = 0;
        for _ in 0..3 {
            tat = gcra(tat, 0, BUDGET).unwrap();
        }
        assert_eq!(gcra(tat, 0, BUDGET), Err(1_000));
        assert_eq!(gcra(tat, 999, BUDGET), Err(1));
        assert_eq!(gcra(tat, 1_000, BUDGET), Ok(4_000));
        // Idle for long: the full burst is back, not more.
        assert_eq!(gcra(4_000, 100_000, BUDGET), Ok(101_000));
    }

    #[test]
    fn budgets_refuse_past_the_burst_and_report_once_per_period() {
        let g = guard(5);
        let key = Guard::key(&["budget", "token", "t1"]);
        for _ in 0..3 {
            assert!(g.spend(key, BUDGET, 0).is_ok());
        }
        let first = g.spend(key, BUDGET, 0).unwrap_err();
        assert_eq!(
            (first.retry_after_secs(), first.observed, first.report),
            (1, 4, true)
        );
        assert!(
            !g.spend(key, BUDGET, 10).unwrap_err().report,
            "reported already"
        );
        // Another key has its own budget.
        assert!(
            g.spend(Guard::key(&["budget", "token", "t2"]), BUDGET, 0)
                .is_ok()
        );
        assert!(g.spend(key, BUDGET, 1_000).is_ok());
        // After the quiet period a refusal is reported again.
        for _ in 0..3 {
            let _ = g.spend(key, BUDGET, 700_000);
        }
        assert!(g.spend(key, BUDGET, 700_000).unwrap_err().report);
    }

    #[test]
    fn enumeration_refuses_new_ids_past_the_threshold_and_keeps_known_ones() {
        let g = guard(3);
        let key = Guard::key(&["enum", "token", "/accounts/{id}", "t1"]);
        for (i, id) in ["1", "2", "3"].iter().enumerate() {
            assert!(
                g.touch(key, id, 3, i64::try_from(i).unwrap() * 1_000)
                    .is_ok()
            );
        }
        let over = g.touch(key, "4", 3, 3_000).unwrap_err();
        assert_eq!(over.observed, 4);
        assert!(over.report);
        // The oldest id ("1" at 0 ms) leaves the 10 s window at 10 s.
        assert_eq!(over.retry_after_ms, 7_000);
        assert!(!g.touch(key, "5", 3, 3_500).unwrap_err().report);
        assert!(
            g.touch(key, "2", 3, 4_000).is_ok(),
            "an id seen in the window passes"
        );
        // Another route or token has its own window.
        let other = Guard::key(&["enum", "token", "/accounts/{id}", "t2"]);
        assert!(g.touch(other, "4", 3, 4_000).is_ok());
        // Once "1" has left the window, one new id fits again.
        assert!(g.touch(key, "4", 3, 10_001).is_ok());
        assert!(g.touch(key, "5", 3, 10_001).is_err());
    }

    #[test]
    fn a_threshold_of_zero_disables_the_guard() {
        let g = guard(0);
        let key = Guard::key(&["enum", "x"]);
        for id in 0..100 {
            assert!(g.touch(key, &id.to_string(), 0, 0).is_ok());
        }
    }
}
