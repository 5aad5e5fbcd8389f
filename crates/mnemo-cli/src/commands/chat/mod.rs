//! `mnemo chat`: an agent that remembers the user across sessions (seed 000's
//! MemoryAgent, seed 002's assistant, seed 003's worker agent). Replies stream; memory
//! tags in replies become memories; every turn is recorded, with the pipeline jobs it makes
//! due, before the model is called; an in-process worker runs those jobs while the
//! conversation goes on (`ending.rs` gives it a bounded chance to finish when the chat
//! ends).

mod ending;
mod input;
mod session;
mod slash;
mod tagfilter;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use mnemo_core::{ids, Memory, Scope};
use mnemo_engine::{keyvalue, tools, Engine, Pattern, PipelineLlm, WorkerHandle};
use mnemo_llm::{LlmConfig, ProviderKind};
use signal_hook::consts::{SIGHUP, SIGTERM};

use self::input::{Read, Reader};
use self::session::ChatSession;
use self::slash::Input;
use crate::cli::ChatArgs;
use crate::config::Config;

/// Set by Ctrl-C while a reply streams.
static CANCEL: AtomicBool = AtomicBool::new(false);
/// Whether a reply is streaming (Ctrl-C cancels it) or not (Ctrl-C ends the program).
static IN_REPLY: AtomicBool = AtomicBool::new(false);

pub fn chat(engine: &Engine, cfg: &Config, a: ChatArgs) -> Result<()> {
    let llm = llm_config(cfg, &a)?;
    if !(100..=32_000).contains(&a.budget) {
        return Err(mnemo_core::Error::invalid(
            "budget",
            format!(
                "{} tokens is out of range; give --budget 100 to 32000",
                a.budget
            ),
        )
        .into());
    }
    // The memory pipeline uses the same provider settings; without a usable model its jobs
    // wait in the queue and the chat still works.
    let engine = &match PipelineLlm::from_config(&llm) {
        Ok(p) => engine.clone().with_llm(p),
        Err(_) => engine.clone(),
    };
    let scope = Scope::user(cfg.user.clone()).with_agent(cfg.agent.clone());
    let session_id = match &a.session {
        Some(s) => {
            engine
                .session(&cfg.user, s)
                .with_context(|| {
                    format!("cannot resume session `{s}`; `mnemo sessions` lists them")
                })?
                .id
        }
        None => engine.new_session_id(),
    };
    let mut chat = ChatSession {
        engine,
        provider: llm.build(),
        llm,
        scope,
        session_id,
        pattern: a
            .pattern
            .as_deref()
            .map(str::parse)
            .transpose()?
            .unwrap_or(Pattern::Hybrid),
        budget_tokens: a.budget,
        last_context: None,
    };
    let wait = ending::exit_wait(engine, a.wait)?;
    // Every exchange queues its jobs as it is recorded; this worker runs them while the
    // conversation goes on (and gets a bounded chance to finish them when the chat ends).
    let worker = ending::start_worker(engine)?;
    install_signals(engine);
    if let Some(message) = &a.once {
        return once(&mut chat, cfg, message, worker.as_ref(), wait);
    }
    let mut reader = if std::io::stdin().is_terminal() {
        Reader::terminal(Some(history_path(cfg)))?
    } else {
        Reader::pipe()
    };
    let result = run_loop(&mut chat, &mut reader);
    let finished = ending::finish(&chat, worker.as_ref(), wait);
    result.and(finished)
}

/// Applies `--provider` and `--model` over the configured LLM settings.
fn llm_config(cfg: &Config, a: &ChatArgs) -> Result<LlmConfig> {
    let mut llm = cfg.llm.clone();
    if let Some(p) = &a.provider {
        let kind: ProviderKind = p.parse()?;
        if kind != llm.provider {
            let env = |k: &str| std::env::var(k).ok();
            llm = LlmConfig {
                provider: kind,
                ..LlmConfig::default()
            }
            .from_env_over(env)?;
            llm.provider = kind;
        }
    }
    if let Some(m) = &a.model {
        llm.model = Some(m.clone());
    }
    Ok(llm)
}

