//! The static embedder: a sentence is the L2-normalised mean of its WordPiece tokens' rows.
//!
//! Why this is the default: it needs no download, no API key and no transformer runtime,
//! embeds over 100,000 sentences per second on one core, and on LoCoMo turn
//! retrieval it scores about as well as the all-MiniLM-L6-v2 transformer it was distilled from
//! (see the crate README for the measurements and how the table is made).

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::similarity::normalize;
use crate::table::Table;
use crate::tokenizer::WordPiece;
use crate::{EmbedError, Embedder};

/// The built-in table: all-MiniLM-L6-v2 distilled to 256 dims, int8 per-row.
static BUILTIN_BYTES: &[u8] = include_bytes!("../assets/minilm-l6-v2-static-256.i8.bin");
/// Name used for the built-in table in error messages.
const BUILTIN_NAME: &str = "<built-in minilm-l6-v2-static-256.i8.bin>";

/// A static (lookup-table) embedder. Cheap to clone: the table is shared.
#[derive(Clone)]
pub struct StaticEmbedder {
    table: Arc<Table>,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("model_id", &self.table.model_id)
            .field("dims", &self.table.dims)
            .field("vocab", &self.table.vocab.len())
            .finish()
    }
}

impl StaticEmbedder {
    /// The table shipped inside the binary (`static:minilm-l6-v2-256@1`). Parsed once per
    /// process (a few milliseconds); later calls share it.
    pub fn builtin() -> Self {
        static BUILTIN: OnceLock<Arc<Table>> = OnceLock::new();
        let table = BUILTIN.get_or_init(|| {
            let parsed = Table::parse(Cow::Borrowed(BUILTIN_BYTES), Path::new(BUILTIN_NAME));
            // The asset is checked by this crate's tests; failing here is a build defect.
            Arc::new(parsed.expect("the built-in static embedding table is valid"))
        });
        StaticEmbedder {
            table: Arc::clone(table),
        }
    }

    /// Loads a table in the same format from disk (e.g. one distilled from another model with
    /// `scripts/distill_static.py`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, EmbedError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| EmbedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(bytes, path)
    }

    /// Parses a table held in memory; `name` only labels errors.
    pub fn from_bytes(bytes: Vec<u8>, name: impl AsRef<Path>) -> Result<Self, EmbedError> {
        let table = Table::parse(Cow::Owned(bytes), name.as_ref())?;
        Ok(StaticEmbedder {
            table: Arc::new(table),
        })
    }

    /// The tokenizer that goes with the table.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.table.vocab
    }

    /// Embeds one text. A text with no known token (empty, only unknown words) gives the
    /// all-zero vector, whose cosine with anything is 0.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut out = vec![0.0; self.table.dims];
        self.embed_with(text, &mut ids, &mut out);
        out
    }

    /// `embed_one` reusing caller-owned buffers (`out.len()` must equal `dims()`).
    fn embed_with(&self, text: &str, ids: &mut Vec<u32>, out: &mut [f32]) {
        ids.clear();
        self.table.vocab.encode_into(text, ids);
        out.iter_mut().for_each(|x| *x = 0.0);
        for &id in ids.iter() {
            self.table.add_row(id, out);
        }
        // The mean and the sum have the same direction: normalising is enough.
        normalize(out);
    }
}

impl Embedder for StaticEmbedder {
    fn model_id(&self) -> &str {
        &self.table.model_id
    }

    fn unrelated_below(&self) -> Option<f32> {
        // Calibrated for the built-in table only (`mnemo bench recall`): at 0.3 no
        // paraphrased question loses its fact; above it they start to.
        Arc::ptr_eq(&self.table, &Self::builtin().table).then_some(0.3)
    }

    fn dims(&self) -> usize {
        self.table.dims
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut ids = Vec::new();
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0; self.table.dims];
                self.embed_with(t, &mut ids, &mut v);
                v
            })
            .collect())
    }
}
