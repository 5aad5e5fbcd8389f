//! Reading what the person types: a real line editor with history on a terminal, plain
//! lines from a pipe otherwise (so scripts and tests can drive a whole session). Both join
//! continued lines (`\` at the end) and `"""` blocks into one input. A block pasted at
//! once (bracketed paste hands it over as one string with its newlines) is taken apart
//! line by line, so its delimiters are dropped the same way and nothing after the closing
//! `"""` is lost: it is the next input.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Result;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;

/// What reading produced.
pub enum Read {
    Line(String),
    /// Ctrl-C at the prompt: discard the line.
    Interrupted,
    /// Ctrl-D or end of input.
    Eof,
}

/// Where lines come from.
enum Source {
    Terminal {
        editor: Box<Editor<(), FileHistory>>,
        history: Option<PathBuf>,
    },
    Pipe(Box<dyn BufRead>),
}

/// A source of input lines.
pub struct Reader {
    source: Source,
    /// Lines already received (the rest of a pasted block) and not yet read.
    pending: VecDeque<String>,
}

const DELIMITER: &str = "\"\"\"";

impl Reader {
    /// A line editor with history kept in `history`.
    pub fn terminal(history: Option<PathBuf>) -> Result<Reader> {
        let mut editor = Editor::<(), FileHistory>::new()?;
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        Ok(Reader::new(Source::Terminal {
            editor: Box::new(editor),
            history,
        }))
    }

    /// Lines from stdin.
    pub fn pipe() -> Reader {
        Reader::lines(Box::new(std::io::stdin().lock()))
    }

    /// Lines from any reader.
    pub fn lines(r: Box<dyn BufRead>) -> Reader {
        Reader::new(Source::Pipe(r))
    }

    fn new(source: Source) -> Reader {
        Reader {
            source,
            pending: VecDeque::new(),
        }
    }

    /// Whether prompts and decorations should be shown.
    pub fn interactive(&self) -> bool {
        matches!(self.source, Source::Terminal { .. })
    }

    /// Reads one input, joining continuation lines and `"""` blocks.
    pub fn read(&mut self, prompt: &str) -> Result<Read> {
        let first = match self.raw(prompt)? {
            Read::Line(l) => self.unpaste(l),
            other => return Ok(other),
        };
        let joined = if first.trim() == DELIMITER {
            self.block()?
        } else {
            self.continued(first)?
        };
        if let Source::Terminal { editor, .. } = &mut self.source {
            if !joined.trim().is_empty() {
                let _ = editor.add_history_entry(joined.as_str());
            }
        }
        Ok(Read::Line(joined))
    }

    /// A pasted block arrives as one string: its first line is returned and the others
    /// wait in `pending`. Any other multi-line paste is one message, as pasted.
    fn unpaste(&mut self, text: String) -> String {
        let mut lines = text.lines();
        match lines.next() {
            Some(head) if text.contains('\n') && head.trim() == DELIMITER => {
                let head = head.to_owned();
                self.pending.extend(lines.map(str::to_owned));
                head
            }
            _ => text,
        }
    }

    /// Saves the history file.
    pub fn save(&mut self) {
        if let Source::Terminal {
            editor,
            history: Some(h),
        } = &mut self.source
        {
            if let Some(dir) = h.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.save_history(h);
        }
    }

    fn continued(&mut self, mut line: String) -> Result<String> {
        while line.ends_with('\\') {
            line.pop();
            line.push('\n');
            match self.raw("... ")? {
                Read::Line(next) => line.push_str(&next),
                _ => break,
            }
        }
        Ok(line)
    }

    fn block(&mut self) -> Result<String> {
        let mut lines = Vec::new();
        while let Read::Line(l) = self.raw("... ")? {
            if l.trim() == DELIMITER {
                break;
            }
            lines.push(l);
        }
        Ok(lines.join("\n"))
    }

    fn raw(&mut self, prompt: &str) -> Result<Read> {
        if let Some(l) = self.pending.pop_front() {
            return Ok(Read::Line(l));
        }
        match &mut self.source {
            Source::Terminal { editor, .. } => match editor.readline(prompt) {
                Ok(l) => Ok(Read::Line(l)),
                Err(ReadlineError::Interrupted) => Ok(Read::Interrupted),
                Err(ReadlineError::Eof) => Ok(Read::Eof),
                Err(e) => Err(e.into()),
            },
            Source::Pipe(r) => {
                let mut l = String::new();
                if r.read_line(&mut l)? == 0 {
                    return Ok(Read::Eof);
                }
                Ok(Read::Line(l.trim_end_matches(['\n', '\r']).to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(reader: &mut Reader) -> Vec<String> {
        let mut out = Vec::new();
        while let Read::Line(l) = reader.read("").unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn typed_blocks_and_continuations_are_joined() {
        let text = "hello\n\"\"\"\nline one\n  line two\n\"\"\"\na \\\nb\n";
        let mut r = Reader::lines(Box::new(std::io::Cursor::new(text)));
        assert_eq!(all(&mut r), ["hello", "line one\n  line two", "a \nb"]);
    }

    #[test]
    fn a_pasted_block_keeps_its_lines_and_drops_its_delimiters() {
        let mut r = Reader::lines(Box::new(std::io::Cursor::new("after\n")));
        // What rustyline returns for a bracketed paste of a whole block and a bit more.
        let first = r.unpaste("\"\"\"\nline one\n\nline three\n\"\"\"\nnext".into());
        assert_eq!(first, DELIMITER);
        assert_eq!(r.block().unwrap(), "line one\n\nline three");
        assert_eq!(all(&mut r), ["next", "after"]);
        // A paste without delimiters is one message, newlines kept.
        assert_eq!(r.unpaste("a\nb".into()), "a\nb");
    }
}
