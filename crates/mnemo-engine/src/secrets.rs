//! Secrets kept out of memory. A memory layer sees everything users type to their agents,
//! API keys and passwords included; what it stores is searched, injected into later prompts
//! and sent to the extraction model. So credentials are found in text before anything is
//! stored or sent anywhere, and replaced by a marker naming their kind
//! (`[secret: aws_access_key]`); what was masked is recorded as kind and position, never
//! as the value.
//!
//! Detection is by the shapes credentials have, not by entropy alone, so ordinary long
//! tokens of text (a UUID, a git commit hash, a long word, a phone number) are not
//! secrets: provider keys by their prefixes and lengths, private key blocks, JWTs,
//! connection strings by their `user:password@`, card numbers by a valid Luhn check digit,
//! and passwords, PINs and keys *stated as such* ("my password is hunter2", `api_key=…`).
//! The table of cases and near misses in the tests is the detector's specification.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What to do with a secret found in a conversation turn (`[privacy] secrets`). Memories
/// and the context block never hold secrets, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretsPolicy {
    /// Store the turn with each secret replaced by a marker (the default).
    #[default]
    Mask,
    /// Store the turn as written (it is still masked wherever it is sent or injected).
    Keep,
    /// Refuse the turn, saying what kind of secret it holds and where.
    Reject,
}

/// A secret found in a text: its kind and byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
}

/// What masking replaced: the kind and where its marker starts in the masked text, in
/// characters. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Masked {
    pub kind: String,
    /// Character offset of the marker in the masked text.
    pub at: usize,
    /// Length in characters of what the marker replaced.
    pub len: usize,
}

/// A rule: a pattern, the kind it finds, which capture group holds the secret (0: the
/// whole match), and a check the value must pass.
struct Rule {
    kind: &'static str,
    pattern: &'static str,
    group: usize,
    accept: fn(&str) -> bool,
}

fn any(_: &str) -> bool {
    true
}

/// A value after "password is": not a word that merely describes the password.
fn stated_password(v: &str) -> bool {
    !NOT_A_PASSWORD.contains(&v.to_lowercase().as_str())
}

/// A value right after "password" with no "is" or colon: only one that does not read as a
/// word ("password reset" is not a password; "password Tr0ub4dor" is).
fn bare_password(v: &str) -> bool {
    stated_password(v)
        && v.chars()
            .any(|c| c.is_ascii_digit() || !c.is_alphanumeric())
        && v.chars().any(char::is_alphabetic)
}

const RULES: &[Rule] = &[
    Rule {
        kind: "private_key",
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\z)",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "aws_access_key",
        pattern: r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "github_token",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "anthropic_key",
        pattern: r"\bsk-ant-[A-Za-z0-9_\-]{20,}",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "openai_key",
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "stripe_key",
        pattern: r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "slack_token",
        pattern: r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "google_api_key",
        pattern: r"\bAIza[0-9A-Za-z_\-]{35}\b",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "mnemo_key",
        pattern: r"\bmnemo_[0-9a-f]{12}_[0-9a-f]{64}\b",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "jwt",
        pattern: r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        group: 0,
        accept: any,
    },
    Rule {
        kind: "connection_string",
        pattern: r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:([^\s@/]+)@",
        group: 1,
        accept: any,
    },
    Rule {
        kind: "password",
        pattern: r"(?i)\b(?:password|passwd|passphrase|pass code|passcode|pwd|pin(?: code)?)\b(?:\s+(?:is|was|will be|=)|\s*[:=])\s*[`'\x22]?([^\s`'\x22]{3,})",
        group: 1,
        accept: stated_password,
    },
    Rule {
        kind: "password",
        pattern: r"(?i)\b(?:password|passwd|passphrase|pwd)\s+([^\s`'\x22]{4,})",
        group: 1,
        accept: bare_password,
    },
    Rule {
        kind: "secret",
        pattern: r"(?i)\b(?:api[ _-]?key|secret(?:[ _-]?key)?|access[ _-]?token|auth[ _-]?token|bearer token|client[ _-]?secret|token)\b(?:\s+(?:is|=)|\s*[:=])\s*[`'\x22]?([A-Za-z0-9_\-./+=]{12,})",
        group: 1,
        accept: any,
    },
];

