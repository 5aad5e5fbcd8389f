//! Case tables for the tag grammar and the whitespace tidying, and property tests: tags
//! round-trip through `format_memory_tag`, and stripping never loses non-tag text.

use proptest::prelude::*;

use super::*;

fn tag(kind: &str, content: &str) -> MemoryTag {
    MemoryTag {
        kind: kind.into(),
        content: content.into(),
    }
}

#[test]
fn parses_the_seed_protocol_and_its_sloppy_variants() {
    let cases: &[(&str, &str, Vec<MemoryTag>)] = &[
        (
            "Got it!\n[MEMORY: preference|likes concise answers]",
            "Got it!",
            vec![tag("preference", "likes concise answers")],
        ),
        ("[memory:fact | x]", "", vec![tag("fact", "x")]),
        (
            "[ Memory : Fact|  spaced out  ]",
            "",
            vec![tag("fact", "spaced out")],
        ),
        (
            "[MEMORY: fact|pipes | stay | in content]",
            "",
            vec![tag("fact", "pipes | stay | in content")],
        ),
        (
            "[MEMORY: note|array[0\\] is \\\\ escaped [ok\\]]",
            "",
            vec![tag("note", "array[0] is \\ escaped [ok]")],
        ),
        (
            "[MEMORY: fact|path C:\\Users\\me]",
            "",
            vec![tag("fact", "path C:\\Users\\me")],
        ),
        (
            "Sure.\n[MEMORY: fact|a]\n[MEMORY: plan|b]\nMore.",
            "Sure.\nMore.",
            vec![tag("fact", "a"), tag("plan", "b")],
        ),
        (
            "I'll remember that [MEMORY: fact|x] for you.",
            "I'll remember that for you.",
            vec![tag("fact", "x")],
        ),
        ("Noted [MEMORY: fact|x].", "Noted.", vec![tag("fact", "x")]),
        (
            "Noted. [MEMORY: fact|x]  \nNext",
            "Noted.\nNext",
            vec![tag("fact", "x")],
        ),
        (
            "A\n\n[MEMORY: fact|x]\n\nB",
            "A\n\nB",
            vec![tag("fact", "x")],
        ),
        ("A\n[MEMORY: fact|x] B", "A\nB", vec![tag("fact", "x")]),
        (
            "  code:\n    [MEMORY: fact|x]\n    indented",
            "code:\n    indented",
            vec![tag("fact", "x")],
        ),
        ("[MEMORY: my-kind_2|x]", "", vec![tag("my-kind_2", "x")]),
    ];
    for (reply, clean, tags) in cases {
        let (got_clean, got_tags) = parse_memory_tags(reply);
        assert_eq!(&got_tags, tags, "tags of {reply:?}");
        assert_eq!(&got_clean, clean, "text of {reply:?}");
    }
}

#[test]
fn malformed_tags_stay_as_text() {
    let malformed = [
        "[MEMORY: no pipe here]",
        "[MEMORY: |no kind]",
        "[MEMORY: fact|   ]",
        "[MEMORY: two words|x]",
        "[MEMORY: 9lives|x]",
        "[MEMORY fact|no colon]",
        "[MEMORY: fact|never closed",
        "[MEMORY: fact|split\nover lines]",
        "[MEMORIES: fact|x]",
        "[MEM",
        "see [1] and [link](url)",
        "[MEMORY: fact|escaped close \\]",
    ];
    for text in malformed {
        let reply = format!("Hello {text} bye");
        assert_eq!(
            parse_memory_tags(&reply),
            (reply.clone(), vec![]),
            "{text:?}"
        );
    }
}

#[test]
fn a_malformed_tag_does_not_hide_a_good_one() {
    let (clean, tags) = parse_memory_tags("[MEMORY: oops] then [MEMORY: fact|ok]");
    assert_eq!(tags, vec![tag("fact", "ok")]);
    assert_eq!(clean, "[MEMORY: oops] then");
}

#[test]
fn format_escapes_for_a_round_trip() {
    let t = tag("fact", "ends with \\ and ] and\nnewline");
    assert_eq!(
        format_memory_tag(&t),
        "[MEMORY: fact|ends with \\\\ and \\] and newline]"
    );
    let (_, tags) = parse_memory_tags(&format_memory_tag(&t));
    assert_eq!(tags, vec![tag("fact", "ends with \\ and ] and newline")]);
}

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn arb_tag() -> impl Strategy<Value = MemoryTag> {
    ("[a-z][a-z0-9_-]{0,12}", "[^\n\r]{1,30}")
        .prop_map(|(kind, content)| MemoryTag {
            kind,
            content: content.trim().to_string(),
        })
        .prop_filter("content not empty", |t| !t.content.is_empty())
}

proptest! {
    #[test]
    fn tags_round_trip_and_text_survives(
        parts in prop::collection::vec(("[^\\[]{0,20}", arb_tag()), 0..5),
        tail in "[^\\[]{0,20}",
    ) {
        let mut reply = String::new();
        let mut text = String::new();
        for (segment, tag) in &parts {
            reply.push_str(segment);
            reply.push_str(&format_memory_tag(tag));
            text.push_str(segment);
        }
        reply.push_str(&tail);
        text.push_str(&tail);
        let (clean, tags) = parse_memory_tags(&reply);
        let want: Vec<MemoryTag> = parts.into_iter().map(|(_, t)| t).collect();
        prop_assert_eq!(tags, want);
        prop_assert_eq!(without_whitespace(&clean), without_whitespace(&text));
    }

    #[test]
    fn text_without_tags_is_returned_unchanged(text in "[^\\[]{0,60}|.{0,60}") {
        let (clean, tags) = parse_memory_tags(&text);
        if tags.is_empty() {
            prop_assert_eq!(clean, text);
        }
    }

    #[test]
    fn tag_like_noise_never_panics_or_grows(text in "(\\[ ?(MEMORY|memory) ?: ?[a-z|]{0,6} ?\\|?[a-z \\\\\\]]{0,8}\\]?|[a-z .\n]{0,8}){0,8}") {
        let (clean, tags) = parse_memory_tags(&text);
        prop_assert!(without_whitespace(&clean).len() <= without_whitespace(&text).len());
        if tags.is_empty() {
            prop_assert_eq!(clean, text);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_memory_tags(&text);
    }
}
