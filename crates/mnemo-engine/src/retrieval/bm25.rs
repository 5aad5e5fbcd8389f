//! An in-memory BM25 index over the documents of one scope.
//!
//! Why in memory: ranking needs a score for *every* document (so it can spread relevance to
//! neighbouring turns and sessions) and per-term weights (query expansion), which SQLite's
//! `bm25()` cannot give. Postings are appended as documents arrive and IDF is computed at
//! query time, so adding a document never rebuilds anything. The text itself stays in the
//! store; this is a derived index rebuilt from it.

use std::collections::HashMap;

/// BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation (0 = none, 1 = full).
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75 }
    }
}

/// Postings (document, term frequency) per term, and document lengths.
#[derive(Debug, Default, Clone)]
pub struct Bm25Index {
    postings: HashMap<String, Vec<(u32, u16)>>,
    doc_len: Vec<u32>,
    total_len: u64,
}

impl Bm25Index {
    /// Number of documents.
    pub fn len(&self) -> usize {
        self.doc_len.len()
    }

    /// Whether the index has no documents.
    pub fn is_empty(&self) -> bool {
        self.doc_len.is_empty()
    }

    /// Adds the next document (its number is the previous [`len`](Self::len)).
    pub fn push(&mut self, terms: &[String]) {
        let doc = self.doc_len.len() as u32;
        let mut tf: HashMap<&str, u16> = HashMap::new();
        for t in terms {
            let n = tf.entry(t.as_str()).or_default();
            *n = n.saturating_add(1);
        }
        for (term, n) in tf {
            self.postings
                .entry(term.to_owned())
                .or_default()
                .push((doc, n));
        }
        self.doc_len.push(terms.len() as u32);
        self.total_len += terms.len() as u64;
    }

    /// Documents containing `term`.
    pub fn doc_freq(&self, term: &str) -> usize {
        self.postings.get(term).map_or(0, Vec::len)
    }

    /// The inverse document frequency of a term (Lucene's form, always positive).
    pub fn idf(&self, term: &str) -> f32 {
        let n = self.len() as f32;
        let df = self.doc_freq(term) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Adds `weight * BM25(term, doc)` to `scores[doc]` for every document and weighted
    /// query term. `scores` must have [`len`](Self::len) entries.
    pub fn score_into(&self, query: &[(String, f32)], params: Bm25Params, scores: &mut [f32]) {
        if self.is_empty() {
            return;
        }
        let avg = (self.total_len as f32 / self.len() as f32).max(1.0);
        for (term, weight) in query {
            let Some(list) = self.postings.get(term) else {
                continue;
            };
            let idf = self.idf(term) * weight;
            for &(doc, tf) in list {
                let tf = f32::from(tf);
                let len = self.doc_len[doc as usize] as f32;
                let norm = params.k1 * (1.0 - params.b + params.b * len / avg);
                scores[doc as usize] += idf * tf * (params.k1 + 1.0) / (tf + norm);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn rare_terms_and_short_documents_score_higher() {
        let mut idx = Bm25Index::default();
        idx.push(&doc("cat sat mat"));
        idx.push(&doc("dog sat log long long text"));
        idx.push(&doc("dog barked"));
        let mut s = vec![0.0; 3];
        idx.score_into(&[("dog".into(), 1.0)], Bm25Params::default(), &mut s);
        assert_eq!(s[0], 0.0);
        assert!(s[2] > s[1], "{s:?}");
        let mut t = vec![0.0; 3];
        idx.score_into(&[("cat".into(), 1.0)], Bm25Params::default(), &mut t);
        assert!(t[0] > s[2], "rarer term must weigh more: {t:?} {s:?}");
    }
}
