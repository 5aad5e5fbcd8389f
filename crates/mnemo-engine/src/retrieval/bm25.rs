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

/// Postings (document, term frequency) per term, each document's terms, and lengths.
#[derive(Debug, Default, Clone)]
pub struct Bm25Index {
    ids: HashMap<String, u32>,
    terms: Vec<String>,
    postings: Vec<Vec<(u32, u16)>>,
    doc_terms: Vec<Vec<(u32, u16)>>,
    doc_len: Vec<u32>,
    total_len: u64,
    /// Documents removed (their numbers stay taken; they match nothing).
    removed: usize,
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

    /// Documents not removed: the collection size that IDF and the mean length use.
    pub fn live(&self) -> usize {
        self.len() - self.removed
    }

    /// Removes a document from the postings and the statistics, so scores are those of an
    /// index built without it (its number stays taken). Costs a scan of its terms'
    /// postings: meant for the occasional change, not bulk deletion. Removing a document
    /// twice is the caller's error (the second call would miscount).
    pub fn remove(&mut self, doc: usize) {
        let Some(terms) = self.doc_terms.get_mut(doc).map(std::mem::take) else {
            return;
        };
        for (id, _) in terms {
            let list = &mut self.postings[id as usize];
            if let Ok(at) = list.binary_search_by_key(&(doc as u32), |&(d, _)| d) {
                list.remove(at);
            }
        }
        self.total_len -= u64::from(self.doc_len[doc]);
        self.doc_len[doc] = 0;
        self.removed += 1;
    }

    /// Adds the next document (its number is the previous [`len`](Self::len)).
    pub fn push(&mut self, terms: &[String]) {
        let doc = self.doc_len.len() as u32;
        let mut tf: Vec<(u32, u16)> = Vec::new();
        for t in terms {
            let id = match self.ids.get(t) {
                Some(&id) => id,
                None => {
                    let id = self.terms.len() as u32;
                    self.ids.insert(t.clone(), id);
                    self.terms.push(t.clone());
                    self.postings.push(Vec::new());
                    id
                }
            };
            match tf.iter_mut().find(|(i, _)| *i == id) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => tf.push((id, 1)),
            }
        }
        for &(id, n) in &tf {
            self.postings[id as usize].push((doc, n));
        }
        self.doc_terms.push(tf);
        self.doc_len.push(terms.len() as u32);
        self.total_len += terms.len() as u64;
    }

    /// The distinct terms of a document with their frequencies.
    pub fn doc_terms(&self, doc: usize) -> impl Iterator<Item = (&str, u16)> + '_ {
        self.doc_terms[doc]
            .iter()
            .map(|&(id, n)| (self.terms[id as usize].as_str(), n))
    }

    /// Length of a document in terms.
    pub fn doc_len(&self, doc: usize) -> u32 {
        self.doc_len[doc]
    }

    /// Documents containing `term`.
    pub fn doc_freq(&self, term: &str) -> usize {
        self.ids
            .get(term)
            .map_or(0, |&id| self.postings[id as usize].len())
    }

    /// The inverse document frequency of a term (Lucene's form, always positive).
    pub fn idf(&self, term: &str) -> f32 {
        let n = self.live() as f32;
        let df = self.doc_freq(term) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Adds `weight * BM25(term, doc)` to `scores[doc]` for every document and weighted
    /// query term. `scores` must have [`len`](Self::len) entries.
    pub fn score_into(&self, query: &[(String, f32)], params: Bm25Params, scores: &mut [f32]) {
        if self.is_empty() {
            return;
        }
        let avg = (self.total_len as f32 / self.live().max(1) as f32).max(1.0);
        for (term, weight) in query {
            let Some(list) = self.ids.get(term).map(|&id| &self.postings[id as usize]) else {
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

    #[test]
    fn a_removed_document_leaves_the_scores_of_an_index_built_without_it() {
        let texts = [
            "cat sat mat",
            "dog sat log long long text",
            "dog barked",
            "cat dog",
        ];
        let mut patched = Bm25Index::default();
        texts.iter().for_each(|t| patched.push(&doc(t)));
        patched.remove(1);
        assert_eq!(patched.live(), 3);
        assert_eq!(patched.doc_freq("dog"), 2);
        assert_eq!(patched.doc_freq("sat"), 1);
        let q = [("dog".to_string(), 1.0), ("sat".to_string(), 1.0)];
        let mut got = vec![0.0; 4];
        patched.score_into(&q, Bm25Params::default(), &mut got);
        let mut alone = Bm25Index::default();
        for t in [texts[0], texts[2], texts[3]] {
            alone.push(&doc(t));
        }
        let mut want = vec![0.0; 3];
        alone.score_into(&q, Bm25Params::default(), &mut want);
        assert_eq!(got[1], 0.0);
        for (g, w) in [got[0], got[2], got[3]].iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }
}
