//! The PostgreSQL + pgvector storage backend of mnemo.
//!
//! Why a second backend: one SQLite file serves one machine. A team or a product with
//! many users runs several mnemo servers behind a load balancer on one PostgreSQL, the
//! database they already operate and back up. [`PgStore`] implements the same
//! [`Store`], [`mnemo_core::VectorStore`] and [`mnemo_core::JobStore`] contracts as the
//! SQLite store, checked by the shared conformance suite (crate `mnemo-store-tests`).
//!
//! - Every trait method is one transaction; writes retry on deadlock or serialization
//!   failure. Reads that need one snapshot run `REPEATABLE READ READ ONLY`.
//! - Concurrency between servers: a session's row is locked while its turns get their
//!   sequence numbers; job identities are serialized with advisory locks; jobs are leased
//!   with `FOR UPDATE SKIP LOCKED`; the memory change feed hands out positions in commit
//!   order (see migration 0001), so every server's in-memory indexes see every write.
//! - Full text: tsvector columns with GIN indexes (English stemming); vectors: pgvector,
//!   with an HNSW index per dimension count ([`PgStore::nearest_memories`]).
//!
//! Module map: `schema` (migrations), `pool`, `db` (statements prepared once per
//! connection), `sql` (filters, placeholders), `rows`,
//! `turns`, `memories`, `search`, `topics`, `admin`, `export_import`, `vectors`, `jobs`,
//! `keys` (API keys of `mnemo serve`),
//! `validate`, `errors`.

mod admin;
mod db;
mod errors;
mod export_import;
mod jobs;
mod jobs_rows;
mod keys;
mod lookup;
mod memories;
mod pool;
mod rows;
pub mod schema;
mod search;
mod sql;
mod topics;
mod turns;
mod validate;
mod vectors;

use std::fmt;
use std::sync::{Arc, Mutex};

use mnemo_core::query::{MemoryHit, TurnHit};
use mnemo_core::{
    Clock, Error, ForgetReport, FtsHit, HistoryEvent, ImportMode, ImportReport, Memory,
    MemoryFilter, NewTurn, Record, Result, Scope, Session, SessionSummary, Stats, Store,
    SystemClock, Timestamp, Topic, Turn, TurnFilter,
};
use postgres::{Config, IsolationLevel};

use crate::db::{Conn, StmtCache, Tx};

use crate::errors::{describe, map_pg, DbResult};
use crate::pool::Pool;
pub use crate::schema::SCHEMA_VERSION;

/// How often a write is retried after a deadlock or serialization failure.
const WRITE_ATTEMPTS: usize = 5;

