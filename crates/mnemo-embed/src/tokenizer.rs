//! BERT-uncased WordPiece tokenisation, the same as Hugging Face's `BertNormalizer` +
//! `BertPreTokenizer` + `WordPiece` for all-MiniLM-L6-v2, without the `tokenizers` crate
//! (which pulls in regex, rayon and friends for what is a hundred lines here).
//!
//! Steps: drop control characters and map whitespace to spaces, put spaces around CJK
//! ideographs, strip accents (NFD, drop non-spacing marks), lowercase; split on whitespace
//! and isolate every punctuation character; then greedy longest-match against the vocabulary,
//! continuation pieces spelled `##piece`. A word that cannot be covered (or is longer than 100
//! characters) becomes `[UNK]`, which the static embedder skips, so it yields no ids here.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Longest word WordPiece tries to split; longer ones are unknown (as in BERT).
const MAX_WORD_CHARS: usize = 100;
const CONTINUATION: &str = "##";

/// Lookups dominate tokenisation; the vocabulary is fixed and not attacker-chosen, so a
/// multiplicative hash (FxHash's) is safe here and about 3x cheaper than SipHash.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type PieceMap = HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>>;

/// A WordPiece vocabulary: token id = position in the list it was built from.
#[derive(Debug, Clone)]
pub struct WordPiece {
    /// Word-initial pieces (`play`).
    initial: PieceMap,
    /// Continuation pieces stored without their `##` (`##ing` is stored as `ing`).
    continuation: PieceMap,
    /// Longest piece in bytes: longer candidates are not looked up.
    max_piece_bytes: usize,
    tokens: Vec<Box<str>>,
}

impl WordPiece {
    /// Builds the vocabulary; the i-th token gets id i.
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        let tokens: Vec<Box<str>> = tokens.into_iter().map(Box::from).collect();
        let mut initial = PieceMap::default();
        let mut continuation = PieceMap::default();
        for (id, tok) in tokens.iter().enumerate() {
            let id = id as u32;
            match tok.strip_prefix(CONTINUATION) {
                Some(rest) if !rest.is_empty() => continuation.entry(rest.into()).or_insert(id),
                _ => initial.entry(tok.clone()).or_insert(id),
            };
        }
        let max_piece_bytes = tokens.iter().map(|t| t.len()).max().unwrap_or(0);
        WordPiece {
            initial,
            continuation,
            max_piece_bytes,
            tokens,
        }
    }

    /// Number of tokens in the vocabulary.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when the vocabulary has no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token spelled by `id`, if any.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(|t| &**t)
    }

    /// Appends the ids of `text`'s known pieces to `out` (unknown words are skipped).
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        self.encode_impl(text, None, out);
    }

    /// Like [`WordPiece::encode_into`] but an unknown word becomes `unk` (what a transformer
    /// needs: it must see that something was there).
    pub fn encode_with_unknown(&self, text: &str, unk: u32, out: &mut Vec<u32>) {
        self.encode_impl(text, Some(unk), out);
    }

    /// The id of `token` as a whole word (e.g. `[CLS]`), if the vocabulary has it.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.initial.get(token).copied()
    }

    fn encode_impl(&self, text: &str, unk: Option<u32>, out: &mut Vec<u32>) {
        let normal = normalize(text);
        for word in pre_tokenize(&normal) {
            if !self.word_pieces(word, out) {
                out.extend(unk);
            }
        }
    }

    /// The ids of `text`'s known pieces.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out);
        out
    }

    /// The pieces of `text` as strings (`##` on continuations); for tests and debugging.
    pub fn pieces(&self, text: &str) -> Vec<&str> {
        self.encode(text)
            .into_iter()
            .filter_map(|id| self.token(id))
            .collect()
    }

    /// Appends `word`'s pieces; false (and nothing appended) when it cannot be covered.
    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) -> bool {
        if word.is_ascii() {
            // Every byte is a character: no boundary table needed (the common case).
            return word.len() <= MAX_WORD_CHARS && self.greedy(word, word.len(), |i| i, out);
        }
        // Byte offsets of char boundaries, so slicing never splits a character.
        let mut bounds: Vec<usize> = word.char_indices().map(|(i, _)| i).collect();
        if bounds.len() > MAX_WORD_CHARS {
            return false;
        }
        bounds.push(word.len());
        self.greedy(word, bounds.len() - 1, |i| bounds[i], out)
    }

    /// Greedy longest-match over `chars` characters; `at(i)` is the byte offset of char i.
    fn greedy(
        &self,
        word: &str,
        chars: usize,
        at: impl Fn(usize) -> usize,
        out: &mut Vec<u32>,
    ) -> bool {
        let before = out.len();
        let mut start = 0;
        while start < chars {
            let map = if start == 0 {
                &self.initial
            } else {
                &self.continuation
            };
            let from = at(start);
            let found = (start + 1..=chars)
                .rev()
                .skip_while(|end| at(*end) - from > self.max_piece_bytes)
                .find_map(|end| map.get(&word[from..at(end)]).map(|id| (end, *id)));
            match found {
                Some((end, id)) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    // As in BERT: one uncovered piece makes the whole word unknown.
                    out.truncate(before);
                    return false;
                }
            }
        }
        true
    }
}

/// `BertNormalizer` with lowercase = true (which implies accent stripping).
pub fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    if cleaned.is_ascii() {
        cleaned.make_ascii_lowercase();
        return cleaned;
    }
    let mut out = String::with_capacity(cleaned.len());
    for c in cleaned
        .nfd()
        .filter(|c| c.general_category() != GeneralCategory::NonspacingMark)
    {
        out.extend(c.to_lowercase());
    }
    out
}

/// `BertPreTokenizer`: whitespace-separated words, every punctuation character on its own.
pub fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_whitespace)
        .filter(|w| !w.is_empty())
        .flat_map(split_punctuation)
}

fn split_punctuation(word: &str) -> PunctuationSplit<'_> {
    PunctuationSplit { rest: word }
}

/// Splits a word into runs of non-punctuation and single punctuation characters, lazily.
struct PunctuationSplit<'a> {
    rest: &'a str,
}

impl<'a> Iterator for PunctuationSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let len = match self.rest.char_indices().find(|(_, c)| is_punctuation(*c)) {
            Some((0, c)) => c.len_utf8(),
            Some((i, _)) => i,
            None => self.rest.len(),
        };
        let (piece, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(piece)
    }
}

fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

fn is_control(c: char) -> bool {
    if c.is_ascii() {
        // ASCII "Other" characters are exactly the C0 controls and DEL.
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    c.general_category_group() == GeneralCategoryGroup::Other
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || (!c.is_ascii() && c.general_category_group() == GeneralCategoryGroup::Punctuation)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}
