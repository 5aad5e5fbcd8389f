//! Choosing an embedder by name, as configuration and command lines name them
//! (`embedder = "static"`, `MNEMO_EMBEDDER=ollama:nomic-embed-text`, `--embedder none`),
//! with the server settings of the HTTP ones ([`EmbedderSettings`]).
//!
//! Why HTTP embedders are wrapped in a [`LazyEmbedder`]: building one contacts its server
//! (to learn the vector length). Opening the database must not, so that commands needing no
//! vectors work while the server is down, and a down server costs one failed connection.

use std::sync::Arc;
use std::time::Duration;

use mnemo_core::{Error, Result};
use mnemo_embed::{
    Embedder, LazyEmbedder, OllamaConfig, OllamaEmbedder, OpenAiConfig, OpenAiEmbedder,
    StaticEmbedder,
};

/// The public OpenAI endpoint: the only place an `openai:` embedder sends text when no URL
/// is configured, and only with a key.
pub const OPENAI_PUBLIC_URL: &str = "https://api.openai.com/v1";

/// Where and how an HTTP embedder (`ollama:MODEL`, `openai:MODEL`) is reached. The CLI
/// fills it from `[embedding]`, `MNEMO_EMBEDDER_URL` / `MNEMO_EMBEDDER_API_KEY`, and the
/// `[llm]` settings when the embedder speaks the same protocol as the chat model.
#[derive(Clone, Default, PartialEq)]
pub struct EmbedderSettings {
    /// Server URL: Ollama's base (`http://host:11434`) or the OpenAI-compatible base
    /// ending before `/embeddings` (`http://host:8080/v1`). `None`: the protocol's default
    /// (local Ollama; OpenAI's public API).
    pub url: Option<String>,
    /// Bearer key for OpenAI-compatible servers; never printed.
    pub api_key: Option<String>,
    /// Limit for one request; `None` is the client's default (60 s).
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for EmbedderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedderSettings")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl EmbedderSettings {
    /// The settings the HTTP clients used to read from the process environment
    /// (`OLLAMA_HOST` for `ollama:`, `OPENAI_BASE_URL` and `OPENAI_API_KEY` for `openai:`);
    /// for tools without a config file, such as the benchmarks.
    pub fn from_process_env(kind: &str) -> Self {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match kind {
            "ollama" => EmbedderSettings {
                url: var("OLLAMA_HOST"),
                ..Default::default()
            },
            "openai" => EmbedderSettings {
                url: var("OPENAI_BASE_URL"),
                api_key: var("OPENAI_API_KEY"),
                ..Default::default()
            },
            _ => EmbedderSettings::default(),
        }
    }
}

/// An embedder from its name: `none`, `static` (built in), `static:FILE`, `ollama:MODEL`,
/// `openai:MODEL`. `None` for `none`. HTTP embedders take their server from the process
/// environment (see [`EmbedderSettings::from_process_env`]).
pub fn embedder_from_spec(spec: &str) -> Result<Option<Arc<dyn Embedder>>> {
    let kind = spec.split_once(':').map_or(spec, |(k, _)| k);
    embedder_with(spec, &EmbedderSettings::from_process_env(kind))
}

/// [`embedder_from_spec`] with explicit server settings. Nothing is contacted here.
pub fn embedder_with(spec: &str, settings: &EmbedderSettings) -> Result<Option<Arc<dyn Embedder>>> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let model = |e: mnemo_embed::EmbedError| Error::Model(e.to_string());
    let embedder: Arc<dyn Embedder> = match (kind, arg) {
        ("none", "") => return Ok(None),
        ("static" | "builtin", "") => Arc::new(StaticEmbedder::builtin()),
        ("static", path) => Arc::new(StaticEmbedder::from_file(path).map_err(model)?),
        ("ollama", m) if !m.is_empty() => Arc::new(ollama(m, settings)),
        ("openai", m) if !m.is_empty() => Arc::new(openai(m, settings)?),
        #[cfg(feature = "transformer")]
        ("minilm", dir) if !dir.is_empty() => {
            Arc::new(mnemo_embed::TransformerEmbedder::from_dir(dir).map_err(model)?)
        }
        _ => {
            return Err(Error::invalid(
                "embedder",
                format!("unknown embedder `{spec}`: use none, static, static:FILE, ollama:MODEL or openai:MODEL"),
            ))
        }
    };
    Ok(Some(embedder))
}

fn ollama(model: &str, s: &EmbedderSettings) -> LazyEmbedder {
    let mut config = OllamaConfig::new(model);
    if let Some(url) = &s.url {
        config.host.clone_from(url);
    }
    if let Some(t) = s.timeout {
        config.timeout = t;
    }
    LazyEmbedder::new(format!("ollama:{model}"), move || {
        Ok(Box::new(OllamaEmbedder::new(config.clone())?) as Box<dyn Embedder>)
    })
}

fn openai(model: &str, s: &EmbedderSettings) -> Result<LazyEmbedder> {
    let mut config = OpenAiConfig::new(model);
    if let Some(url) = &s.url {
        config.base_url.clone_from(url);
    }
    config.api_key.clone_from(&s.api_key);
    if let Some(t) = s.timeout {
        config.timeout = t;
    }
    let public = config.base_url.trim_end_matches('/') == OPENAI_PUBLIC_URL;
    if public && config.api_key.is_none() {
        return Err(Error::invalid(
            "embedder",
            format!(
                "`openai:{model}` would send your text to {OPENAI_PUBLIC_URL}, but no API key is set: \
                 for a local or other server set `url` in the [embedding] config table or MNEMO_EMBEDDER_URL \
                 (or [llm] base_url with provider = \"openai\"); for OpenAI set MNEMO_EMBEDDER_API_KEY or OPENAI_API_KEY"
            ),
        ));
    }
    Ok(LazyEmbedder::new(format!("openai:{model}"), move || {
        Ok(Box::new(OpenAiEmbedder::new(config.clone())?) as Box<dyn Embedder>)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_embedders_or_explain_themselves() {
        assert!(embedder_from_spec("none").unwrap().is_none());
        let e = embedder_from_spec("static").unwrap().unwrap();
        assert!(e.model_id().starts_with("static:"));
        assert!(!e.is_remote());
        let err = embedder_from_spec("word2vec").err().unwrap().to_string();
        assert!(err.contains("ollama:MODEL"), "{err}");
        assert!(embedder_from_spec("ollama:").is_err());
    }

    #[test]
    fn http_embedders_contact_nothing_until_used() {
        // A closed port: building must still succeed, only embedding fails.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = EmbedderSettings {
            url: Some(format!("http://127.0.0.1:{port}/v1")),
            ..Default::default()
        };
        let e = embedder_with("openai:m", &s).unwrap().unwrap();
        assert_eq!(e.model_id(), "openai:m");
        assert!(e.is_remote());
        assert!(e.embed(&["x"]).is_err());
        let o = embedder_with("ollama:m", &s).unwrap().unwrap();
        assert_eq!(o.model_id(), "ollama:m");
    }

    #[test]
    fn the_public_openai_host_is_never_called_without_a_key() {
        let err = embedder_with("openai:m", &EmbedderSettings::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("MNEMO_EMBEDDER_URL"), "{err}");
        let keyed = EmbedderSettings {
            api_key: Some("sk-x".into()),
            ..Default::default()
        };
        assert!(embedder_with("openai:m", &keyed).is_ok());
    }
}
