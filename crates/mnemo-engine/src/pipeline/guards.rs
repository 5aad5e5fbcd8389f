//! Guards on what the model returns, before any of it is stored or shown to a later prompt.
//!
//! Why: small local models babble. Without bounds, their replies were stored as facts
//! about the user ("I'm just a personal assistant...", salience 1), a session summary was
//! one phrase repeated for a thousand tokens, topic names were whole sentences, and all of
//! it was injected into later prompts. Each guard here is a plain function with its reason;
//! the steps record every drop and every adjustment on the job's result, so nothing
//! disappears without a trace.

/// Most words a topic name keeps.
pub const MAX_TOPIC_WORDS: usize = 4;
/// Most characters a topic name keeps.
pub const MAX_TOPIC_CHARS: usize = 40;
/// Most characters a session or topic summary keeps (cut at a sentence end).
pub const MAX_SUMMARY_CHARS: usize = 3000;
/// Fewest words before repetition is judged (short texts repeat legitimately).
const MIN_WORDS_FOR_REPETITION: usize = 12;

/// Phrases with which an assistant talks about itself, whoever the subject.
const SELF_TALK: [&str; 5] = [
    "as an ai",
    "language model",
    "how can i assist",
    "how can i help you",
    "i'm here to help",
];
/// Words that, next to "I", mean the speaker is describing itself as an assistant.
const SELF_WORDS: [&str; 5] = ["ai", "assistant", "chatbot", "bot", "model"];

/// Why `text` is unusable because it repeats itself, if it does: the same sentence three
/// times or more, or mostly the same three-word phrases.
pub fn repetition(text: &str) -> Option<String> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for sentence in text.split(['.', '!', '?', '\n', ';']) {
        let norm = words(sentence).join(" ");
        if norm.split(' ').count() >= 2 {
            let n = seen.entry(norm).or_insert(0);
            *n += 1;
            if *n >= 3 {
                return Some("it repeats the same sentence".to_owned());
            }
        }
    }
    let w = words(text);
    if w.len() < MIN_WORDS_FOR_REPETITION {
        return None;
    }
    let grams: Vec<String> = w.windows(3).map(|g| g.join(" ")).collect();
    let distinct: std::collections::HashSet<&String> = grams.iter().collect();
    let share = distinct.len() as f32 / grams.len() as f32;
    (share < 0.5).then(|| {
        format!(
            "it repeats itself ({:.0}% of its phrases are new)",
            share * 100.0
        )
    })
}

/// Whether a cell is the assistant talking about itself rather than about the user: one
/// of its stock phrases, or "I" together with "AI", "assistant", "chatbot"...
pub fn self_talk(content: &str) -> bool {
    let c = content.to_lowercase().replace('\u{2019}', "'");
    if SELF_TALK.iter().any(|p| c.contains(p)) {
        return true;
    }
    let w = words(&c);
    let speaks_as_i = w.iter().any(|x| x == "i" || x == "i'm" || x == "i've");
    speaks_as_i && w.iter().any(|x| SELF_WORDS.contains(&x.as_str()))
}

/// A topic name of a few words: lower case, no surrounding punctuation, at most
/// [`MAX_TOPIC_WORDS`] words and [`MAX_TOPIC_CHARS`] characters. Returns the name and
/// whether it had to be clipped; `None` when nothing is left.
pub fn topic_name(raw: &str) -> Option<(String, bool)> {
    let all: Vec<&str> = raw
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    let mut name = all
        .iter()
        .take(MAX_TOPIC_WORDS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let mut clipped = all.len() > MAX_TOPIC_WORDS;
    if name.chars().count() > MAX_TOPIC_CHARS {
        name = name.chars().take(MAX_TOPIC_CHARS).collect::<String>();
        name = name.trim_end().to_owned();
        clipped = true;
    }
    (!name.is_empty()).then_some((name, clipped))
}

/// Checks a summary: repetition rejects it (the reason is returned as the error); a long
/// one is cut at the last sentence end before [`MAX_SUMMARY_CHARS`] (the note says so).
pub fn summary(text: &str) -> Result<(String, Option<String>), String> {
    if let Some(why) = repetition(text) {
        return Err(format!("the summary was rejected: {why}"));
    }
    if text.chars().count() <= MAX_SUMMARY_CHARS {
        return Ok((text.to_owned(), None));
    }
    let cut: String = text.chars().take(MAX_SUMMARY_CHARS).collect();
    let end = cut
        .rfind(['.', '!', '?'])
        .map(|i| i + 1)
        .filter(|&i| i > MAX_SUMMARY_CHARS / 2)
        .unwrap_or(cut.len());
    Ok((
        cut[..end].trim_end().to_owned(),
        Some(format!(
            "clipped from {} to {} characters",
            text.chars().count(),
            end
        )),
    ))
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_is_caught_and_ordinary_text_passes() {
        let looped = "The user likes pizza. ".repeat(40);
        assert!(repetition(&looped).is_some());
        let phrase = "and then we talked about the weather ".repeat(10);
        assert!(repetition(&phrase).is_some());
        let fine = "Dana prefers dark mode in every editor. She is allergic to peanuts and \
                    carries an epinephrine pen. The project deadline moved to March, which \
                    puts the launch at risk.";
        assert_eq!(repetition(fine), None);
        assert_eq!(
            repetition("Yes. Yes. Yes."),
            None,
            "short sentences are not judged"
        );
    }

    #[test]
    fn the_assistant_talking_about_itself_is_not_a_memory() {
        assert!(self_talk(
            "I'm just a personal assistant, I don't have feelings"
        ));
        assert!(self_talk("As an AI language model I cannot eat"));
        assert!(self_talk("I’m just an AI"));
        assert!(!self_talk("The user is allergic to peanuts"));
        assert!(!self_talk("Works as an assistant professor"));
        assert!(!self_talk("Dana's sister is a personal assistant"));
    }

    #[test]
    fn topic_names_are_clipped_to_a_few_words() {
        assert_eq!(topic_name(" Food "), Some(("food".into(), false)));
        assert_eq!(
            topic_name("The user's dietary restrictions and allergies that matter when cooking"),
            Some(("the user's dietary restrictions".into(), true))
        );
        let long = "a".repeat(100);
        let (name, clipped) = topic_name(&long).unwrap();
        assert!(clipped && name.chars().count() == MAX_TOPIC_CHARS);
        assert_eq!(topic_name(" \"...\" "), None);
    }

    #[test]
    fn summaries_are_rejected_when_looping_and_clipped_when_long() {
        assert!(summary(&"We discussed the trip. ".repeat(50)).is_err());
        let (s, note) = summary("Short and fine.").unwrap();
        assert_eq!((s.as_str(), note), ("Short and fine.", None));
        let long: String = (0..400)
            .map(|i| format!("Point {i} was covered with care. "))
            .collect();
        let (s, note) = summary(&long).unwrap();
        assert!(s.chars().count() <= MAX_SUMMARY_CHARS && s.ends_with('.'));
        assert!(note.unwrap().contains("clipped"));
    }
}
