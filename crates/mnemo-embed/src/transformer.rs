//! A local BERT-family sentence embedder (all-MiniLM-L6-v2 by default) on candle, behind the
//! `candle` feature.
//!
//! Why optional: it is the full transformer the built-in table was distilled from, useful to
//! check the table against and for users who want transformer vectors without a server, but it
//! adds minutes to a cold build and needs ~90 MB of weights on disk (see
//! `scripts/fetch-minilm.sh`). Tokenisation is this crate's WordPiece (identical to Hugging
//! Face's for this vocabulary), padding is per batch, pooling is the masked mean that
//! sentence-transformers uses, and vectors are L2-normalised.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use crate::similarity::normalize;
use crate::tokenizer::WordPiece;
use crate::{EmbedError, Embedder};

/// Default texts per forward pass.
const DEFAULT_BATCH: usize = 32;
/// Used when the model directory has no `sentence_bert_config.json`.
const DEFAULT_MAX_TOKENS: usize = 256;

/// A sentence-transformers style model loaded from a directory holding `config.json`,
/// `vocab.txt`, `model.safetensors` and optionally `sentence_bert_config.json`.
pub struct TransformerEmbedder {
    model: BertModel,
    vocab: WordPiece,
    device: Device,
    model_id: String,
    dims: usize,
    max_tokens: usize,
    batch_size: usize,
    cls: u32,
    sep: u32,
    unk: u32,
}

impl std::fmt::Debug for TransformerEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerEmbedder")
            .field("model_id", &self.model_id)
            .field("dims", &self.dims)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl TransformerEmbedder {
    /// Loads the model on the CPU. The model id is `candle:<directory name>`, e.g.
    /// `candle:all-minilm-l6-v2`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, EmbedError> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::Io { path, source })
        };
        let bad = |name: &str, reason: String| EmbedError::BadFile {
            path: dir.join(name),
            reason,
        };

        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| bad("config.json", e.to_string()))?;
        let vocab_text = String::from_utf8(read("vocab.txt")?)
            .map_err(|_| bad("vocab.txt", "not UTF-8".into()))?;
        let vocab = WordPiece::new(vocab_text.lines());
        let special = |tok: &str| {
            vocab
                .id(tok)
                .ok_or_else(|| bad("vocab.txt", format!("no {tok} token")))
        };
        let (cls, sep, unk) = (special("[CLS]")?, special("[SEP]")?, special("[UNK]")?);
        let max_tokens = read("sentence_bert_config.json")
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["max_seq_length"].as_u64())
            .map_or(DEFAULT_MAX_TOKENS, |n| n as usize)
            .max(3);

        let device = Device::Cpu;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| bad("model.safetensors", e.to_string()))?;
        let model =
            BertModel::load(vb, &config).map_err(|e| bad("model.safetensors", e.to_string()))?;
        let name = dir
            .file_name()
            .map_or_else(|| "bert".into(), |n| n.to_string_lossy().to_lowercase());
        Ok(TransformerEmbedder {
            model,
            vocab,
            device,
            model_id: format!("candle:{name}"),
            dims: config.hidden_size,
            max_tokens,
            batch_size: DEFAULT_BATCH,
            cls,
            sep,
            unk,
        })
    }

    /// Texts per forward pass (default 32); larger batches are faster but pad more.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    fn ids(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls];
        self.vocab.encode_with_unknown(text, self.unk, &mut ids);
        ids.truncate(self.max_tokens - 1);
        ids.push(self.sep);
        ids
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let seqs: Vec<Vec<u32>> = texts.iter().map(|t| self.ids(t)).collect();
        let len = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let (mut ids, mut mask) = (Vec::new(), Vec::new());
        for s in &seqs {
            ids.extend(
                s.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, len - s.len())),
            );
            mask.extend((0..len).map(|i| u32::from(i < s.len())));
        }
        let shape = (seqs.len(), len);
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?;
            summed.broadcast_div(&counts)?.to_vec2::<f32>()
        };
        let mut out = run().map_err(|e| EmbedError::Model(e.to_string()))?;
        out.iter_mut().for_each(|v| normalize(v));
        Ok(out)
    }
}

impl Embedder for TransformerEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn unrelated_below(&self) -> Option<f32> {
        // Calibrated for all-MiniLM-L6-v2 (`mnemo bench recall`): at 0.2 no paraphrased
        // question loses its fact; other models are not known.
        self.model_id.contains("all-minilm-l6-v2").then_some(0.2)
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Batch texts of similar length together so little compute goes to padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|i| texts[*i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|i| texts[*i]).collect();
            for (i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[*i] = v;
            }
        }
        Ok(out)
    }
}
