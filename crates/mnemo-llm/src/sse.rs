//! Server-sent events, as OpenAI and Anthropic stream them: `event:` and `data:` lines,
//! a blank line ends an event, `:` starts a comment. The reader works line by line over a
//! `BufRead`, so an event split across TCP reads (even mid-line) comes out whole.
//! Only what the providers use is implemented: `id:` and `retry:` are ignored, and lines
//! end with `\n` or `\r\n` (a lone `\r` is not a line end here).

use std::io::{self, BufRead};

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty when the server sent none (OpenAI never does).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Reads events one at a time.
pub struct SseReader<R> {
    inner: R,
    line: Vec<u8>,
}

impl<R: BufRead> SseReader<R> {
    /// Wraps a buffered body.
    pub fn new(inner: R) -> Self {
        SseReader {
            inner,
            line: Vec::new(),
        }
    }

    /// The next event, or `None` at the end of the body. An event cut off by the end of
    /// the body is still returned (servers that omit the final blank line exist).
    pub fn next_event(&mut self) -> io::Result<Option<SseEvent>> {
        let mut event = SseEvent::default();
        let mut has_data = false;
        loop {
            self.line.clear();
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return Ok((has_data || !event.event.is_empty()).then_some(event));
            }
            let text = String::from_utf8_lossy(&self.line);
            let text = text.trim_end_matches('\n').trim_end_matches('\r');
            if text.is_empty() {
                if has_data || !event.event.is_empty() {
                    return Ok(Some(event));
                }
                continue;
            }
            let (field, value) = split_field(text);
            match field {
                "event" => event.event = value.to_string(),
                "data" => {
                    if has_data {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                    has_data = true;
                }
                _ => {} // comments (`: ping`), id, retry, unknown fields
            }
        }
    }
}

/// `field: value` with at most one space after the colon removed, per the SSE spec.
fn split_field(line: &str) -> (&str, &str) {
    match line.split_once(':') {
        Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
        None => (line, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Vec<SseEvent> {
        let mut reader = SseReader::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(e) = reader.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn openai_style_data_only() {
        let got = events("data: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(got, vec![ev("", "{\"a\":1}"), ev("", "[DONE]")]);
    }

    #[test]
    fn anthropic_style_with_event_names_crlf_and_comments() {
        let text = ": ping\r\nevent: message_start\r\ndata: {}\r\n\r\n\r\nevent: ping\ndata:x\n\n";
        assert_eq!(
            events(text),
            vec![ev("message_start", "{}"), ev("ping", "x")]
        );
    }

    #[test]
    fn multi_line_data_and_unterminated_last_event() {
        let got = events("data: one\ndata:  two\nid: 7\n\ndata: tail");
        assert_eq!(got, vec![ev("", "one\n two"), ev("", "tail")]);
        assert!(events("\n\n: only a comment\n").is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut reader = SseReader::new(&b"data: \xff\n\n"[..]);
        let e = reader.next_event().unwrap().unwrap();
        assert_eq!(e.data, "\u{fffd}");
    }
}
