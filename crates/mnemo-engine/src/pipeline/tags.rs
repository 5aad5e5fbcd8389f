//! Step 1: memory tags (seed 002). The chat model is asked to note what it learns as
//! `[MEMORY: kind|content]`; the caller strips the tags from what it shows with
//! [`mnemo_llm::parse_memory_tags`] and hands them here. They are stored at once — no
//! model call is needed — with `remember`'s duplicate check, so a fact tagged twice is
//! stored once.

use mnemo_core::{Actor, Error, Kind, Result, Scope};
use mnemo_llm::MemoryTag;
use serde_json::json;

use crate::{Engine, NewMemory, RememberOutcome};

/// The "prompt version" recorded on tag memories: the tag protocol's version.
pub const TAG_PROTOCOL: &str = "memory-tag/1";

/// Salience of a tagged memory: the model chose to note it, so above the default.
const TAG_SALIENCE: f32 = 0.6;

/// Where tags came from, for provenance.
#[derive(Debug, Clone, Default)]
pub struct TagSource<'a> {
    pub session_id: Option<&'a str>,
    /// The turns of the exchange (user turn, assistant turn).
    pub turns: &'a [String],
    /// The chat model that wrote the reply.
    pub model: Option<&'a str>,
}

impl Engine {
    /// Stores the memory tags of one assistant reply as memories by [`Actor::Llm`]. A tag
    /// the engine cannot accept (an empty or over-long text) is skipped; the others are
    /// stored. Returns what happened to each stored tag.
    pub fn remember_tags(
        &self,
        scope: &Scope,
        tags: &[MemoryTag],
        source: &TagSource<'_>,
    ) -> Result<Vec<RememberOutcome>> {
        let mut out = Vec::with_capacity(tags.len());
        for tag in tags {
            match self.remember(scope, tag_memory(tag, source), Actor::Llm) {
                Ok(outcome) => out.push(outcome),
                Err(Error::Invalid { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// The memory a tag stands for.
pub fn tag_memory(tag: &MemoryTag, source: &TagSource<'_>) -> NewMemory {
    let mut m = NewMemory::text(tag.content.clone());
    m.kind = tag.kind.parse().unwrap_or(Kind::Note);
    m.salience = TAG_SALIENCE;
    m.session_id = source.session_id.map(str::to_owned);
    m.source_turns = source.turns.to_vec();
    m.meta = json!({
        "source": "memory_tag",
        "model": source.model,
        "prompt_version": TAG_PROTOCOL,
    });
    m.reason = Some("memory tag in the assistant's reply".into());
    m
}
