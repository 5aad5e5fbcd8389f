//! Reading a LoCoMo file: conversations, their sessions with dates, their turns, and the
//! questions with defensively parsed evidence.
//!
//! Only what the protocol allows is read: `observation`, `session_summary` and
//! `event_summary` (generated annotations, answers in disguise) and each turn's `query` are
//! never looked at.

use std::collections::HashSet;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use mnemo_core::{Error, Result, Timestamp};
use serde_json::Value;

/// One conversation of the file.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub sample_id: String,
    pub sessions: Vec<Session>,
    pub questions: Vec<Question>,
}

/// One session: its number, date and turns in order.
#[derive(Debug, Clone)]
pub struct Session {
    pub number: u32,
    pub date: Option<Timestamp>,
    pub turns: Vec<DialogTurn>,
}

/// One turn: its `dia_id` and the text to ingest.
#[derive(Debug, Clone)]
pub struct DialogTurn {
    pub dia_id: String,
    pub speaker: String,
    pub text: String,
}

/// One question with its valid evidence (empty when none survived parsing).
#[derive(Debug, Clone)]
pub struct Question {
    pub question: String,
    pub category: u32,
    pub evidence: Vec<String>,
    /// The gold answer as text (numbers written out); empty when the file has none, as
    /// for category 5, whose questions no turn answers (its `adversarial_answer` is the
    /// trap, not the answer).
    pub answer: String,
}

/// Parses the JSON text of a LoCoMo file.
pub fn parse(json: &str) -> Result<Vec<Conversation>> {
    let root: Value = serde_json::from_str(json)?;
    let list = root
        .as_array()
        .ok_or_else(|| Error::invalid("locomo file", "expected a JSON list of conversations"))?;
    list.iter().map(conversation).collect()
}

fn conversation(v: &Value) -> Result<Conversation> {
    let sample_id = v
        .get("sample_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("locomo file", "a conversation has no sample_id"))?
        .to_string();
    let conv = v
        .get("conversation")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid("locomo file", format!("{sample_id}: no conversation")))?;
    let mut sessions = Vec::new();
    for (key, value) in conv {
        let Some(number) = key
            .strip_prefix("session_")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let date = conv
            .get(&format!("session_{number}_date_time"))
            .and_then(Value::as_str)
            .and_then(parse_date);
        let turns = value
            .as_array()
            .map(|t| t.iter().filter_map(dialog_turn).collect())
            .unwrap_or_default();
        sessions.push(Session {
            number,
            date,
            turns,
        });
    }
    sessions.sort_by_key(|s| s.number);
    let known: HashSet<&str> = sessions
        .iter()
        .flat_map(|s| s.turns.iter().map(|t| t.dia_id.as_str()))
        .collect();
    let questions = v
        .get("qa")
        .and_then(Value::as_array)
        .map(|qs| qs.iter().filter_map(|q| question(q, &known)).collect())
        .unwrap_or_default();
    Ok(Conversation {
        sample_id,
        sessions,
        questions,
    })
}

fn dialog_turn(v: &Value) -> Option<DialogTurn> {
    let speaker = v.get("speaker").and_then(Value::as_str)?.to_string();
    let dia_id = v.get("dia_id").and_then(Value::as_str)?.to_string();
    let said = v.get("text").and_then(Value::as_str).unwrap_or_default();
    let mut text = format!("{speaker}: {said}");
    if let Some(caption) = v.get("blip_caption").and_then(Value::as_str) {
        if !caption.trim().is_empty() {
            text.push_str(&format!(" [shared image: {caption}]"));
        }
    }
    Some(DialogTurn {
        dia_id,
        speaker,
        text,
    })
}

fn question(v: &Value, known: &HashSet<&str>) -> Option<Question> {
    let question = v.get("question").and_then(Value::as_str)?.to_string();
    let category = v.get("category").and_then(Value::as_u64)? as u32;
    let mut evidence: Vec<String> = Vec::new();
    for entry in v
        .get("evidence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(entry) = entry.as_str() else {
            continue;
        };
        for id in entry.split(|c: char| c == ';' || c == ',' || c.is_whitespace()) {
            if known.contains(id) && !evidence.iter().any(|e| e == id) {
                evidence.push(id.to_string());
            }
        }
    }
    let answer = v
        .get("answer")
        .map(|a| match a {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    Some(Question {
        question,
        category,
        evidence,
        answer,
    })
}

/// Parses a session date such as `"1:56 pm on 8 May, 2023"` (UTC). `None` when the text
/// is not in that form.
pub fn parse_date(text: &str) -> Option<Timestamp> {
    let (time, date) = text.split_once(" on ")?;
    let date = NaiveDate::parse_from_str(date.trim(), "%d %B, %Y").ok()?;
    let time = NaiveTime::parse_from_str(&time.trim().to_uppercase(), "%I:%M %p").ok()?;
    Some(Utc.from_utc_datetime(&NaiveDateTime::new(date, time)))
}

/// The session number of a `dia_id` such as `D3:12`.
pub fn session_of(dia_id: &str) -> Option<u32> {
    dia_id.strip_prefix('D')?.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_dia_ids_parse() {
        let t = parse_date("1:56 pm on 8 May, 2023").unwrap();
        assert_eq!(t.to_rfc3339(), "2023-05-08T13:56:00+00:00");
        assert!(parse_date("10:04 am on 19 January, 2023").is_some());
        assert!(parse_date("yesterday").is_none());
        assert_eq!(session_of("D12:3"), Some(12));
        assert_eq!(session_of("x"), None);
    }

    #[test]
    fn evidence_is_split_and_filtered_and_annotations_are_ignored() {
        let json = r#"[{"sample_id": "c1",
          "conversation": {"speaker_a": "A", "speaker_b": "B",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "hi", "query": "q"},
                          {"speaker": "B", "dia_id": "D1:2", "text": "look", "blip_caption": "a cat"}]},
          "observation": {"x": "secret"},
          "qa": [{"question": "q1", "answer": "a", "evidence": ["D1:1; D1:2", "D9:9"], "category": 4},
                 {"question": "q2", "adversarial_answer": "a", "evidence": ["D7:1"], "category": 5}]}]"#;
        let c = &parse(json).unwrap()[0];
        assert_eq!(c.sessions[0].turns[0].text, "A: hi");
        assert_eq!(c.sessions[0].turns[1].text, "B: look [shared image: a cat]");
        assert_eq!(c.questions[0].evidence, vec!["D1:1", "D1:2"]);
        assert!(c.questions[1].evidence.is_empty());
    }
}
