//! The SQLite storage backend of mnemo.
//!
//! One file holds everything: the conversation log, memories with their provenance and
//! history, topics, summaries, and FTS5 indexes over their text. SQLite was chosen because
//! mnemo is a local, single-user-machine tool: no server to run, atomic transactions, WAL
//! for concurrent readers, and a built-in full-text engine with BM25 ranking.
//!
//! [`SqliteStore`] implements [`mnemo_core::Store`]. Every trait method is one transaction
//! (writes take the write lock up front with `BEGIN IMMEDIATE`, so two processes never
//! deadlock upgrading a read lock). Writes go through one connection behind a mutex (SQLite
//! has one writer at a time anyway); reads of a file-backed store use a few more
//! connections of their own (`query_only`), so under WAL a server's searches and listings
//! run in parallel with each other and with a write instead of queueing behind it.
//! Statements are prepared once per connection and cached.
//!
//! Module map: [`schema`] (pragmas, migrations), `turns`, `memories`, `topics`, `search`,
//! `export_import`, `admin`, [`fts_query`] (safe `MATCH` expressions), `errors`
//! (SQLite error → [`mnemo_core::Error`]).

mod admin;
pub mod backup;
mod changes;
mod errors;
mod export_import;
mod filters;
pub mod fts_query;
mod jobs;
mod jobs_rows;
mod keys;
mod lookup;
mod memories;
mod rows;
pub mod schema;
mod search;
pub mod stopwords;
mod topics;
mod turns;
mod validate;
mod vectors;

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use mnemo_core::query::{MemoryHit, TurnHit};
use mnemo_core::{
    Clock, Error, ForgetReport, FtsHit, HistoryEvent, ImportMode, ImportReport, Memory,
    MemoryFilter, NewTurn, Record, Result, Scope, Session, SessionSummary, Stats, Store,
    SystemClock, Timestamp, Topic, Turn, TurnFilter,
};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::errors::DbResult;
pub use crate::fts_query::build_match_query;
pub use crate::schema::SCHEMA_VERSION;

/// A mnemo store in one SQLite database file (or in memory, for tests).
pub struct SqliteStore {
    /// The writer (and the reader of an in-memory store).
    conn: Mutex<Connection>,
    /// Read-only connections of a file-backed store.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    path: Option<PathBuf>,
    /// The path as shown in error messages (`:memory:` for an in-memory store).
    label: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.label)
            .finish_non_exhaustive()
    }
}

