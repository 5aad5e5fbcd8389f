//! The prompt a chat face sends to its model: a system prompt with the memory block
//! appended, the session's replayed turns, then the new message. The terminal chat, the web
//! UI's chat and the OpenAI-compatible proxy all join the memory block to a system prompt
//! here, so the model sees memory the same way whichever face it is reached through.

use mnemo_core::Role;
use mnemo_llm::Message;

use super::{context, Caller, ContextToolRequest, ToolResult};
use crate::{Context, Engine};

/// The assistant's system prompt, before the memory block.
pub const SYSTEM_PROMPT: &str = "You are a helpful, persistent assistant with long-term memory of \
this user. Use what you remember naturally, without announcing that you are using memory. Be \
concise, direct and useful.";

/// Added to [`SYSTEM_PROMPT`] by a face that turns `[MEMORY: ...]` tags in replies into
/// memories (the terminal chat).
pub const MEMORY_TAG_INSTRUCTIONS: &str = "When the user tells you something worth \
remembering for future conversations (who they are, their preferences, projects, decisions, \
plans), add on its own line a tag of the form [MEMORY: kind|the fact] where kind is one of \
fact, preference, plan, decision, task, risk. Use it only for durable facts, never for small \
talk.";

/// `system` with the memory block appended after a blank line; `system` alone without one.
pub fn with_memory(system: &str, memory_block: Option<&str>) -> String {
    match memory_block {
        Some(block) if system.is_empty() => block.to_owned(),
        Some(block) => format!("{system}\n\n{block}"),
        None => system.to_owned(),
    }
}

/// The messages for a model: `system` with the context's memory block, the replayed turns
/// (assistant turns as assistant messages, all others as user messages), then `message`.
pub fn prompt_messages(system: &str, ctx: &Context, message: &str) -> Vec<Message> {
    let mut out = Vec::with_capacity(ctx.recent_turns.len() + 2);
    out.push(Message::system(with_memory(
        system,
        ctx.memory_block.as_deref(),
    )));
    for turn in &ctx.recent_turns {
        out.push(match turn.role {
            Role::Assistant => Message::assistant(turn.content.clone()),
            _ => Message::user(turn.content.clone()),
        });
    }
    out.push(Message::user(message));
    out
}

/// A chat prompt ready to send, with the context it was built from (for a face that shows
/// what was sent, like the chat's `/context`).
#[derive(Debug, Clone)]
pub struct ChatPrompt {
    /// The system message as sent (system prompt and memory block).
    pub system: String,
    pub messages: Vec<Message>,
    pub context: Context,
}

/// Assembles the context for `req.message` (see [`context`]) and builds the prompt from it
/// with the system prompt `system`.
pub fn chat_prompt(
    engine: &Engine,
    caller: &Caller,
    req: ContextToolRequest,
    system: &str,
) -> ToolResult<ChatPrompt> {
    let message = req.message.clone();
    let ctx = context(engine, caller, req)?;
    Ok(ChatPrompt {
        system: with_memory(system, ctx.memory_block.as_deref()),
        messages: prompt_messages(system, &ctx, &message),
        context: ctx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_block_follows_the_system_prompt_after_a_blank_line() {
        assert_eq!(
            with_memory("Be brief.", Some("<memory>x</memory>")),
            "Be brief.\n\n<memory>x</memory>"
        );
        assert_eq!(with_memory("Be brief.", None), "Be brief.");
        assert_eq!(
            with_memory("", Some("<memory>x</memory>")),
            "<memory>x</memory>"
        );
    }
}