/// Words that follow "password is" without being one ("my password is too short").
const NOT_A_PASSWORD: &[&str] = &[
    "the",
    "a",
    "an",
    "my",
    "your",
    "not",
    "too",
    "very",
    "so",
    "still",
    "now",
    "also",
    "weak",
    "strong",
    "wrong",
    "right",
    "correct",
    "incorrect",
    "invalid",
    "expired",
    "changed",
    "reset",
    "same",
    "different",
    "secure",
    "safe",
    "long",
    "short",
    "required",
    "needed",
    "missing",
    "empty",
    "set",
    "saved",
    "stored",
    "written",
    "in",
    "on",
    "at",
    "for",
    "with",
    "and",
    "or",
    "but",
    "that",
    "this",
    "what",
    "here",
    "there",
    "easy",
    "hard",
    "simple",
    "complicated",
    "new",
    "old",
    "hidden",
    "private",
    "secret",
    "unknown",
    "forgotten",
    "lost",
];

fn compiled() -> &'static [(&'static Rule, Regex)] {
    static RE: OnceLock<Vec<(&'static Rule, Regex)>> = OnceLock::new();
    RE.get_or_init(|| {
        RULES
            .iter()
            .map(|r| (r, Regex::new(r.pattern).expect("a secret pattern compiles")))
            .collect()
    })
}

/// A marker left by [`mask`]: never a secret itself, so masking twice changes nothing.
fn markers() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\[secret: [a-z_]+\]").expect("the marker pattern compiles"))
}

fn card_numbers() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("the card pattern compiles"))
}

/// One pass over a text that says whether any rule could match (most texts hold nothing,
/// and this keeps them cheap).
fn any_rule() -> &'static regex::RegexSet {
    static SET: OnceLock<regex::RegexSet> = OnceLock::new();
    SET.get_or_init(|| {
        let patterns = RULES
            .iter()
            .map(|r| r.pattern)
            .chain([card_numbers().as_str()]);
        regex::RegexSet::new(patterns).expect("the secret patterns compile")
    })
}

/// Every secret in `text`, in order, without overlaps.
pub fn find(text: &str) -> Vec<Found> {
    if !any_rule().is_match(text) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (rule, re) in compiled() {
        for caps in re.captures_iter(text) {
            let Some(m) = caps.get(rule.group) else {
                continue;
            };
            let value = m.as_str().trim_end_matches(['.', ',', '!', '?', ';', ')']);
            if value.is_empty() || !(rule.accept)(value) {
                continue;
            }
            let end = m.start() + value.len();
            {
                found.push(Found {
                    kind: rule.kind,
                    start: m.start(),
                    end,
                });
            }
        }
    }
    for m in card_numbers().find_iter(text) {
        let digits: Vec<u32> = m.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
        if (13..=19).contains(&digits.len()) && luhn(&digits) && !same_digit(&digits) {
            found.push(Found {
                kind: "card_number",
                start: m.start(),
                end: m.end(),
            });
        }
    }
    let marks: Vec<(usize, usize)> = markers()
        .find_iter(text)
        .map(|m| (m.start(), m.end()))
        .collect();
    found.retain(|f| !marks.iter().any(|&(s, e)| f.start < e && s < f.end));
    found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut kept: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        match kept.last() {
            Some(last) if f.start < last.end => {}
            _ => kept.push(f),
        }
    }
    kept
}

/// `text` with every secret replaced by `[secret: KIND]`, and what was replaced.
pub fn mask(text: &str) -> (String, Vec<Masked>) {
    replace(text, find(text))
}

