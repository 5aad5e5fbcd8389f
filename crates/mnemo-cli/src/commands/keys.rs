//! `mnemo keys create | list | revoke`: API keys for `mnemo serve`. A key is printed once
//! at creation; only its SHA-256 is stored.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use mnemo_core::ids;

use crate::config::Config;
use crate::output::{when, Out};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for --user (and --agent); the key is shown once
    Create(CreateArgs),
    /// List keys (never their secrets)
    List,
    /// Revoke a key by id (the part after `mnemo_`) or a unique prefix
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// May act for any user named in the X-Mnemo-User header
    #[arg(long)]
    pub admin: bool,
    /// A label to recognise the key by
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    pub id: String,
}

pub fn keys(cfg: &Config, cmd: KeysCommand) -> Result<()> {
    let store = super::server_stores(cfg, std::sync::Arc::new(mnemo_core::SystemClock))?.keys;
    let now = mnemo_core::time::truncate(chrono::Utc::now());
    let mut out = Out::new();
    match cmd {
        KeysCommand::Create(a) => {
            if !cfg.user_explicit {
                bail!("name the key's user: `mnemo keys create --user NAME`");
            }
            let new =
                mnemo_server::auth::new_key(&cfg.user, cfg.agent.clone(), a.admin, a.name, now)?;
            store.insert_key(&new.key)?;
            if cfg.json {
                let mut v = serde_json::to_value(&new.key)?;
                v["key"] = new.text.clone().into();
                out.json(&v)?;
            } else {
                out.line(&new.text)?;
                eprintln!(
                    "key {} for user `{}`{}{}: shown only now; store it safely",
                    new.key.id,
                    new.key.user_id,
                    new.key
                        .agent_id
                        .as_deref()
                        .map(|a| format!(" (agent `{a}`)"))
                        .unwrap_or_default(),
                    if new.key.admin { " (admin)" } else { "" },
                );
            }
        }
        KeysCommand::List => {
            let keys = store.list_keys()?;
            if cfg.json {
                out.json(&keys)?;
            } else {
                for k in &keys {
                    out.line(format!(
                        "{}  {:<12} {}{}  created {}{}{}",
                        k.id,
                        k.user_id,
                        if k.admin { "admin " } else { "" },
                        k.name.as_deref().unwrap_or("-"),
                        when(&k.created_at),
                        k.last_used_at
                            .map(|t| format!("  used {}", when(&t)))
                            .unwrap_or_default(),
                        k.revoked_at
                            .map(|t| format!("  REVOKED {}", when(&t)))
                            .unwrap_or_default(),
                    ))?;
                }
            }
        }
        KeysCommand::Revoke(a) => {
            let k = store.revoke_key(&a.id, now)?;
            if cfg.json {
                out.json(&k)?;
            } else {
                out.line(format!(
                    "revoked key {} of user `{}`",
                    ids::short(&k.id),
                    k.user_id
                ))?;
            }
        }
    }
    out.flush()
}
