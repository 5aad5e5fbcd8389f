//! `remember`, `recall`, `list`, `show`, `edit`, `forget`, `restore`.

use std::io::IsTerminal;

use anyhow::{bail, Context, Result};
use mnemo_core::ids;
use mnemo_engine::{keyvalue, tools, Engine};

use super::{caller, date, kinds};
use crate::cli::{ContextArgs, EditArgs, ForgetArgs, ListArgs, RecallArgs, RememberArgs};
use crate::config::Config;
use crate::output::{self, Out};

pub fn remember(engine: &Engine, cfg: &Config, a: RememberArgs) -> Result<()> {
    let text = a.text.join(" ");
    let (key, content, salience) =
        if a.key.is_none() && !a.literal && keyvalue::looks_like_key_value(&text) {
            let (k, v) = keyvalue::parse(&text)?;
            (Some(k), v, a.salience)
        } else {
            // `--key K TEXT` is a fact at the plain default salience, as it always was.
            let salience = a.salience.or(a.key.as_ref().map(|_| 0.5));
            (a.key, text, salience)
        };
    // The CLI's own parsing first, so its messages name its options.
    let kind = a.kind.map(|k| k.parse()).transpose()?;
    date(a.expires.as_deref())?;
    let req = tools::AddMemoryRequest {
        content,
        kind,
        key,
        topic: a.topic,
        salience,
        pinned: Some(a.pin),
        expires_at: a.expires,
        session_id: a.session,
        reason: None,
    };
    let added = tools::add_memory(engine, &caller(cfg), req)?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&added)?;
    } else {
        let what = match &added.previous {
            Some(previous) => format!(
                "updated (replaces {}: {})",
                ids::short(&previous.id),
                previous.content
            ),
            None if added.outcome == "unchanged" => "already known, nothing changed".to_string(),
            None => "remembered".to_string(),
        };
        out.line(format!("{} {what}", ids::short(&added.memory.id)))?;
    }
    out.flush()
}

pub fn recall(engine: &Engine, cfg: &Config, a: RecallArgs) -> Result<()> {
    let req = tools::SearchRequest {
        query: a.query.join(" "),
        limit: a.limit.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        kinds: kinds(&a.kind)?,
        topic: a.topic,
        as_of: a.as_of,
        // The parts are always in --json's output, and printed with --explain.
        explain: true,
        ..Default::default()
    };
    let (found, fallback) = tools::search_noted(engine, &caller(cfg), req)?;
    warn_fallback(fallback.as_deref(), cfg.json);
    let hits = found.hits;
    let mut out = Out::new();
    if cfg.json {
        out.json(&hits)?;
    } else if hits.is_empty() {
        out.line("no matching memories")?;
        if a.explain {
            out.line(threshold_line(engine))?;
        }
    } else {
        for h in &hits {
            out.line(format!(
                "{:.3}  {}",
                h.score,
                output::memory_line(&h.memory)
            ))?;
            if let (true, Some(p)) = (a.explain, &h.parts) {
                out.line(format!(
                    "       relevance {:.3} (bm25 {:.3} -> {:.3}, cosine {:.3} -> {:.3})  salience {:.3}  recency {:.3}  pinned {:.0}  total {:.3}",
                    p.relevance, p.bm25, p.lexical, p.cosine, p.dense, p.salience, p.recency, p.pinned, p.total
                ))?;
            }
        }
        if a.explain {
            out.line(threshold_line(engine))?;
        }
    }
    out.flush()
}

/// What `--explain` says about the similarity a memory with no word of the query needs.
fn threshold_line(engine: &Engine) -> String {
    match engine.min_similarity() {
        m if m > 0.0 => format!(
            "(a memory that shares no word with the query needs cosine >= {m:.2}; \
             [engine.ranking] min_similarity)"
        ),
        _ => "(no similarity threshold: the nearest memories are returned even when \
              unrelated; [engine.ranking] min_similarity)"
            .to_string(),
    }
}

