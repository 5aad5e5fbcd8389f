//! Case tables for what small models write, and property tests: valid JSON wrapped in
//! fences or prose comes back exactly, truncation keeps a prefix, nothing panics.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

#[test]
fn repairs_what_models_write() {
    let cases: &[(&str, Value)] = &[
        (r#"{"a": 1}"#, json!({"a": 1})),
        ("```json\n{\"a\": [1, 2]}\n```", json!({"a": [1, 2]})),
        ("```\n[true]\n```\nHope this helps!", json!([true])),
        ("```json\n42\n```", json!(42)),
        // Backticks inside a JSON string are text, not a fence (found by the property test).
        (
            "[\n  {\n    \"\": \"```\"\n  },\n  []\n] '",
            json!([{"": "```"}, []]),
        ),
        (
            "  ```json\n{\"note\": \"use ``` for code\"}\n  ```",
            json!({"note": "use ``` for code"}),
        ),
        (
            "Sure! Here are the memories:\n[{\"kind\": \"fact\"}]\nLet me know.",
            json!([{"kind": "fact"}]),
        ),
        (
            "{'name': 'O\\'Brien', 'ok': True}",
            json!({"name": "O'Brien", "ok": true}),
        ),
        (
            "{\"a\": [1, 2, 3,], \"b\": {\"c\": null,},}",
            json!({"a": [1, 2, 3], "b": {"c": null}}),
        ),
        (
            "{kind: \"fact\", _x: None}",
            json!({"kind": "fact", "_x": null}),
        ),
        ("[{\"a\":1}\n{\"a\":2}]", json!([{"a": 1}, {"a": 2}])),
        (
            "{\"a\": 1 // one\n, /* two */ \"b\": 2}",
            json!({"a": 1, "b": 2}),
        ),
        (
            "{\"text\": \"line one\nline two\"}",
            json!({"text": "line one\nline two"}),
        ),
        ("{'q': 'say \"hi\"'}", json!({"q": "say \"hi\""})),
        ("{\"path\": \"C:\\Users\"}", json!({"path": "C:\\Users"})),
        (
            "See [1] below: {\"answer\": [1, 2, 3]} (cf. [2])",
            json!({"answer": [1, 2, 3]}),
        ),
        ("use {curly} braces? no: [\"x\"]", json!(["x"])),
        ("[]", json!([])),
        (
            "{\"a\": 1} and then {\"b\": 2, \"c\": 3}",
            json!({"b": 2, "c": 3}),
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(extract_json(raw).as_ref(), Ok(want), "input: {raw}");
    }
}

#[test]
fn truncated_arrays_keep_complete_elements() {
    let cases: &[(&str, Value)] = &[
        (
            "[{\"k\":\"fact\",\"c\":\"x\"},{\"k\":\"pre",
            json!([{"k": "fact", "c": "x"}]),
        ),
        ("[1, 2, 3", json!([1, 2])),
        ("[1, 2, 3,", json!([1, 2, 3])),
        ("[\"a\", \"b", json!(["a"])),
        ("[{\"a\":", json!([])),
        ("[[1, 2], [3, 4", json!([[1, 2]])),
        (
            "```json\n{\"memories\": [{\"c\": \"x\"}, {\"c\": \"y\"}, {\"c\": \"trunc",
            json!({"memories": [{"c": "x"}, {"c": "y"}]}),
        ),
        (
            "{\"user\": {\"name\": \"A\", \"age\": 4",
            json!({"user": {"name": "A"}}),
        ),
        ("{\"a\": tr", json!({})),
        ("{\"s\": \"ends in escape \\", json!({})),
        ("[\"\\u00", json!([])),
    ];
    for (raw, want) in cases {
        assert_eq!(extract_json(raw).as_ref(), Ok(want), "input: {raw}");
    }
}

#[test]
fn reports_what_it_cannot_do() {
    assert_eq!(extract_json("no json here"), Err(JsonRepairError::NotFound));
    assert_eq!(extract_json(""), Err(JsonRepairError::NotFound));
    assert!(matches!(
        extract_json("[1, 2, ...]"),
        Err(JsonRepairError::Invalid(_))
    ));
    assert!(matches!(extract_json("{"), Ok(v) if v == json!({})));
    assert!(matches!(
        extract_json("[1.2.3]"),
        Err(JsonRepairError::Invalid(_))
    ));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_container() -> impl Strategy<Value = Value> {
    arb_json().prop_filter("array or object", |v| v.is_array() || v.is_object())
}

/// Prose without brackets (a bracket in prose is legitimately ambiguous).
fn prose() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.!?:;'\n-]{0,40}"
}

fn serialize(value: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(value).unwrap()
    } else {
        serde_json::to_string(value).unwrap()
    }
}

proptest! {
    #[test]
    fn fenced_values_come_back_exactly(value in arb_json(), pretty: bool, before in prose(), after in prose()) {
        let text = serialize(&value, pretty);
        // Parse what was written, so float formatting is compared like for like.
        let want: Value = serde_json::from_str(&text).unwrap();
        let wrapped = format!("{before}\n```json\n{text}\n```\n{after}");
        prop_assert_eq!(extract_json(&wrapped), Ok(want));
    }

    #[test]
    fn containers_in_prose_come_back_exactly(value in arb_container(), pretty: bool, before in prose(), after in prose()) {
        let text = serialize(&value, pretty);
        let want: Value = serde_json::from_str(&text).unwrap();
        let wrapped = format!("{before} {text} {after}");
        prop_assert_eq!(extract_json(&wrapped), Ok(want));
    }

    #[test]
    fn truncated_arrays_give_a_prefix_of_the_elements(
        items in prop::collection::vec(
            prop::collection::btree_map("[a-z]{1,5}", prop_oneof![
                any::<String>().prop_map(Value::String),
                any::<i32>().prop_map(Value::from),
            ], 1..4),
            1..6,
        ),
        cut in 0.0f64..1.0,
    ) {
        let items: Vec<Value> = items.into_iter().map(|m| Value::Object(m.into_iter().collect())).collect();
        let text = serde_json::to_string(&items).unwrap();
        let mut at = 1 + ((text.len() - 1) as f64 * cut) as usize;
        while !text.is_char_boundary(at) {
            at += 1;
        }
        let got = extract_json(&text[..at]).unwrap();
        let got = got.as_array().expect("an array");
        prop_assert!(got.len() <= items.len());
        prop_assert_eq!(&got[..], &items[..got.len()]);
        if at == text.len() {
            prop_assert_eq!(got.len(), items.len());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = extract_json(&text);
    }

    #[test]
    fn json_ish_text_never_panics(text in "[\\[\\]{}\"':,a-zA-Z0-9 .\\\\\n`/*eu-]{0,80}") {
        let _ = extract_json(&text);
    }
}
