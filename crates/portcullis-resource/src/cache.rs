//! A bounded map split into shards, each behind its own lock, for the layer's in-process state:
//! introspection answers, DPoP proof `jti`s, budgets, enumeration windows and report dedupe.
//!
//! Every entry carries the instant after which it no longer matters. When a shard is full, its
//! expired entries are dropped; if it is still full, the insertion is refused and the caller
//! decides what that means (skip caching, or refuse the request: a replay is never let through).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

/// Shards per map: enough that two cores rarely wait on one another.
const SHARDS: usize = 16;

/// An entry and the instant (milliseconds since the epoch) after which it is dropped.
#[derive(Debug)]
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    pub(crate) expires_ms: i64,
}

/// One shard: a map behind its lock.
type Shard<K, V> = Mutex<HashMap<K, Entry<V>>>;

/// A bounded, sharded map whose entries expire.
#[derive(Debug)]
pub(crate) struct Shards<K, V> {
    shards: Box<[Shard<K, V>]>,
    per_shard: usize,
    hasher: RandomState,
}

/// What [`Shards::insert_new`] did.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Insert {
    /// The key was new and is now recorded.
    Fresh,
    /// The key was recorded already (and has not expired).
    Present,
    /// The shard is full of live entries: nothing was recorded.
    Full,
}

impl<K: Hash + Eq, V> Shards<K, V> {
    /// A map holding about `capacity` entries at most (at least one per shard).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    /// The shard holding `key`, locked. A poisoned lock (a panic elsewhere while holding it)
    /// still holds a consistent map: every update is a single insert or remove.
    pub(crate) fn lock(&self, key: &K) -> MutexGuard<'_, HashMap<K, Entry<V>>> {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        let shard = &self.shards[index % SHARDS];
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `map` (a locked shard) may take one more entry at `now_ms`, after dropping its
    /// expired entries if it is full.
    pub(crate) fn has_room(&self, map: &mut HashMap<K, Entry<V>>, now_ms: i64) -> bool {
        if map.len() < self.per_shard {
            return true;
        }
        map.retain(|_, e| e.expires_ms > now_ms);
        map.len() < self.per_shard
    }

    /// Records `key` until `expires_ms` unless a live entry for it exists (single use).
    pub(crate) fn insert_new(&self, key: K, value: V, expires_ms: i64, now_ms: i64) -> Insert {
        let mut map = self.lock(&key);
        if let Some(entry) = map.get(&key)
            && entry.expires_ms > now_ms
        {
            return Insert::Present;
        }
        if map.contains_key(&key) || self.has_room(&mut map, now_ms) {
            map.insert(key, Entry { value, expires_ms });
            Insert::Fresh
        } else {
            Insert::Full
        }
    }

    /// Records `key` until `expires_ms`, replacing any entry; `false` when the shard is full.
    pub(crate) fn insert(&self, key: K, value: V, expires_ms: i64, now_ms: i64) -> bool {
        let mut map = self.lock(&key);
        if map.contains_key(&key) || self.has_room(&mut map, now_ms) {
            map.insert(key, Entry { value, expires_ms });
            true
        } else {
            false
        }
    }
}

impl<K: Hash + Eq, V: Clone> Shards<K, V> {
    /// The live value of `key`, if any.
    pub(crate) fn get(&self, key: &K, now_ms: i64) -> Option<V> {
        let map = self.lock(key);
        map.get(key)
            .filter(|e| e.expires_ms > now_ms)
            .map(|e| e.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_new_is_single_use_until_expiry() {
        let map: Shards<u32, ()> = Shards::new(100);
        assert_eq!(map.insert_new(1, (), 1_000, 0), Insert::Fresh);
        assert_eq!(map.insert_new(1, (), 1_000, 999), Insert::Present);
        assert_eq!(map.insert_new(1, (), 2_000, 1_000), Insert::Fresh);
    }

    #[test]
    fn a_full_shard_drops_expired_entries_then_refuses() {
        // One entry per shard: the second key of a shard needs the first to have expired.
        let map: Shards<u32, u8> = Shards::new(1);
        let mut same_shard = (1..).filter(|k| {
            let a = map.hasher.hash_one(0u32) % SHARDS as u64;
            a == map.hasher.hash_one(*k) % SHARDS as u64
        });
        let other = same_shard.next().unwrap();
        assert!(map.insert(0, 1, 100, 0));
        assert_eq!(map.insert_new(other, 2, 100, 50), Insert::Full);
        assert!(!map.insert(other, 2, 100, 50));
        assert_eq!(map.get(&0, 50), Some(1));
        assert_eq!(map.insert_new(other, 2, 200, 100), Insert::Fresh);
        assert_eq!(map.get(&0, 100), None);
        assert_eq!(map.get(&other, 150), Some(2));
    }
}
