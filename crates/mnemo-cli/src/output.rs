//! Printing: JSON for `--json`, compact text for people. Output goes through a locked,
//! buffered stdout and every write returns its error, so a closed pipe ends the command
//! quietly (see `exit`).

use std::io::{BufWriter, StdoutLock, Write};

use anyhow::Result;
use mnemo_core::{ids, time, HistoryEvent, Memory, Session, Turn};
use mnemo_engine::Section;
use serde::Serialize;

/// Buffered stdout.
pub struct Out(BufWriter<StdoutLock<'static>>);

impl Out {
    pub fn new() -> Self {
        Out(BufWriter::new(std::io::stdout().lock()))
    }

    /// Writes one line.
    pub fn line(&mut self, s: impl AsRef<str>) -> Result<()> {
        writeln!(self.0, "{}", s.as_ref())?;
        Ok(())
    }

    /// Writes a value as pretty JSON.
    pub fn json<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        serde_json::to_writer_pretty(&mut self.0, v)?;
        writeln!(self.0)?;
        Ok(())
    }

    /// The raw writer (for exports).
    pub fn raw(&mut self) -> &mut dyn Write {
        &mut self.0
    }

    pub fn flush(mut self) -> Result<()> {
        self.0.flush()?;
        Ok(())
    }
}

/// `2026-01-02 03:04` for people.
pub fn when(t: &time::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// One line describing a memory.
pub fn memory_line(m: &Memory) -> String {
    let mut tags = Vec::new();
    if let Some(k) = &m.key {
        tags.push(format!("key={k}"));
    }
    if let Some(t) = &m.topic {
        tags.push(format!("topic={t}"));
    }
    if m.pinned {
        tags.push("pinned".into());
    }
    if m.deleted {
        tags.push("forgotten".into());
    } else if m.valid_to.is_some() {
        tags.push("superseded".into());
    }
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!("  ({})", tags.join(", "))
    };
    format!(
        "{}  {:<10} {}{}",
        ids::short(&m.id),
        m.kind.as_str(),
        one_line(&m.content),
        tags
    )
}

/// A full description of a memory.
pub fn memory_detail(out: &mut Out, m: &Memory, current: bool) -> Result<()> {
    out.line(format!("id:         {}", m.id))?;
    out.line(format!("kind:       {}", m.kind))?;
    if let Some(k) = &m.key {
        out.line(format!("key:        {k}"))?;
    }
    out.line(format!("content:    {}", m.content))?;
    if let Some(t) = &m.topic {
        out.line(format!("topic:      {t}"))?;
    }
    out.line(format!(
        "salience:   {:.2}{}",
        m.salience,
        if m.pinned { " (pinned)" } else { "" }
    ))?;
    let status = if current {
        "current"
    } else if m.deleted {
        "forgotten"
    } else if m.valid_to.is_some() {
        "superseded"
    } else {
        "expired"
    };
    out.line(format!("status:     {status}"))?;
    let to = m
        .valid_to
        .as_ref()
        .map(when)
        .unwrap_or_else(|| "now".into());
    out.line(format!("valid:      {} .. {to}", when(&m.valid_from)))?;
    if let Some(by) = &m.superseded_by {
        out.line(format!("replaced by {}", ids::short(by)))?;
    }
    if let Some(e) = &m.expires_at {
        out.line(format!("expires:    {}", when(e)))?;
    }
    out.line(format!(
        "accessed:   {} times{}",
        m.access_count,
        m.last_accessed
            .as_ref()
            .map(|t| format!(", last {}", when(t)))
            .unwrap_or_default()
    ))?;
    Ok(())
}

/// One line of history.
pub fn history_line(h: &HistoryEvent) -> String {
    let change = match (&h.old_content, &h.new_content) {
        (Some(o), Some(n)) if o != n => format!("{} -> {}", one_line(o), one_line(n)),
        (_, Some(n)) => one_line(n),
        (Some(o), None) => one_line(o),
        (None, None) => String::new(),
    };
    let reason = h
        .reason
        .as_ref()
        .map(|r| format!("  [{r}]"))
        .unwrap_or_default();
    format!(
        "{}  {:<9} by {:<6} {change}{reason}",
        when(&h.at),
        h.op.as_str(),
        h.actor.as_str()
    )
}

/// One line of the conversation log.
pub fn turn_line(t: &Turn) -> String {
    format!(
        "{} {}#{:<3} {:<9} {}",
        when(&t.created_at),
        ids::short(&t.session_id),
        t.seq,
        t.role.as_str(),
        one_line(&t.content)
    )
}

/// One line per session.
pub fn session_line(s: &Session, turns: usize) -> String {
    let ended = s
        .ended_at
        .as_ref()
        .map(|t| format!("ended {}", when(t)))
        .unwrap_or_else(|| "open".into());
    format!(
        "{}  started {}  {turns} turns  {ended}",
        ids::short(&s.id),
        when(&s.started_at)
    )
}

/// Collapses newlines so a record stays on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How `/context` and `mnemo context` name a section of the context.
pub fn section_name(s: Section) -> &'static str {
    match s {
        Section::Fact => "key fact",
        Section::Memory => "memory",
        Section::Topic => "topic summary",
        Section::SessionSummary => "past session",
        Section::PastTurn => "past turn",
        Section::RecentTurn => "this session",
    }
}
