//! Per-user index slots with least-recently-used eviction under a memory budget.
//!
//! Why: a server holds many users' indexes at once. One lock over all of them (what a
//! single-user CLI could afford) makes every user wait while one user's index is rebuilt
//! or a query is embedded. Here the map of slots is locked only to find or add a slot;
//! each slot has its own read-write lock, so searches of one user run in parallel, a
//! rebuild blocks only that user, and other users never wait. When the indexes' estimated
//! size passes the budget, the least recently used ones are dropped; they are rebuilt
//! from the store (the source of truth) on their next use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One user's index, if loaded, with what eviction needs.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    index: RwLock<Option<T>>,
    /// Tick of the last use (higher is more recent).
    used: AtomicU64,
    /// Estimated bytes of the loaded index.
    bytes: AtomicUsize,
}

impl<T> Slot<T> {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Option<T>> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Option<T>> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The slots of every user.
#[derive(Debug)]
pub(crate) struct UserCache<T> {
    slots: Mutex<HashMap<String, Arc<Slot<T>>>>,
    tick: AtomicU64,
}

impl<T> Default for UserCache<T> {
    fn default() -> Self {
        UserCache {
            slots: Mutex::default(),
            tick: AtomicU64::new(0),
        }
    }
}

impl<T> UserCache<T> {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot<T>>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user's slot, created empty if needed, marked as just used.
    pub(crate) fn slot(&self, user: &str) -> Arc<Slot<T>> {
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let slot = self
            .map()
            .entry(user.to_owned())
            .or_insert_with(|| {
                Arc::new(Slot {
                    index: RwLock::new(None),
                    used: AtomicU64::new(tick),
                    bytes: AtomicUsize::new(0),
                })
            })
            .clone();
        slot.used.store(tick, Ordering::Relaxed);
        slot
    }

    /// The user's slot if one exists (nothing is created).
    pub(crate) fn get(&self, user: &str) -> Option<Arc<Slot<T>>> {
        self.map().get(user).cloned()
    }

    /// Drops `user`'s index (rebuilt from the store on next use).
    pub(crate) fn remove(&self, user: &str) {
        self.map().remove(user);
    }

    /// Drops every index.
    pub(crate) fn clear(&self) {
        self.map().clear();
    }

    /// Records the size of `user`'s freshly loaded index, then drops the least recently
    /// used other indexes while the total is over `budget` bytes (0: no limit).
    pub(crate) fn admit(&self, user: &str, bytes: usize, budget: usize) {
        let mut map = self.map();
        if let Some(slot) = map.get(user) {
            slot.bytes.store(bytes, Ordering::Relaxed);
        }
        if budget == 0 {
            return;
        }
        let mut total: usize = map.values().map(|s| s.bytes.load(Ordering::Relaxed)).sum();
        while total > budget {
            let oldest = map
                .iter()
                .filter(|(u, s)| u.as_str() != user && s.bytes.load(Ordering::Relaxed) > 0)
                .min_by_key(|(_, s)| s.used.load(Ordering::Relaxed))
                .map(|(u, _)| u.clone());
            let Some(victim) = oldest else { break };
            if let Some(slot) = map.remove(&victim) {
                total -= slot.bytes.load(Ordering::Relaxed);
            }
        }
    }

    /// Users with a slot.
    #[cfg(test)]
    pub(crate) fn users(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_index_goes_first_and_the_new_one_stays() {
        let c: UserCache<u32> = UserCache::default();
        for (u, n) in [("a", 1), ("b", 2), ("c", 3)] {
            *c.slot(u).write() = Some(n);
            c.admit(u, 100, 0);
        }
        c.slot("a"); // a is used again: b is now the oldest
        *c.slot("d").write() = Some(4);
        c.admit("d", 150, 300);
        let mut users = c.users();
        users.sort();
        assert_eq!(users, vec!["a", "d"], "b then c evicted to fit 300 bytes");
        // An index bigger than the whole budget is still kept (it is in use).
        *c.slot("e").write() = Some(5);
        c.admit("e", 1000, 300);
        assert_eq!(c.users(), vec!["e"]);
    }
}