/// `mnemo context`: what the chat or the proxy would inject for a message (nothing is
/// recorded; the memories it finds are counted as accessed, as the chat's are).
pub fn context(engine: &Engine, cfg: &Config, a: ContextArgs) -> Result<()> {
    let req = tools::ContextToolRequest {
        message: a.message.join(" "),
        session_id: a.session,
        pattern: a.pattern.as_deref().map(str::parse).transpose()?,
        budget_tokens: Some(a.budget),
        max_memories: None,
        max_recent_turns: None,
    };
    let ctx = tools::context(engine, &caller(cfg), req)?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&ctx)?;
        return out.flush();
    }
    if ctx.items.is_empty() {
        out.line("nothing to inject: no memory or earlier turn relates to this message")?;
        return out.flush();
    }
    out.line(format!(
        "{} of {} tokens; {} items",
        ctx.tokens,
        ctx.budget_tokens,
        ctx.items.len()
    ))?;
    for it in &ctx.items {
        out.line(format!(
            "  {:<15} {:<8} {:>5} tok",
            output::section_name(it.section),
            ids::short(&it.id),
            it.tokens
        ))?;
    }
    if let Some(block) = &ctx.memory_block {
        out.line("--- memory block as sent ---")?;
        out.line(block)?;
    }
    for t in &ctx.recent_turns {
        out.line(format!("--- replayed {}: {}", t.role, t.content))?;
    }
    out.flush()
}

pub fn list(engine: &Engine, cfg: &Config, a: ListArgs) -> Result<()> {
    let req = tools::ListMemoriesRequest {
        kinds: kinds(&a.kind)?,
        topic: a.topic,
        key: a.key.map(|k| keyvalue::valid_key(&k)).transpose()?,
        session_id: a.session,
        view: a.all.then_some(tools::View::All),
        as_of: a.as_of,
        limit: a.limit.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        ..Default::default()
    };
    let memories = tools::list_memories(engine, &caller(cfg), req)?.memories;
    let mut out = Out::new();
    if cfg.json {
        out.json(&memories)?;
    } else if memories.is_empty() {
        out.line("no memories")?;
    } else {
        for m in &memories {
            out.line(output::memory_line(m))?;
        }
    }
    out.flush()
}

pub fn show(engine: &Engine, cfg: &Config, id: &str) -> Result<()> {
    let view = tools::get_memory(engine, &caller(cfg), id)?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&view)?;
        return out.flush();
    }
    output::memory_detail(&mut out, &view.memory, view.current)?;
    out.line("history:")?;
    for h in &view.history {
        out.line(format!("  {}", output::history_line(h)))?;
    }
    if !view.sources.is_empty() {
        out.line("from turns:")?;
        for t in &view.sources {
            out.line(format!("  {}", output::turn_line(t)))?;
        }
    }
    out.flush()
}

pub fn edit(engine: &Engine, cfg: &Config, a: EditArgs) -> Result<()> {
    // The CLI's own parsing first, so its messages name its options.
    let kind = a.kind.map(|k| k.parse()).transpose()?;
    date(a.expires.as_deref())?;
    let mut req = tools::UpdateMemoryRequest {
        content: a.text,
        kind,
        // An empty key or topic clears it (the tool's convention as well).
        key: a.key,
        topic: a.topic,
        salience: a.salience,
        pinned: if a.pin {
            Some(true)
        } else if a.unpin {
            Some(false)
        } else {
            None
        },
        expires_at: if a.no_expiry {
            Some(String::new())
        } else {
            a.expires
        },
        reason: a.reason,
    };
    let caller = caller(cfg);
    if nothing_to_change(&req) {
        let current = tools::get_memory(engine, &caller, &a.id)?.memory.content;
        match edit_in_editor(&current)? {
            Some(text) => req.content = Some(text),
            None => bail!("the text was not changed; nothing to do"),
        }
    }
    let m = tools::update_memory(engine, &caller, &a.id, req)?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&m)?;
    } else {
        out.line(format!("{} updated", ids::short(&m.id)))?;
    }
    out.flush()
}

