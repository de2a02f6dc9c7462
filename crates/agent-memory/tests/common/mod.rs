//! Shared test helpers: a generator of valid conversations and the tool-pairing check.
#![allow(dead_code, unreachable_pub)]

use agent_memory::message::{Message, Role, ToolCall};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
pub enum Turn {
    System(String),
    User(String),
    Assistant(String),
    Tools(Vec<String>),
}

fn turn() -> impl Strategy<Value = Turn> {
    let text = "[a-zA-Z ,.]{0,60}";
    prop_oneof![
        1 => text.prop_map(Turn::System),
        4 => text.prop_map(Turn::User),
        4 => text.prop_map(Turn::Assistant),
        3 => prop::collection::vec(text, 1..4).prop_map(Turn::Tools),
    ]
}

/// A valid conversation: every tool-call message directly followed by one result per call.
/// Every message has a unique id.
pub fn conversation() -> impl Strategy<Value = Vec<Message>> {
    (any::<bool>(), prop::collection::vec(turn(), 0..25)).prop_map(|(leading_system, turns)| {
        let mut messages = Vec::new();
        if leading_system {
            messages.push(Message::system("You are a careful assistant."));
        }
        for (turn_index, turn) in turns.into_iter().enumerate() {
            match turn {
                Turn::System(text) => messages.push(Message::system(text)),
                Turn::User(text) => messages.push(Message::user(text)),
                Turn::Assistant(text) => messages.push(Message::assistant(text)),
                Turn::Tools(results) => {
                    let ids: Vec<String> = (0..results.len()).map(|i| format!("call_{turn_index}_{i}")).collect();
                    let calls = ids.iter().map(|id| ToolCall::new(id, "lookup", &json!({"q": id}))).collect();
                    messages.push(Message::assistant_tool_calls(calls));
                    messages.extend(ids.iter().zip(results).map(|(id, text)| Message::tool(id, text)));
                }
            }
        }
        messages.into_iter().enumerate().map(|(i, m)| m.with_id(format!("m{i}"))).collect()
    })
}

/// Checks OpenAI's and Anthropic's rule: each tool-call message is directly followed by
/// exactly the results of its calls, and every tool result belongs to such a group.
pub fn assert_valid_tool_pairing(messages: &[Message]) -> Result<(), TestCaseError> {
    let mut index = 0;
    while index < messages.len() {
        let message = &messages[index];
        prop_assert!(message.role != Role::Tool, "orphan tool result at {index}: {:?}", message.id);
        index += 1;
        if message.role == Role::Assistant && !message.tool_calls.is_empty() {
            let mut answered: Vec<&str> = Vec::new();
            while index < messages.len() && messages[index].role == Role::Tool {
                answered.push(messages[index].tool_call_id.as_deref().unwrap_or_default());
                index += 1;
            }
            let mut called: Vec<&str> = message.tool_calls.iter().map(|c| c.id.as_str()).collect();
            answered.sort_unstable();
            called.sort_unstable();
            prop_assert_eq!(answered, called, "results of {:?}", message.id);
        }
    }
    Ok(())
}
