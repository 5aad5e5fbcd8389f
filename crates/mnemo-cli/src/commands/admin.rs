//! `stats` and `config`.

use anyhow::Result;
use mnemo_engine::Engine;

use crate::cli::ConfigArgs;
use crate::config::{Config, DEFAULT_CONFIG};
use crate::output::Out;

pub fn stats(engine: &Engine, cfg: &Config) -> Result<()> {
    let s = engine.stats()?;
    let backlog = engine.vector_backlog()?;
    let mut out = Out::new();
    if cfg.json {
        let mut v = serde_json::to_value(&s)?;
        if let (Some(map), Some(b)) = (v.as_object_mut(), &backlog) {
            map.insert("vectors_waiting".into(), serde_json::to_value(b)?);
        }
        out.json(&v)?;
    } else {
        out.line(format!(
            "database:  {} ({} KiB, schema v{})",
            mnemo_engine::db_label(&cfg.db),
            s.db_bytes / 1024,
            s.schema_version
        ))?;
        out.line(format!("users:     {}", s.users))?;
        out.line(format!("sessions:  {}", s.sessions))?;
        out.line(format!("turns:     {}", s.turns))?;
        out.line(format!(
            "memories:  {} current, {} in all",
            s.memories_current, s.memories_total
        ))?;
        out.line(format!("history:   {} events", s.history_events))?;
        out.line(format!("topics:    {}", s.topics))?;
        out.line(format!("summaries: {}", s.summaries))?;
        if let Some(b) = backlog {
            let line = if b.turns + b.memories == 0 {
                format!("vectors:   all made ({})", b.model_id)
            } else {
                format!(
                    "vectors:   {} turns and {} memories wait for {} (made by the next search, `mnemo work` or `mnemo reindex --missing`)",
                    b.turns, b.memories, b.model_id
                )
            };
            out.line(line)?;
        }
    }
    out.flush()
}

pub fn config(a: &ConfigArgs, cfg: &Config) -> Result<()> {
    if a.effective {
        return super::settings::effective(cfg);
    }
    let mut out = Out::new();
    if a.paths || cfg.json {
        let v = serde_json::json!({
            "config": cfg.config_path,
            "config_exists": cfg.config_path.exists(),
            "db": mnemo_engine::db_label(&cfg.db),
            "user": cfg.user,
            "agent": cfg.agent,
        });
        if cfg.json {
            out.json(&v)?;
        } else {
            out.line(format!(
                "config: {}{}",
                cfg.config_path.display(),
                if cfg.config_path.exists() {
                    ""
                } else {
                    " (not present; defaults apply)"
                }
            ))?;
            out.line(format!("db:     {}", mnemo_engine::db_label(&cfg.db)))?;
            out.line(format!("user:   {}", cfg.user))?;
        }
    } else {
        out.raw().write_all(DEFAULT_CONFIG.as_bytes())?;
    }
    out.flush()
}