/// Whether `mnemo edit ID` was given no change (then the editor opens); a reason alone
/// is not a change.
fn nothing_to_change(r: &tools::UpdateMemoryRequest) -> bool {
    r.content.is_none()
        && r.kind.is_none()
        && r.key.is_none()
        && r.topic.is_none()
        && r.salience.is_none()
        && r.pinned.is_none()
        && r.expires_at.is_none()
}

/// Opens `$VISUAL`/`$EDITOR` on the text; `None` when it came back unchanged.
fn edit_in_editor(current: &str) -> Result<Option<String>> {
    if !std::io::stdin().is_terminal() {
        bail!("no change given; pass the new text (`mnemo edit ID \"new text\"`) or an option such as --topic");
    }
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let dir = std::env::temp_dir().join(format!("mnemo-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("memory.txt");
    std::fs::write(&path, current)?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot start editor `{editor}`; set $EDITOR"))?;
    let text = std::fs::read_to_string(&path)?;
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        bail!("the editor exited with {status}; nothing changed");
    }
    let text = text.trim().to_string();
    Ok((text != current.trim()).then_some(text))
}

pub fn forget(engine: &Engine, cfg: &Config, a: ForgetArgs) -> Result<()> {
    let Some(id) = a.id else {
        return forget_user(engine, cfg, a.yes);
    };
    let req = tools::ForgetRequest {
        purge: a.purge,
        reason: a.reason,
    };
    let m = tools::forget(engine, &caller(cfg), &id, req)?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&serde_json::json!({ "forgotten": m.id, "purged": a.purge }))?;
    } else if a.purge {
        out.line(format!("{} removed for good", ids::short(&m.id)))?;
    } else {
        out.line(format!(
            "{} forgotten (`mnemo restore {}` brings it back)",
            ids::short(&m.id),
            ids::short(&m.id)
        ))?;
    }
    out.flush()
}

fn forget_user(engine: &Engine, cfg: &Config, yes: bool) -> Result<()> {
    if !cfg.user_explicit {
        bail!(
            "give a memory id to forget, or --user USER (no id) to delete everything of that user"
        );
    }
    if !yes
        && !confirm(&format!(
            "Delete ALL memories, turns and history of user `{}`? [y/N] ",
            cfg.user
        ))?
    {
        bail!("nothing deleted");
    }
    let report = tools::forget_user(engine, &caller(cfg), &cfg.user)?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&report)?;
    } else {
        out.line(format!(
            "removed user `{}`: {} sessions, {} turns, {} memories, {} history events, {} topics, {} summaries",
            cfg.user, report.sessions, report.turns, report.memories, report.history, report.topics, report.summaries
        ))?;
    }
    out.flush()
}

/// Asks on the terminal; refuses (with how to skip the question) when stdin is not one.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to delete without confirmation; add --yes");
    }
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn restore(engine: &Engine, cfg: &Config, id: &str) -> Result<()> {
    let m = tools::restore(engine, &caller(cfg), id)?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&m)?;
    } else {
        out.line(format!("{} restored", ids::short(&m.id)))?;
    }
    out.flush()
}

/// Says on stderr that a search ran on full text only, and why (the embedder is down, or
/// the stored vectors come from another model); with `--json`, as a JSON object
/// `{"warning": ..., "full_text_only": true, "reason": ...}` so scripts can tell (stdout
/// keeps its shape).
pub(super) fn warn_fallback(why: Option<&str>, json: bool) {
    let Some(why) = why else { return };
    let text = "semantic search is unavailable, results come from full-text search only";
    if json {
        let v = serde_json::json!({"warning": text, "full_text_only": true, "reason": why});
        eprintln!("{v}");
    } else {
        eprintln!("warning: {text}: {why}");
    }
}