/// Ctrl-C cancels a streaming reply; anywhere else it ends the program, first giving back
/// the job the in-process worker holds so the next worker need not wait for its lease.
/// SIGTERM and SIGHUP (a closed terminal) end it the same way, even mid-reply.
fn install_signals(engine: &Engine) {
    let on_ctrl_c = engine.clone();
    let _ = ctrlc::set_handler(move || {
        if IN_REPLY.load(Ordering::SeqCst) {
            CANCEL.store(true, Ordering::SeqCst);
        } else {
            leave_now(&on_ctrl_c, 130);
        }
    });
    let term = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGHUP] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&term));
    }
    let engine = engine.clone();
    let _ = std::thread::Builder::new()
        .name("mnemo-signals".into())
        .spawn(move || loop {
            if term.load(Ordering::SeqCst) {
                leave_now(&engine, 143);
            }
            std::thread::sleep(Duration::from_millis(50));
        });
}

/// Exits at once; the worker's job in flight goes back to the queue.
fn leave_now(engine: &Engine, code: i32) -> ! {
    let _ = engine.release_in_flight("the chat was stopped during this job");
    std::process::exit(code)
}

/// The line-editor history: beside a SQLite database, or in mnemo's data directory when the
/// database is a PostgreSQL URL (which has no directory of its own).
fn history_path(cfg: &Config) -> std::path::PathBuf {
    let dir = match mnemo_engine::DbLocation::parse(&cfg.db.to_string_lossy()) {
        mnemo_engine::DbLocation::Sqlite(path) => path.parent().map(|d| d.to_path_buf()),
        mnemo_engine::DbLocation::Postgres(_) => {
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            crate::config::default_db_path(&env)
                .parent()
                .map(|d| d.to_path_buf())
        }
    };
    dir.map(|d| d.join("chat_history"))
        .unwrap_or_else(|| "chat_history".into())
}

/// `--once`: one message, the reply on stdout (or one JSON object with `--json`), a
/// bounded wait for the exchange's jobs, and exit.
fn once(
    chat: &mut ChatSession,
    cfg: &Config,
    message: &str,
    worker: Option<&WorkerHandle>,
    wait: Duration,
) -> Result<()> {
    let ex = if cfg.json {
        let ex = chat.send(message, &mut |_| {}, &CANCEL)?;
        report_problems(&ex, None);
        ex
    } else {
        reply(chat, message, None)?
    };
    ending::wait_for_jobs(chat, worker, wait, false)?;
    let short = ids::short(&chat.session_id);
    if cfg.json {
        let jobs: Vec<_> = ex
            .job_ids
            .iter()
            .filter_map(|id| chat.engine.job(id).ok())
            .collect();
        let mut out = crate::output::Out::new();
        out.json(&serde_json::json!({
            "session": chat.session_id,
            "reply": ex.reply,
            "complete": ex.failure.is_none() && !ex.cancelled && !ex.truncated && !ex.empty,
            "cancelled": ex.cancelled,
            "truncated": ex.truncated,
            "error": ex.failure.as_ref().map(ToString::to_string),
            "remembered": ex.remembered,
            "jobs": jobs,
        }))?;
        out.flush()?;
    } else {
        eprintln!("[session {short}]");
    }
    match &ex.failure {
        Some(e) if ex.reply.is_empty() => {
            anyhow::bail!("no reply: {}; your message was saved", failure_summary(e))
        }
        Some(e) => anyhow::bail!(
            "the reply broke off: {e}; the partial reply was saved, marked as partial"
        ),
        None if ex.empty => anyhow::bail!("the model returned an empty reply"),
        None => Ok(()),
    }
}

fn run_loop(chat: &mut ChatSession, reader: &mut Reader) -> Result<()> {
    greet(chat, reader.interactive());
    loop {
        let line = match reader.read("you> ")? {
            Read::Line(l) => l,
            Read::Interrupted => continue,
            Read::Eof => break,
        };
        match slash::parse(&line) {
            Input::Quit => break,
            Input::Empty => {}
            Input::Message(m) => {
                reply(chat, &m, Some(REPL_HINT))?;
            }
            other => command(chat, reader, other)?,
        }
    }
    reader.save();
    Ok(())
}

