//! Conversion to and from Anthropic's Messages API shape.
//!
//! Anthropic keeps the system prompt out of the message list, puts tool calls in
//! `tool_use` content blocks of assistant messages and tool results in `tool_result`
//! blocks of user messages. [`to_anthropic`] maps [`Message`]s to that shape:
//!
//! * every system/developer message goes into [`AnthropicMessages::system`] (joined by a
//!   blank line, in order);
//! * consecutive tool results become one user message with one `tool_result` block each,
//!   so every result directly follows the assistant turn that called it;
//! * consecutive messages of the same role are merged into one message of blocks.
//!
//! [`from_anthropic`] is the inverse. Blocks this crate does not model (`thinking`,
//! `document`, …) are kept verbatim as [`ContentPart::Other`].
//!
//! ```
//! use agent_memory::message::{anthropic, Message, ToolCall};
//! use serde_json::json;
//!
//! let messages = vec![
//!     Message::system("Be brief."),
//!     Message::user("Weather in Paris?"),
//!     Message::assistant_tool_calls(vec![ToolCall::new("t1", "weather", &json!({"city": "Paris"}))]),
//!     Message::tool("t1", "sunny"),
//! ];
//! let converted = anthropic::to_anthropic(&messages)?;
//! assert_eq!(converted.system.as_deref(), Some("Be brief."));
//! assert_eq!(converted.messages[2], json!({"role": "user", "content": [
//!     {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}));
//! let back = anthropic::from_anthropic(converted.system.map(Into::into).as_ref(), &converted.messages)?;
//! assert_eq!(back[3].tool_call_id.as_deref(), Some("t1"));
//! # Ok::<(), agent_memory::message::MessageError>(())
//! ```

use serde_json::{Map, Value, json};

use super::{Content, ContentPart, Message, MessageError, Role, ToolCall, json_kind};

/// A conversation in Anthropic's shape: the system prompt and the `messages` array.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicMessages {
    /// The joined system and developer messages, if any.
    pub system: Option<String>,
    /// The `messages` array of a Messages API request.
    pub messages: Vec<Value>,
}

/// Converts messages to Anthropic's shape. Fails when a tool call's arguments are not a
/// JSON object (Anthropic requires `input` to be one).
pub fn to_anthropic(messages: &[Message]) -> Result<AnthropicMessages, MessageError> {
    let mut system: Vec<String> = Vec::new();
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                system.push(message.text().into_owned());
                continue;
            }
            Role::User => ("user", content_blocks(message.content.as_ref())),
            Role::Tool => {
                let mut block = Map::new();
                block.insert("type".into(), json!("tool_result"));
                block.insert("tool_use_id".into(), json!(message.tool_call_id.clone().unwrap_or_default()));
                block.insert("content".into(), tool_result_content(message.content.as_ref()));
                if message.extra.get("is_error") == Some(&Value::Bool(true)) {
                    block.insert("is_error".into(), Value::Bool(true));
                }
                ("user", vec![Value::Object(block)])
            }
            Role::Assistant => {
                let mut blocks = content_blocks(message.content.as_ref());
                for call in &message.tool_calls {
                    let input = call.parsed_arguments().map_err(|err| err.at(index))?;
                    if !input.is_object() {
                        return Err(MessageError::Invalid {
                            index: Some(index),
                            reason: format!(
                                "Anthropic needs tool call arguments to be a JSON object, tool call {:?} has {}",
                                call.id,
                                json_kind(&input)
                            ),
                        });
                    }
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
                }
                ("assistant", blocks)
            }
        };
        match out.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, blocks)| {
            let content = match blocks.as_slice() {
                [single]
                    if single.get("type") == Some(&json!("text"))
                        && single.as_object().is_some_and(|m| m.len() == 2) =>
                {
                    single["text"].clone()
                }
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect();
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok(AnthropicMessages { system, messages })
}

/// Converts an Anthropic `system` value (a string or text blocks) and `messages` array
/// back to [`Message`]s. A user message holding `tool_result` blocks becomes one
/// [`Role::Tool`] message per block, followed by a user message for any other blocks.
pub fn from_anthropic(system: Option<&Value>, messages: &[Value]) -> Result<Vec<Message>, MessageError> {
    let mut out = Vec::new();
    match system {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => out.push(Message::system(text.clone())),
        Some(Value::Array(blocks)) => {
            let texts: Vec<&str> = blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect();
            out.push(Message::system(texts.join("\n\n")));
        }
        Some(other) => {
            return Err(MessageError::invalid(format!(
                "Anthropic \"system\" must be a string or an array of text blocks, got {}",
                json_kind(other)
            )));
        }
    }
    for (index, value) in messages.iter().enumerate() {
        convert_anthropic_message(value, &mut out).map_err(|err| err.at(index))?;
    }
    Ok(out)
}

fn convert_anthropic_message(value: &Value, out: &mut Vec<Message>) -> Result<(), MessageError> {
    let role = value.get("role").and_then(Value::as_str).unwrap_or_default();
    let role = match role {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(MessageError::invalid(format!(
                "unknown Anthropic role {other:?} (expected user or assistant)"
            )));
        }
    };
    let blocks = match value.get("content") {
        Some(Value::String(text)) => {
            out.push(Message::new(role, text.clone()));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => return Err(MessageError::invalid("Anthropic \"content\" must be a string or an array of blocks")),
    };
    let mut parts = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("tool_result") if role == Role::User => {
                let id = block.get("tool_use_id").and_then(Value::as_str).unwrap_or_default();
                let mut message = Message::tool(id, "");
                message.content = match block.get("content") {
                    None | Some(Value::Null) => Some(Content::Text(String::new())),
                    Some(Value::String(text)) => Some(Content::Text(text.clone())),
                    Some(Value::Array(items)) => {
                        Some(Content::Parts(items.iter().map(|item| part_from_anthropic(item.clone())).collect()))
                    }
                    Some(other) => {
                        return Err(MessageError::invalid(format!(
                            "tool_result content must be a string or blocks, got {}",
                            json_kind(other)
                        )));
                    }
                };
                if block.get("is_error") == Some(&Value::Bool(true)) {
                    message.extra.insert("is_error".into(), Value::Bool(true));
                }
                message.validate()?;
                out.push(message);
            }
            Some("tool_use") if role == Role::Assistant => {
                let id = block.get("id").and_then(Value::as_str).unwrap_or_default();
                let name = block.get("name").and_then(Value::as_str).unwrap_or_default();
                if id.is_empty() || name.is_empty() {
                    return Err(MessageError::invalid("a tool_use block needs an \"id\" and a \"name\""));
                }
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(ToolCall::new(id, name, &input));
            }
            _ => parts.push(part_from_anthropic(block.clone())),
        }
    }
    if parts.is_empty() && tool_calls.is_empty() {
        return Ok(());
    }
    let content = match parts.as_slice() {
        [] => None,
        [ContentPart::Text(text)] => Some(Content::Text(text.clone())),
        _ => Some(Content::Parts(parts)),
    };
    out.push(Message { content, tool_calls, ..Message::new(role, "") });
    Ok(())
}

