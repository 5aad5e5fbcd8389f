//! `mnemo chat`: an agent that remembers the user across sessions (seed 000's
//! MemoryAgent, seed 002's assistant, seed 003's worker agent). Replies stream; memory
//! tags in replies become memories; every turn is recorded before the model is called.

mod input;
mod session;
mod slash;
mod tagfilter;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result};
use mnemo_core::{ids, Actor, MemoryFilter, Scope};
use mnemo_engine::{keyvalue, Engine, NewMemory, Pattern, PipelineLlm, RecallQuery, WorkerOptions};
use mnemo_llm::{LlmConfig, ProviderKind};

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
    install_ctrl_c();
    if let Some(message) = &a.once {
        // Jobs queued by this exchange wait for the next worker (`mnemo work`, next chat).
        return once(&mut chat, message);
    }
    let worker = if engine.has_llm() {
        Some(engine.spawn_worker(WorkerOptions {
            name: format!("chat-{}", std::process::id()),
            ..Default::default()
        })?)
    } else {
        None
    };
    let mut reader = if std::io::stdin().is_terminal() {
        Reader::terminal(Some(history_path(cfg)))?
    } else {
        Reader::pipe()
    };
    let result = run_loop(&mut chat, &mut reader);
    // The job in flight finishes; the rest is drained by `finish`.
    if let Some(w) = worker {
        w.stop();
    }
    result.and_then(|()| finish(&chat))
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

fn install_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if IN_REPLY.load(Ordering::SeqCst) {
            CANCEL.store(true, Ordering::SeqCst);
        } else {
            std::process::exit(130);
        }
    });
}

fn history_path(cfg: &Config) -> std::path::PathBuf {
    cfg.db
        .parent()
        .map(|d| d.join("chat_history"))
        .unwrap_or_else(|| "chat_history".into())
}

