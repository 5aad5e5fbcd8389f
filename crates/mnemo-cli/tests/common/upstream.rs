//! The fake model server (`tests/python/fake_openai_upstream.py`): OpenAI's and
//! Anthropic's wire formats, exactly, with a log of what it received at `/_log`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::pyenv;

/// The fake upstream, killed when dropped.
pub struct Upstream {
    child: Child,
    pub url: String,
}

impl Upstream {
    pub fn start(python: &std::path::Path) -> Upstream {
        let mut child = Command::new(python)
            .arg(pyenv::script("fake_openai_upstream.py"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("the fake upstream did not start: {line:?}"))
            .trim()
            .to_owned();
        Upstream {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