/// A mnemo store in a PostgreSQL database (with the pgvector extension).
pub struct PgStore {
    pool: Pool,
    /// The URL without its password, for messages.
    label: String,
    clock: Arc<dyn Clock>,
    /// Dimension counts whose HNSW index this process knows to exist.
    hnsw_dims: Mutex<Vec<usize>>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.label)
            .finish_non_exhaustive()
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.find("password=") {
        Some(_) => tail
            .split('&')
            .map(|kv| {
                if kv.contains("password=") {
                    let (k, _) = kv.split_once("password=").unwrap_or((kv, ""));
                    format!("{k}password=***")
                } else {
                    kv.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&"),
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`), creates the
    /// pgvector extension if needed and migrates the schema.
    ///
    /// Errors: [`Error::Invalid`] for a malformed URL, [`Error::Storage`] naming the
    /// server (never the password) when it cannot be reached or pgvector is missing,
    /// [`Error::SchemaTooNew`] for a database of a newer mnemo.
    pub fn open(url: &str) -> Result<Self> {
        let max = pool::max_from_env().map_err(|m| Error::invalid("MNEMO_PG_POOL", m))?;
        Self::open_with_pool(url, max)
    }

    /// [`open`](Self::open) with at most `max_connections` connections open at once
    /// (`open` takes `MNEMO_PG_POOL`, default 16); callers beyond that wait for one.
    pub fn open_with_pool(url: &str, max_connections: usize) -> Result<Self> {
        let label = redact_url(url);
        let config: Config = url.parse().map_err(|e| {
            Error::invalid(
                "database URL",
                format!("`{label}` is not a PostgreSQL URL ({e}); use postgres://user:password@host:port/database"),
            )
        })?;
        let store = PgStore {
            pool: Pool::new(config, max_connections),
            label,
            clock: Arc::new(SystemClock),
            hnsw_dims: Mutex::new(Vec::new()),
        };
        let mut client = store.pool.get().map_err(|e| store.connect_error(&e))?;
        schema::migrate(&mut client).map_err(|e| e.into_core(&store.label))?;
        drop(client);
        Ok(store)
    }

    /// Uses `clock` for "now" (the current view's expiry check); tests pass a fixed clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The URL, password removed.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The server cannot be reached (down, starting, shutting down, the network): the
    /// same request may work in a moment.
    fn connect_error(&self, e: &postgres::Error) -> Error {
        Error::Unavailable(format!("cannot connect to {}: {}", self.label, describe(e)))
    }

    /// Runs `f` on a pooled connection; once more on a new connection when the pooled
    /// one turns out to be broken (an idle connection the server dropped or restarted).
    fn on_connection<T>(
        &self,
        mut f: impl FnMut(&mut postgres::Client, &mut StmtCache) -> DbResult<T>,
    ) -> Result<T> {
        let mut pooled = self.pool.get().map_err(|e| self.connect_error(&e))?;
        let (client, cache) = pooled.parts();
        match f(client, cache) {
            Err(e) if e.is_closed() => {
                pooled.discard();
                let mut fresh = self.pool.get().map_err(|e| self.connect_error(&e))?;
                let (client, cache) = fresh.parts();
                f(client, cache).map_err(|e| e.into_core(&self.label))
            }
            other => other.map_err(|e| e.into_core(&self.label)),
        }
    }

    /// Runs `f` in one snapshot (`REPEATABLE READ READ ONLY`).
    fn read<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> DbResult<T>) -> Result<T> {
        let mut f = Some(f);
        self.on_connection(|client, cache| {
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let mut tx = Tx { tx, cache };
            // Only a broken connection runs this twice, and it fails before `f` runs.
            let f = f.take().ok_or_else(|| {
                mnemo_core::Error::Storage("the connection broke during a read".into())
            })?;
            let out = f(&mut tx)?;
            tx.tx.commit()?;
            Ok(out)
        })
    }

    /// Runs a single-statement read without an explicit transaction (one round trip
    /// instead of three: these run before every search, to see whether an in-memory
    /// index is still current).
    fn read_one<T>(&self, f: impl Fn(&mut Conn<'_>) -> DbResult<T>) -> Result<T> {
        self.on_connection(|client, cache| f(&mut Conn { client, cache }))
    }

    /// Runs `f` in one read-committed write transaction; commits on `Ok`, rolls back on
    /// `Err`, and runs it again after a deadlock or serialization failure.
    ///
    /// A broken connection is not retried here (the commit may have reached the server);
    /// the pool checks connections that sat idle before handing them out.
    fn write<T>(&self, mut f: impl FnMut(&mut Tx<'_>) -> DbResult<T>) -> Result<T> {
        let mut pooled = self.pool.get().map_err(|e| self.connect_error(&e))?;
        let (client, cache) = pooled.parts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = (|| -> DbResult<T> {
                let mut tx = Tx {
                    tx: client.transaction()?,
                    cache: &mut *cache,
                };
                let out = f(&mut tx)?;
                tx.tx.commit()?;
                Ok(out)
            })();
            match result {
                Err(e) if e.is_transient() && attempt < WRITE_ATTEMPTS => continue,
                Err(e) if e.is_closed() => {
                    pooled.discard();
                    return Err(e.into_core(&self.label));
                }
                other => return other.map_err(|e| e.into_core(&self.label)),
            }
        }
    }

    /// Runs one statement outside a transaction (DDL that must not hold row locks).
    fn execute_alone(&self, sql: &str) -> Result<()> {
        let mut client = self.pool.get().map_err(|e| self.connect_error(&e))?;
        client
            .batch_execute(sql)
            .map_err(|e| map_pg(&e, &self.label))
    }
}

impl Store for PgStore {
    fn add_turn(&self, turn: &NewTurn, tokens: u32, now: Timestamp) -> Result<Turn> {
        self.write(|c| turns::add_turn(c, turn, tokens, now))
    }

    fn list_turns(&self, filter: &TurnFilter) -> Result<Vec<Turn>> {
        self.read(|c| turns::list_turns(c, filter))
    }

    fn get_turns(&self, user_id: &str, ids: &[String]) -> Result<Vec<Turn>> {
        self.read(|c| turns::get_turns(c, user_id, ids))
    }

    fn list_sessions(&self, scope: &Scope, limit: Option<usize>) -> Result<Vec<Session>> {
        self.read(|c| turns::list_sessions(c, scope, limit))
    }

    fn get_session(&self, user_id: &str, id_or_prefix: &str) -> Result<Session> {
        self.read(|c| turns::get_session(c, user_id, id_or_prefix))
    }

    fn end_session(&self, user_id: &str, session_id: &str, at: Timestamp) -> Result<()> {
        self.write(|c| turns::end_session(c, user_id, session_id, at))
    }

    fn insert_memory(&self, memory: &Memory, event: &HistoryEvent) -> Result<()> {
        self.write(|c| memories::insert_memory(c, memory, event))
    }

    fn update_memory(&self, memory: &Memory, event: &HistoryEvent) -> Result<()> {
        self.write(|c| memories::update_memory(c, memory, event))
    }

    fn supersede_memory(
        &self,
        old: &Memory,
        old_event: &HistoryEvent,
        new: &Memory,
        new_event: &HistoryEvent,
    ) -> Result<()> {
        self.write(|c| memories::supersede_memory(c, old, old_event, new, new_event))
    }

    fn purge_memory(&self, user_id: &str, id: &str) -> Result<()> {
        self.write(|c| memories::purge_memory(c, user_id, id))
    }

    fn get_memory(&self, user_id: Option<&str>, id_or_prefix: &str) -> Result<Memory> {
        self.read(|c| memories::get_memory(c, user_id, id_or_prefix))
    }

    fn list_memories(&self, filter: &MemoryFilter) -> Result<Vec<Memory>> {
        let now = self.now();
        self.read(|c| memories::list_memories(c, filter, &now))
    }

    fn current_by_key(&self, scope: &Scope, key: &str) -> Result<Option<Memory>> {
        self.read(|c| memories::current_by_key(c, scope, key))
    }

    fn history(&self, user_id: &str, memory_id: &str) -> Result<Vec<HistoryEvent>> {
        self.read(|c| memories::history(c, user_id, memory_id))
    }

    fn touch_memories(&self, user_id: &str, ids: &[String], at: Timestamp) -> Result<()> {
        self.write(|c| memories::touch_memories(c, user_id, ids, at))
    }

    fn search_memories(
        &self,
        text: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<MemoryHit>> {
        let now = self.now();
        self.read(|c| search::memories(c, text, filter, limit, &now))
    }

    fn memories_with_all_words(
        &self,
        text: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Memory>> {
        let now = self.now();
        self.read(|c| search::memories_with_all_words(c, text, filter, limit, &now))
    }

    fn search_turns(&self, text: &str, filter: &TurnFilter, limit: usize) -> Result<Vec<TurnHit>> {
        self.read(|c| search::turns(c, text, filter, limit))
    }

    fn search_topics(&self, text: &str, scope: &Scope, limit: usize) -> Result<Vec<FtsHit<Topic>>> {
        self.read(|c| search::topics(c, text, scope, limit))
    }

    fn search_summaries(
        &self,
        text: &str,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<FtsHit<SessionSummary>>> {
        self.read(|c| search::summaries(c, text, scope, limit))
    }

    fn upsert_topic(&self, topic: &Topic) -> Result<Topic> {
        self.write(|c| topics::upsert_topic(c, topic))
    }

    fn list_topics(&self, scope: &Scope) -> Result<Vec<Topic>> {
        self.read(|c| topics::list_topics(c, scope))
    }

    fn add_summary(&self, summary: &SessionSummary) -> Result<()> {
        self.write(|c| topics::add_summary(c, summary))
    }

    fn list_summaries(
        &self,
        scope: &Scope,
        session_id: Option<&str>,
    ) -> Result<Vec<SessionSummary>> {
        self.read(|c| topics::list_summaries(c, scope, session_id))
    }

    fn forget_user(&self, user_id: &str) -> Result<ForgetReport> {
        self.write(|c| admin::forget_user(c, user_id))
    }

    fn export(&self, user_id: Option<&str>) -> Result<Vec<Record>> {
        self.read(|c| export_import::export(c, user_id))
    }

    fn import(&self, records: &[Record], mode: ImportMode) -> Result<ImportReport> {
        let label = self.label.clone();
        let mut pooled = self.pool.get().map_err(|e| self.connect_error(&e))?;
        let (client, cache) = pooled.parts();
        let mut tx = Tx {
            tx: client.transaction().map_err(|e| map_pg(&e, &label))?,
            cache,
        };
        // On error `tx` is dropped here, which rolls the whole import back.
        let report = export_import::import(&mut tx, records, mode, &label)?;
        tx.tx.commit().map_err(|e| map_pg(&e, &label))?;
        Ok(report)
    }

    fn stats(&self) -> Result<Stats> {
        let now = self.now();
        self.read(|c| admin::stats(c, &now))
    }

    fn users(&self) -> Result<Vec<String>> {
        self.read(admin::users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/mnemo"),
            "postgres://bob:***@db:5432/mnemo"
        );
        assert_eq!(
            redact_url("postgres://db/mnemo?user=bob&password=s3cret&sslmode=disable"),
            "postgres://db/mnemo?user=bob&password=***&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://bob@db/x"), "postgres://bob@db/x");
        let e = PgStore::open("postgres://bob:s3cret@127.0.0.1:1/x").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
