//! A small connection pool: idle connections wait in a stack, a caller takes one (or
//! opens a new one) and gives it back when done. Enough for a server whose blocking pool
//! bounds concurrency; a connection that broke is dropped instead of returned.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls};

use crate::db::StmtCache;

/// How many idle connections are kept.
const MAX_IDLE: usize = 16;

/// A connection idle for longer is checked (one empty query) before it is handed out: the
/// server may have restarted or dropped it, and a write must not fail for that.
const CHECK_AFTER: Duration = Duration::from_secs(30);

pub(crate) struct Pool {
    config: Config,
    idle: Mutex<Vec<(Client, StmtCache, Instant)>>,
}

impl Pool {
    pub(crate) fn new(config: Config) -> Self {
        Pool {
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, postgres::Error> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let reused = idle.and_then(|(mut c, cache, since)| {
            let usable = !c.is_closed()
                && (since.elapsed() < CHECK_AFTER || c.is_valid(Duration::from_secs(5)).is_ok());
            usable.then_some((c, cache))
        });
        let client = match reused {
            Some(c) => c,
            None => (self.config.connect(NoTls)?, StmtCache::default()),
        };
        Ok(Pooled {
            pool: self,
            client: Some(client),
        })
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
        if let Some((c, cache)) = self.client.take() {
            if c.is_closed() {
                return;
            }
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push((c, cache, Instant::now()));
            }
        }
    }
}
