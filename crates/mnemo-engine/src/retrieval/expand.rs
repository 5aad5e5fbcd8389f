//! Query expansion by pseudo-relevance feedback: the best turns of a first pass lend their
//! most telling words to a second pass.
//!
//! Why: a question and its answer often use different words ("Which city did she move
//! to?" / "We finally settled in Boston"), and the neighbours of a first-pass hit tend to
//! share the answer's vocabulary. A term's feedback weight is its BM25-style importance in
//! the top turns (frequency share × IDF), weighted by each turn's first-pass score. Terms
//! found in more than `prf_max_df` of the turns (speaker names, "yeah") are not added.

use super::rank::TurnScoreParts;
use super::turn_index::TurnIndex;
use super::RetrievalParams;

/// Expansion terms (not already in `query`) with their weights, best first.
pub(crate) fn feedback_terms(
    index: &TurnIndex,
    first_pass: &[(usize, TurnScoreParts)],
    query: &[(String, f32)],
    p: &RetrievalParams,
) -> Vec<(String, f32)> {
    let lex = &index.lexical;
    let n = lex.len() as f32;
    let best = first_pass.first().map_or(0.0, |(_, s)| s.total);
    if best <= 0.0 || p.prf_terms == 0 {
        return Vec::new();
    }
    let mut weights: std::collections::HashMap<&str, f32> = std::collections::HashMap::new();
    for (d, parts) in first_pass.iter().take(p.prf_docs as usize) {
        let share = (parts.total / best) as f32;
        let len = lex.doc_len(*d).max(1) as f32;
        for (term, tf) in lex.doc_terms(*d) {
            if query.iter().any(|(q, _)| q == term) {
                continue;
            }
            let df = lex.doc_freq(term) as f32;
            if df < 2.0 || df / n > p.prf_max_df {
                continue;
            }
            *weights.entry(term).or_default() += share * f32::from(tf) / len * lex.idf(term);
        }
    }
    let mut ranked: Vec<(&str, f32)> = weights.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.truncate(p.prf_terms as usize);
    let top = ranked
        .first()
        .map_or(1.0, |(_, w)| *w)
        .max(f32::MIN_POSITIVE);
    ranked
        .into_iter()
        .map(|(t, w)| (t.to_string(), p.prf_weight * w / top))
        .collect()
}