fn content_blocks(content: Option<&Content>) -> Vec<Value> {
    match content {
        None => Vec::new(),
        Some(Content::Text(text)) if text.is_empty() => Vec::new(),
        Some(Content::Text(text)) => vec![json!({"type": "text", "text": text})],
        Some(Content::Parts(parts)) => parts.iter().map(part_to_anthropic).collect(),
    }
}

fn tool_result_content(content: Option<&Content>) -> Value {
    match content {
        None => json!(""),
        Some(Content::Text(text)) => json!(text),
        Some(Content::Parts(parts)) => Value::Array(parts.iter().map(part_to_anthropic).collect()),
    }
}

fn part_to_anthropic(part: &ContentPart) -> Value {
    match part {
        ContentPart::Text(text) => json!({"type": "text", "text": text}),
        ContentPart::ImageUrl { url, .. } => match parse_data_url(url) {
            Some((media_type, data)) => {
                json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
            }
            None => json!({"type": "image", "source": {"type": "url", "url": url}}),
        },
        ContentPart::Other(value) => value.clone(),
    }
}

fn part_from_anthropic(block: Value) -> ContentPart {
    match block.get("type").and_then(Value::as_str) {
        Some("text") => match block.get("text").and_then(Value::as_str) {
            Some(text) if block.as_object().is_some_and(|m| m.len() == 2) => ContentPart::Text(text.to_owned()),
            _ => ContentPart::Other(block),
        },
        Some("image") => {
            let source = &block["source"];
            match source.get("type").and_then(Value::as_str) {
                Some("base64") => {
                    let media_type = source.get("media_type").and_then(Value::as_str).unwrap_or("image/png");
                    let data = source.get("data").and_then(Value::as_str).unwrap_or_default();
                    ContentPart::ImageUrl { url: format!("data:{media_type};base64,{data}"), detail: None }
                }
                Some("url") => match source.get("url").and_then(Value::as_str) {
                    Some(url) => ContentPart::ImageUrl { url: url.to_owned(), detail: None },
                    None => ContentPart::Other(block),
                },
                _ => ContentPart::Other(block),
            }
        }
        _ => ContentPart::Other(block),
    }
}

fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (media_type, data) = rest.split_once(";base64,")?;
    Some((media_type, data))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::messages_from_value;

    #[test]
    fn tool_round_trip_through_anthropic() {
        let messages = messages_from_value(json!([
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "b", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "sunny"},
            {"role": "tool", "tool_call_id": "b", "content": "rain"},
            {"role": "assistant", "content": "Paris sunny, Rome rain."}
        ]))
        .unwrap();
        let converted = to_anthropic(&messages).unwrap();
        assert_eq!(converted.system.as_deref(), Some("sys"));
        assert_eq!(
            Value::Array(converted.messages.clone()),
            json!([
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "a", "name": "w", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "b", "name": "w", "input": {"city": "Rome"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "a", "content": "sunny"},
                    {"type": "tool_result", "tool_use_id": "b", "content": "rain"}]},
                {"role": "assistant", "content": "Paris sunny, Rome rain."}
            ])
        );
        let back = from_anthropic(Some(&json!("sys")), &converted.messages).unwrap();
        assert_eq!(back, messages);
    }

    #[test]
    fn images_convert_both_ways() {
        let message = Message {
            content: Some(Content::Parts(vec![
                ContentPart::Text("look".into()),
                ContentPart::ImageUrl { url: "data:image/jpeg;base64,QUJD".into(), detail: None },
            ])),
            ..Message::user("")
        };
        let converted = to_anthropic(std::slice::from_ref(&message)).unwrap();
        assert_eq!(
            converted.messages[0]["content"][1],
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}})
        );
        assert_eq!(from_anthropic(None, &converted.messages).unwrap(), vec![message]);
    }

    #[test]
    fn non_object_arguments_are_rejected() {
        let call = ToolCall { id: "a".into(), name: "f".into(), arguments: "[1]".into() };
        let err = to_anthropic(&[Message::assistant_tool_calls(vec![call])]).unwrap_err();
        assert!(err.to_string().starts_with("message 0: Anthropic needs tool call arguments to be a JSON object"));
        let err = from_anthropic(None, &[json!({"role": "robot", "content": "x"})]).unwrap_err();
        assert_eq!(err.to_string(), "message 0: unknown Anthropic role \"robot\" (expected user or assistant)");
    }
}