fn greet(chat: &ChatSession, interactive: bool) {
    if interactive {
        let model = chat
            .llm
            .model_for(mnemo_llm::Task::Chat)
            .map(str::to_string)
            .unwrap_or_else(|| {
                chat.provider
                    .as_ref()
                    .map(|p| p.default_model().to_string())
                    .unwrap_or_default()
            });
        eprintln!(
            "mnemo chat — user {}, session {}, {} {}. /help for commands, /quit to end.",
            chat.scope.user_id,
            ids::short(&chat.session_id),
            chat.llm.provider.as_str(),
            model
        );
    }
    if let Err(e) = &chat.provider {
        eprintln!("warning: no model available: {e}\n  remember, /memories and /facts still work.");
    }
}

/// What the REPL adds after a failed reply.
const REPL_HINT: &str = "your message was saved; remember, /memories and /facts still work.";

/// Sends a message and streams the reply; model errors are reported (with `hint` in the
/// REPL; `--once` reports them in its exit error instead), not fatal.
fn reply(chat: &mut ChatSession, message: &str, hint: Option<&str>) -> Result<session::Exchange> {
    let mut stdout = std::io::stdout();
    IN_REPLY.store(true, Ordering::SeqCst);
    let result = chat.send(
        message,
        &mut |piece| {
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        },
        &CANCEL,
    );
    IN_REPLY.store(false, Ordering::SeqCst);
    let ex = result?;
    if !ex.reply.is_empty() || ex.failure.is_none() {
        // Ends the streamed text, so what follows starts on its own line.
        println!();
    }
    report_problems(&ex, hint);
    for r in &ex.remembered {
        eprintln!("[memory] stored: {r}");
    }
    Ok(ex)
}

/// Says on stderr what went wrong with a reply, each on its own line.
fn report_problems(ex: &session::Exchange, hint: Option<&str>) {
    if ex.cancelled {
        eprintln!("[reply cancelled]");
    }
    if ex.truncated {
        eprintln!("[reply cut off at the model's output limit]");
    }
    if ex.empty {
        eprintln!("[the model returned an empty reply; nothing was saved for it]");
    }
    let (Some(e), Some(hint)) = (&ex.failure, hint) else {
        return;
    };
    if ex.reply.is_empty() {
        eprintln!("error: {}\n  {hint}", failure_summary(e));
    } else {
        eprintln!(
            "error: the reply broke off: {e}\n  the partial reply was saved, marked as partial."
        );
    }
}

/// "the model could not be reached" only when that is what happened.
fn failure_summary(e: &mnemo_llm::LlmError) -> String {
    use mnemo_llm::LlmError;
    if session::is_unreachable(e) {
        format!("the model could not be reached: {e}")
    } else if matches!(e, LlmError::MissingApiKey { .. } | LlmError::Config(_)) {
        format!("the model is not set up: {e}")
    } else {
        format!("the model did not answer: {e}")
    }
}

