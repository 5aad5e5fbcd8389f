//! Hides seed 002's `[MEMORY: kind|content]` tags from a reply while it streams. Text is
//! passed through at once except from a `[` that could still start a tag: that part is held
//! back until it either closes (`]`, parsed as a tag and dropped) or stops looking like a tag
//! (released as is). Tags never span lines, so a newline always releases what is held.

/// How the tag protocol's opening must look (case-insensitive, spaces allowed after `[`).
const OPENER: &str = "memory:";

/// A streaming filter; feed it tokens, print what it returns.
#[derive(Debug, Default)]
pub struct TagFilter {
    held: String,
}

impl TagFilter {
    /// Processes a piece of the reply and returns the text safe to show now.
    pub fn push(&mut self, piece: &str) -> String {
        let mut shown = String::new();
        for c in piece.chars() {
            if self.held.is_empty() {
                if c == '[' {
                    self.held.push(c);
                } else {
                    shown.push(c);
                }
                continue;
            }
            self.held.push(c);
            if c == '\n' {
                shown.push_str(&std::mem::take(&mut self.held));
            } else if c == ']' && !self.held.ends_with("\\]") {
                shown.push_str(&self.close());
            } else if !could_be_tag(&self.held) {
                shown.push_str(&self.release());
            }
        }
        shown
    }

    /// Flushes whatever is held at the end of the reply.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The held text ended with `]`: drop it if it is a well-formed tag.
    fn close(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        let (rest, tags) = mnemo_llm::parse_memory_tags(&held);
        if tags.is_empty() {
            held
        } else {
            rest
        }
    }

    /// The held text cannot be a tag: release it, re-scanning from any later `[`.
    fn release(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        let (first, rest) = held.split_at(1);
        let mut out = first.to_string();
        out.push_str(&self.push(rest));
        out
    }
}

/// Whether `held` (starting with `[`) is still a possible tag prefix.
fn could_be_tag(held: &str) -> bool {
    let body = held[1..].trim_start().to_ascii_lowercase();
    if body.len() <= OPENER.len() {
        OPENER.starts_with(&body)
    } else {
        body.starts_with(OPENER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&str]) -> String {
        let mut f = TagFilter::default();
        let mut out: String = pieces.iter().map(|p| f.push(p)).collect();
        out.push_str(&f.finish());
        out
    }

    #[test]
    fn tags_split_across_tokens_are_hidden() {
        let out = run(&[
            "Sure thing. [MEM",
            "ORY: preference|likes con",
            "cise answers] Anything else?",
        ]);
        assert!(!out.contains("MEMORY"), "{out}");
        assert!(
            out.starts_with("Sure thing.") && out.ends_with("Anything else?"),
            "{out}"
        );
    }

    #[test]
    fn ordinary_brackets_pass_through() {
        for text in [
            "see [1] and [note]",
            "array[0] = x",
            "[unclosed",
            "[memo]",
            "[x\n]",
        ] {
            assert_eq!(run(&[text]), text);
            let pieces: Vec<String> = text.chars().map(String::from).collect();
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            assert_eq!(run(&refs), text, "char by char: {text}");
        }
    }

    #[test]
    fn a_bracket_inside_a_released_prefix_is_rescanned() {
        let out = run(&["[me[memory: fact|x] done"]);
        assert_eq!(out.trim(), "[me done".trim());
    }
}
