//! The conversation log: `log`, `sessions`, `turn add`.

use std::io::Read;

use anyhow::{Context, Result};
use mnemo_core::{ids, NewTurn};
use mnemo_engine::{tools, Engine, TurnScoreParts};
use serde_json::Value;

use super::{caller, date, scope};
use crate::cli::{LogArgs, SessionsArgs, TurnAddArgs, TurnCommand};
use crate::config::Config;
use crate::output::{self, Out};

pub fn log(engine: &Engine, cfg: &Config, a: LogArgs) -> Result<()> {
    let session_id = match &a.session {
        Some(s) => Some(engine.session(&cfg.user, s)?.id),
        None => None,
    };
    if let Some(text) = &a.search {
        return search(engine, cfg, text, session_id, &a);
    }
    let req = tools::ListTurnsRequest {
        session_id,
        limit: a.limit.map(clamp_u32),
    };
    let turns = tools::list_turns(engine, &caller(cfg), req)?.turns;
    let mut out = Out::new();
    if cfg.json {
        out.json(&turns)?;
    } else if turns.is_empty() {
        out.line("no turns")?;
    } else {
        for t in &turns {
            out.line(output::turn_line(t))?;
        }
    }
    out.flush()
}

/// A count the user typed, as the tools' `u32` (a larger one means "all" anyway).
fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `log --search`: the turns that best answer `text`, with their scores.
fn search(
    engine: &Engine,
    cfg: &Config,
    text: &str,
    session_id: Option<String>,
    a: &LogArgs,
) -> Result<()> {
    let req = tools::SearchTurnsRequest {
        query: text.to_string(),
        limit: Some(a.limit.map_or(10, clamp_u32)),
        session_id,
        ..Default::default()
    };
    let (found, fallback) = tools::search_turns_noted(engine, &caller(cfg), req)?;
    super::memory::warn_fallback(fallback.as_deref(), cfg.json);
    let hits = found.hits;
    let mut out = Out::new();
    if cfg.json {
        out.json(&hits)?;
    } else if hits.is_empty() {
        out.line("no matching turns")?;
    } else {
        for h in &hits {
            out.line(format!("{:.3}  {}", h.score, output::turn_line(&h.turn)))?;
            if a.explain {
                out.line(format!("       {}", explain(&h.parts)?))?;
            }
        }
    }
    out.flush()
}

/// Every part of a turn's score as `name value`: the total, then the parts by name (read
/// from the engine's serialised parts, so a new signal shows up here without a change).
fn explain(parts: &TurnScoreParts) -> Result<String> {
    let value = serde_json::to_value(parts)?;
    let mut fields = vec![format!("total {:.3}", parts.total)];
    if let Some(o) = value.as_object() {
        for (k, v) in o.iter().filter(|(k, _)| k.as_str() != "total") {
            fields.push(match v.as_f64() {
                Some(x) => format!("{k} {x:.3}"),
                None => format!("{k} {v}"),
            });
        }
    }
    Ok(fields.join("  "))
}

pub fn sessions(engine: &Engine, cfg: &Config, a: SessionsArgs) -> Result<()> {
    let req = tools::SessionsRequest {
        limit: a.limit.map(clamp_u32),
        count_turns: !cfg.json,
    };
    let found = tools::sessions(engine, &caller(cfg), req)?;
    let sessions = found.sessions;
    let mut out = Out::new();
    if cfg.json {
        out.json(&sessions)?;
    } else if sessions.is_empty() {
        out.line("no sessions")?;
    } else {
        let counts = found.turn_counts.unwrap_or_default();
        for (s, n) in sessions.iter().zip(counts) {
            out.line(output::session_line(s, n))?;
        }
    }
    out.flush()
}

pub fn turn(engine: &Engine, cfg: &Config, cmd: TurnCommand) -> Result<()> {
    match cmd {
        TurnCommand::Add(a) => turn_add(engine, cfg, a),
    }
}

fn turn_add(engine: &Engine, cfg: &Config, a: TurnAddArgs) -> Result<()> {
    let content = if a.text == ["-"] {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the turn from stdin")?;
        s
    } else {
        a.text.join(" ")
    };
    let session_id = match a.session {
        // An existing session may be named by prefix; anything else starts a new session.
        Some(s) => engine.session(&cfg.user, &s).map(|s| s.id).unwrap_or(s),
        None => engine.new_session_id(),
    };
    // Recorded with the pipeline work it makes due (extraction after an assistant turn,
    // a summary every N turns); the jobs wait for `mnemo work` or `mnemo chat`.
    let recorded = engine.record_turn(NewTurn {
        id: None,
        scope: scope(cfg),
        session_id,
        role: a.role.parse()?,
        content,
        created_at: date(a.at.as_deref())?,
        meta: Value::Null,
    })?;
    let turn = &recorded.turn;
    let mut out = Out::new();
    if cfg.json {
        // The turn, with the pipeline jobs now queued for its session.
        let mut v = serde_json::to_value(turn)?;
        v["jobs"] = serde_json::to_value(&recorded.jobs)?;
        out.json(&v)?;
    } else {
        let queued = match recorded.jobs.len() {
            0 => String::new(),
            n => format!("; {n} pipeline job(s) queued"),
        };
        out.line(format!(
            "session {} turn {}{queued}",
            ids::short(&turn.session_id),
            turn.seq
        ))?;
    }
    out.flush()
}
