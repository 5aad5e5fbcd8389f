//! Newline-delimited JSON, as Ollama streams it: one JSON object per line. Reading whole
//! lines from a `BufRead` means an object split across TCP reads is reassembled before it
//! is parsed.

use std::io::{self, BufRead};

use serde::de::DeserializeOwned;

/// Why the next line could not be had.
#[derive(Debug)]
pub enum NdjsonError {
    /// Reading the body failed.
    Io(io::Error),
    /// A line is not the expected JSON; holds the parse error and the line.
    Parse(String),
}

/// Reads one JSON value per line, skipping blank lines.
pub struct NdjsonReader<R> {
    inner: R,
    line: Vec<u8>,
}

impl<R: BufRead> NdjsonReader<R> {
    /// Wraps a buffered body.
    pub fn new(inner: R) -> Self {
        NdjsonReader {
            inner,
            line: Vec::new(),
        }
    }

    /// The next value, or `None` at the end of the body.
    pub fn next_value<T: DeserializeOwned>(&mut self) -> Result<Option<T>, NdjsonError> {
        loop {
            self.line.clear();
            let n = self
                .inner
                .read_until(b'\n', &mut self.line)
                .map_err(NdjsonError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            let line = self.line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            return serde_json::from_slice(line).map(Some).map_err(|e| {
                let text = String::from_utf8_lossy(line);
                NdjsonError::Parse(format!(
                    "{e} in `{}`",
                    crate::transport::snippet(&text, 200)
                ))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_skips_blanks() {
        let body = "{\"n\":1}\n\n  {\"n\":2}\r\n{\"n\":3}";
        let mut reader = NdjsonReader::new(body.as_bytes());
        let mut got = Vec::new();
        while let Some(v) = reader.next_value::<serde_json::Value>().unwrap() {
            got.push(v["n"].as_i64().unwrap());
        }
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn a_bad_line_is_a_parse_error_naming_it() {
        let mut reader = NdjsonReader::new("not json\n".as_bytes());
        match reader.next_value::<serde_json::Value>() {
            Err(NdjsonError::Parse(msg)) => assert!(msg.contains("`not json`"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
