//! Export and import of whole users (or the whole database) as [`Record`]s.
//!
//! Export reads inside one transaction, so it is a consistent snapshot, and emits records
//! in a fixed order with an id tie-break (see [`mnemo_core::record`]), so export → import →
//! export is identical. Import runs in one transaction: the first record that cannot be
//! stored aborts the whole import with [`Error::ImportLine`], nothing half-imported.
//!
//! Import order matters for references: sessions before their turns and summaries,
//! memories before their history — the order export produces.

use mnemo_core::{
    Error, ExportHeader, HistoryEvent, ImportMode, ImportReport, Memory, Record, Result, Session,
    SessionSummary, Topic, Turn, EXPORT_FORMAT, EXPORT_VERSION,
};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::errors::DbResult;
use crate::memories::{self, memory_owner};
use crate::rows::{
    self, HISTORY_COLS, MEMORY_COLS, SESSION_COLS, SUMMARY_COLS, TOPIC_COLS, TURN_COLS,
};
use crate::topics::{self, check_session};
use crate::turns::{self, session_agent};
use crate::validate;

/// Reads one record from a row of an export query.
type ReadRecord = fn(&Row<'_>) -> rusqlite::Result<Record>;

/// The export, table by table: columns, table with alias, order. The order is part of the
/// format (see [`mnemo_core::record`]): parents before children, then time, then id.
fn export_parts() -> [(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    ReadRecord,
); 6] {
    [
        (SESSION_COLS, "sessions", "s", "s.started_at, s.id", |r| {
            Ok(Record::Session(rows::session(r)?))
        }),
        (TURN_COLS, "turns", "t", "t.session_id, t.seq", |r| {
            Ok(Record::Turn(rows::turn(r)?))
        }),
        (MEMORY_COLS, "memories", "m", "m.created_at, m.id", |r| {
            Ok(Record::Memory(rows::memory(r)?))
        }),
        (HISTORY_COLS, "history", "h", "h.at, h.id", |r| {
            Ok(Record::History(rows::history(r)?))
        }),
        (TOPIC_COLS, "topics", "p", "p.name, p.id", |r| {
            Ok(Record::Topic(rows::topic(r)?))
        }),
        (SUMMARY_COLS, "summaries", "y", "y.created_at, y.id", |r| {
            Ok(Record::Summary(rows::summary(r)?))
        }),
    ]
}

pub(crate) fn export(conn: &Connection, user_id: Option<&str>) -> DbResult<Vec<Record>> {
    let mut out = vec![Record::Header(ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        version: EXPORT_VERSION,
        user_id: user_id.map(str::to_owned),
    })];
    for (cols, table, alias, order, read) in export_parts() {
        let sql = format!(
            "SELECT {cols} FROM {table} {alias} WHERE (?1 IS NULL OR {alias}.user_id = ?1) \
             ORDER BY {order}"
        );
        let mut stmt = conn.prepare(&sql)?;
        for record in stmt.query_map([user_id], read)? {
            out.push(record?);
        }
    }
    for record in &mut out {
        if let Record::Memory(m) = record {
            memories::load_sources(conn, std::slice::from_mut(m))?;
        }
    }
    Ok(out)
}

/// What happened to one imported record.
enum Outcome {
    Inserted,
    Replaced,
    Skipped,
    Ignored,
}

/// Imports `records`; on failure the error names `line` = index + 1 in `records`, and the
/// caller (which holds the transaction) rolls everything back. A caller reading a file
/// whose first line is the header passes the records after it and adds 1 to the line.
pub(crate) fn import(
    conn: &Connection,
    records: &[Record],
    mode: ImportMode,
    db_path: &str,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    for (index, record) in records.iter().enumerate() {
        let outcome = import_one(conn, record, mode).map_err(|e| Error::ImportLine {
            line: index + 1,
            reason: format!(
                "{} {}: {}",
                kind_name(record),
                record.id(),
                e.into_core(db_path)
            ),
        })?;
        match outcome {
            Outcome::Inserted => report.inserted += 1,
            Outcome::Replaced => report.replaced += 1,
            Outcome::Skipped => report.skipped += 1,
            Outcome::Ignored => {}
        }
    }
    Ok(report)
}

fn kind_name(record: &Record) -> &'static str {
    match record {
        Record::Header(_) => "header",
        Record::Session(_) => "session",
        Record::Turn(_) => "turn",
        Record::Memory(_) => "memory",
        Record::History(_) => "history event",
        Record::Topic(_) => "topic",
        Record::Summary(_) => "summary",
    }
}

fn import_one(conn: &Connection, record: &Record, mode: ImportMode) -> DbResult<Outcome> {
    match record {
        Record::Header(_) => Ok(Outcome::Ignored),
        Record::Session(s) => import_session(conn, s, mode),
        Record::Turn(t) => import_turn(conn, t, mode),
        Record::Memory(m) => import_memory(conn, m, mode),
        Record::History(h) => import_history(conn, h, mode),
        Record::Topic(t) => import_topic(conn, t, mode),
        Record::Summary(s) => import_summary(conn, s, mode),
    }
}

