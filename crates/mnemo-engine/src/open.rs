//! Choosing the storage backend from the database URI, in one place for every front end.
//!
//! - `postgres://…` or `postgresql://…`: the PostgreSQL + pgvector backend (several
//!   servers sharing one database);
//! - `sqlite://PATH` or a plain path: a SQLite file (one machine).
//!
//! The engine sees only the [`Store`] traits, so nothing else changes with the backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mnemo_core::{
    Clock, ImportMode, ImportReport, KeyStore, Result, Store, SystemClock, VectorRecord,
};
use mnemo_store_postgres::PgStore;
use mnemo_store_sqlite::{Create, SqliteStore};
use serde::Serialize;

use crate::{Engine, EngineSettings};

/// Where a database URI points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (as given, password included).
    Postgres(String),
}

impl DbLocation {
    /// Parses a database URI or path.
    pub fn parse(uri: &str) -> Self {
        let trimmed = uri.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            DbLocation::Postgres(trimmed.to_owned())
        } else if let Some(path) = trimmed.strip_prefix("sqlite://") {
            DbLocation::Sqlite(PathBuf::from(path))
        } else {
            DbLocation::Sqlite(PathBuf::from(uri))
        }
    }

    /// The location as shown to people: a path, or a URL without its password.
    pub fn label(&self) -> String {
        match self {
            DbLocation::Sqlite(p) => p.display().to_string(),
            DbLocation::Postgres(url) => mnemo_store_postgres::redact_url(url),
        }
    }
}

/// Writes a consistent copy of the database `uri` names to `dest` while others go on
/// writing (SQLite's `VACUUM INTO`; see `mnemo_store_sqlite::backup`). A PostgreSQL
/// database is backed up with its own tools, which this error names.
pub fn backup(uri: &str, dest: &Path) -> Result<mnemo_store_sqlite::backup::BackupReport> {
    match DbLocation::parse(uri) {
        DbLocation::Sqlite(db) => mnemo_store_sqlite::backup::backup(&db, dest),
        DbLocation::Postgres(_) => Err(postgres_backup_hint()),
    }
}

/// Replaces the database `uri` names with the backup at `from` (only an empty one unless
/// `replace`).
pub fn restore(
    uri: &str,
    from: &Path,
    replace: bool,
) -> Result<mnemo_store_sqlite::backup::BackupReport> {
    match DbLocation::parse(uri) {
        DbLocation::Sqlite(db) => mnemo_store_sqlite::backup::restore(from, &db, replace),
        DbLocation::Postgres(_) => Err(postgres_backup_hint()),
    }
}

fn postgres_backup_hint() -> mnemo_core::Error {
    mnemo_core::Error::invalid(
        "backup",
        "a PostgreSQL database is backed up with PostgreSQL's tools: `pg_dump --format=custom \
         --file=mnemo.dump URL` (consistent while servers write) and `pg_restore --dbname=URL \
         mnemo.dump` into an empty database; see README",
    )
}

/// `uri` as shown to people (a PostgreSQL password is replaced by `***`).
pub fn db_label(uri: &Path) -> String {
    DbLocation::parse(&uri.to_string_lossy()).label()
}

/// Opens the store `uri` names, with `clock` for "now". `create` applies to SQLite files
/// (a PostgreSQL database must exist; its schema is created or migrated on open).
pub fn store_from_uri(uri: &str, create: Create, clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>> {
    Ok(server_stores_from_uri(uri, create, clock)?.store)
}

/// A database opened for a server: its records and its API keys, on one handle (one
/// connection pool on PostgreSQL).
#[derive(Clone)]
pub struct ServerStores {
    pub store: Arc<dyn Store>,
    pub keys: Arc<dyn KeyStore>,
}

/// Opens the database `uri` names (see [`store_from_uri`]) with its API keys: what
/// `mnemo serve` and `mnemo keys` need, on SQLite and on PostgreSQL alike.
pub fn server_stores_from_uri(
    uri: &str,
    create: Create,
    clock: Arc<dyn Clock>,
) -> Result<ServerStores> {
    fn both<S: Store + KeyStore + 'static>(s: S) -> ServerStores {
        let s = Arc::new(s);
        ServerStores {
            store: s.clone(),
            keys: s,
        }
    }
    Ok(match DbLocation::parse(uri) {
        DbLocation::Sqlite(path) => both(SqliteStore::open_with(&path, create)?.with_clock(clock)),
        DbLocation::Postgres(url) => both(PgStore::open(&url)?.with_clock(clock)),
    })
}

impl Engine {
    /// Opens the database `uri` names (see [`store_from_uri`]) on the system clock.
    pub fn open_uri(uri: &str, create: Create, settings: EngineSettings) -> Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = store_from_uri(uri, create, clock.clone())?;
        Ok(Engine::new(store, settings, clock))
    }
}

/// What [`copy_store`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// Records of the export (sessions, turns, memories, history, topics, summaries).
    pub records: u64,
    pub import: ImportReport,
    /// Vectors copied, each with its model id.
    pub vectors: u64,
}

/// Vectors are copied in batches of this many (one transaction each).
const VECTOR_BATCH: usize = 1000;

/// Copies every record of `from` into `to` (records already there are kept), then every
/// vector with its model id: a database moves between backends without losing history,
/// provenance or embeddings. The export format is the contract between the two, so
/// exports of both afterwards are byte-identical. Jobs and usage are not copied (they
/// are the source's work log, not memory).
pub fn copy_store(from: &dyn Store, to: &dyn Store) -> Result<CopyReport> {
    let records = from.export(None)?;
    let import = to.import(records.get(1..).unwrap_or(&[]), ImportMode::SkipExisting)?;
    let mut vectors = 0u64;
    for user in from.users()? {
        for model in from.vector_models(Some(&user))? {
            let batch: Vec<VectorRecord> = from
                .vectors(model.owner_kind, &user, &model.model_id)?
                .into_iter()
                .map(|(owner_id, vector)| VectorRecord {
                    owner_kind: model.owner_kind,
                    owner_id,
                    model_id: model.model_id.clone(),
                    vector,
                })
                .collect();
            for chunk in batch.chunks(VECTOR_BATCH) {
                to.put_vectors(chunk)?;
                vectors += chunk.len() as u64;
            }
        }
    }
    Ok(CopyReport {
        records: records.len().saturating_sub(1) as u64,
        import,
        vectors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_choose_the_backend() {
        assert_eq!(
            DbLocation::parse("/a/b.db"),
            DbLocation::Sqlite("/a/b.db".into())
        );
        assert_eq!(
            DbLocation::parse("sqlite:///a/b.db"),
            DbLocation::Sqlite("/a/b.db".into())
        );
        assert_eq!(
            DbLocation::parse("sqlite://rel.db"),
            DbLocation::Sqlite("rel.db".into())
        );
        assert_eq!(
            DbLocation::parse("postgres://u:pw@h/db"),
            DbLocation::Postgres("postgres://u:pw@h/db".into())
        );
        assert!(matches!(
            DbLocation::parse("PostgreSQL://h/db"),
            DbLocation::Postgres(_)
        ));
        assert_eq!(
            db_label(Path::new("postgres://u:pw@h/db")),
            "postgres://u:***@h/db"
        );
        assert_eq!(db_label(Path::new("x.db")), "x.db");
    }

    #[test]
    fn a_sqlite_uri_opens_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = store_from_uri(&uri, Create::File, Arc::new(SystemClock)).unwrap();
        assert_eq!(store.stats().unwrap().memories_total, 0);
        assert!(dir.path().join("m.db").exists());
    }
}
