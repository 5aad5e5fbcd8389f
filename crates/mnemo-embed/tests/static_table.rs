//! The built-in table and the table file format.

use std::time::Instant;

use mnemo_embed::table::{encode_table, Quantization};
use mnemo_embed::{cosine, dot, EmbedError, Embedder, StaticEmbedder};

#[test]
fn builtin_loads_fast_and_describes_itself() {
    let t0 = Instant::now();
    let emb = StaticEmbedder::builtin();
    let first = t0.elapsed();
    assert!(
        first.as_secs_f64() < 1.0,
        "built-in table took {first:?} to load"
    );
    assert_eq!(emb.model_id(), "static:minilm-l6-v2-256@1");
    assert_eq!(emb.dims(), 256);
    assert!(emb.tokenizer().len() > 29_000);
}

#[test]
fn similar_sentences_score_above_dissimilar_ones() {
    let emb = StaticEmbedder::builtin();
    let v = emb
        .embed(&[
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
            "I adopted a puppy from the animal shelter last week.",
            "We got a new dog from the rescue centre.",
            "The quarterly tax report is due on Friday.",
        ])
        .unwrap();
    let s = |i: usize, j: usize| dot(&v[i], &v[j]);
    assert!(s(0, 1) > s(0, 2) && s(0, 1) > s(1, 2), "weather pair");
    assert!(s(3, 4) > s(3, 5) && s(3, 4) > s(4, 5), "dog pair");
    assert!(s(3, 4) > 0.5, "paraphrases are close: {}", s(3, 4));
}

#[test]
fn vectors_are_unit_length_and_batch_equals_single() {
    let emb = StaticEmbedder::builtin();
    let texts = [
        "Melanie: I ran a charity race for mental health.",
        "x",
        "Ünïcödé text",
    ];
    let batch = emb.embed(&texts).unwrap();
    for (t, v) in texts.iter().zip(&batch) {
        assert_eq!(v.len(), 256);
        assert!((dot(v, v) - 1.0).abs() < 1e-4, "{t}");
        assert_eq!(v, &emb.embed_one(t));
    }
    assert!(emb.embed(&[]).unwrap().is_empty());
}

#[test]
fn text_with_nothing_known_gives_the_zero_vector() {
    let emb = StaticEmbedder::builtin();
    for text in ["", "   ", "\u{1F600}\u{1F600}"] {
        let v = emb.embed_one(text);
        assert!(v.iter().all(|x| *x == 0.0), "{text:?}");
        assert_eq!(cosine(&v, &emb.embed_one("hello")), 0.0);
    }
}

fn tiny_rows() -> (Vec<&'static str>, Vec<f32>) {
    let tokens = vec!["cat", "dog", "##s", "the", "car"];
    #[rustfmt::skip]
    let rows = vec![
        1.0, 0.2, 0.0, 0.0,
        0.9, 0.3, 0.1, 0.0,
        0.0, 0.0, 0.0, 0.05,
        0.01, 0.01, 0.01, 0.01,
        0.0, 0.1, 1.0, 0.4,
    ];
    (tokens, rows)
}

#[test]
fn table_round_trip_f32_and_i8() {
    let (tokens, rows) = tiny_rows();
    let f32_bytes = encode_table("static:tiny@1", &tokens, 4, &rows, Quantization::F32).unwrap();
    let i8_bytes = encode_table("static:tiny@1", &tokens, 4, &rows, Quantization::I8).unwrap();
    let exact = StaticEmbedder::from_bytes(f32_bytes, "tiny.f32").unwrap();
    let quant = StaticEmbedder::from_bytes(i8_bytes, "tiny.i8").unwrap();
    // Only the built-in table's scale of unrelated cosines is known.
    assert_eq!(exact.unrelated_below(), None);
    assert_eq!(StaticEmbedder::builtin().unrelated_below(), Some(0.3));
    assert_eq!(exact.model_id(), "static:tiny@1");
    assert_eq!(exact.dims(), 4);
    assert_eq!(exact.tokenizer().pieces("The cats"), ["the", "cat", "##s"]);
    for text in ["cat", "the dogs", "car cat", "Cats and dogs"] {
        let (a, b) = (exact.embed_one(text), quant.embed_one(text));
        assert!(cosine(&a, &b) > 0.999, "{text}: {a:?} vs {b:?}");
    }
    // "cat" is closer to "dog" than to "car" in the toy table.
    let (cat, dog, car) = (
        exact.embed_one("cat"),
        exact.embed_one("dog"),
        exact.embed_one("car"),
    );
    assert!(dot(&cat, &dog) > dot(&cat, &car));
}

#[test]
fn from_file_reads_what_encode_table_writes() {
    let (tokens, rows) = tiny_rows();
    let bytes = encode_table("static:tiny@1", &tokens, 4, &rows, Quantization::I8).unwrap();
    let dir = std::env::temp_dir().join(format!("mnemo-embed-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.bin");
    std::fs::write(&path, &bytes).unwrap();
    let emb = StaticEmbedder::from_file(&path).unwrap();
    assert_eq!(emb.dims(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_are_reported_with_their_path() {
    let (tokens, rows) = tiny_rows();
    let good = encode_table("static:tiny@1", &tokens, 4, &rows, Quantization::F32).unwrap();

    let missing = StaticEmbedder::from_file("/nonexistent/table.bin").unwrap_err();
    assert!(matches!(missing, EmbedError::Io { .. }));
    assert!(missing.to_string().contains("/nonexistent/table.bin"));

    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    let truncated = good[..good.len() - 3].to_vec();
    let mut trailing = good.clone();
    trailing.push(0);
    let mut bad_type = good.clone();
    bad_type[20] = 9;
    let cases = [
        (bad_magic, "bad magic"),
        (truncated, "truncated"),
        (trailing, "trailing"),
        (bad_type, "unknown value type"),
        (b"MNEMO".to_vec(), "truncated"),
    ];
    for (bytes, want) in cases {
        let err = StaticEmbedder::from_bytes(bytes, "broken.bin").unwrap_err();
        assert!(matches!(err, EmbedError::BadFile { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("broken.bin") && msg.contains(want), "{msg}");
    }
}

#[test]
fn encode_table_rejects_inconsistent_input() {
    let (tokens, rows) = tiny_rows();
    assert!(matches!(
        encode_table("m", &tokens, 3, &rows, Quantization::F32),
        Err(EmbedError::DimensionMismatch { .. })
    ));
    assert!(encode_table("m", &["a\nb"], 1, &[1.0], Quantization::F32).is_err());
}
