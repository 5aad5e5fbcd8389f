//! Token counting with a real BPE tokenizer (OpenAI's `cl100k_base`, embedded in the
//! binary: no download). Counts are used for turn records and prompt budgets; they are
//! exact for OpenAI models and a close estimate for others, far better than word counts.
//!
//! Why recording a turn may leave its count for later: building the tokenizer's tables
//! takes about 50 ms, more than everything else `mnemo turn add` does, and a hook that
//! records every turn of an agent pays it each time. So a turn is counted when it is
//! recorded only if this process has the tokenizer loaded already (a chat, a server);
//! otherwise it is stored with 0, which means "not counted yet" (a turn's text is never
//! empty, so it always has at least one token), and counted where the count is needed:
//! context assembly reads counts through [`of_turn`].

use std::sync::OnceLock;

use mnemo_core::Turn;
use tiktoken_rs::CoreBPE;

static BPE: OnceLock<CoreBPE> = OnceLock::new();

fn bpe() -> &'static CoreBPE {
    // The vocabulary is compiled into the binary; failing to parse it is a build defect.
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().expect("the embedded cl100k vocabulary parses"))
}

/// Number of tokens in `text` (loads the tokenizer on first use).
pub fn count(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let n = bpe().encode_ordinary(text).len();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The count to store with a new turn: exact when this process has loaded the tokenizer
/// already, else 0 ("not counted yet"; see the module docs).
pub fn count_if_loaded(text: &str) -> u32 {
    match BPE.get() {
        Some(_) => count(text),
        None => 0,
    }
}

/// A turn's token count: the stored one, or counted now when it was recorded uncounted.
pub fn of_turn(turn: &Turn) -> u32 {
    match turn.tokens {
        0 => count(&turn.content),
        n => n,
    }
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
        // Loaded now: records are counted at once.
        assert_eq!(count_if_loaded("hello world"), 2);
    }
}
