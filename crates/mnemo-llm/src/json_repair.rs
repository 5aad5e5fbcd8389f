//! Getting JSON out of what a model actually wrote.
//!
//! Schema-constrained decoding makes this mostly unnecessary for hosted models, but small
//! local models (and servers without schema support) still wrap JSON in code fences, add
//! prose around it, use single quotes, Python literals, unquoted keys or trailing commas,
//! and run out of tokens in the middle of an array. [`extract_json`] accepts all of that:
//!
//! 1. the whole text, if it is valid JSON, is returned as is;
//! 2. else the first fenced block (```` ```json ... ``` ````), if it holds a complete value;
//! 3. else each `{` or `[` in the text is tried as the start of a value with a tolerant
//!    scanner that rewrites the quirks above into strict JSON; the candidate that covers
//!    the most text wins, so a stray `[1]` in the prose does not hide the real answer.
//!
//! When the text ends inside a value (truncation), the largest valid prefix is kept:
//! a partial element of an array is dropped whole (a half-written memory is worse than
//! none), while an object that is not an array element keeps its complete members.
//! Scalars (`42`, `"text"`) are only recognised when they are the whole text or a fenced
//! block: inside prose they cannot be told apart from the prose.

use serde_json::Value;

/// Why no JSON could be extracted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonRepairError {
    /// There is no `{` or `[` that starts anything JSON-like.
    #[error("no JSON object or array in the text")]
    NotFound,
    /// Something JSON-like is there but could not be repaired; the reason is attached.
    #[error("JSON could not be repaired: {0}")]
    Invalid(String),
}

/// How many `{`/`[` positions are tried before giving up (bounds the work on long prose).
const MAX_CANDIDATES: usize = 64;

/// Extracts a JSON value from a model's reply; see the module docs for what is repaired.
pub fn extract_json(raw: &str) -> Result<Value, JsonRepairError> {
    let text = raw.trim();
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    if let Some(inner) = fenced_block(text) {
        if let Ok(value) = serde_json::from_str(inner.trim()) {
            return Ok(value);
        }
        if let Ok(Scan {
            value,
            truncated: false,
            ..
        }) = best_candidate(inner)
        {
            return Ok(value);
        }
    }
    best_candidate(text).map(|scan| scan.value)
}

/// The body of the first ```` ``` ```` fence (language tag skipped), up to the closing
/// fence or the end of the text when the reply was cut off inside it. As in Markdown, a
/// fence opens a line (after indentation only): three backticks inside a JSON string are
/// text, not a fence.
fn fenced_block(text: &str) -> Option<&str> {
    let start = line_fence(text)?;
    let after = &text[start + 3..];
    let body = &after[after.find('\n').map_or(after.len(), |i| i + 1)..];
    Some(line_fence(body).map_or(body, |end| &body[..end]))
}

/// Where the first ```` ``` ```` that begins a line (after indentation only) starts.
fn line_fence(text: &str) -> Option<usize> {
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if line[indent..].starts_with("```") {
            return Some(line_start + indent);
        }
        line_start += line.len();
    }
    None
}

/// One successfully scanned candidate.
#[derive(Debug)]
struct Scan {
    value: Value,
    /// Bytes of the input the value covers.
    consumed: usize,
    truncated: bool,
}

