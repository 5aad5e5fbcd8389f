//! `mnemo serve`: the REST API of `mnemo-server` over the configured database, with the
//! pipeline worker in the same process. Refuses to start without API keys unless
//! `--no-auth`, which binds only to loopback; one start-up line says which.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use mnemo_core::{Clock, KeyStore, SystemClock};
use mnemo_engine::{Engine, PipelineLlm, WorkerOptions};
use mnemo_server::auth::KeyAuth;
use mnemo_server::{AppState, AuthMode};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: MNEMO_LISTEN] [default: [server] listen, 127.0.0.1:7437]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve without API keys: every request acts as --user, or as the user its
    /// X-Mnemo-User header names. Only on a loopback address.
    #[arg(long)]
    pub no_auth: bool,
    /// Do not run the pipeline worker here (run `mnemo work` elsewhere)
    #[arg(long)]
    pub no_worker: bool,
}

pub fn serve(cfg: &Config, a: ServeArgs) -> Result<()> {
    init_logging();
    let listen = a.listen.unwrap_or_else(|| cfg.server.listen.clone());
    let addr: SocketAddr = listen.parse().with_context(|| {
        format!("`{listen}` is not an address to listen on; give IP:PORT such as 127.0.0.1:7437")
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let stores = super::server_stores(cfg, clock.clone())?;
    let (auth, mode) = auth_mode(cfg, &stores.keys, &addr, a.no_auth)?;
    let store = stores.store;
    let engine = Engine::new(store, cfg.engine.clone(), clock)
        .with_pipeline_settings(cfg.pipeline.clone())
        .with_batched_touches();
    let engine = super::index::with_configured_embedder(engine, cfg)?;
    let engine = match PipelineLlm::from_config(&cfg.llm) {
        Ok(p) => engine.with_llm(p),
        Err(_) => engine,
    };
    let worker = if a.no_worker {
        None
    } else {
        Some(engine.spawn_worker(WorkerOptions {
            name: format!("serve-{}", std::process::id()),
            ..Default::default()
        })?)
    };
    let state = AppState::new(engine, auth, cfg.server.clone())
        .with_pricing(cfg.pricing.clone())
        .with_upstream(mnemo_server::proxy::Upstream::from_config(&cfg.llm));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        println!("mnemo serve: listening on http://{local} ({mode})");
        mnemo_server::serve(listener, state, mnemo_server::shutdown_signal())
            .await
            .context("the server failed")
    });
    if let Some(w) = worker {
        w.stop();
    }
    served?;
    eprintln!("mnemo serve: stopped; unfinished jobs stay queued");
    Ok(())
}

/// How requests are authenticated, and the words the start-up line uses for it.
fn auth_mode(
    cfg: &Config,
    keys: &Arc<dyn KeyStore>,
    addr: &SocketAddr,
    no_auth: bool,
) -> Result<(AuthMode, String)> {
    if no_auth {
        if !addr.ip().is_loopback() {
            bail!(
                "--no-auth serves everyone's memory without a key, so it only binds to a loopback address (127.0.0.1 or ::1), not {addr}; create a key with `mnemo keys create --user NAME` instead"
            );
        }
        let words = format!(
            "NO AUTH: loopback only; requests act as user `{}` unless X-Mnemo-User names another",
            cfg.user
        );
        return Ok((
            AuthMode::Open {
                default_user: cfg.user.clone(),
            },
            words,
        ));
    }
    let live = keys
        .list_keys()?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if live == 0 {
        bail!(
            "no API keys in {}: create one with `mnemo keys create --user NAME`, or use --no-auth on a loopback address",
            mnemo_engine::db_label(&cfg.db)
        );
    }
    Ok((
        AuthMode::Keys(KeyAuth::new(keys.clone())),
        format!("API keys required; {live} active"),
    ))
}

/// Logs to stderr; `MNEMO_LOG` sets levels (`info` by default, e.g. `debug` or
/// `mnemo_server=debug,info`).
pub(crate) fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let targets = std::env::var("MNEMO_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(targets)
        .try_init();
}
