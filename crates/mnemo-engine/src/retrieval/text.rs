//! Text analysis for the in-memory lexical index: the same words must come out of a stored
//! text and of a question about it.
//!
//! Why not reuse FTS5's tokenizer: the turn ranker needs per-term statistics (to tune BM25's
//! `k1`/`b`, weight expansion terms and spread scores to neighbouring turns), which FTS5's
//! `bm25()` does not expose. The analysis mirrors FTS5's `porter unicode61`: split on
//! anything that is not a letter or digit, lowercase, drop stopwords, then stem (Snowball
//! English, a refinement of Porter's algorithm).

use rust_stemmers::{Algorithm, Stemmer};

/// English function words that carry no topic. Larger than the FTS query list because the
/// ranker sees whole questions ("what kind of ... did she ...").
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "during", "each", "else", "for", "from", "had", "has", "have", "having", "he",
    "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into",
    "is", "it", "its", "itself", "just", "me", "might", "more", "most", "my", "myself", "of",
    "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "us", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your", "yours",
];

/// Turns text into index terms.
pub struct Analyzer {
    stemmer: Stemmer,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer(english)")
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

/// Whether `word` (lowercase) is a stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

/// Lowercase words of `text`: runs of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Words that open a question by themselves ("what ...", "did ...", "tell me ...").
const QUESTION_OPENERS: &[&str] = &[
    "what", "what's", "whats", "who", "who's", "whom", "whose", "which", "when's", "where's",
    "how's", "did", "do", "does", "is", "are", "was", "were", "can", "could", "would", "will",
    "should", "shall", "has", "have", "had", "am", "may", "might", "must", "didn't", "don't",
    "doesn't", "isn't", "aren't", "wasn't", "weren't", "tell", "remind", "list", "describe",
    "recall",
];

/// Words that open a question only when a verb follows ("when did...", "how many..."),
/// not when they open a clause ("When I was filling out the form, ...").
const CLAUSE_OR_QUESTION: &[&str] = &["when", "where", "why", "how"];

/// What follows such a word in a question.
const QUESTION_FOLLOWERS: &[&str] = &[
    "did", "do", "does", "is", "are", "was", "were", "can", "could", "would", "will", "should",
    "has", "have", "had", "am", "may", "might", "much", "many", "long", "often", "far", "old",
    "come", "about", "didn't", "don't", "doesn't", "isn't", "aren't", "wasn't",
];

/// Whether a message asks something: it has a question mark, or a sentence of it opens
/// with a question word or an auxiliary verb ("did I...", "what is..."), "tell me" or
/// "remind me".
pub fn is_question(text: &str) -> bool {
    if text.contains('?') {
        return true;
    }
    let norm = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
            .to_lowercase()
            .replace('’', "'")
    };
    text.split(['.', '!', '\n', ';']).any(|sentence| {
        let mut words = sentence.split_whitespace().map(norm);
        let Some(first) = words.next() else {
            return false;
        };
        if QUESTION_OPENERS.contains(&first.as_str()) {
            return true;
        }
        CLAUSE_OR_QUESTION.contains(&first.as_str())
            && words
                .next()
                .is_some_and(|w| QUESTION_FOLLOWERS.contains(&w.as_str()))
    })
}

impl Analyzer {
    /// The stem of one lowercase word.
    pub fn stem(&self, word: &str) -> String {
        self.stemmer.stem(word).into_owned()
    }

    /// Index terms of `text`, in order, repeats kept (term frequency matters). Stopwords and
    /// one-letter words (the "s" of "Anna's") are dropped; one-digit numbers are kept.
    pub fn terms(&self, text: &str) -> Vec<String> {
        words(text)
            .filter(|w| keep(w))
            .map(|w| self.stem(&w))
            .collect()
    }

    /// `(word, term)` pairs of `text`, as [`terms`](Self::terms) keeps them.
    pub fn word_terms(&self, text: &str) -> Vec<(String, String)> {
        words(text)
            .filter(|w| keep(w))
            .map(|w| {
                let t = self.stem(&w);
                (w, t)
            })
            .collect()
    }

    /// Distinct terms of a query, in order of first appearance. When every word is a
    /// stopword the words themselves are used, so "who is it" still searches something.
    pub fn query_terms(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for term in self.terms(text) {
            if !out.contains(&term) {
                out.push(term);
            }
        }
        if out.is_empty() {
            for w in words(text) {
                let t = self.stem(&w);
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }
}

fn keep(word: &str) -> bool {
    let single_letter = word.chars().count() == 1 && !word.chars().all(|c| c.is_ascii_digit());
    !single_letter && !is_stopword(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_told_from_statements() {
        for q in [
            "When did Caroline go to the support group?",
            "what is my sister's wedding date",
            "Tell me what I said about Lisbon",
            "Did I ever mention my cat",
            "ok. how many books did I read",
            "where did we leave the plan",
        ] {
            assert!(is_question(q), "{q}");
        }
        for s in [
            "I ended up volunteering for that project, and now I'm totally overwhelmed",
            "My sister Maya is getting married in Lisbon",
            "Finally finished the marathon!",
            "whatever happens, I'll keep going",
            "When I was filling out the form, I realised how much time it takes",
            "When HR announced the training, I signed up",
        ] {
            assert!(!is_question(s), "{s}");
        }
    }

    #[test]
    fn stopword_list_is_sorted_for_binary_search() {
        for pair in STOPWORDS.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn analysis_stems_and_drops_function_words() {
        let a = Analyzer::default();
        assert_eq!(
            a.terms("Caroline's painting classes, and she PAINTED 2 sunsets!"),
            vec!["carolin", "paint", "class", "paint", "2", "sunset"]
        );
        assert_eq!(a.query_terms("who is it"), vec!["who", "is", "it"]);
        assert_eq!(a.query_terms("paint painting painted"), vec!["paint"]);
    }
}