fn best_candidate(text: &str) -> Result<Scan, JsonRepairError> {
    let mut best: Option<Scan> = None;
    let mut first_error = None;
    let mut skip_until = 0;
    let mut tried = 0;
    for (start, c) in text.char_indices() {
        if (c != '{' && c != '[') || start < skip_until {
            continue; // a start nested inside a value already found is always shorter
        }
        if tried == MAX_CANDIDATES {
            break;
        }
        tried += 1;
        match Repairer::new(&text[start..]).run() {
            Ok(scan) => {
                skip_until = start + scan.consumed;
                let truncated = scan.truncated;
                if best.as_ref().is_none_or(|b| scan.consumed > b.consumed) {
                    best = Some(scan);
                }
                if truncated {
                    break; // it ran to the end of the text
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    best.ok_or(first_error.unwrap_or(JsonRepairError::NotFound))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Array,
    Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    Key,
    Colon,
    /// After a value: `,` or the container's close (or, at the root, done).
    Next,
}

/// Why scanning stopped early.
enum Stop {
    /// The text ended inside a value.
    Eof,
    Invalid(String),
}

type Step = Result<(), Stop>;

/// Rewrites one JSON-ish value into strict JSON, remembering the last point where the
/// output could be closed into a valid prefix.
struct Repairer<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    stack: Vec<Frame>,
    expect: Expect,
    /// Output length and open containers at the last safe cut.
    cut: Option<(usize, Vec<Frame>)>,
}

impl<'a> Repairer<'a> {
    fn new(src: &'a str) -> Self {
        Repairer {
            src,
            pos: 0,
            out: String::with_capacity(src.len()),
            stack: Vec::new(),
            expect: Expect::Value,
            cut: None,
        }
    }

    fn run(mut self) -> Result<Scan, JsonRepairError> {
        while !(self.stack.is_empty() && self.expect == Expect::Next) {
            match self.step() {
                Ok(()) => {}
                Err(Stop::Eof) => return self.close_truncated(),
                Err(Stop::Invalid(why)) => return Err(JsonRepairError::Invalid(why)),
            }
        }
        let value =
            serde_json::from_str(&self.out).map_err(|e| JsonRepairError::Invalid(e.to_string()))?;
        Ok(Scan {
            value,
            consumed: self.pos,
            truncated: false,
        })
    }

    fn close_truncated(mut self) -> Result<Scan, JsonRepairError> {
        let (len, stack) = self.cut.take().ok_or_else(|| {
            JsonRepairError::Invalid("the text ends before any complete value".into())
        })?;
        self.out.truncate(len);
        for frame in stack.iter().rev() {
            self.out.push(match frame {
                Frame::Array => ']',
                Frame::Object => '}',
            });
        }
        let value =
            serde_json::from_str(&self.out).map_err(|e| JsonRepairError::Invalid(e.to_string()))?;
        Ok(Scan {
            value,
            consumed: self.src.len(),
            truncated: true,
        })
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn step(&mut self) -> Step {
        self.skip_blank();
        let c = self.peek().ok_or(Stop::Eof)?;
        match self.expect {
            Expect::Value => self.value(c),
            Expect::Key => self.key(c),
            Expect::Colon if c == ':' => {
                self.bump();
                self.out.push(':');
                self.expect = Expect::Value;
                Ok(())
            }
            Expect::Colon => Err(invalid(format!("expected `:`, found `{c}`"))),
            Expect::Next => self.next(c),
        }
    }

    /// Skips whitespace and `//` / `/* */` comments.
    fn skip_blank(&mut self) {
        loop {
            let rest = &self.src[self.pos..];
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if let Some(body) = trimmed.strip_prefix("/*") {
                self.pos += body.find("*/").map_or(trimmed.len(), |i| i + 4);
            } else {
                return;
            }
        }
    }

    fn value(&mut self, c: char) -> Step {
        match c {
            '{' | '[' => {
                self.bump();
                self.open(if c == '{' {
                    Frame::Object
                } else {
                    Frame::Array
                });
                Ok(())
            }
            '"' | '\'' => {
                self.string()?;
                self.value_done();
                Ok(())
            }
            '-' | '0'..='9' => {
                self.number()?;
                self.value_done();
                Ok(())
            }
            ']' if self.stack.last() == Some(&Frame::Array) => {
                self.bump();
                self.close(']');
                Ok(())
            }
            c if c.is_ascii_alphabetic() => {
                let word = self.word()?;
                let literal = match word {
                    "true" | "True" => "true",
                    "false" | "False" => "false",
                    "null" | "None" | "undefined" => "null",
                    other => return Err(invalid(format!("unexpected word `{other}`"))),
                };
                self.out.push_str(literal);
                self.value_done();
                Ok(())
            }
            other => Err(invalid(format!("unexpected `{other}`"))),
        }
    }

    fn key(&mut self, c: char) -> Step {
        match c {
            '"' | '\'' => self.string()?,
            '}' => {
                self.bump();
                self.close('}');
                return Ok(());
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let word = self.word()?.to_string();
                self.out.push('"');
                self.out.push_str(&word);
                self.out.push('"');
            }
            other => return Err(invalid(format!("expected a key, found `{other}`"))),
        }
        self.expect = Expect::Colon;
        Ok(())
    }

    fn next(&mut self, c: char) -> Step {
        let top = self.stack.last().copied();
        match (c, top) {
            (',', Some(frame)) => {
                self.bump();
                self.out.push(',');
                self.expect = if frame == Frame::Array {
                    Expect::Value
                } else {
                    Expect::Key
                };
            }
            (']', Some(Frame::Array)) | ('}', Some(Frame::Object)) => {
                self.bump();
                self.close(c);
            }
            // A missing comma between elements or members.
            ('{' | '[' | '"', Some(Frame::Array)) => {
                self.out.push(',');
                self.expect = Expect::Value;
            }
            ('"', Some(Frame::Object)) => {
                self.out.push(',');
                self.expect = Expect::Key;
            }
            (other, _) => return Err(invalid(format!("expected `,` or a close, found `{other}`"))),
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame) {
        self.out.push(if frame == Frame::Array { '[' } else { '{' });
        self.stack.push(frame);
        self.expect = if frame == Frame::Array {
            Expect::Value
        } else {
            Expect::Key
        };
        self.mark_cut();
    }

    /// Closes the innermost container, dropping a trailing comma before it.
    fn close(&mut self, c: char) {
        if self.out.ends_with(',') {
            self.out.pop();
        }
        self.out.push(c);
        self.stack.pop();
        self.value_done();
    }

    fn value_done(&mut self) {
        self.expect = Expect::Next;
        self.mark_cut();
    }

    /// Records a cut point unless an array element is still open: closing there would
    /// keep a partial element.
    fn mark_cut(&mut self) {
        let partial_element = self.stack.iter().rev().skip(1).any(|f| *f == Frame::Array);
        if !partial_element && !self.stack.is_empty() {
            self.cut = Some((self.out.len(), self.stack.clone()));
        }
    }

    /// A run of identifier characters; at the end of the text it may be cut short.
    fn word(&mut self) -> Result<&'a str, Stop> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            self.bump();
        }
        if self.peek().is_none() {
            return Err(Stop::Eof);
        }
        Ok(&self.src[start..self.pos])
    }

    /// Copies a number; serde checks its syntax at the end. At the end of the text it
    /// may be cut short (`12` of `123`), so it does not count.
    fn number(&mut self) -> Step {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.bump();
        }
        if self.peek().is_none() {
            return Err(Stop::Eof);
        }
        self.out.push_str(&self.src[start..self.pos]);
        Ok(())
    }

    /// Copies a `"` or `'` string as a strict JSON string.
    fn string(&mut self) -> Step {
        let quote = self.bump().ok_or(Stop::Eof)?;
        self.out.push('"');
        loop {
            let c = self.bump().ok_or(Stop::Eof)?;
            match c {
                c if c == quote => break,
                '\\' => self.escape()?,
                '"' => self.out.push_str("\\\""),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if (c as u32) < 0x20 => self.out.push_str(&format!("\\u{:04x}", c as u32)),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
        Ok(())
    }

    /// After a backslash: valid JSON escapes are kept, `\'` becomes `'`, anything else
    /// is kept as a literal backslash.
    fn escape(&mut self) -> Step {
        let e = self.bump().ok_or(Stop::Eof)?;
        match e {
            '\'' => self.out.push('\''),
            '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' => {
                self.out.push('\\');
                self.out.push(e);
            }
            'u' => {
                let hex = self.src.get(self.pos..self.pos + 4);
                match hex {
                    Some(h) if h.chars().all(|c| c.is_ascii_hexdigit()) => {
                        self.out.push_str("\\u");
                        self.out.push_str(h);
                        self.pos += 4;
                    }
                    None if self.src.len() - self.pos < 4 => return Err(Stop::Eof),
                    _ => self.out.push_str("\\\\u"),
                }
            }
            other => {
                self.out.push_str("\\\\");
                self.pos -= other.len_utf8();
            }
        }
        Ok(())
    }
}

fn invalid(why: String) -> Stop {
    Stop::Invalid(why)
}

#[cfg(test)]
mod tests;
