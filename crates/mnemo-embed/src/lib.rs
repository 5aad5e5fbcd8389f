//! Text embedders for mnemo, behind one small trait.
//!
//! Why a trait and several backends: a memory store must work offline with nothing installed,
//! yet users with Ollama or an OpenAI key should be able to plug in a stronger model. Every
//! vector is stored with its [`Embedder::model_id`], so vectors from different models are
//! never compared with each other.
//!
//! - [`StaticEmbedder::builtin`]: the offline default. A model2vec-style table distilled from
//!   all-MiniLM-L6-v2 and shipped inside the binary (about 7.5 MiB); no download, no key,
//!   over 100,000 sentences per second, LoCoMo recall on par with the transformer.
//! - [`OllamaEmbedder`] and [`OpenAiEmbedder`]: HTTP, batched, with errors that say what to
//!   do.
//! - `TransformerEmbedder` (feature `candle`, off by default): the full all-MiniLM-L6-v2
//!   transformer from files on disk.
//! - [`dot`], [`cosine`], [`normalize`]: the vector arithmetic that search needs.

mod error;
pub mod http;
mod lazy;
mod similarity;
mod static_embed;
pub mod table;
pub mod tokenizer;
#[cfg(feature = "candle")]
mod transformer;

pub use error::EmbedError;
pub use http::{OllamaConfig, OllamaEmbedder, OpenAiConfig, OpenAiEmbedder};
pub use lazy::LazyEmbedder;
pub use similarity::{cosine, dot, normalize};
pub use static_embed::StaticEmbedder;
#[cfg(feature = "candle")]
pub use transformer::TransformerEmbedder;

/// Turns texts into vectors.
///
/// Implementations are shareable across threads. Output vectors have [`Embedder::dims`]
/// elements and are L2-normalised (so [`dot`] is the cosine), except that a text with nothing
/// embeddable in it may give the all-zero vector.
pub trait Embedder: Send + Sync {
    /// Identifies the model and its version, stored with every vector, e.g.
    /// `"static:minilm-l6-v2-256@1"` or `"ollama:nomic-embed-text"`.
    fn model_id(&self) -> &str;

    /// Length of every vector this embedder returns.
    fn dims(&self) -> usize;

    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Whether embedding calls a server (which may be down or slow). Writes leave such
    /// embedding for later instead of waiting for it.
    fn is_remote(&self) -> bool {
        false
    }

    /// The cosine similarity under which a text and a query are taken to be unrelated by
    /// this model, when it has been calibrated (the built-in table and all-MiniLM-L6-v2 on
    /// mnemo's personal-facts dev set); `None` when not known. Cosines of unrelated texts
    /// differ by model, so no single number suits every embedder.
    fn unrelated_below(&self) -> Option<f32> {
        None
    }
}

impl<E: Embedder + ?Sized> Embedder for std::sync::Arc<E> {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn dims(&self) -> usize {
        (**self).dims()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        (**self).embed(texts)
    }
    fn is_remote(&self) -> bool {
        (**self).is_remote()
    }
    fn unrelated_below(&self) -> Option<f32> {
        (**self).unrelated_below()
    }
}

impl<E: Embedder + ?Sized> Embedder for Box<E> {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn dims(&self) -> usize {
        (**self).dims()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        (**self).embed(texts)
    }
    fn is_remote(&self) -> bool {
        (**self).is_remote()
    }
    fn unrelated_below(&self) -> Option<f32> {
        (**self).unrelated_below()
    }
}