/// `text` with the secrets `found` in it replaced by their markers.
fn replace(text: &str, found: Vec<Found>) -> (String, Vec<Masked>) {
    if found.is_empty() {
        return (text.to_owned(), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut masked = Vec::with_capacity(found.len());
    let mut from = 0;
    for f in found {
        out.push_str(&text[from..f.start]);
        masked.push(Masked {
            kind: f.kind.to_owned(),
            at: out.chars().count(),
            len: text[f.start..f.end].chars().count(),
        });
        out.push_str(&format!("[secret: {}]", f.kind));
        from = f.end;
    }
    out.push_str(&text[from..]);
    (out, masked)
}

/// `text` with its secrets masked, for places that must never hold one (the context
/// block, a model's request).
pub fn masked(text: &str) -> std::borrow::Cow<'_, str> {
    let found = find(text);
    if found.is_empty() {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(replace(text, found).0)
    }
}

/// Whether `stored` is `given` as a turn stores it (as written, or with its secrets
/// masked): a client's retry of a message is recognised whatever the policy.
pub fn stored_as(stored: &str, given: &str) -> bool {
    stored == given || stored == masked(given)
}

/// The Luhn check of a card number's digits.
fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn same_digit(digits: &[u32]) -> bool {
    digits.windows(2).all(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real-looking secrets: each must be found, of this kind.
    const SECRETS: &[(&str, &str)] = &[
        ("My AWS key is AKIAIOSFODNN7EXAMPLE and that's it", "aws_access_key"),
        ("token ghp_16C7e42F292c6912E7710c838347Ae178B4a here", "github_token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFG", "github_token"),
        ("use sk-proj-4fJd8sK2LmQ9xZ1pR7tY3uV6wB0cN5eH for the bot", "openai_key"),
        ("OPENAI_API_KEY=sk-4fJd8sK2LmQ9xZ1pR7tY3uV6wB0cN5eHaa", "openai_key"),
        ("claude: sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345", "anthropic_key"),
        ("stripe sk_live_51HxYzAbCdEfGhIjKlMnOp", "stripe_key"),
        ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKl", "slack_token"),
        ("maps key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "google_api_key"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
            "private_key",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE", "private_key"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "jwt",
        ),
        ("db at postgres://admin:s3cr3tPass@db.internal:5432/app", "connection_string"),
        ("my password is hunter2", "password"),
        ("Password: correct-horse-battery", "password"),
        ("the wifi passphrase = Tr0ub4dor&3", "password"),
        ("my bank PIN is 4821", "password"),
        ("card 4111 1111 1111 1111 expires 12/29", "card_number"),
        ("pay with 5500-0000-0000-0004", "card_number"),
        ("my api key: 9f8e7d6c5b4a39281706f5e4", "secret"),
        ("client_secret=Zx8Qw2Er4Ty6Ui8Op0As", "secret"),
        (
            "key mnemo_0123456789ab_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "mnemo_key",
        ),
    ];

    /// Near misses: nothing here is a secret.
    const NOT_SECRETS: &[&str] = &[
        "request 550e8400-e29b-41d4-a716-446655440000 failed",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixed it",
        "antidisestablishmentarianism is a long word",
        "call me at +1 415 555 0132 or 4155550132",
        "order 1234567812345678 shipped",
        "my password is too short, I need a new one",
        "the password was wrong",
        "I forgot my password.",
        "the token is valid for an hour",
        "skills: sk-learning and sk-ipping",
        "see https://example.com/docs?page=2",
        "mailto:alex@example.com",
        "ISBN 978-0-306-40615-7",
        "0000 0000 0000 0000",
        "The meeting is at 10:30 in room 4B",
    ];

    #[test]
    fn real_looking_secrets_are_found_with_their_kind() {
        for (text, kind) in SECRETS {
            let found = find(text);
            assert!(
                found.iter().any(|f| f.kind == *kind),
                "{kind} not found in {text:?}: {found:?}"
            );
        }
    }

    #[test]
    fn near_misses_are_not_secrets() {
        for text in NOT_SECRETS {
            assert_eq!(find(text), Vec::new(), "{text:?}");
        }
    }

    #[test]
    fn masking_replaces_the_value_and_records_kind_and_position_only() {
        let (out, masked) = mask("My AWS key is AKIAIOSFODNN7EXAMPLE and password hunter2");
        assert_eq!(
            out,
            "My AWS key is [secret: aws_access_key] and password [secret: password]"
        );
        assert!(!out.contains("AKIA") && !out.contains("hunter2"));
        assert_eq!(masked.len(), 2);
        assert_eq!(
            (masked[0].kind.as_str(), masked[0].at, masked[0].len),
            ("aws_access_key", 14, 20)
        );
        let json = serde_json::to_string(&masked).unwrap();
        assert!(
            !json.contains("AKIA") && !json.contains("hunter2"),
            "{json}"
        );
        // Only the password of a connection string goes; the rest stays readable.
        assert_eq!(
            mask("postgres://admin:s3cr3tPass@db:5432/app").0,
            "postgres://admin:[secret: connection_string]@db:5432/app"
        );
        // Masking is idempotent: a marker is no secret.
        assert_eq!(mask(&out).0, out);
    }
}
