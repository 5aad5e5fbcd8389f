//! The commands a person can type inside `mnemo chat`.

/// One line of input, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A message for the model.
    Message(String),
    /// `remember KEY=VALUE` (seed 000's form).
    RememberKey(String),
    /// `/remember TEXT`.
    Remember(String),
    /// `/forget ID|QUERY`.
    Forget(String),
    /// `/memories [QUERY]`.
    Memories(Option<String>),
    Facts,
    Context,
    Summary,
    Session,
    Help,
    Quit,
    /// An unknown `/command`.
    Unknown(String),
    Empty,
}

/// The help text for `/help` (also in the docs).
pub const HELP: &str = "\
Commands:
  remember KEY=VALUE   store a keyed fact (a new value replaces the old one)
  /remember TEXT       store a memory
  /forget ID|QUERY     forget a memory by id, or those matching a query (asks first)
  /memories [QUERY]    list current memories, or search them
  /facts               keyed facts and preferences
  /context             exactly what was injected into the last prompt, with token counts
  /summary             summaries of this and past sessions
  /session             this session's id and how to resume it
  /help                this help
  /quit                end the session (also quit, exit, q, or Ctrl-D)
Ctrl-C cancels a reply in progress. A line ending in \\ continues on the next line;
\"\"\" on its own line starts and ends a multi-line message.";

/// Classifies one (already joined) input.
pub fn parse(line: &str) -> Input {
    let t = line.trim();
    if t.is_empty() {
        return Input::Empty;
    }
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), "quit" | "exit" | "q") {
        return Input::Quit;
    }
    if let Some(rest) = strip_word(t, "remember") {
        if rest.contains('=') {
            return Input::RememberKey(rest.to_string());
        }
    }
    let Some(cmd) = t.strip_prefix('/') else {
        return Input::Message(t.to_string());
    };
    let (name, arg) = match cmd.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (cmd, ""),
    };
    let arg_opt = (!arg.is_empty()).then(|| arg.to_string());
    match name.to_ascii_lowercase().as_str() {
        "remember" if !arg.is_empty() => Input::Remember(arg.to_string()),
        "forget" if !arg.is_empty() => Input::Forget(arg.to_string()),
        "memories" | "mem" => Input::Memories(arg_opt),
        "facts" => Input::Facts,
        "context" => Input::Context,
        "summary" => Input::Summary,
        "session" => Input::Session,
        "help" | "?" => Input::Help,
        "quit" | "exit" | "q" => Input::Quit,
        _ => Input::Unknown(t.to_string()),
    }
}

/// `word rest` (case-insensitive word) → `rest`.
fn strip_word<'a>(t: &'a str, word: &str) -> Option<&'a str> {
    let (head, rest) = t.split_once(char::is_whitespace)?;
    head.eq_ignore_ascii_case(word).then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let cases: &[(&str, Input)] = &[
            ("", Input::Empty),
            ("quit", Input::Quit),
            ("Q", Input::Quit),
            ("/exit", Input::Quit),
            (
                "remember user_name=Alex",
                Input::RememberKey("user_name=Alex".into()),
            ),
            (
                "remember to buy milk",
                Input::Message("remember to buy milk".into()),
            ),
            ("/remember likes tea", Input::Remember("likes tea".into())),
            ("/forget 3f7a", Input::Forget("3f7a".into())),
            ("/memories", Input::Memories(None)),
            (
                "/memories dark mode",
                Input::Memories(Some("dark mode".into())),
            ),
            ("/facts", Input::Facts),
            ("/context", Input::Context),
            ("/summary", Input::Summary),
            ("/session", Input::Session),
            ("/help", Input::Help),
            ("/remember", Input::Unknown("/remember".into())),
            ("/frobnicate", Input::Unknown("/frobnicate".into())),
            ("What is 2/3?", Input::Message("What is 2/3?".into())),
        ];
        for (line, want) in cases {
            assert_eq!(&parse(line), want, "{line:?}");
        }
    }
}
