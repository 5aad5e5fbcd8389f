//! Shared pieces of structured output: the instruction that puts a JSON Schema into the
//! system prompt. Schema-constrained decoding (Ollama `format`, OpenAI `json_schema`)
//! still benefits from seeing the schema in the prompt, and the fallback modes
//! (`json_object`, `none`) depend on it entirely.

use crate::{Message, Role};

/// The system-prompt paragraph that asks for JSON following `schema`.
pub(crate) fn schema_instruction(schema: &serde_json::Value) -> String {
    format!(
        "Reply with only a JSON document (no prose, no code fences) that follows this JSON Schema:\n{schema}"
    )
}

/// `messages` with `instruction` appended to the first system message, or a new system
/// message in front when there is none.
pub(crate) fn with_system_instruction(messages: &[Message], instruction: &str) -> Vec<Message> {
    let mut out = messages.to_vec();
    match out.iter_mut().find(|m| m.role == Role::System) {
        Some(system) => {
            system.content.push_str("\n\n");
            system.content.push_str(instruction);
        }
        None => out.insert(0, Message::system(instruction)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_the_system_message_or_adds_one() {
        let msgs = [Message::system("Be brief."), Message::user("hi")];
        let out = with_system_instruction(&msgs, "JSON please");
        assert_eq!(out[0].content, "Be brief.\n\nJSON please");
        assert_eq!(out.len(), 2);
        let out = with_system_instruction(&[Message::user("hi")], "JSON please");
        assert_eq!(out[0], Message::system("JSON please"));
        assert_eq!(out[1], Message::user("hi"));
    }
}
