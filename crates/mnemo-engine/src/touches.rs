//! Batched access bookkeeping for servers. Every recall records that its hits were read
//! (`access_count`, `last_accessed`: the forgetting policy fades memories by disuse). Done
//! inline, that is one write transaction per search, and under concurrent load searches
//! queue behind the single SQLite writer. With [`Engine::with_batched_touches`] the ids
//! are collected and written together by [`Engine::flush_touches`] (the server calls it
//! every second and at shutdown; the last engine handle dropped flushes too). The loaded
//! index sees each access at once either way, so ranking is unchanged; the store learns
//! of it up to a flush later, with the batch's latest time as `last_accessed`, and a
//! process killed outright loses at most that last batch of bookkeeping (never a memory).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mnemo_core::{Result, Store, Timestamp};

use crate::Engine;

/// Accesses not yet written: memory ids per user, and the latest time.
type Pending = (BTreeMap<String, Vec<String>>, Option<Timestamp>);

/// Accesses not yet written.
pub(crate) struct TouchBuffer {
    store: Arc<dyn Store>,
    pending: Mutex<Pending>,
}

impl TouchBuffer {
    pub(crate) fn add(&self, user_id: &str, ids: &[String], at: Timestamp) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.0.entry(user_id.to_owned())
            .or_default()
            .extend_from_slice(ids);
        p.1 = Some(p.1.map_or(at, |t| t.max(at)));
    }

    /// One write per user (every statement of the store names its user).
    fn flush(&self) -> Result<usize> {
        let (by_user, at) = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            (std::mem::take(&mut p.0), p.1.take())
        };
        let Some(at) = at else { return Ok(0) };
        let mut written = 0;
        let mut users = by_user.into_iter();
        while let Some((user, ids)) = users.next() {
            if let Err(e) = self.store.touch_memories(&user, &ids, at) {
                // Kept for the next flush (the database may only be busy).
                self.add(&user, &ids, at);
                for (user, ids) in users {
                    self.add(&user, &ids, at);
                }
                return Err(e);
            }
            written += ids.len();
        }
        Ok(written)
    }
}

impl Drop for TouchBuffer {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl Engine {
    /// Records recall accesses in batches (see the module docs); for servers.
    pub fn with_batched_touches(mut self) -> Self {
        self.touches = Some(Arc::new(TouchBuffer {
            store: self.store.clone(),
            pending: Mutex::default(),
        }));
        self
    }

    /// Writes the accesses collected so far; returns how many. A no-op without batching.
    pub fn flush_touches(&self) -> Result<usize> {
        self.touches.as_ref().map_or(Ok(0), |t| t.flush())
    }
}