/// Decides what to do with a record whose id may exist, owned by `existing_user`.
/// Replacing a record of another user is refused: ids are global, and an import must never
/// move data between users.
fn decide(
    existing_user: Option<String>,
    user_id: &str,
    mode: ImportMode,
    insert: impl FnOnce() -> DbResult<()>,
    replace: impl FnOnce() -> DbResult<()>,
) -> DbResult<Outcome> {
    match (existing_user, mode) {
        (None, _) => insert().map(|()| Outcome::Inserted),
        (Some(_), ImportMode::SkipExisting) => Ok(Outcome::Skipped),
        (Some(owner), ImportMode::Replace) if owner == user_id => {
            replace().map(|()| Outcome::Replaced)
        }
        (Some(_), ImportMode::Replace) => Err(Error::invalid(
            "id",
            "already used by a record of another user; not replaced",
        )
        .into()),
    }
}

fn import_session(conn: &Connection, s: &Session, mode: ImportMode) -> DbResult<Outcome> {
    validate::session(s)?;
    // A session's id is unique within its user only: another user's session of the same id
    // is another session, so only this user's can be "existing".
    let existing = session_agent(conn, &s.user_id, &s.id)?.map(|_| s.user_id.clone());
    decide(
        existing,
        &s.user_id,
        mode,
        || turns::insert_session(conn, s),
        || turns::replace_session(conn, s),
    )
}

fn import_turn(conn: &Connection, t: &Turn, mode: ImportMode) -> DbResult<Outcome> {
    validate::turn(t)?;
    if session_agent(conn, &t.user_id, &t.session_id)?.is_none() {
        return Err(Error::invalid(
            "session_id",
            format!(
                "session {} of user {} is not in the database; import it first",
                t.session_id, t.user_id
            ),
        )
        .into());
    }
    let existing = owner_of(conn, "turns", &t.id)?;
    decide(
        existing,
        &t.user_id,
        mode,
        || turns::insert_turn(conn, t),
        || turns::replace_turn(conn, t),
    )
}

fn import_memory(conn: &Connection, m: &Memory, mode: ImportMode) -> DbResult<Outcome> {
    validate::memory(m)?;
    let existing = memory_owner(conn, &m.id)?;
    decide(
        existing,
        &m.user_id,
        mode,
        || memories::insert_row(conn, m),
        || memories::replace_row(conn, m),
    )
}

fn import_history(conn: &Connection, h: &HistoryEvent, mode: ImportMode) -> DbResult<Outcome> {
    validate::event(h)?;
    match memory_owner(conn, &h.memory_id)? {
        Some(user) if user == h.user_id => {}
        Some(_) => {
            return Err(Error::invalid("user_id", "differs from the user of its memory").into())
        }
        None => {
            return Err(Error::invalid(
                "memory_id",
                format!(
                    "memory {} is not in the database; import it first",
                    h.memory_id
                ),
            )
            .into())
        }
    }
    let existing = owner_of(conn, "history", &h.id)?;
    decide(
        existing,
        &h.user_id,
        mode,
        || memories::insert_event(conn, h),
        || memories::replace_event(conn, h),
    )
}

/// A topic matches a stored one by id or by (user, agent, name); the latter is the same
/// topic created independently in two databases.
fn import_topic(conn: &Connection, t: &Topic, mode: ImportMode) -> DbResult<Outcome> {
    validate::topic(t)?;
    if let Some(existing) = topics::owner(conn, &t.id)? {
        return decide(
            Some(existing),
            &t.user_id,
            mode,
            || Ok(()),
            || topics::replace_topic(conn, &t.id, t),
        );
    }
    match topics::id_by_name(conn, t)? {
        None => topics::insert_topic(conn, t).map(|()| Outcome::Inserted),
        Some(_) if mode == ImportMode::SkipExisting => Ok(Outcome::Skipped),
        Some(stored) => topics::set_topic(conn, &stored, &t.id, t).map(|()| Outcome::Replaced),
    }
}

fn import_summary(conn: &Connection, s: &SessionSummary, mode: ImportMode) -> DbResult<Outcome> {
    validate::summary(s)?;
    check_session(conn, s)?;
    let existing = owner_of(conn, "summaries", &s.id)?;
    decide(
        existing,
        &s.user_id,
        mode,
        || topics::insert_summary(conn, s),
        || topics::replace_summary(conn, s),
    )
}

/// The user owning record `id` of `table`, if it exists.
fn owner_of(conn: &Connection, table: &str, id: &str) -> DbResult<Option<String>> {
    Ok(conn
        .prepare_cached(&format!("SELECT user_id FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| r.get(0))
        .optional()?)
}
