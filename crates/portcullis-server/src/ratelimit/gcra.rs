//! The generic cell rate algorithm over a sharded, bounded map: one theoretical arrival time
//! (TAT) per key. A budget of rate `r` and burst `b` has the emission interval `T = 1/r` and the
//! tolerance `τ = (b - 1)·T`; a request at `now` passes when `TAT - now <= τ` and then moves the
//! TAT to `max(TAT, now) + T`. A key whose TAT has passed is the same as a key never seen, so
//! dropping it loses nothing: that is how the map stays bounded.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, PoisonError};

use crate::config::Budget;

/// Shards of a table: enough that two cores rarely wait on one lock.
const SHARDS: usize = 64;

/// A budget in the algorithm's units (nanoseconds).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct Rate {
    /// `T`: nanoseconds per request.
    pub(crate) interval: u64,
    /// `τ`: how far the TAT may run ahead of now.
    pub(crate) tolerance: u64,
}

impl Rate {
    /// The rate of `budget` (validated: a positive rate and burst).
    pub(crate) fn of(budget: Budget) -> Self {
        let interval = (1e9 / budget.per_second).clamp(1.0, 1e15) as u64;
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(budget.burst.max(1) - 1)),
        }
    }
}

/// One key's state.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// Theoretical arrival time, nanoseconds since the limiter's epoch.
    tat: u64,
    /// Requests admitted here and not yet reported to the other processes.
    pending: u32,
    /// Requests admitted by other processes and not yet charged to `tat`.
    debt: u32,
}

/// A bounded map of GCRA states.
pub(crate) struct Table<K> {
    shards: Box<[Mutex<HashMap<K, Entry>>]>,
    hasher: RandomState,
    per_shard: usize,
}

impl<K> std::fmt::Debug for Table<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("per_shard", &self.per_shard)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Copy> Table<K> {
    /// A table tracking about `capacity` keys at most.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &K) -> std::sync::MutexGuard<'_, HashMap<K, Entry>> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request for `key` at `now`: `Ok` when it passes, else the nanoseconds until
    /// one would. A new key that finds its shard full of live keys passes uncounted.
    pub(crate) fn check(&self, key: K, rate: Rate, now: u64) -> Result<(), u64> {
        let mut map = self.shard(&key);
        if !map.contains_key(&key) && map.len() >= self.per_shard {
            map.retain(|_, e| e.tat > now || e.pending > 1 || e.debt > 0);
            if map.len() >= self.per_shard {
                return Ok(());
            }
        }
        let entry = map.entry(key).or_default();
        let mut tat = entry.tat.max(now);
        if entry.debt > 0 {
            tat = tat.saturating_add(rate.interval.saturating_mul(u64::from(entry.debt)));
            entry.debt = 0;
        }
        if tat - now > rate.tolerance {
            entry.tat = tat;
            return Err(tat - now - rate.tolerance);
        }
        entry.tat = tat.saturating_add(rate.interval);
        entry.pending = entry.pending.saturating_add(1);
        Ok(())
    }

    /// Requests of `key`'s burst in use at `now` (0: its whole burst is available).
    pub(crate) fn in_use(&self, key: K, rate: Rate, now: u64) -> u64 {
        let map = self.shard(&key);
        let Some(entry) = map.get(&key) else {
            return 0;
        };
        let ahead =
            entry.tat.saturating_sub(now) + rate.interval.saturating_mul(u64::from(entry.debt));
        ahead.div_ceil(rate.interval)
    }

    /// Forgets `key` (its budget changed).
    pub(crate) fn forget(&self, key: K) {
        self.shard(&key).remove(&key);
    }

    /// Drops every key whose TAT has passed and that has nothing to report (a single request
    /// is not reported) or charge.
    pub(crate) fn sweep(&self, now: u64) {
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, e| e.tat > now || e.pending > 1 || e.debt > 0);
        }
    }

    /// Takes the counts admitted since the last call, per key, for keys with at least two: a key
    /// seen once (a made-up token, a random user name) is not worth a database write, and at
    /// most one request per key and process goes unreported until the key is swept.
    pub(crate) fn drain_pending(&self) -> Vec<(K, u32)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, entry) in map.iter_mut() {
                if entry.pending >= 2 {
                    out.push((*key, entry.pending));
                    entry.pending = 0;
                }
            }
        }
        out
    }

    /// Gives back counts that could not be reported.
    pub(crate) fn restore_pending(&self, counts: &[(K, u32)]) {
        for (key, n) in counts {
            let mut map = self.shard(key);
            let entry = map.entry(*key).or_default();
            entry.pending = entry.pending.saturating_add(*n);
        }
    }

    /// Charges `n` requests admitted elsewhere to `key` (applied at its next check). A key not
    /// tracked here is added unless its shard is full.
    pub(crate) fn charge(&self, key: K, n: u32) {
        let mut map = self.shard(&key);
        if !map.contains_key(&key) && map.len() >= self.per_shard {
            return;
        }
        let entry = map.entry(key).or_default();
        entry.debt = entry.debt.saturating_add(n);
    }

    /// Number of tracked keys.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let table = Table::new(1000);
        let rate = Rate::of(Budget::new(10.0, 5));
        let now = 100 * SEC;
        for _ in 0..5 {
            assert_eq!(table.check(1_u32, rate, now), Ok(()));
        }
        let wait = table.check(1, rate, now).unwrap_err();
        assert_eq!(wait, SEC / 10);
        assert_eq!(table.check(1, rate, now + SEC / 10), Ok(()));
        assert!(table.check(1, rate, now + SEC / 10).is_err());
        // Another key is not affected.
        assert_eq!(table.check(2, rate, now), Ok(()));
        // Over a long window the admitted count is rate x window + burst.
        let mut admitted = 0;
        for step in 0..10_000_u64 {
            if table.check(3, rate, now + step * SEC / 1000).is_ok() {
                admitted += 1;
            }
        }
        assert!((100..=105).contains(&admitted), "{admitted}");
    }

    #[test]
    fn charged_requests_from_elsewhere_use_up_the_budget() {
        let table = Table::new(1000);
        let rate = Rate::of(Budget::new(10.0, 5));
        let now = 100 * SEC;
        table.charge(7_u32, 5);
        assert!(table.check(7, rate, now).is_err());
        assert_eq!(table.in_use(7, rate, now), 5);
    }

    #[test]
    fn the_table_stays_bounded_and_drops_idle_keys_first() {
        let table = Table::new(SHARDS * 2);
        let rate = Rate::of(Budget::new(1.0, 1));
        for key in 0..10_000_u32 {
            let _ = table.check(key, rate, SEC);
        }
        assert!(table.len() <= SHARDS * 2);
        // Once their TATs passed, new keys take their place.
        let _ = table.drain_pending();
        for key in 10_000..10_100_u32 {
            let _ = table.check(key, rate, 100 * SEC);
        }
        table.sweep(1000 * SEC);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn keys_seen_once_are_not_reported() {
        let table = Table::new(1000);
        let rate = Rate::of(Budget::new(10.0, 5));
        for key in 0..100_u32 {
            table.check(key, rate, SEC).unwrap();
        }
        table.check(7, rate, SEC).unwrap();
        assert_eq!(table.drain_pending(), vec![(7, 2)]);
        assert!(table.drain_pending().is_empty());
    }
}
