//! Online backup and restore of a database file.
//!
//! A backup is `VACUUM INTO` a new file: SQLite reads one consistent snapshot (a WAL read
//! transaction), so servers and chats go on writing while it runs and the copy holds
//! exactly what was committed when it began; it is compacted, and the source is never
//! written. It goes to `FILE.partial` first and is renamed into place only once it passed
//! `PRAGMA integrity_check`, so a crash never leaves a half backup under the name asked
//! for.
//!
//! A restore copies a checked backup into the database through SQLite's backup API (page
//! by page, under SQLite's own locks, so no other connection ever sees half a database),
//! then migrates it if it came from an older mnemo. It refuses a database that holds data
//! unless told to replace it.

use std::path::{Path, PathBuf};

use mnemo_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};

use crate::errors::map_sqlite;
use crate::schema::SCHEMA_VERSION;

/// What a backup or restore holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupReport {
    /// The file written.
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
    pub sessions: u64,
    pub turns: u64,
    pub memories: u64,
}

/// Writes a consistent copy of the database at `db` to `dest` (which must not exist).
pub fn backup(db: &Path, dest: &Path) -> Result<BackupReport> {
    if !db.exists() {
        return Err(Error::NoDatabase {
            path: db.display().to_string(),
            reason: "there is no database there to back up".into(),
        });
    }
    if dest.exists() {
        return Err(Error::invalid(
            "backup",
            format!(
                "{} exists; give a new file name (a backup never overwrites)",
                dest.display()
            ),
        ));
    }
    let partial = partial_path(dest);
    let _ = std::fs::remove_file(&partial);
    let label = db.display().to_string();
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| map_sqlite(e, &label))?;
    src.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| map_sqlite(e, &label))?;
    let target = partial.to_str().ok_or_else(|| {
        Error::invalid(
            "backup",
            "the backup's path is not valid UTF-8; choose another",
        )
    })?;
    src.execute("VACUUM INTO ?1", [target])
        .map_err(|e| map_sqlite(e, &label))?;
    drop(src);
    let report = check(&partial, dest)?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::Storage(format!("cannot flush {}: {e}", partial.display())))?;
    std::fs::rename(&partial, dest).map_err(|e| {
        Error::Storage(format!(
            "cannot move the backup into place at {}: {e}",
            dest.display()
        ))
    })?;
    Ok(report)
}

/// Replaces the database at `db` with the backup at `from`. A database holding any
/// session or memory is only replaced with `replace`.
pub fn restore(from: &Path, db: &Path, replace: bool) -> Result<BackupReport> {
    if !from.exists() {
        return Err(Error::NoDatabase {
            path: from.display().to_string(),
            reason: "there is no backup there".into(),
        });
    }
    let report = check(from, db)?;
    if db.exists() && !replace {
        let existing = check(db, db)?;
        if existing.sessions + existing.turns + existing.memories > 0 {
            return Err(Error::invalid(
                "restore",
                format!(
                    "{} holds {} turns and {} memories; restoring replaces them all. Stop \
                     every server and chat using it, then run again with --replace",
                    db.display(),
                    existing.turns,
                    existing.memories
                ),
            ));
        }
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Storage(format!("cannot create {}: {e}", dir.display())))?;
    }
    let label = db.display().to_string();
    let mut dst = Connection::open(db).map_err(|e| map_sqlite(e, &label))?;
    dst.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| map_sqlite(e, &label))?;
    dst.restore(
        rusqlite::MAIN_DB,
        from,
        None::<fn(rusqlite::backup::Progress)>,
    )
    .map_err(|e| map_sqlite(e, &label))?;
    drop(dst);
    // A backup of an older mnemo is brought up to this one's schema.
    drop(crate::SqliteStore::open(db)?);
    Ok(BackupReport {
        path: db.to_path_buf(),
        ..report
    })
}

/// Opens `file` read-only and checks that it is a sound mnemo database this build reads;
/// `named` is the path to report.
fn check(file: &Path, named: &Path) -> Result<BackupReport> {
    let label = file.display().to_string();
    let c = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| map_sqlite(e, &label))?;
    let q = |sql: &str| -> Result<i64> {
        c.query_row(sql, [], |r| r.get(0))
            .map_err(|e| map_sqlite(e, &label))
    };
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| map_sqlite(e, &label))?;
    if ok != "ok" {
        return Err(Error::Storage(format!(
            "{label} fails SQLite's integrity check: {ok}"
        )));
    }
    let version = q("PRAGMA user_version")?;
    let is_mnemo =
        q("SELECT count(*) FROM sqlite_schema WHERE name IN ('sessions', 'turns', 'memories')")?
            == 3;
    if !is_mnemo || version < 1 {
        return Err(Error::invalid(
            "backup",
            format!("{label} is not a mnemo database"),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let count = |table: &str| -> Result<u64> {
        Ok(u64::try_from(q(&format!("SELECT count(*) FROM {table}"))?).unwrap_or(0))
    };
    Ok(BackupReport {
        path: named.to_path_buf(),
        bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
        schema_version: version,
        sessions: count("sessions")?,
        turns: count("turns")?,
        memories: count("memories")?,
    })
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_checked_never_overwrites_and_restores_into_an_empty_place() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let store = crate::SqliteStore::open(&db).unwrap();
        drop(store);
        let copy = dir.path().join("copy.db");
        let r = backup(&db, &copy).unwrap();
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        assert!(copy.exists() && !partial_path(&copy).exists());
        let again = backup(&db, &copy).unwrap_err();
        assert!(again.to_string().contains("never overwrites"), "{again}");
        let elsewhere = dir.path().join("new/place.db");
        let restored = restore(&copy, &elsewhere, false).unwrap();
        assert_eq!(restored.path, elsewhere);
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"not a database at all, not even close....").unwrap();
        assert!(restore(&junk, &elsewhere, true).is_err());
    }
}
