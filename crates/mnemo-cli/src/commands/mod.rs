//! One module per group of commands. Each command opens the engine, does one thing and
//! prints its result through [`Out`](crate::output::Out).

mod admin;
mod chat;
pub mod index;
pub mod jobs;
pub mod keys;
mod log;
pub mod mcp;
mod memory;
pub mod serve;
mod settings;
mod transfer;
pub mod work;

use anyhow::{Context, Result};
use mnemo_core::{Kind, Scope};
use mnemo_engine::{db_label, Create, Engine};

use crate::cli::Command;
use crate::config::Config;

/// Runs one command.
pub fn run(command: Command, cfg: &Config) -> Result<()> {
    match command {
        Command::Config(a) => admin::config(&a, cfg),
        Command::Chat(a) => chat::chat(&open_writing(cfg)?, cfg, a),
        Command::Remember(a) => memory::remember(&open_writing(cfg)?, cfg, a),
        Command::Recall(a) => memory::recall(&open(cfg)?, cfg, a),
        Command::Context(a) => memory::context(&open(cfg)?, cfg, a),
        Command::List(a) => memory::list(&open(cfg)?, cfg, a),
        Command::Show(a) => memory::show(&open(cfg)?, cfg, &a.id),
        Command::Edit(a) => memory::edit(&open(cfg)?, cfg, a),
        Command::Forget(a) => memory::forget(&open(cfg)?, cfg, a),
        Command::Restore(a) => match (a.backup, a.id) {
            (Some(file), _) => transfer::restore_backup(cfg, &file, a.replace),
            (None, Some(id)) => memory::restore(&open(cfg)?, cfg, &id),
            (None, None) => anyhow::bail!("give a memory id, or --backup FILE"),
        },
        Command::Log(a) => log::log(&open(cfg)?, cfg, a),
        Command::Sessions(a) => log::sessions(&open(cfg)?, cfg, a),
        Command::Turn(t) => log::turn(&open_writing(cfg)?, cfg, t),
        Command::Export(a) => transfer::export(&open(cfg)?, cfg, a),
        Command::Import(a) => transfer::import(&open_writing(cfg)?, cfg, a),
        Command::Jobs(a) => jobs::jobs(&open(cfg)?, cfg, a),
        Command::Work(a) => work::work(cfg, a),
        Command::Usage(a) => jobs::usage(&open(cfg)?, cfg, a),
        Command::Stats => admin::stats(&open(cfg)?, cfg),
        Command::Backup(a) => transfer::backup(cfg, &a.file),
        Command::Migrate(a) => transfer::migrate(&open(cfg)?, cfg, a),
        Command::Bench(b) => index::bench(b, cfg),
        Command::Reindex(a) => index::reindex(open(cfg)?, cfg, a),
        Command::Serve(a) => serve::serve(cfg, a),
        Command::Mcp(a) => mcp::mcp(cfg, a),
        Command::Keys(k) => keys::keys(cfg, k),
    }
}

/// Opens the configured database, which must exist: commands that only read (or change
/// what must already be there) never leave an empty database behind.
fn open(cfg: &Config) -> Result<Engine> {
    open_with(cfg, Create::Never)
}

/// Opens the configured database for a command that records something, creating it if
/// needed: a path the user gave must be in a directory that exists; the default location
/// is created with its directories.
fn open_writing(cfg: &Config) -> Result<Engine> {
    let create = if cfg.db_explicit {
        Create::File
    } else {
        Create::FileAndDirs
    };
    open_with(cfg, create)
}

fn open_with(cfg: &Config, create: Create) -> Result<Engine> {
    // A path or sqlite:// is a SQLite file; postgres:// is a PostgreSQL database.
    let uri = cfg.db.to_string_lossy();
    let engine = match Engine::open_uri(&uri, create, cfg.engine.clone()) {
        // Already names the path and what is missing.
        Err(e @ mnemo_core::Error::NoDatabase { .. }) => return Err(e.into()),
        other => other.with_context(|| format!("cannot open database {}", db_label(&cfg.db)))?,
    };
    index::with_configured_embedder(engine.with_pipeline_settings(cfg.pipeline.clone()), cfg)
}

/// The configured database with its API keys (`serve`, `keys`), SQLite or PostgreSQL. Keys
/// are records, so a missing SQLite file is created as `open_writing` would.
fn server_stores(
    cfg: &Config,
    clock: std::sync::Arc<dyn mnemo_core::Clock>,
) -> Result<mnemo_engine::ServerStores> {
    let create = if cfg.db_explicit {
        Create::File
    } else {
        Create::FileAndDirs
    };
    match mnemo_engine::server_stores_from_uri(&cfg.db.to_string_lossy(), create, clock) {
        Err(e @ mnemo_core::Error::NoDatabase { .. }) => Err(e.into()),
        other => other.with_context(|| format!("cannot open database {}", db_label(&cfg.db))),
    }
}

/// The scope commands act in.
fn scope(cfg: &Config) -> Scope {
    Scope::user(cfg.user.clone()).with_agent(cfg.agent.clone())
}

/// The tools layer's caller for a CLI command: `--user`/`--agent`, changes recorded as the
/// CLI's in a memory's history, and the CLI's own policy: the person at their own database
/// lists everything and searches without a cap (`Reach::Local`).
fn caller(cfg: &Config) -> mnemo_engine::tools::Caller {
    mnemo_engine::tools::Caller {
        user_id: cfg.user.clone(),
        agent_id: cfg.agent.clone(),
        admin: false,
        actor: mnemo_core::Actor::Cli,
        reach: mnemo_engine::tools::Reach::Local,
    }
}

/// Parses repeated `--kind` values.
fn kinds(values: &[String]) -> Result<Vec<Kind>> {
    Ok(values.iter().map(|k| k.parse()).collect::<Result<_, _>>()?)
}

/// Parses an optional user-typed date.
fn date(value: Option<&str>) -> Result<Option<mnemo_core::Timestamp>> {
    Ok(value.map(mnemo_core::time::parse_user).transpose()?)
}