/// What [`SqliteStore::open_with`] may create when the database file does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Nothing: a missing file is [`Error::NoDatabase`] (read-only commands).
    Never,
    /// The file, in a directory that must already exist (a path the user gave).
    File,
    /// The file and its parent directories (the default XDG location).
    FileAndDirs,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) and migrates the database
    /// at `path`. Same as [`open_with`](Self::open_with) and [`Create::FileAndDirs`].
    ///
    /// Errors: [`Error::ReadOnly`] when the file or directory cannot be written,
    /// [`Error::Busy`] when another process holds the lock past the busy timeout,
    /// [`Error::SchemaTooNew`] for a database of a newer mnemo, and [`Error::Storage`]
    /// naming the path when the file is not a SQLite database.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Create::FileAndDirs)
    }

    /// Opens and migrates the database at `path`, creating only what `create` allows.
    /// Errors as [`open`](Self::open), plus [`Error::NoDatabase`] when the file (or, for
    /// [`Create::File`], its directory) does not exist.
    pub fn open_with(path: &Path, create: Create) -> Result<Self> {
        let label = path.display().to_string();
        check_exists(path, create)?;
        probe_writable(path)?;
        let conn = Connection::open(path).map_err(|e| errors::map_sqlite(e, &label))?;
        Self::init(conn, Some(path.to_path_buf()), label)
    }

    /// A private, empty, migrated in-memory store.
    pub fn open_in_memory() -> Result<Self> {
        let label = ":memory:".to_owned();
        let conn = Connection::open_in_memory().map_err(|e| errors::map_sqlite(e, &label))?;
        Self::init(conn, None, label)
    }

    /// Uses `clock` for "now" (the current view's expiry check and stats); tests and
    /// benchmarks pass a fixed clock. The default is the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs SQLite's `PRAGMA integrity_check`; `true` when it answers `ok` (used after a
    /// crash to show the file is sound).
    pub fn integrity_check(&self) -> Result<bool> {
        self.read(|c| {
            let answer: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            Ok(answer == "ok")
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn init(mut conn: Connection, path: Option<PathBuf>, label: String) -> Result<Self> {
        let setup = |conn: &mut Connection| -> DbResult<()> {
            if conn.is_readonly(rusqlite::MAIN_DB)? {
                return Err(Error::ReadOnly(label.clone()).into());
            }
            schema::configure(conn, path.is_some())?;
            schema::migrate(conn)
        };
        setup(&mut conn).map_err(|e| e.into_core(&label))?;
        let readers = match &path {
            Some(p) => (0..READERS)
                .map(|_| open_reader(p).map(Mutex::new))
                .collect::<DbResult<Vec<_>>>()
                .map_err(|e| e.into_core(&label))?,
            None => Vec::new(),
        };
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            readers,
            next_reader: AtomicUsize::new(0),
            path,
            label,
            clock: Arc::new(SystemClock),
        })
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The connection. A panic while holding it cannot leave a transaction open (the
    /// transaction guard rolls back on unwind), so a poisoned lock is safe to reuse.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A read connection: the first free reader, else a busy one (round robin).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.readers.len();
        if n == 0 {
            return self.lock();
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.readers[(start + i) % n].try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.readers[start]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a read on a read connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> DbResult<T>) -> Result<T> {
        f(&self.reader()).map_err(|e| e.into_core(&self.label))
    }

    /// Runs several reads in one transaction, so they see one snapshot (memories and their
    /// provenance are read by separate statements).
    fn snapshot<T>(&self, f: impl FnOnce(&Connection) -> DbResult<T>) -> Result<T> {
        let mut conn = self.reader();
        let run = || -> DbResult<T> {
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e| e.into_core(&self.label))
    }

    /// Runs `f` in one write transaction; commits on `Ok`, rolls back on `Err`.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> DbResult<T>) -> Result<T> {
        write_in(&mut self.lock(), f).map_err(|e| e.into_core(&self.label))
    }
}

/// Read connections per file-backed store.
const READERS: usize = 4;

/// A connection for reads only, to a database the writer has already configured (WAL is
/// a property of the file) and migrated.
fn open_reader(path: &Path) -> DbResult<Connection> {
    let conn = Connection::open(path)?;
    schema::configure_reader(&conn)?;
    Ok(conn)
}

/// Runs `f` in one immediate (write-locking) transaction on `conn`.
fn write_in<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> DbResult<T>,
) -> DbResult<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Refuses to go on when `create` does not allow making what is missing.
fn check_exists(path: &Path, create: Create) -> Result<()> {
    let missing = |reason: String| Error::NoDatabase {
        path: path.display().to_string(),
        reason,
    };
    match create {
        Create::FileAndDirs => Ok(()),
        Create::Never if !path.exists() => Err(missing(
            "the file does not exist, and this command does not create one".into(),
        )),
        Create::Never => Ok(()),
        Create::File => match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) if !dir.is_dir() => Err(missing(format!(
                "directory {} does not exist (create it first, e.g. `mkdir -p {}`)",
                dir.display(),
                dir.display()
            ))),
            _ => Ok(()),
        },
    }
}

