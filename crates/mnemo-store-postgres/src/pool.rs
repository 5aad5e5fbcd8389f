//! A bounded connection pool: at most `max` connections are open; idle ones wait in a
//! stack, a caller takes one (or opens a new one while under the bound, or waits for one
//! to come back) and gives it back when done. Keeping every connection it opened (up to
//! the bound) matters under load: a server answering 200 concurrent requests used to open
//! and close a connection per request past a small idle stack (a new PostgreSQL backend
//! process each time, and its prepared statements lost), which made search p50 290 ms at
//! 200 clients. A connection that broke is dropped instead of returned.
//!
//! The bound is `MNEMO_PG_POOL` (default 16) per process: each mnemo server holds at most
//! that many of PostgreSQL's `max_connections`.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls};

use crate::db::StmtCache;

/// Connections per process unless `MNEMO_PG_POOL` says otherwise.
pub(crate) const DEFAULT_MAX: usize = 16;
/// A connection idle for longer is checked (one empty query) before it is handed out: the
/// server may have restarted or dropped it, and a write must not fail for that.
const CHECK_AFTER: Duration = Duration::from_secs(30);

struct State {
    idle: Vec<(Client, StmtCache, Instant)>,
    /// Connections open now (idle or on loan, and ones being opened).
    open: usize,
}

pub(crate) struct Pool {
    config: Config,
    max: usize,
    state: Mutex<State>,
    returned: Condvar,
}

/// The pool bound from `MNEMO_PG_POOL`, or the default; `Err` says what is wrong.
pub(crate) fn max_from_env() -> Result<usize, String> {
    max_from(std::env::var("MNEMO_PG_POOL").ok().as_deref())
}

fn max_from(value: Option<&str>) -> Result<usize, String> {
    match value {
        None => Ok(DEFAULT_MAX),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "`{v}` is not a number of connections; set MNEMO_PG_POOL to how many \
                 PostgreSQL connections one mnemo process may open (1 or more; default \
                 {DEFAULT_MAX})"
            )),
        },
    }
}

impl Pool {
    pub(crate) fn new(config: Config, max: usize) -> Self {
        Pool {
            config,
            max: max.max(1),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one while under the bound, or the next one returned.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, postgres::Error> {
        let mut state = self.lock();
        loop {
            if let Some((mut c, cache, since)) = state.idle.pop() {
                drop(state);
                let usable = !c.is_closed()
                    && (since.elapsed() < CHECK_AFTER
                        || c.is_valid(Duration::from_secs(5)).is_ok());
                if usable {
                    return Ok(self.loan(c, cache));
                }
                // Broken: forget it and look again.
                state = self.lock();
                state.open -= 1;
                continue;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.config.connect(NoTls) {
                    Ok(c) => Ok(self.loan(c, StmtCache::default())),
                    Err(e) => {
                        self.closed();
                        Err(e)
                    }
                };
            }
            state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn loan(&self, client: Client, cache: StmtCache) -> Pooled<'_> {
        Pooled {
            pool: self,
            client: Some((client, cache)),
        }
    }

    /// A connection on loan was closed: its place is free.
    fn closed(&self) {
        self.lock().open -= 1;
        self.returned.notify_one();
    }
}

/// A connection on loan; returned to the pool on drop.
pub(crate) struct Pooled<'a> {
    pool: &'a Pool,
    client: Option<(Client, StmtCache)>,
}

impl Pooled<'_> {
    /// Closes the connection instead of returning it to the pool (it broke).
    pub(crate) fn discard(mut self) {
        self.client = None;
    }

    /// The connection and its prepared statements.
    pub(crate) fn parts(&mut self) -> (&mut Client, &mut StmtCache) {
        let (c, cache) = self.client.as_mut().expect("present until drop");
        (c, cache)
    }
}

impl Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client.as_ref().expect("present until drop").0
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client.as_mut().expect("present until drop").0
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        match self.client.take() {
            Some((c, cache)) if !c.is_closed() => {
                self.pool.lock().idle.push((c, cache, Instant::now()));
                self.pool.returned.notify_one();
            }
            // Discarded or broken.
            _ => self.pool.closed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_a_positive_number_or_the_default() {
        assert_eq!(max_from(None), Ok(DEFAULT_MAX));
        assert_eq!(max_from(Some(" 4 ")), Ok(4));
        for bad in ["0", "-1", "many", ""] {
            let e = max_from(Some(bad)).unwrap_err();
            assert!(
                e.contains("MNEMO_PG_POOL") && e.contains("1 or more"),
                "{e}"
            );
        }
    }
}