fn command(chat: &mut ChatSession, reader: &mut Reader, input: Input) -> Result<()> {
    let engine = chat.engine;
    let outcome: Result<()> = (|| {
        match input {
            Input::RememberKey(kv) => {
                let (k, v) = keyvalue::parse(&kv)?;
                remember(chat, Some(k.clone()), v.clone())?;
                eprintln!("[memory] stored: {k} = {v}");
            }
            Input::Remember(text) => {
                let m = remember(chat, None, text)?;
                eprintln!("[memory] stored {}: {}", ids::short(&m.id), m.content);
            }
            Input::Forget(what) => forget(chat, reader, &what)?,
            Input::Memories(q) => memories(chat, q.as_deref())?,
            Input::Facts => {
                let facts = tools::facts(engine, &chat.caller())?;
                if facts.is_empty() {
                    println!("no facts yet");
                }
                for m in facts {
                    println!("{}", crate::output::memory_line(&m));
                }
            }
            Input::Context => show_context(chat),
            Input::Summary => summaries(chat)?,
            Input::Session => println!(
                "session {} (resume with `mnemo chat --session {}`)",
                chat.session_id,
                ids::short(&chat.session_id)
            ),
            Input::Help => println!("{}", slash::HELP),
            Input::Unknown(c) => eprintln!("unknown command `{c}`; /help lists the commands"),
            Input::Quit | Input::Empty | Input::Message(_) => {}
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        eprintln!("error: {e}");
    }
    Ok(())
}

/// `/remember`: a memory of this session, through the tools layer.
fn remember(chat: &ChatSession, key: Option<String>, content: String) -> Result<Memory> {
    let req = tools::AddMemoryRequest {
        content,
        kind: None,
        key,
        topic: None,
        salience: None,
        pinned: None,
        expires_at: None,
        session_id: Some(chat.session_id.clone()),
        reason: None,
    };
    Ok(tools::add_memory(chat.engine, &chat.caller(), req)?.memory)
}

/// `/memories [QUERY]`: the best matches of a query, or the newest current memories.
fn memories(chat: &ChatSession, query: Option<&str>) -> Result<()> {
    let caller = chat.caller();
    let list: Vec<Memory> = match query {
        Some(q) => {
            let req = tools::SearchRequest {
                query: q.into(),
                limit: Some(20),
                ..Default::default()
            };
            tools::search(chat.engine, &caller, req)?
                .hits
                .into_iter()
                .map(|h| h.memory)
                .collect()
        }
        None => {
            let req = tools::ListMemoriesRequest {
                limit: Some(50),
                ..Default::default()
            };
            tools::list_memories(chat.engine, &caller, req)?.memories
        }
    };
    if list.is_empty() {
        println!("no memories");
    }
    for m in &list {
        println!("{}", crate::output::memory_line(m));
    }
    Ok(())
}

/// `/forget ID|QUERY`: one id, or the matches of a query after confirmation when several.
fn forget(chat: &ChatSession, reader: &mut Reader, what: &str) -> Result<()> {
    let (engine, caller) = (chat.engine, chat.caller());
    if ids::looks_like_id(what) {
        let by_id = tools::ForgetRequest {
            purge: false,
            reason: Some("forgotten in chat".into()),
        };
        if let Ok(m) = tools::forget(engine, &caller, what, by_id) {
            eprintln!("[memory] forgot {}: {}", ids::short(&m.id), m.content);
            return Ok(());
        }
    }
    let mut req = tools::ForgetByQueryRequest {
        query: what.into(),
        limit: Some(10),
        confirm: None,
        reason: Some(format!("forgotten in chat: {what}")),
    };
    let preview = tools::forget_by_query(engine, &caller, req.clone())?;
    let Some(token) = preview.confirm_token else {
        eprintln!("nothing matches `{what}`");
        return Ok(());
    };
    if preview.memories.len() > 1 {
        for m in &preview.memories {
            println!("{}", crate::output::memory_line(m));
        }
        let answer = reader
            .read(&format!(
                "forget these {} memories? [y/N] ",
                preview.memories.len()
            ))
            .context("reading the answer")?;
        if !matches!(answer, Read::Line(ref a) if matches!(a.trim(), "y" | "Y" | "yes")) {
            eprintln!("nothing forgotten");
            return Ok(());
        }
    }
    req.confirm = Some(token);
    for m in tools::forget_by_query(engine, &caller, req)?.memories {
        eprintln!("[memory] forgot {}: {}", ids::short(&m.id), m.content);
    }
    Ok(())
}

fn show_context(chat: &ChatSession) {
    let Some((system, ctx)) = &chat.last_context else {
        println!("nothing sent yet in this session");
        return;
    };
    println!(
        "pattern {}; {} of {} tokens used by memory and replayed turns; system prompt {} tokens",
        serde_json::to_value(ctx.pattern)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        ctx.tokens,
        ctx.budget_tokens,
        mnemo_engine::tokens::count(system)
    );
    for it in &ctx.items {
        println!(
            "  {:<15} {:<8} {:>5} tok  {}",
            crate::output::section_name(it.section),
            ids::short(&it.id),
            it.tokens,
            it.text.replace('\n', " ")
        );
    }
    println!("--- system prompt as sent ---\n{system}");
}

fn summaries(chat: &ChatSession) -> anyhow::Result<()> {
    let req = tools::SummariesRequest::default();
    let sums = tools::summaries(chat.engine, &chat.caller(), req)?.summaries;
    if sums.is_empty() {
        println!("no session summaries yet");
    }
    for s in sums {
        let here = if s.session_id == chat.session_id {
            " (this session)"
        } else {
            ""
        };
        println!(
            "session {}{here}, turns {}-{}: {}",
            ids::short(&s.session_id),
            s.first_seq,
            s.last_seq,
            s.summary
        );
    }
    Ok(())
}
