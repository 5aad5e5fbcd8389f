//! The export format: JSON Lines, one [`Record`] per line, tagged by `"type"`. The first
//! line is a header naming the format and its version. Records come out in a fixed order
//! (sessions, turns, memories, history, topics, summaries; each by time then id), so export
//! → import → export gives byte-identical output.

use serde::{Deserialize, Serialize};

use crate::{HistoryEvent, Memory, Session, SessionSummary, Topic, Turn};

/// The `format` field of the header line.
pub const EXPORT_FORMAT: &str = "mnemo-export";
/// The current export version. Importers accept this version and older ones.
pub const EXPORT_VERSION: u32 = 1;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExportHeader {
    pub format: String,
    pub version: u32,
    /// The user exported, or `None` for the whole database.
    pub user_id: Option<String>,
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Header(ExportHeader),
    Session(Session),
    Turn(Turn),
    Memory(Memory),
    History(HistoryEvent),
    Topic(Topic),
    Summary(SessionSummary),
}

impl Record {
    /// The record's id, for error messages.
    pub fn id(&self) -> &str {
        match self {
            Record::Header(_) => "header",
            Record::Session(s) => &s.id,
            Record::Turn(t) => &t.id,
            Record::Memory(m) => &m.id,
            Record::History(h) => &h.id,
            Record::Topic(t) => &t.id,
            Record::Summary(s) => &s.id,
        }
    }
}
