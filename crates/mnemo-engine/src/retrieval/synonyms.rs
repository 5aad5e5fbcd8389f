//! Query expansion by meaning: words of the scope that the embedder places next to a
//! query word ("puppy" → "dog") are added to the full-text query with a weight that
//! follows their similarity. Only words that occur in the scope are candidates, so the
//! expansion can only point at text that exists.

use mnemo_core::Result;
use mnemo_embed::Embedder;

use super::dense::{normalized, DenseIndex};
use super::embedding::embed;
use super::text::Analyzer;
use super::turn_index::TurnIndex;
use super::RetrievalParams;

/// Expansion terms for `text` (not already in `query`), with weights.
pub(crate) fn synonyms(
    index: &mut TurnIndex,
    embedder: &dyn Embedder,
    analyzer: &Analyzer,
    text: &str,
    query: &[(String, f32)],
    p: &RetrievalParams,
) -> Result<Vec<(String, f32)>> {
    if p.synonym_terms == 0 || index.surface.is_empty() {
        return Ok(Vec::new());
    }
    if index
        .vocab
        .as_ref()
        .is_none_or(|(t, _)| t.len() != index.surface.len())
    {
        let mut terms: Vec<String> = index.surface.keys().cloned().collect();
        terms.sort();
        let words: Vec<&str> = terms.iter().map(|t| index.surface[t].as_str()).collect();
        let vectors = embed(embedder, &words)?;
        let mut dense = DenseIndex::new(embedder.model_id(), embedder.dims());
        vectors.iter().for_each(|v| dense.push(Some(v)));
        index.vocab = Some((terms, dense));
    }
    let Some((terms, dense)) = &index.vocab else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(String, f32)> = Vec::new();
    let mut scores = vec![0.0f32; terms.len()];
    for (word, _) in analyzer.word_terms(text) {
        let v = embed(embedder, &[&word])?;
        dense.scores(&normalized(&v[0]), &mut scores);
        let mut best: Vec<usize> = (0..terms.len())
            .filter(|&i| scores[i] >= p.synonym_min_cos)
            .collect();
        best.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        for i in best.into_iter().take(p.synonym_terms as usize + 1) {
            let t = &terms[i];
            if query.iter().chain(out.iter()).any(|(q, _)| q == t) {
                continue;
            }
            out.push((t.clone(), p.synonym_weight * scores[i]));
        }
    }
    Ok(out)
}
