//! Building what a benchmark runs with from command-line words: an embedder from its name,
//! retrieval settings from `KEY=VALUE` overrides, a fresh engine in a temporary database.

use std::path::Path;
use std::sync::Arc;

use mnemo_core::{Error, Result};
use mnemo_embed::Embedder;
use mnemo_engine::{Engine, EngineSettings, RetrievalParams};
use serde_json::{Map, Value};

pub use mnemo_engine::embedder_from_spec;

/// The default retrieval settings with `KEY=VALUE` overrides applied.
pub fn retrieval_params(overrides: &[String]) -> Result<RetrievalParams> {
    let mut value = serde_json::to_value(RetrievalParams::default())?;
    let map: &mut Map<String, Value> = value
        .as_object_mut()
        .ok_or_else(|| Error::invalid("param", "settings are not an object"))?;
    for o in overrides {
        let (key, raw) = o
            .split_once('=')
            .ok_or_else(|| Error::invalid("param", format!("`{o}` is not KEY=VALUE")))?;
        let parsed = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.into()));
        map.insert(key.trim().to_string(), parsed);
    }
    serde_json::from_value(value).map_err(|e| Error::invalid("param", e.to_string()))
}

/// A fresh engine over a new database at `db`, with these retrieval settings and embedder.
pub fn engine(
    db: &Path,
    settings: EngineSettings,
    params: RetrievalParams,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<Engine> {
    let mut engine = Engine::open_sqlite(db, settings)?.with_retrieval_params(params);
    if let Some(e) = embedder {
        engine = engine.with_embedder(e);
    }
    Ok(engine)
}

/// A fresh engine over the database `uri` names (a path, `sqlite://` or `postgres://`),
/// which must hold no turns yet: a benchmark measures an empty start.
pub fn engine_at(
    uri: &str,
    settings: EngineSettings,
    params: RetrievalParams,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<Engine> {
    let mut engine =
        Engine::open_uri(uri, mnemo_engine::Create::File, settings)?.with_retrieval_params(params);
    if engine.store().stats()?.turns > 0 {
        return Err(Error::invalid(
            "database",
            format!(
                "{} already holds turns; a benchmark needs an empty database",
                mnemo_engine::DbLocation::parse(uri).label()
            ),
        ));
    }
    if let Some(e) = embedder {
        engine = engine.with_embedder(e);
    }
    Ok(engine)
}