/// `--once`: one message, the reply on stdout, and exit.
fn once(chat: &mut ChatSession, message: &str) -> Result<()> {
    let ex = reply(chat, message)?;
    eprintln!("[session {}]", ids::short(&chat.session_id));
    if ex.is_none() {
        anyhow::bail!("no reply: the model could not be reached (see above)");
    }
    Ok(())
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
                reply(chat, &m)?;
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

/// Sends a message and streams the reply; model errors are reported, not fatal.
fn reply(chat: &mut ChatSession, message: &str) -> Result<Option<session::Exchange>> {
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
    match result {
        Ok(ex) => {
            println!();
            if ex.cancelled {
                eprintln!("[reply cancelled]");
            }
            for r in &ex.remembered {
                eprintln!("[memory] stored: {r}");
            }
            Ok(Some(ex))
        }
        Err(e) => {
            eprintln!("error: {e:#}\n  your message was saved; remember, /memories and /facts still work.");
            Ok(None)
        }
    }
}

fn command(chat: &mut ChatSession, reader: &mut Reader, input: Input) -> Result<()> {
    let engine = chat.engine;
    let outcome: mnemo_core::Result<()> = (|| {
        match input {
            Input::RememberKey(kv) => {
                let (k, v) = keyvalue::parse(&kv)?;
                let mut m = NewMemory::keyed(k.clone(), v.clone());
                m.session_id = Some(chat.session_id.clone());
                engine.remember(&chat.scope, m, Actor::User)?;
                eprintln!("[memory] stored: {k} = {v}");
            }
            Input::Remember(text) => {
                let mut m = NewMemory::text(text);
                m.session_id = Some(chat.session_id.clone());
                let out = engine.remember(&chat.scope, m, Actor::User)?;
                eprintln!(
                    "[memory] stored {}: {}",
                    ids::short(&out.memory().id),
                    out.memory().content
                );
            }
            Input::Forget(what) => forget(chat, reader, &what)?,
            Input::Memories(q) => memories(chat, q.as_deref())?,
            Input::Facts => {
                let facts = engine.key_facts(&chat.scope)?;
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

fn memories(chat: &ChatSession, query: Option<&str>) -> mnemo_core::Result<()> {
    let list = match query {
        Some(q) => chat
            .engine
            .recall(
                &chat.scope,
                &RecallQuery {
                    text: q.into(),
                    limit: Some(20),
                    ..Default::default()
                },
            )?
            .into_iter()
            .map(|h| h.memory)
            .collect(),
        None => {
            let mut f = MemoryFilter::scope(chat.scope.clone());
            f.limit = Some(50);
            chat.engine.list(&f)?
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
fn forget(chat: &ChatSession, reader: &mut Reader, what: &str) -> mnemo_core::Result<()> {
    let engine = chat.engine;
    if ids::looks_like_id(what) {
        if let Ok(m) = engine.forget(
            &chat.scope.user_id,
            what,
            false,
            Some("forgotten in chat".into()),
            Actor::User,
        ) {
            eprintln!("[memory] forgot {}: {}", ids::short(&m.id), m.content);
            return Ok(());
        }
    }
    let hits = engine.recall(
        &chat.scope,
        &RecallQuery {
            text: what.into(),
            limit: Some(10),
            ..Default::default()
        },
    )?;
    if hits.is_empty() {
        eprintln!("nothing matches `{what}`");
        return Ok(());
    }
    if hits.len() > 1 {
        for h in &hits {
            println!("{}", crate::output::memory_line(&h.memory));
        }
        let answer = reader
            .read(&format!("forget these {} memories? [y/N] ", hits.len()))
            .map_err(|e| mnemo_core::Error::invalid("answer", e.to_string()))?;
        if !matches!(answer, Read::Line(ref a) if matches!(a.trim(), "y" | "Y" | "yes")) {
            eprintln!("nothing forgotten");
            return Ok(());
        }
    }
    for h in hits {
        engine.forget(
            &chat.scope.user_id,
            &h.memory.id,
            false,
            Some(format!("forgotten in chat: {what}")),
            Actor::User,
        )?;
        eprintln!(
            "[memory] forgot {}: {}",
            ids::short(&h.memory.id),
            h.memory.content
        );
    }
    Ok(())
}

fn show_context(chat: &ChatSession) {
    let Some((system, ctx)) = &chat.last_context else {
        println!("nothing sent yet in this session");
        return;
    };
    println!(
        "pattern {:?}; {} of {} tokens used by memory and replayed turns; system prompt {} tokens",
        ctx.pattern,
        ctx.tokens,
        ctx.budget_tokens,
        mnemo_engine::tokens::count(system)
    );
    for it in &ctx.items {
        println!(
            "  {:<15} {:>5} tok  {}",
            format!("{:?}", it.section),
            it.tokens,
            it.text.replace('\n', " ")
        );
    }
    println!("--- system prompt as sent ---\n{system}");
}

fn summaries(chat: &ChatSession) -> mnemo_core::Result<()> {
    let sums = chat.engine.store().list_summaries(&chat.scope, None)?;
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

/// Ends the session: queues its extraction and summary, then runs the queue once so the
/// summary is written now when the model is reachable, or says it is queued.
fn finish(chat: &ChatSession) -> Result<()> {
    let engine = chat.engine;
    if engine
        .session(&chat.scope.user_id, &chat.session_id)
        .is_err()
    {
        // Nothing was said: there is no session to close.
        return Ok(());
    }
    engine.end_session(&chat.session_id)?;
    let short = ids::short(&chat.session_id);
    if !engine.has_llm() {
        eprintln!("[session {short} saved; its summary is queued: no model is configured]");
        return Ok(());
    }
    eprintln!("[session {short} saved; writing its summary…]");
    let report = engine.run_jobs(&format!("chat-exit-{}", std::process::id()), None)?;
    let summarized = !engine
        .store()
        .list_summaries(&chat.scope, Some(&chat.session_id))?
        .is_empty();
    match (&report.model_down, summarized) {
        (_, true) => eprintln!("[memory] session {short} summarized"),
        (Some(why), false) => {
            eprintln!("[memory] summary queued ({why}); `mnemo work` writes it later")
        }
        (None, false) => eprintln!("[memory] summary queued; `mnemo work` writes it later"),
    }
    Ok(())
}
