//! English stopwords dropped from full-text queries.
//!
//! Kept small on purpose: these are words that carry no topic ("what", "the", "did") and
//! would otherwise make BM25 favour long texts full of them. Words that can carry meaning in
//! a memory ("not", "never", "like") are deliberately absent. Sorted, lowercase, so lookup
//! is a binary search.

/// The list, sorted ascending.
pub const STOPWORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "him", "his",
    "how", "i", "if", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "she", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "us", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why",
    "will", "with", "would", "you", "your",
];

/// Whether `word` (already lowercase) is a stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_and_lowercase() {
        for pair in STOPWORDS.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        assert!(STOPWORDS.iter().all(|w| *w == w.to_lowercase()));
        assert!(is_stopword("the"));
        assert!(!is_stopword("coffee"));
    }
}
