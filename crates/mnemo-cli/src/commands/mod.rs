//! One module per group of commands. Each command opens the engine, does one thing and
//! prints its result through [`Out`](crate::output::Out).

mod admin;
mod chat;
pub mod index;
pub mod jobs;
mod log;
mod memory;
mod transfer;

use anyhow::{Context, Result};
use mnemo_core::{Kind, Scope};
use mnemo_engine::Engine;

use crate::cli::Command;
use crate::config::Config;

/// Runs one command.
pub fn run(command: Command, cfg: &Config) -> Result<()> {
    match command {
        Command::Config(a) => admin::config(&a, cfg),
        Command::Chat(a) => chat::chat(&open(cfg)?, cfg, a),
        Command::Remember(a) => memory::remember(&open(cfg)?, cfg, a),
        Command::Recall(a) => memory::recall(&open(cfg)?, cfg, a),
        Command::List(a) => memory::list(&open(cfg)?, cfg, a),
        Command::Show(a) => memory::show(&open(cfg)?, cfg, &a.id),
        Command::Edit(a) => memory::edit(&open(cfg)?, cfg, a),
        Command::Forget(a) => memory::forget(&open(cfg)?, cfg, a),
        Command::Restore(a) => memory::restore(&open(cfg)?, cfg, &a.id),
        Command::Log(a) => log::log(&open(cfg)?, cfg, a),
        Command::Sessions(a) => log::sessions(&open(cfg)?, cfg, a),
        Command::Turn(t) => log::turn(&open(cfg)?, cfg, t),
        Command::Export(a) => transfer::export(&open(cfg)?, cfg, a),
        Command::Import(a) => transfer::import(&open(cfg)?, cfg, a),
        Command::Jobs(a) => jobs::jobs(&open(cfg)?, cfg, a),
        Command::Work(a) => jobs::work(cfg, a),
        Command::Usage(a) => jobs::usage(&open(cfg)?, cfg, a),
        Command::Stats => admin::stats(&open(cfg)?, cfg),
        Command::Bench(b) => index::bench(b, cfg),
        Command::Reindex(a) => index::reindex(open(cfg)?, cfg, a),
    }
}

/// Opens the configured database.
fn open(cfg: &Config) -> Result<Engine> {
    Engine::open_sqlite(&cfg.db, cfg.engine.clone())
        .map(|e| e.with_pipeline_settings(cfg.pipeline.clone()))
        .with_context(|| format!("cannot open database {}", cfg.db.display()))
        .and_then(|e| index::with_configured_embedder(e, cfg))
}

/// The scope commands act in.
fn scope(cfg: &Config) -> Scope {
    Scope::user(cfg.user.clone()).with_agent(cfg.agent.clone())
}

/// Parses repeated `--kind` values.
fn kinds(values: &[String]) -> Result<Vec<Kind>> {
    Ok(values.iter().map(|k| k.parse()).collect::<Result<_, _>>()?)
}

/// Parses an optional user-typed date.
fn date(value: Option<&str>) -> Result<Option<mnemo_core::Timestamp>> {
    Ok(value.map(mnemo_core::time::parse_user).transpose()?)
}
