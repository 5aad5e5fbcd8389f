//! Whole-user tools: counts, export/import of the caller's own data (the JSON Lines
//! records of `mnemo export`), and deleting all of a user's data. An import may only hold
//! the caller's records, so it can neither plant data in another user's name nor replace
//! another user's rows; only an admin may delete another user.

use mnemo_core::{
    ForgetReport, ImportMode, ImportReport, JobCounts, MemoryFilter, Record, Stats, TimeView,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Caller, ToolError, ToolResult};
use crate::Engine;

/// The caller's counts.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UserStats {
    pub sessions: u64,
    pub memories_current: u64,
    pub memories_total: u64,
    pub topics: u64,
    pub summaries: u64,
    pub jobs: JobCounts,
}

/// Counts of the caller's data; for an admin caller, of the whole database too.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatsResponse {
    pub user_id: String,
    pub user: UserStats,
    /// Whole-database counts (admin callers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Stats>,
}

/// Counts for the caller.
pub fn stats(engine: &Engine, caller: &Caller) -> ToolResult<StatsResponse> {
    let scope = caller.scope();
    let count_memories = |view| -> ToolResult<u64> {
        let mut f = MemoryFilter::scope(scope.clone());
        f.view = view;
        Ok(engine.list(&f)?.len() as u64)
    };
    let store = engine.store();
    let user = UserStats {
        sessions: store.list_sessions(&scope, None)?.len() as u64,
        memories_current: count_memories(TimeView::Current)?,
        memories_total: count_memories(TimeView::All)?,
        topics: store.list_topics(&scope)?.len() as u64,
        summaries: store.list_summaries(&scope, None)?.len() as u64,
        jobs: engine.job_counts(Some(&caller.user_id))?,
    };
    let database = if caller.admin {
        Some(engine.stats()?)
    } else {
        None
    };
    Ok(StatsResponse {
        user_id: caller.user_id.clone(),
        user,
        database,
    })
}

/// Every record of the caller's, header first, in export order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ExportResponse {
    pub records: Vec<Record>,
}

/// Exports the caller's data.
pub fn export(engine: &Engine, caller: &Caller) -> ToolResult<ExportResponse> {
    Ok(ExportResponse {
        records: engine.store().export(Some(&caller.user_id))?,
    })
}

/// Records to import (an export's records; the header line may be included).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub records: Vec<Record>,
    /// Replace records whose id exists (admin callers only); default skip them.
    #[serde(default)]
    pub replace: bool,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ImportResponse {
    pub records: usize,
    #[serde(flatten)]
    pub report: ImportReport,
}

/// Imports records of the caller's, all or nothing.
pub fn import(engine: &Engine, caller: &Caller, req: ImportRequest) -> ToolResult<ImportResponse> {
    if req.replace && !caller.admin {
        return Err(ToolError::invalid(
            "replace",
            "only an admin may replace existing records; leave it out to skip them",
        ));
    }
    // The header is checked as the CLI's import checks a file's: the format, a version
    // this mnemo reads, and at most one.
    let mut seen = false;
    for (i, r) in req.records.iter().enumerate() {
        if let Record::Header(h) = r {
            crate::transfer::check_header(h, i + 1, seen)?;
            seen = true;
        }
    }
    let records: Vec<Record> = req
        .records
        .into_iter()
        .filter(|r| !matches!(r, Record::Header(_)))
        .collect();
    for (i, r) in records.iter().enumerate() {
        if owner(r) != caller.user_id {
            return Err(ToolError::invalid(
                "records",
                format!(
                    "record {} ({}) belongs to user `{}`; only your own records can be imported",
                    i + 1,
                    r.id(),
                    owner(r)
                ),
            ));
        }
    }
    let mode = if req.replace {
        ImportMode::Replace
    } else {
        ImportMode::SkipExisting
    };
    let report = engine.store().import(&records, mode)?;
    Ok(ImportResponse {
        records: records.len(),
        report,
    })
}

fn owner(r: &Record) -> &str {
    match r {
        Record::Header(_) => "",
        Record::Session(s) => &s.user_id,
        Record::Turn(t) => &t.user_id,
        Record::Memory(m) => &m.user_id,
        Record::History(h) => &h.user_id,
        Record::Topic(t) => &t.user_id,
        Record::Summary(s) => &s.user_id,
    }
}

/// Deletes every memory, turn, session, history event, topic and summary of `user_id`
/// (the caller's own user, or any user for an admin caller): `mnemo forget --user`.
pub fn forget_user(engine: &Engine, caller: &Caller, user_id: &str) -> ToolResult<ForgetReport> {
    if user_id != caller.user_id && !caller.admin {
        // Another user's data is not the caller's to see, so not even to name.
        return Err(ToolError::not_found("user", user_id));
    }
    Ok(engine.forget_user(user_id)?)
}
