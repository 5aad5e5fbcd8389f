//! Export and import as [`Record`]s, in the SQLite store's exact order and with the same
//! validation, so the export of the same data from either backend is byte-identical, and
//! a database moves between backends by export → import.
//!
//! Export reads in one snapshot. Import runs in one transaction: the first record that
//! cannot be stored aborts everything with [`Error::ImportLine`].

use mnemo_core::{
    Error, ExportHeader, HistoryEvent, ImportMode, ImportReport, Memory, Record, Result, Session,
    SessionSummary, Topic, Turn, EXPORT_FORMAT, EXPORT_VERSION,
};
use postgres::Row;

use crate::db::{Sql, Tx};

use crate::errors::DbResult;
use crate::memories::{self, memory_owner};
use crate::rows::{
    self, HISTORY_COLS, MEMORY_COLS, SESSION_COLS, SUMMARY_COLS, TOPIC_COLS, TURN_COLS,
};
use crate::topics::{self, check_session};
use crate::turns::{self, session_agent};
use crate::validate;

type ReadRecord = fn(&Row) -> DbResult<Record>;

/// The export, table by table: columns, table with alias, order (parents before
/// children, then time, then id; text in byte order, as SQLite sorts it).
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

pub(crate) fn export(c: &mut Tx<'_>, user_id: Option<&str>) -> DbResult<Vec<Record>> {
    let mut out = vec![Record::Header(ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        version: EXPORT_VERSION,
        user_id: user_id.map(str::to_owned),
    })];
    for (cols, table, alias, order, read) in export_parts() {
        let sql = format!(
            "SELECT {cols} FROM {table} {alias} WHERE ($1::text IS NULL OR {alias}.user_id = $1) \
             ORDER BY {order}"
        );
        for row in c.query(&sql, &[&user_id])? {
            out.push(read(&row)?);
        }
    }
    let mut mems: Vec<Memory> = out
        .iter()
        .filter_map(|r| match r {
            Record::Memory(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    for chunk in mems.chunks_mut(1000) {
        memories::load_sources(c, chunk)?;
    }
    let mut filled = mems.into_iter();
    for record in &mut out {
        if let Record::Memory(m) = record {
            *m = filled.next().expect("one loaded memory per memory record");
        }
    }
    Ok(out)
}

enum Outcome {
    Inserted,
    Replaced,
    Skipped,
    Ignored,
}

/// Imports `records`; on failure the error names `line` = index + 1 in `records`, and the
/// caller (holding the transaction) rolls everything back.
pub(crate) fn import(
    c: &mut Tx<'_>,
    records: &[Record],
    mode: ImportMode,
    label: &str,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    for (index, record) in records.iter().enumerate() {
        let outcome = import_one(c, record, mode).map_err(|e| Error::ImportLine {
            line: index + 1,
            reason: format!(
                "{} {}: {}",
                kind_name(record),
                record.id(),
                e.into_core(label)
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

fn import_one(c: &mut Tx<'_>, record: &Record, mode: ImportMode) -> DbResult<Outcome> {
    match record {
        Record::Header(_) => Ok(Outcome::Ignored),
        Record::Session(s) => import_session(c, s, mode),
        Record::Turn(t) => import_turn(c, t, mode),
        Record::Memory(m) => import_memory(c, m, mode),
        Record::History(h) => import_history(c, h, mode),
        Record::Topic(t) => import_topic(c, t, mode),
        Record::Summary(s) => import_summary(c, s, mode),
    }
}

/// What to do with a record whose id may exist, owned by `existing`. Replacing a record
/// of another user is refused: an import never moves data between users.
fn decide(
    c: &mut Tx<'_>,
    existing: Option<String>,
    user_id: &str,
    mode: ImportMode,
    insert: impl FnOnce(&mut Tx<'_>) -> DbResult<()>,
    replace: impl FnOnce(&mut Tx<'_>) -> DbResult<()>,
) -> DbResult<Outcome> {
    match (existing, mode) {
        (None, _) => insert(c).map(|()| Outcome::Inserted),
        (Some(_), ImportMode::SkipExisting) => Ok(Outcome::Skipped),
        (Some(owner), ImportMode::Replace) if owner == user_id => {
            replace(c).map(|()| Outcome::Replaced)
        }
        (Some(_), ImportMode::Replace) => Err(Error::invalid(
            "id",
            "already used by a record of another user; not replaced",
        )
        .into()),
    }
}

fn import_session(c: &mut Tx<'_>, s: &Session, mode: ImportMode) -> DbResult<Outcome> {
    validate::session(s)?;
    // A session's id is unique within its user only: another user's session of the same id
    // is another session, so only this user's can be "existing".
    let existing = session_agent(c, &s.user_id, &s.id)?.map(|_| s.user_id.clone());
    decide(
        c,
        existing,
        &s.user_id,
        mode,
        |c| turns::insert_session(c, s),
        |c| turns::replace_session(c, s),
    )
}

fn import_turn(c: &mut Tx<'_>, t: &Turn, mode: ImportMode) -> DbResult<Outcome> {
    validate::turn(t)?;
    if session_agent(c, &t.user_id, &t.session_id)?.is_none() {
        return Err(Error::invalid(
            "session_id",
            format!(
                "session {} of user {} is not in the database; import it first",
                t.session_id, t.user_id
            ),
        )
        .into());
    }
    let existing = owner_of(c, "turns", &t.id)?;
    decide(
        c,
        existing,
        &t.user_id,
        mode,
        |c| turns::insert_turn(c, t),
        |c| turns::replace_turn(c, t),
    )
}

fn import_memory(c: &mut Tx<'_>, m: &Memory, mode: ImportMode) -> DbResult<Outcome> {
    validate::memory(m)?;
    let existing = memory_owner(c, &m.id)?;
    decide(
        c,
        existing,
        &m.user_id,
        mode,
        |c| memories::insert_row(c, m),
        |c| memories::replace_row(c, m),
    )
}

fn import_history(c: &mut Tx<'_>, h: &HistoryEvent, mode: ImportMode) -> DbResult<Outcome> {
    validate::event(h)?;
    match memory_owner(c, &h.memory_id)? {
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
    let existing = owner_of(c, "history", &h.id)?;
    decide(
        c,
        existing,
        &h.user_id,
        mode,
        |c| memories::insert_event(c, h),
        |c| memories::replace_event(c, h),
    )
}

/// A topic matches a stored one by id or by (user, agent, name).
fn import_topic(c: &mut Tx<'_>, t: &Topic, mode: ImportMode) -> DbResult<Outcome> {
    validate::topic(t)?;
    if let Some(existing) = topics::owner(c, &t.id)? {
        return decide(
            c,
            Some(existing),
            &t.user_id,
            mode,
            |_| Ok(()),
            |c| topics::set_topic(c, &t.id, &t.id, t),
        );
    }
    match topics::id_by_name(c, t)? {
        None => topics::insert_topic(c, t).map(|()| Outcome::Inserted),
        Some(_) if mode == ImportMode::SkipExisting => Ok(Outcome::Skipped),
        Some(stored) => topics::set_topic(c, &stored, &t.id, t).map(|()| Outcome::Replaced),
    }
}

fn import_summary(c: &mut Tx<'_>, s: &SessionSummary, mode: ImportMode) -> DbResult<Outcome> {
    validate::summary(s)?;
    check_session(c, s)?;
    let existing = owner_of(c, "summaries", &s.id)?;
    decide(
        c,
        existing,
        &s.user_id,
        mode,
        |c| topics::insert_summary(c, s),
        |c| topics::replace_summary(c, s),
    )
}

/// The user owning record `id` of `table`, if it exists.
fn owner_of(c: &mut Tx<'_>, table: &str, id: &str) -> DbResult<Option<String>> {
    Ok(c.query_opt(
        &format!("SELECT user_id FROM {table} WHERE id = $1"),
        &[&id],
    )?
    .map(|r| r.get(0)))
}
