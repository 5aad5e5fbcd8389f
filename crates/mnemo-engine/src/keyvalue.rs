//! The `KEY=VALUE` form of `remember` (seed 000's `remember user_name=Alex`): one fact per
//! key, where a new value supersedes the old one.

use mnemo_core::{Error, Result};

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 64;

/// Whether `text` is meant as `KEY=VALUE`: a key-like word, `=`, then anything. Text such
/// as "2+2=4" or "a = b is an equation" is not treated as a key.
pub fn looks_like_key_value(text: &str) -> bool {
    match text.split_once('=') {
        Some((k, _)) => {
            let k = k.trim();
            !k.is_empty() && !k.contains(char::is_whitespace) && valid_key(k).is_ok()
        }
        None => false,
    }
}

/// Checks a key: letters, digits, `_`, `-`, `.`; starts with a letter; at most 64 chars.
pub fn valid_key(key: &str) -> Result<String> {
    let key = key.trim();
    let ok = key.chars().next().is_some_and(|c| c.is_alphabetic())
        && key.len() <= MAX_KEY_LEN
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(key.to_lowercase())
    } else {
        Err(Error::invalid(
            "key",
            format!("`{key}` is not a key; use a word of letters, digits, `_`, `-` or `.` starting with a letter (e.g. user_name)"),
        ))
    }
}

/// Splits `KEY=VALUE`, checking both parts.
pub fn parse(text: &str) -> Result<(String, String)> {
    let (k, v) = text.split_once('=').ok_or_else(|| {
        Error::invalid(
            "KEY=VALUE",
            format!("`{text}` has no `=`; write it as KEY=VALUE, e.g. user_name=Alex"),
        )
    })?;
    let key = valid_key(k)?;
    let value = v.trim();
    if value.is_empty() {
        return Err(Error::invalid(
            "KEY=VALUE",
            format!("`{text}` has an empty value; write it as KEY=VALUE, e.g. {key}=something"),
        ));
    }
    Ok((key, value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("user_name=Alex", Some(("user_name", "Alex"))),
            (" Editor = helix ", Some(("editor", "helix"))),
            ("lang=rust=fast", Some(("lang", "rust=fast"))),
            ("=Alex", None),
            ("user_name=", None),
            ("two words=x", None),
            ("1abc=x", None),
        ];
        for (input, want) in cases {
            let got = parse(input).ok();
            let want = want.map(|(k, v)| (k.to_string(), v.to_string()));
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn detection_ignores_prose_and_equations() {
        assert!(looks_like_key_value("user_name=Alex"));
        assert!(!looks_like_key_value("2+2=4"));
        assert!(!looks_like_key_value("I think a = b"));
        assert!(!looks_like_key_value("no equals here"));
    }
}
