//! Building FTS5 `MATCH` expressions from user text.
//!
//! FTS5 has its own query language (`AND`, `NOT`, `NEAR`, `"..."`, `*`, `^`, `col:`,
//! parentheses). Passing a question such as `what's "NEAR" (the cat)?` to `MATCH` would
//! either fail with a syntax error or mean something else, so user text is never passed
//! raw. Instead the text is split into words (runs of Unicode letters and digits), common
//! English stopwords are dropped (unless that would drop everything), and each word becomes
//! a quoted FTS5 string; the strings are joined with `OR` and BM25 does the ranking. Every
//! operator character is therefore a separator and every operator word is a plain term.

use crate::stopwords::is_stopword;

/// At most this many distinct terms are used; long pasted texts are cut, not rejected.
pub const MAX_TERMS: usize = 64;

/// The words of `text` that a query will look for: lowercase, deduplicated in order of
/// appearance, stopwords removed unless every word is a stopword, at most [`MAX_TERMS`].
pub fn terms(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    let content: Vec<String> = words.iter().filter(|w| !is_stopword(w)).cloned().collect();
    let mut chosen = if content.is_empty() { words } else { content };
    chosen.truncate(MAX_TERMS);
    chosen
}

/// Quotes one term as an FTS5 string (double quotes, internal quotes doubled).
pub fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The `MATCH` expression for `text`, or `None` when it has no words (search nothing).
pub fn build_match_query(text: &str) -> Option<String> {
    let terms = terms(text);
    if terms.is_empty() {
        return None;
    }
    let quoted: Vec<String> = terms.iter().map(|t| quote(t)).collect();
    Some(quoted.join(" OR "))
}

/// A `MATCH` expression requiring every word of `text` (stopwords included, any order), or
/// `None` when it has no words. Used to find candidate duplicates without ranking.
pub fn build_all_words_query(text: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words.truncate(MAX_TERMS);
    (!words.is_empty()).then(|| {
        words
            .iter()
            .map(|w| quote(w))
            .collect::<Vec<_>>()
            .join(" AND ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_words_queries_keep_stopwords_and_quote_operators() {
        assert_eq!(
            build_all_words_query("Uses the NOT editor"),
            Some("\"uses\" AND \"the\" AND \"not\" AND \"editor\"".into())
        );
        assert_eq!(build_all_words_query("?!"), None);
    }

    #[test]
    fn builds_quoted_or_queries() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("   ", None),
            ("?!*()", None),
            ("coffee", Some("\"coffee\"")),
            (
                "What is my favourite coffee?",
                Some("\"favourite\" OR \"coffee\""),
            ),
            ("the the THE", Some("\"the\"")),
            ("what is it", Some("\"what\" OR \"is\" OR \"it\"")),
            ("cats AND dogs", Some("\"cats\" OR \"dogs\"")),
            (
                "NOT NEAR(x y)",
                Some("\"not\" OR \"near\" OR \"x\" OR \"y\""),
            ),
            (
                "col:value^2 pre*",
                Some("\"col\" OR \"value\" OR \"2\" OR \"pre\""),
            ),
            ("say \"hi\" -now", Some("\"say\" OR \"hi\" OR \"now\"")),
            ("Café naïve", Some("\"café\" OR \"naïve\"")),
            ("東京 2026", Some("\"東京\" OR \"2026\"")),
            ("it's", Some("\"s\"")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                build_match_query(input).as_deref(),
                *expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn long_texts_are_capped() {
        let text: Vec<String> = (0..200).map(|i| format!("word{i}")).collect();
        assert_eq!(terms(&text.join(" ")).len(), MAX_TERMS);
    }
}
