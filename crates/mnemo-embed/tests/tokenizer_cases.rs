//! The WordPiece tokenizer against Hugging Face `tokenizers` 0.22 on all-MiniLM-L6-v2's
//! tokenizer.json (expected pieces produced there, `[UNK]` removed because the static
//! embedder skips it).

use mnemo_embed::StaticEmbedder;

#[test]
fn matches_hugging_face_on_a_case_table() {
    let emb = StaticEmbedder::builtin();
    let tok = emb.tokenizer();
    let long_word = "x".repeat(101);
    let cases: &[(&str, &[&str])] = &[
        ("Hello, World!", &["hello", ",", "world", "!"]),
        (
            "Caroline: I went to the LGBTQ support group yesterday.",
            &[
                "caroline",
                ":",
                "i",
                "went",
                "to",
                "the",
                "lgbt",
                "##q",
                "support",
                "group",
                "yesterday",
                ".",
            ],
        ),
        ("unaffable", &["una", "##ffa", "##ble"]),
        (
            "Café déjà vu — naïve résumé",
            &["cafe", "de", "##ja", "vu", "—", "naive", "resume"],
        ),
        (
            "don't stop-believing...",
            &["don", "'", "t", "stop", "-", "believing", ".", ".", "."],
        ),
        (
            "e-mail: a.b@example.com",
            &[
                "e", "-", "mail", ":", "a", ".", "b", "@", "example", ".", "com",
            ],
        ),
        (
            "tabs\tand\nnewlines\r\nhere",
            &["tab", "##s", "and", "new", "##lines", "here"],
        ),
        (
            "Zürich 2023年5月8日",
            &["zurich", "202", "##3", "年", "5", "月", "8", "日"],
        ),
        ("ÀÉÎÕÜ ÇÑ", &["ae", "##io", "##u", "cn"]),
        ("smile 😀 emoji", &["smile", "em", "##oj", "##i"]),
        (&long_word, &[]),
        (
            "supercalifragilisticexpialidocious",
            &[
                "super", "##cal", "##if", "##rag", "##ilis", "##tic", "##ex", "##pia", "##lid",
                "##oc", "##ious",
            ],
        ),
        (
            "1:56 pm on 8 May, 2023",
            &["1", ":", "56", "pm", "on", "8", "may", ",", "202", "##3"],
        ),
        ("", &[]),
        ("   ", &[]),
        ("Ｆｕｌｌｗｉｄｔｈ", &[]),
        ("ﬁnance", &["ﬁ", "##nan", "##ce"]),
        ("İstanbul", &["istanbul"]),
        ("null\0byte\u{7}bell", &["null", "##by", "##te", "##bell"]),
        // Deliberate difference: Hugging Face matches `[CLS]` as a special token; here it is
        // plain text, because user text must not inject control tokens.
        (
            "[CLS] not special",
            &["[", "cl", "##s", "]", "not", "special"],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(tok.pieces(text), *want, "text: {text:?}");
    }
}

#[test]
fn unknown_words_are_skipped_or_marked() {
    let emb = StaticEmbedder::builtin();
    let tok = emb.tokenizer();
    let text = format!("hello {} world", "x".repeat(101));
    let skipped = tok.encode(&text);
    let mut marked = Vec::new();
    tok.encode_with_unknown(&text, 7, &mut marked);
    assert_eq!(skipped.len(), 2);
    assert_eq!(marked, [skipped[0], 7, skipped[1]]);
    assert_eq!(tok.id("hello"), Some(skipped[0]));
    assert!(
        tok.id("##ing").is_none(),
        "continuations are not whole words"
    );
}
