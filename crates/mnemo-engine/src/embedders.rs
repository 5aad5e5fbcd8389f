//! Choosing an embedder by name, as configuration and command lines name them
//! (`embedder = "static"`, `MNEMO_EMBEDDER=ollama:nomic-embed-text`, `--embedder none`).

use std::sync::Arc;

use mnemo_core::{Error, Result};
use mnemo_embed::{
    Embedder, OllamaConfig, OllamaEmbedder, OpenAiConfig, OpenAiEmbedder, StaticEmbedder,
};

/// An embedder from its name: `none`, `static` (built in), `static:FILE`, `ollama:MODEL`,
/// `openai:MODEL`. `None` for `none`.
pub fn embedder_from_spec(spec: &str) -> Result<Option<Arc<dyn Embedder>>> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let model = |e: mnemo_embed::EmbedError| Error::Model(e.to_string());
    let embedder: Arc<dyn Embedder> = match (kind, arg) {
        ("none", "") => return Ok(None),
        ("static" | "builtin", "") => Arc::new(StaticEmbedder::builtin()),
        ("static", path) => Arc::new(StaticEmbedder::from_file(path).map_err(model)?),
        ("ollama", m) if !m.is_empty() => {
            Arc::new(OllamaEmbedder::new(OllamaConfig::from_env(m)).map_err(model)?)
        }
        ("openai", m) if !m.is_empty() => {
            Arc::new(OpenAiEmbedder::new(OpenAiConfig::from_env(m)).map_err(model)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_embedders_or_explain_themselves() {
        assert!(embedder_from_spec("none").unwrap().is_none());
        let e = embedder_from_spec("static").unwrap().unwrap();
        assert!(e.model_id().starts_with("static:"));
        let err = embedder_from_spec("word2vec").err().unwrap().to_string();
        assert!(err.contains("ollama:MODEL"), "{err}");
        assert!(embedder_from_spec("ollama:").is_err());
    }
}
