//! The in-memory search index of one user's turns: the turns themselves, a BM25 index of
//! their text, links to the neighbouring turns of the same session, and (when an embedder
//! is configured) their vectors.
//!
//! It is derived data: built from the store on first use, extended as the engine records
//! turns, and rebuilt when the store's index epoch of the user's turns
//! ([`VectorStore::index_epoch`](mnemo_core::VectorStore::index_epoch)) shows that someone
//! else changed them.

use std::collections::HashMap;

use mnemo_core::Turn;

use super::bm25::Bm25Index;
use super::dense::DenseIndex;
use super::text::Analyzer;

/// A speaker label that heads turns ("Anna: ...").
#[derive(Debug, Clone, Default)]
pub(crate) struct Speaker {
    /// The label, lowercase.
    pub label: String,
    /// Its index terms (a name's stem).
    pub terms: Vec<String>,
    /// How many turns it heads.
    pub turns: usize,
}

/// The speaker label that opens `text` ("Anna: I went..." → "Anna"): text before the
/// first colon, of one to three words made of letters (and `.`, `'` or `-`), followed
/// by more text. Transcripts of several people are often stored this way; a colon after
/// a longer phrase ("Remember to buy milk: ...") or inside a time ("at 10:30") is not a
/// label.
pub(crate) fn speaker_label(text: &str) -> Option<&str> {
    let (head, rest) = text.split_once(':')?;
    let head = head.trim();
    let words = head.split_whitespace().count();
    let labelish = head
        .chars()
        .all(|c| c.is_alphabetic() || c.is_whitespace() || matches!(c, '.' | '\'' | '-'));
    let starts_upper = head.chars().next().is_some_and(char::is_uppercase);
    (labelish && starts_upper && (1..=3).contains(&words) && !rest.trim().is_empty())
        .then_some(head)
}

/// One user's turns, indexed. Document `i` is `turns[i]`.
#[derive(Debug, Default)]
pub(crate) struct TurnIndex {
    pub turns: Vec<Turn>,
    pub lexical: Bm25Index,
    /// The previous and next turn of the same session, when present.
    pub prev: Vec<Option<u32>>,
    pub next: Vec<Option<u32>>,
    /// Session number of each document (an index into `session_ids`).
    pub session_of: Vec<u32>,
    pub session_ids: Vec<String>,
    /// Per session id: its last document and its session number.
    session_last: HashMap<String, (u32, u32)>,
    /// One word seen for each term (the embedder needs words, not stems).
    pub surface: HashMap<String, String>,
    /// Vectors of the terms' words, built on first use by query expansion.
    pub vocab: Option<(Vec<String>, DenseIndex)>,
    /// Vectors by document, when an embedder is configured.
    pub dense: Option<DenseIndex>,
    /// Each document's speaker label (an index into `speakers`), when its text starts
    /// with one (see [`speaker_label`]).
    pub speaker_of: Vec<Option<u32>>,
    /// Speaker labels seen, with the index terms of each and how many turns it heads.
    pub speakers: Vec<Speaker>,
    /// Whether each document ends with a question mark (it asks rather than tells).
    pub asks: Vec<bool>,
    /// The store's index epoch this index matches (`None`: not built from the store).
    pub epoch: Option<u64>,
}

impl TurnIndex {
    /// Rough bytes held: the turns' text and fields, postings, neighbours and vectors.
    pub fn approx_bytes(&self) -> usize {
        let dims = self.dense.as_ref().map_or(0, |d| d.dims() * 4);
        self.turns
            .iter()
            .map(|t| t.content.len() * 2 + 384 + dims)
            .sum()
    }

    /// Number of indexed turns.
    pub fn len(&self) -> usize {
        self.turns.len()
    }

