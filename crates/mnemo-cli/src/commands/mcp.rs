//! `mnemo mcp`: mnemo as an MCP server over stdio, for one user (`--user`, `MNEMO_USER` or
//! the config's `user`; `--agent` narrows to one agent). An MCP client starts it as a child
//! process: stdout carries the protocol and nothing else, logs go to stderr. The pipeline
//! worker runs in the same process (unless `--no-worker`), so recorded messages become
//! memories while the client is connected.

use anyhow::{Context, Result};
use clap::Args;
use mnemo_engine::tools::Caller;
use mnemo_engine::{PipelineLlm, WorkerOptions};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Do not run the pipeline worker here (run `mnemo work` or `mnemo serve` elsewhere)
    #[arg(long)]
    pub no_worker: bool,
}

pub fn mcp(cfg: &Config, a: McpArgs) -> Result<()> {
    super::serve::init_logging();
    let engine = super::open_writing(cfg)?;
    let engine = match PipelineLlm::from_config(&cfg.llm) {
        Ok(p) => engine.with_llm(p),
        Err(_) => engine,
    };
    let worker = if a.no_worker {
        None
    } else {
        Some(engine.spawn_worker(WorkerOptions {
            name: format!("mcp-{}", std::process::id()),
            ..Default::default()
        })?)
    };
    let caller = Caller {
        user_id: cfg.user.clone(),
        agent_id: cfg.agent.clone(),
        admin: false,
        actor: mnemo_core::Actor::User,
        reach: mnemo_engine::tools::Reach::Bounded,
    };
    eprintln!(
        "mnemo mcp: serving MCP on stdio for user `{}` ({})",
        caller.user_id,
        cfg.db.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(mnemo_server::mcp::serve_stdio(engine, caller));
    // A pending read of stdin cannot be cancelled; do not wait for it.
    runtime.shutdown_background();
    if let Some(w) = worker {
        w.stop();
    }
    served.context("the MCP connection failed")?;
    Ok(())
}
