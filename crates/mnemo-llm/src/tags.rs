//! The inline memory protocol (seed 002): the chat model is told to note what it learns
//! as `[MEMORY: kind|content]` on its own line, so facts are captured without a second
//! extraction call. [`parse_memory_tags`] takes them out of the reply shown to the user.
//!
//! The grammar, and the choices made where models are sloppy:
//! - `[`, optional spaces, `MEMORY` in any case, optional spaces, `:`, the kind, `|`, the
//!   content, `]`. Spaces around the kind and the content are ignored, so
//!   `[memory:fact | x]` is the same as `[MEMORY: fact|x]`.
//! - The kind is a word of ASCII letters, digits, `_` or `-` (at most 32), starting with a
//!   letter; it is returned lowercase. Whether it is a known kind is the engine's business.
//! - The content runs to the first unescaped `]`; it may contain `|` and `[`. Inside it,
//!   `\]` stands for `]` and `\\` for `\`; any other backslash is kept as is, so Windows
//!   paths survive. [`format_memory_tag`] escapes accordingly, so tags round-trip.
//! - A tag lives on one line: a newline before the closing `]` makes it malformed. This
//!   keeps a stray `[MEMORY:` from swallowing the rest of the reply.
//! - Anything malformed (no `|`, empty kind or content, bad kind, no `]`) stays in the
//!   text untouched, so the user sees it rather than it silently disappearing.
//!
//! Removing a tag tidies only the whitespace it leaves behind: a line that held only tags
//! disappears, an inline tag takes one side's spaces with it. Text without tags is
//! returned unchanged.

/// One `[MEMORY: kind|content]` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryTag {
    /// Lowercase kind word (`fact`, `preference`, or any custom word).
    pub kind: String,
    /// The content, trimmed and unescaped.
    pub content: String,
}

/// Longest accepted kind word.
const MAX_KIND_LEN: usize = 32;

/// Splits a model reply into the text to show and the memory tags it contained.
pub fn parse_memory_tags(reply: &str) -> (String, Vec<MemoryTag>) {
    let mut tags = Vec::new();
    let mut out = String::with_capacity(reply.len());
    let mut rest = reply;
    while let Some(open) = rest.find('[') {
        let Some((tag, len)) = parse_tag(&rest[open..]) else {
            out.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        };
        out.push_str(&rest[..open]);
        rest = tidy_around(&mut out, &rest[open + len..]);
        tags.push(tag);
    }
    out.push_str(rest);
    if tags.is_empty() {
        return (reply.to_string(), tags);
    }
    (out.trim().to_string(), tags)
}

/// Writes a tag that [`parse_memory_tags`] reads back as `tag`. Newlines in the content
/// become spaces (a tag is one line).
pub fn format_memory_tag(tag: &MemoryTag) -> String {
    let mut content = String::with_capacity(tag.content.len());
    for c in tag.content.trim().chars() {
        match c {
            '\\' => content.push_str("\\\\"),
            ']' => content.push_str("\\]"),
            '\n' | '\r' => content.push(' '),
            c => content.push(c),
        }
    }
    format!("[MEMORY: {}|{}]", tag.kind, content)
}

/// Parses a tag at the start of `s` (which starts with `[`); returns it and its length.
fn parse_tag(s: &str) -> Option<(MemoryTag, usize)> {
    let after_bracket = s[1..].trim_start_matches([' ', '\t']);
    let word = after_bracket.get(..6)?;
    if !word.eq_ignore_ascii_case("memory") {
        return None;
    }
    let after_colon = after_bracket[6..]
        .trim_start_matches([' ', '\t'])
        .strip_prefix(':')?;
    let colon_end = s.len() - after_colon.len();
    // A tag is one line, which also bounds the work per `[`.
    let line = &after_colon[..after_colon.find(['\n', '\r']).unwrap_or(after_colon.len())];
    let (kind_raw, after_pipe) = line.split_once('|')?;
    let kind = kind_raw.trim_matches([' ', '\t']);
    if !valid_kind(kind) {
        return None;
    }
    let (content, content_len) = read_content(after_pipe)?;
    let content = content.trim().to_string();
    if content.is_empty() {
        return None;
    }
    let consumed = colon_end + kind_raw.len() + 1 + content_len;
    let tag = MemoryTag {
        kind: kind.to_ascii_lowercase(),
        content,
    };
    Some((tag, consumed))
}

fn valid_kind(kind: &str) -> bool {
    kind.len() <= MAX_KIND_LEN
        && kind.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads the content up to the first unescaped `]`; returns it unescaped and the bytes
/// consumed including the `]`. `None` at a newline or the end of the text.
fn read_content(s: &str) -> Option<(String, usize)> {
    let mut content = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ']' => return Some((content, i + 1)),
            '\n' | '\r' => return None,
            '\\' => match chars.peek() {
                Some(&(_, e @ (']' | '\\'))) => {
                    content.push(e);
                    chars.next();
                }
                _ => content.push('\\'),
            },
            c => content.push(c),
        }
    }
    None
}

/// Cleans the whitespace a removed tag leaves between `out` and `rest`; returns the part
/// of `rest` still to copy. Only whitespace is ever dropped.
fn tidy_around<'a>(out: &mut String, rest: &'a str) -> &'a str {
    let line_start = out.rfind('\n').map_or(0, |i| i + 1);
    let before_blank = out[line_start..].trim_matches([' ', '\t']).is_empty();
    let rest_trimmed = rest.trim_start_matches([' ', '\t']);
    let after_blank = rest_trimmed.is_empty() || rest_trimmed.starts_with(['\n', '\r']);
    if before_blank && after_blank {
        // The tag had the line to itself: drop the line, and do not leave two blank
        // lines where the tag's line separated two paragraphs.
        out.truncate(line_start);
        let rest = rest_trimmed.strip_prefix('\r').unwrap_or(rest_trimmed);
        let rest = rest.strip_prefix('\n').unwrap_or(rest);
        return if out.is_empty() || out.ends_with("\n\n") {
            rest.trim_start_matches(['\n', '\r'])
        } else {
            rest
        };
    }
    if before_blank {
        return rest_trimmed; // the tag opened the line: the text after it moves up
    }
    let attached = rest_trimmed.starts_with(|c: char| ".,;:!?)".contains(c));
    if after_blank || attached {
        // `noted [tag]` -> `noted`; `word [tag].` -> `word.`
        let kept = out.trim_end_matches([' ', '\t']).len();
        out.truncate(kept);
        return rest_trimmed;
    }
    if out.ends_with([' ', '\t']) && rest.starts_with([' ', '\t']) {
        // `word [tag] word` -> `word word`
        let kept = out.trim_end_matches([' ', '\t']).len();
        out.truncate(kept);
    }
    rest
}

#[cfg(test)]
mod tests;
