//! `mnemo config --effective`: the settings a command would run with, after the config
//! file, the environment and the flags, so a user can see which server, model and
//! database are in use without reading code. Secrets never appear: an API key is shown
//! only as set or not, and credentials in a URL are masked.

use anyhow::Result;
use mnemo_llm::{LlmConfig, ProviderKind, StructuredOutput, Task};
use serde_json::{json, Value};

use crate::config::Config;
use crate::output::Out;

pub fn effective(cfg: &Config) -> Result<()> {
    let v = settings(cfg);
    let mut out = Out::new();
    if cfg.json {
        out.json(&v)?;
        return out.flush();
    }
    let show = |v: &Value| match v {
        Value::Null => "(none)".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let file = if cfg.config_path.exists() {
        String::new()
    } else {
        " (not present; defaults apply)".into()
    };
    out.line(format!(
        "config file:     {}{file}",
        cfg.config_path.display()
    ))?;
    out.line(format!("database:        {}", cfg.db.display()))?;
    out.line(format!("user:            {}", cfg.user))?;
    out.line(format!("agent:           {}", show(&v["agent"])))?;
    out.line(format!("embedder:        {}", cfg.embedder))?;
    let llm = &v["llm"];
    out.line(format!("llm provider:    {}", show(&llm["provider"])))?;
    out.line(format!("llm url:         {}", show(&llm["url"])))?;
    for task in ["chat", "extract", "summarize"] {
        let label = format!("{task} model:");
        out.line(format!("{label:<16} {}", show(&llm["models"][task])))?;
    }
    out.line(format!("api key:         {}", show(&llm["api_key"])))?;
    out.line(format!(
        "llm limits:      timeout {}s, connect {}s, {} retries, max_tokens {}, structured output {}",
        llm["timeout_secs"],
        llm["connect_timeout_secs"],
        llm["max_retries"],
        llm["max_tokens"],
        show(&llm["structured_output"])
    ))?;
    if let Some(p) = v["pipeline"].as_object() {
        let fields: Vec<String> = p.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        out.line(format!("[pipeline]       {}", fields.join(", ")))?;
    }
    out.flush()
}

/// The effective settings as JSON (the `--json` form).
fn settings(cfg: &Config) -> Value {
    json!({
        "config": cfg.config_path,
        "config_exists": cfg.config_path.exists(),
        "db": cfg.db,
        "user": cfg.user,
        "agent": cfg.agent,
        "embedder": cfg.embedder,
        "llm": llm(&cfg.llm),
        "pipeline": cfg.pipeline,
        "engine": cfg.engine,
    })
}

fn llm(l: &LlmConfig) -> Value {
    let default_url = match l.provider {
        ProviderKind::Ollama => mnemo_llm::ollama::DEFAULT_HOST,
        ProviderKind::OpenAi => mnemo_llm::openai::DEFAULT_BASE_URL,
        ProviderKind::Anthropic => mnemo_llm::anthropic::DEFAULT_BASE_URL,
    };
    let url = match &l.base_url {
        Some(u) => mask_credentials(u),
        None => format!("{default_url} (the provider's default)"),
    };
    // Without a configured name the provider's default applies; building the provider
    // (no network) tells which one.
    let fallback = match l.build() {
        Ok(p) => format!("{} (the provider's default)", p.default_model()),
        Err(_) => "the provider's default".to_owned(),
    };
    let model = |t: Task| l.model_for(t).map_or(fallback.clone(), str::to_owned);
    json!({
        "provider": l.provider.as_str(),
        "url": url,
        "models": {
            "chat": model(Task::Chat),
            "extract": model(Task::Extract),
            "summarize": model(Task::Summarize),
        },
        "api_key": if l.api_key.is_some() { "set (not shown)" } else { "not set" },
        "timeout_secs": l.timeout.as_secs_f64(),
        "connect_timeout_secs": l.connect_timeout.as_secs_f64(),
        "max_retries": l.max_retries,
        "max_tokens": l.max_tokens,
        "structured_output": match l.structured_output {
            StructuredOutput::JsonSchema => "json_schema",
            StructuredOutput::JsonObject => "json_object",
            StructuredOutput::None => "none",
        },
    })
}

/// `https://user:secret@host/...` → `https://***@host/...`.
fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            mask_credentials("https://bob:s3cret@llm.example/v1"),
            "https://***@llm.example/v1"
        );
        assert_eq!(
            mask_credentials("http://127.0.0.1:8080/v1"),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(mask_credentials("http://h/p@q"), "http://h/p@q");
    }
}
