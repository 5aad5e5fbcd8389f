//! The pipeline's prompts. They live in `prompts/*.md` (reviewable as text, diffable) and
//! are compiled in with `include_str!`. Each file opens with `version: NAME/N`; the version
//! is recorded on every memory, topic and summary the prompt produced, so a change of
//! prompt is traceable and its output can be found and re-run. Bump N on any change of
//! meaning.

use mnemo_core::JobKind;

/// One prompt: its version string and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prompt {
    /// `extract/1`, `reconcile/1`, ...
    pub version: &'static str,
    pub text: &'static str,
}

const EXTRACT: &str = include_str!("../../prompts/extract.md");
const RECONCILE: &str = include_str!("../../prompts/reconcile.md");
const TOPIC: &str = include_str!("../../prompts/topic.md");
const SUMMARIZE: &str = include_str!("../../prompts/summarize.md");

/// Every prompt file, by job kind, in the order of the steps.
pub const PROMPTS: [(JobKind, &str); 4] = [
    (JobKind::Extract, EXTRACT),
    (JobKind::Reconcile, RECONCILE),
    (JobKind::Topic, TOPIC),
    (JobKind::Summarize, SUMMARIZE),
];

impl Prompt {
    /// The prompt of a job kind.
    pub fn of(kind: JobKind) -> Prompt {
        let file = PROMPTS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, f)| *f)
            .unwrap_or(EXTRACT);
        Prompt::parse(file)
    }

    /// Splits a prompt file into its version line and its text.
    fn parse(file: &'static str) -> Prompt {
        let (first, rest) = file.split_once('\n').unwrap_or((file, ""));
        let version = first
            .strip_prefix("version:")
            .unwrap_or("unversioned")
            .trim();
        Prompt {
            version,
            text: rest.trim(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_file_has_a_version_named_after_its_step() {
        for (kind, _) in PROMPTS {
            let p = Prompt::of(kind);
            let (name, number) = p.version.split_once('/').expect("NAME/N");
            assert_eq!(name, kind.as_str());
            assert!(number.parse::<u32>().is_ok(), "{}", p.version);
            assert!(p.text.len() > 100 && !p.text.starts_with("version"));
        }
    }
}
