//! Rendering messages as the clean, role-labelled transcript that is embedded and shown.
//!
//! One message becomes one line `Label: text`, where the label is the message's `name`
//! when it has one (a speaker's name) and otherwise its role (`Human`, `Assistant`,
//! `System`, `Developer`, `Tool`). Tool calls and tool results are written out, so they can
//! be found by keyword and by meaning:
//!
//! ```text
//! Assistant: Let me check. called get_weather({"city":"Paris"})
//! Tool get_weather: sunny, 21 °C
//! ```

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::message::{Message, Role};

/// The label of a message in a transcript: its `name`, or its role.
///
/// ```
/// use agent_memory::message::Message;
/// use agent_memory::recall::message_label;
///
/// assert_eq!(message_label(&Message::user("hi")), "Human");
/// let mut named = Message::user("hi");
/// named.name = Some("Caroline".into());
/// assert_eq!(message_label(&named), "Caroline");
/// ```
pub fn message_label(message: &Message) -> &str {
    match message.name.as_deref() {
        Some(name) if !name.trim().is_empty() => name,
        _ => role_label(message.role),
    }
}

/// The label of a role in a transcript (`Human` for the user, as in the reference).
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::System => "System",
        Role::Developer => "Developer",
        Role::User => "Human",
        Role::Assistant => "Assistant",
        Role::Tool => "Tool",
    }
}

/// Maps tool call ids to tool names over a conversation, so a tool result can be labelled
/// with the tool that produced it.
#[derive(Debug, Default)]
pub(crate) struct ToolNames<'a>(HashMap<&'a str, &'a str>);

impl<'a> ToolNames<'a> {
    pub(crate) fn of(messages: &'a [Message]) -> ToolNames<'a> {
        let names =
            messages.iter().flat_map(|m| &m.tool_calls).map(|call| (call.id.as_str(), call.name.as_str())).collect();
        ToolNames(names)
    }

    fn get(&self, call_id: Option<&str>) -> Option<&'a str> {
        call_id.and_then(|id| self.0.get(id).copied())
    }
}

/// The label of `message` in a transcript, naming the tool for tool results.
pub(crate) fn line_label(message: &Message, tools: &ToolNames<'_>) -> String {
    if message.role == Role::Tool
        && message.name.is_none()
        && let Some(tool) = tools.get(message.tool_call_id.as_deref())
    {
        return format!("Tool {tool}");
    }
    message_label(message).to_owned()
}

/// The body of `message` in a transcript: its text, then its tool calls.
pub(crate) fn line_body(message: &Message) -> String {
    let mut body = message.text().trim().to_owned();
    for call in &message.tool_calls {
        if !body.is_empty() {
            body.push(' ');
        }
        body.push_str(&format!("called {}({})", call.name, call.arguments.trim()));
    }
    body
}

/// The header line naming the conversation's topic and date, as in the reference:
/// `[Topic: X, Date: Y]`, `[Topic: X]` or `[Date: Y]`; `None` when the metadata has neither.
///
/// ```
/// use agent_memory::recall::metadata_header;
/// use serde_json::json;
///
/// let metadata = json!({"topic": "auth", "date": "2025-01-15", "other": 1});
/// assert_eq!(metadata_header(metadata.as_object().unwrap()).as_deref(), Some("[Topic: auth, Date: 2025-01-15]"));
/// assert_eq!(metadata_header(json!({"date": "2025-01-15"}).as_object().unwrap()).as_deref(), Some("[Date: 2025-01-15]"));
/// assert_eq!(metadata_header(&Default::default()), None);
/// ```
pub fn metadata_header(metadata: &Map<String, Value>) -> Option<String> {
    let parts: Vec<String> = [("Topic", "topic"), ("Date", "date")]
        .into_iter()
        .filter_map(|(label, key)| metadata_text(metadata.get(key)?).map(|text| format!("{label}: {text}")))
        .collect();
    if parts.is_empty() { None } else { Some(format!("[{}]", parts.join(", "))) }
}

/// A metadata value as display text: strings as they are, other values as JSON; `None` for
/// null and empty strings.
fn metadata_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.trim().is_empty() => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// The context shown for a chunk: the metadata header and a blank line, the summary and a
/// blank line, then the transcript (reference §1.7 `_format_chunk_context`).
pub(crate) fn render_context(metadata: &Map<String, Value>, summary: Option<&str>, transcript: &str) -> String {
    let mut context = String::new();
    if let Some(header) = metadata_header(metadata) {
        context.push_str(&header);
        context.push_str("\n\n");
    }
    if let Some(summary) = summary.map(str::trim).filter(|s| !s.is_empty()) {
        context.push_str("Summary: ");
        context.push_str(summary);
        context.push_str("\n\n");
    }
    context.push_str(transcript);
    context
}

/// The text that is embedded and keyword-indexed for a chunk: the metadata header, the
/// summary, then the transcript, separated by blank lines.
pub(crate) fn render_search_text(metadata: &Map<String, Value>, summary: Option<&str>, transcript: &str) -> String {
    render_context(metadata, summary, transcript)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::ToolCall;

    #[test]
    fn tool_calls_and_results_are_written_out() {
        let messages = vec![
            Message::assistant_tool_calls(vec![ToolCall::new("c1", "get_weather", &json!({"city": "Paris"}))]),
            Message::tool("c1", "sunny"),
            Message::tool("unknown", "?"),
        ];
        let tools = ToolNames::of(&messages);
        let lines: Vec<String> =
            messages.iter().map(|m| format!("{}: {}", line_label(m, &tools), line_body(m))).collect();
        assert_eq!(lines, [r#"Assistant: called get_weather({"city":"Paris"})"#, "Tool get_weather: sunny", "Tool: ?"]);
    }

    #[test]
    fn context_has_header_summary_and_transcript() {
        let metadata = json!({"topic": "t", "date": "2025-01-01"});
        let context = render_context(metadata.as_object().unwrap(), Some("They talked."), "Human: a\nAssistant: b");
        assert_eq!(context, "[Topic: t, Date: 2025-01-01]\n\nSummary: They talked.\n\nHuman: a\nAssistant: b");
        assert_eq!(render_context(&Map::new(), None, "Human: a"), "Human: a");
        assert_eq!(metadata_header(json!({"topic": 7, "date": null}).as_object().unwrap()).unwrap(), "[Topic: 7]");
    }
}
