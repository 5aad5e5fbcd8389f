//! Reading what the person types: a real line editor with history on a terminal, plain
//! lines from a pipe otherwise (so scripts and tests can drive a whole session). Both join
//! continued lines (`\` at the end) and `"""` blocks into one input.

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

/// A source of input lines.
pub enum Reader {
    Terminal {
        editor: Box<Editor<(), FileHistory>>,
        history: Option<PathBuf>,
    },
    Pipe(Box<dyn BufRead>),
}

impl Reader {
    /// A line editor with history kept in `history`.
    pub fn terminal(history: Option<PathBuf>) -> Result<Reader> {
        let mut editor = Editor::<(), FileHistory>::new()?;
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        Ok(Reader::Terminal {
            editor: Box::new(editor),
            history,
        })
    }

    /// Lines from stdin.
    pub fn pipe() -> Reader {
        Reader::Pipe(Box::new(std::io::stdin().lock()))
    }

    /// Whether prompts and decorations should be shown.
    pub fn interactive(&self) -> bool {
        matches!(self, Reader::Terminal { .. })
    }

    /// Reads one input, joining continuation lines and `"""` blocks.
    pub fn read(&mut self, prompt: &str) -> Result<Read> {
        let first = match self.raw(prompt)? {
            Read::Line(l) => l,
            other => return Ok(other),
        };
        let joined = if first.trim() == "\"\"\"" {
            self.block()?
        } else {
            self.continued(first)?
        };
        if let Reader::Terminal { editor, .. } = self {
            if !joined.trim().is_empty() {
                let _ = editor.add_history_entry(joined.as_str());
            }
        }
        Ok(Read::Line(joined))
    }

    /// Saves the history file.
    pub fn save(&mut self) {
        if let Reader::Terminal {
            editor,
            history: Some(h),
        } = self
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
            if l.trim() == "\"\"\"" {
                break;
            }
            lines.push(l);
        }
        Ok(lines.join("\n"))
    }

    fn raw(&mut self, prompt: &str) -> Result<Read> {
        match self {
            Reader::Terminal { editor, .. } => match editor.readline(prompt) {
                Ok(l) => Ok(Read::Line(l)),
                Err(ReadlineError::Interrupted) => Ok(Read::Interrupted),
                Err(ReadlineError::Eof) => Ok(Read::Eof),
                Err(e) => Err(e.into()),
            },
            Reader::Pipe(r) => {
                let mut l = String::new();
                if r.read_line(&mut l)? == 0 {
                    return Ok(Read::Eof);
                }
                Ok(Read::Line(l.trim_end_matches(['\n', '\r']).to_string()))
            }
        }
    }
}