/// Creates the parent directories and the file, so that permission problems are reported
/// as [`Error::ReadOnly`] with the path instead of SQLite's generic "unable to open".
fn probe_writable(path: &Path) -> Result<()> {
    let read_only = |e: &std::io::Error| {
        matches!(
            e.kind(),
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            if read_only(&e) {
                Error::ReadOnly(format!(
                    "{} (cannot create directory: {e})",
                    parent.display()
                ))
            } else {
                Error::io(format!("creating directory {}", parent.display()), e)
            }
        })?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(|e| {
            if read_only(&e) {
                Error::ReadOnly(format!("{} ({e})", path.display()))
            } else {
                Error::io(format!("opening database {}", path.display()), e)
            }
        })
}

impl Store for SqliteStore {
    fn add_turn(&self, turn: &NewTurn, tokens: u32, now: Timestamp) -> Result<Turn> {
        self.write(|c| turns::add_turn(c, turn, tokens, now))
    }

    fn list_turns(&self, filter: &TurnFilter) -> Result<Vec<Turn>> {
        self.read(|c| turns::list_turns(c, filter))
    }

    fn get_turns(&self, user_id: &str, ids: &[String]) -> Result<Vec<Turn>> {
        self.snapshot(|c| turns::get_turns(c, user_id, ids))
    }

    fn list_sessions(&self, scope: &Scope, limit: Option<usize>) -> Result<Vec<Session>> {
        self.read(|c| turns::list_sessions(c, scope, limit))
    }

    fn get_session(&self, user_id: &str, id_or_prefix: &str) -> Result<Session> {
        self.snapshot(|c| turns::get_session(c, user_id, id_or_prefix))
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
        self.snapshot(|c| memories::get_memory(c, user_id, id_or_prefix))
    }

    fn list_memories(&self, filter: &MemoryFilter) -> Result<Vec<Memory>> {
        let now = self.now();
        self.snapshot(|c| memories::list_memories(c, filter, &now))
    }

    fn current_by_key(&self, scope: &Scope, key: &str) -> Result<Option<Memory>> {
        self.snapshot(|c| memories::current_by_key(c, scope, key))
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
        self.snapshot(|c| search::memories(c, text, filter, limit, &now))
    }

    fn memories_with_all_words(
        &self,
        text: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Memory>> {
        let now = self.now();
        self.snapshot(|c| search::memories_with_all_words(c, text, filter, limit, &now))
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
        let mut conn = self.lock();
        let run = |conn: &mut Connection| -> DbResult<ForgetReport> {
            // Zero freed pages while forgetting, so the text does not linger in the file.
            conn.execute_batch("PRAGMA secure_delete = ON;")?;
            let report = write_in(conn, |c| admin::forget_user(c, user_id));
            conn.execute_batch("PRAGMA secure_delete = OFF;")?;
            report
        };
        run(&mut conn).map_err(|e| e.into_core(&self.label))
    }

    fn export(&self, user_id: Option<&str>) -> Result<Vec<Record>> {
        self.snapshot(|c| export_import::export(c, user_id))
    }

    fn import(&self, records: &[Record], mode: ImportMode) -> Result<ImportReport> {
        let label = &self.label;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| errors::map_sqlite(e, label))?;
        // On error `tx` is dropped here, which rolls the whole import back.
        let report = export_import::import(&tx, records, mode, label)?;
        tx.commit().map_err(|e| errors::map_sqlite(e, label))?;
        Ok(report)
    }

    fn stats(&self) -> Result<Stats> {
        let now = self.now();
        self.snapshot(|c| admin::stats(c, &now))
    }

    fn users(&self) -> Result<Vec<String>> {
        self.read(admin::users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::OpenFlags;

    #[test]
    fn read_only_connections_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let label = path.display().to_string();
        match SqliteStore::init(conn, Some(path.clone()), label) {
            Err(Error::ReadOnly(msg)) => assert!(msg.contains("ro.db"), "{msg}"),
            other => panic!("expected ReadOnly, got {other:?}"),
        }
    }

    #[test]
    fn the_store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SqliteStore>();
    }
}
