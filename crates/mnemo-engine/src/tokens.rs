//! Token counting with a real BPE tokenizer (OpenAI's `cl100k_base`, embedded in the
//! binary: no download). Counts are used for turn records and prompt budgets; they are
//! exact for OpenAI models and a close estimate for others, far better than word counts.
//! The vocabulary is loaded once, on first use, so commands that never count tokens do
//! not pay for it.

use tiktoken_rs::cl100k_base_singleton;

/// Number of tokens in `text`.
pub fn count(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let n = cl100k_base_singleton().encode_ordinary(text).len();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bpe_tokens_not_words() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        // A long unusual word is several tokens but one word.
        assert!(count("antidisestablishmentarianism") > 1);
    }
}