    /// Appends a turn (turns of one session must arrive in order).
    pub fn push(&mut self, analyzer: &Analyzer, turn: Turn) {
        let doc = self.turns.len() as u32;
        let pairs = analyzer.word_terms(&turn.content);
        let terms: Vec<String> = pairs.iter().map(|(_, t)| t.clone()).collect();
        self.lexical.push(&terms);
        for (word, term) in pairs {
            self.surface.entry(term).or_insert(word);
        }
        let known = self.session_last.get(&turn.session_id).copied();
        if let Some((p, _)) = known {
            self.next[p as usize] = Some(doc);
        }
        self.prev.push(known.map(|(p, _)| p));
        self.next.push(None);
        let session = match known {
            Some((_, s)) => s,
            None => {
                self.session_ids.push(turn.session_id.clone());
                (self.session_ids.len() - 1) as u32
            }
        };
        self.session_last
            .insert(turn.session_id.clone(), (doc, session));
        self.session_of.push(session);
        let speaker = speaker_label(&turn.content).map(|label| {
            let key = label.to_lowercase();
            let id = match self.speakers.iter().position(|s| s.label == key) {
                Some(i) => i,
                None => {
                    self.speakers.push(Speaker {
                        terms: analyzer.terms(&key),
                        label: key,
                        turns: 0,
                    });
                    self.speakers.len() - 1
                }
            };
            self.speakers[id].turns += 1;
            id as u32
        });
        self.speaker_of.push(speaker);
        self.asks.push(turn.content.trim_end().ends_with('?'));
        self.turns.push(turn);
    }

    /// Builds the index of `turns`, sorted here into conversation order.
    pub fn build(analyzer: &Analyzer, mut turns: Vec<Turn>) -> TurnIndex {
        turns.sort_by(|a, b| (a.session_id.as_str(), a.seq).cmp(&(b.session_id.as_str(), b.seq)));
        let mut index = TurnIndex::default();
        for turn in turns {
            index.push(analyzer, turn);
        }
        index
    }

    /// Whether the index still describes the store at `current` epoch.
    pub fn is_fresh(&self, current: u64) -> bool {
        self.epoch == Some(current)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A turn of session `session` with this text (other fields are placeholders).
    pub(crate) fn turn(session: &str, seq: i64, content: &str) -> Turn {
        Turn {
            id: format!("{session}-{seq}"),
            user_id: "u".into(),
            agent_id: None,
            session_id: session.into(),
            seq,
            role: mnemo_core::Role::User,
            content: content.into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            tokens: 0,
            meta: serde_json::Value::Null,
        }
    }

    #[test]
    fn speaker_labels_are_short_capitalised_names_before_a_colon() {
        assert_eq!(speaker_label("Anna: I went hiking"), Some("Anna"));
        assert_eq!(
            speaker_label("Dr. Mary-Jo O'Neil: hi"),
            Some("Dr. Mary-Jo O'Neil")
        );
        assert_eq!(speaker_label("we met at 10:30"), None);
        assert_eq!(speaker_label("Remember to buy milk: now"), None);
        assert_eq!(speaker_label("anna: lowercase is prose"), None);
        assert_eq!(speaker_label("Anna:"), None);
        assert_eq!(speaker_label("no colon here"), None);
    }

    #[test]
    fn turns_are_linked_within_sessions_and_speakers_counted() {
        let a = Analyzer::default();
        let index = TurnIndex::build(
            &a,
            vec![
                turn("s1", 2, "Bob: and you?"),
                turn("s2", 1, "Anna: new day"),
                turn("s1", 1, "Anna: I paint"),
            ],
        );
        assert_eq!(index.prev, vec![None, Some(0), None]);
        assert_eq!(index.next, vec![Some(1), None, None]);
        let labels: Vec<(&str, usize)> = index
            .speakers
            .iter()
            .map(|s| (s.label.as_str(), s.turns))
            .collect();
        assert_eq!(labels, vec![("anna", 2), ("bob", 1)]);
        assert_eq!(index.speaker_of, vec![Some(0), Some(1), Some(0)]);
        assert_eq!(index.speakers[0].terms, vec!["anna"]);
        assert_eq!(index.asks, vec![false, true, false]);
    }
}
