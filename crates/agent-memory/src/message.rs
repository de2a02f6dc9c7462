//! The conversation model: [`Message`], its [`Role`], [`Content`] and [`ToolCall`]s.
//!
//! Messages read and write OpenAI chat-completions JSON unchanged, accept LangChain-style
//! role names (`human`, `ai`, `HumanMessage`, …) and LangChain tool calls, and convert to
//! and from Anthropic's Messages API shape (see [`anthropic`]).
//!
//! Unknown roles, malformed JSON and structurally invalid messages are errors
//! ([`MessageError`]); nothing is silently rewritten. Fields this crate does not model
//! (for example OpenAI's `refusal`) are kept verbatim in [`Message::extra`].
//!
//! # Examples
//!
//! ```
//! use agent_memory::message::{parse_messages, Message, Role};
//!
//! let messages = parse_messages(r#"[{"role":"system","content":"Be brief."},
//!                                   {"role":"human","content":"hi"}]"#)?;
//! assert_eq!(messages[1].role, Role::User);
//! assert_eq!(messages[1].text(), "hi");
//! assert_eq!(messages[0], Message::system("Be brief."));
//! # Ok::<(), agent_memory::message::MessageError>(())
//! ```

pub mod anthropic;

use std::borrow::Cow;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Why a message could not be read or converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The input is not valid JSON.
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A message (or the list) has the wrong shape; `index` is the message's position.
    #[error("{}{reason}", index.map(|i| format!("message {i}: ")).unwrap_or_default())]
    Invalid {
        /// Position of the offending message in its list, when known.
        index: Option<usize>,
        /// What is wrong, in words a user can act on.
        reason: String,
    },
}

impl MessageError {
    fn invalid(reason: impl Into<String>) -> MessageError {
        MessageError::Invalid { index: None, reason: reason.into() }
    }

    fn at(self, index: usize) -> MessageError {
        match self {
            MessageError::Invalid { index: None, reason } => MessageError::Invalid { index: Some(index), reason },
            other => other,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Instructions for the model (`system`, LangChain `SystemMessage`).
    System,
    /// OpenAI's `developer` role, which reasoning models use in place of `system`.
    /// Treated like [`Role::System`] by trimming and summarization.
    Developer,
    /// The human (`user`, LangChain `human` / `HumanMessage`).
    User,
    /// The model (`assistant`, LangChain `ai` / `AIMessage`).
    Assistant,
    /// The result of a tool call (`tool`, LangChain `ToolMessage`).
    Tool,
}

impl Role {
    /// Parses an OpenAI role name or a LangChain role or class name.
    ///
    /// Matching is exact apart from ASCII case; anything unknown is an error.
    ///
    /// ```
    /// use agent_memory::message::Role;
    /// assert_eq!(Role::parse("AIMessage")?, Role::Assistant);
    /// assert_eq!(Role::parse("human")?, Role::User);
    /// assert!(Role::parse("robot").is_err());
    /// # Ok::<(), agent_memory::message::MessageError>(())
    /// ```
    pub fn parse(name: &str) -> Result<Role, MessageError> {
        let role = match name.to_ascii_lowercase().as_str() {
            "system" | "systemmessage" | "systemmessagechunk" => Role::System,
            "developer" => Role::Developer,
            "user" | "human" | "humanmessage" | "humanmessagechunk" => Role::User,
            "assistant" | "ai" | "aimessage" | "aimessagechunk" => Role::Assistant,
            "tool" | "toolmessage" | "toolmessagechunk" => Role::Tool,
            _ => {
                return Err(MessageError::invalid(format!(
                    "unknown role {name:?} (expected system, developer, user, assistant or tool, \
                     or a LangChain name such as human, ai, HumanMessage)"
                )));
            }
        };
        Ok(role)
    }

    /// The OpenAI wire name of this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// True for [`Role::System`] and [`Role::Developer`].
    pub fn is_system(self) -> bool {
        matches!(self, Role::System | Role::Developer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of a message: plain text or a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A plain string (`"content": "hi"`).
    Text(String),
    /// A list of parts (`"content": [{"type":"text","text":"hi"}, …]`).
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text of this content; text parts are joined with a newline, other parts are
    /// left out.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(text) => Cow::Borrowed(text),
            Content::Parts(parts) => {
                let texts: Vec<&str> = parts.iter().filter_map(ContentPart::as_text).collect();
                match texts.as_slice() {
                    [] => Cow::Borrowed(""),
                    [one] => Cow::Borrowed(one),
                    many => Cow::Owned(many.join("\n")),
                }
            }
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Content {
        Content::Text(text.to_owned())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Content {
        Content::Text(text)
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type":"text","text":…}`.
    Text(String),
    /// `{"type":"image_url","image_url":{"url":…,"detail":…}}`; the URL may be a `data:` URL.
    ImageUrl {
        /// An `https:` or `data:` URL.
        url: String,
        /// OpenAI's optional `detail` (`low`, `high`, `auto`).
        detail: Option<String>,
    },
    /// Any other part (audio, files, provider-specific blocks), kept verbatim.
    Other(Value),
}

impl ContentPart {
    /// The text of a text part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentPart::Text(text) => Some(text),
            _ => None,
        }
    }

    fn from_value(value: Value) -> Result<ContentPart, MessageError> {
        match value {
            Value::String(text) => Ok(ContentPart::Text(text)),
            Value::Object(map) => {
                let kind = map.get("type").and_then(Value::as_str);
                match kind {
                    Some("text") if map.len() == 2 => match map.get("text") {
                        Some(Value::String(text)) => Ok(ContentPart::Text(text.clone())),
                        _ => Err(MessageError::invalid("a text part needs a string \"text\"")),
                    },
                    Some("image_url") if map.len() == 2 => {
                        let image = map.get("image_url");
                        let (url, detail) = match image {
                            Some(Value::String(url)) => (url.clone(), None),
                            Some(Value::Object(image)) if image.keys().all(|k| k == "url" || k == "detail") => {
                                let url = image
                                    .get("url")
                                    .and_then(Value::as_str)
                                    .ok_or_else(|| MessageError::invalid("an image_url part needs a string \"url\""))?;
                                let detail = image.get("detail").and_then(Value::as_str);
                                (url.to_owned(), detail.map(str::to_owned))
                            }
                            _ => return Ok(ContentPart::Other(Value::Object(map))),
                        };
                        Ok(ContentPart::ImageUrl { url, detail })
                    }
                    Some(_) => Ok(ContentPart::Other(Value::Object(map))),
                    None => Err(MessageError::invalid("a content part needs a \"type\"")),
                }
            }
            other => Err(MessageError::invalid(format!(
                "a content part must be a string or an object, got {}",
                json_kind(&other)
            ))),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            ContentPart::Text(text) => serde_json::json!({"type": "text", "text": text}),
            ContentPart::ImageUrl { url, detail } => {
                let mut image = Map::new();
                image.insert("url".into(), Value::String(url.clone()));
                if let Some(detail) = detail {
                    image.insert("detail".into(), Value::String(detail.clone()));
                }
                serde_json::json!({"type": "image_url", "image_url": image})
            }
            ContentPart::Other(value) => value.clone(),
        }
    }
}

/// A tool call requested by the assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call id that the matching [`Role::Tool`] message names in `tool_call_id`.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the model wrote them: a JSON document in a string, kept verbatim
    /// (models sometimes write invalid JSON; [`ToolCall::parsed_arguments`] checks it).
    pub arguments: String,
}

impl ToolCall {
    /// A tool call whose arguments are the given JSON value.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: &Value) -> ToolCall {
        ToolCall { id: id.into(), name: name.into(), arguments: arguments.to_string() }
    }

    /// The arguments parsed as JSON; an empty string is read as `{}`.
    pub fn parsed_arguments(&self) -> Result<Value, MessageError> {
        if self.arguments.trim().is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_str(&self.arguments).map_err(|err| {
            MessageError::invalid(format!(
                "the arguments of tool call {:?} ({}) are not valid JSON: {err}",
                self.id, self.name
            ))
        })
    }

    fn from_value(value: &Value) -> Result<ToolCall, MessageError> {
        let map = value.as_object().ok_or_else(|| MessageError::invalid("a tool call must be a JSON object"))?;
        let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
        if id.is_empty() {
            return Err(MessageError::invalid("a tool call needs a non-empty string \"id\""));
        }
        // OpenAI: {"id","type":"function","function":{"name","arguments":"<json>"}}
        if let Some(function) = map.get("function") {
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| MessageError::invalid(format!("tool call {id:?} has no function name")))?;
            let arguments = match function.get("arguments") {
                Some(Value::String(arguments)) => arguments.clone(),
                None | Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
            };
            return Ok(ToolCall { id: id.to_owned(), name: name.to_owned(), arguments });
        }
        // LangChain: {"name","args":{…},"id","type":"tool_call"}
        let name = map.get("name").and_then(Value::as_str).ok_or_else(|| {
            MessageError::invalid(format!(
                "tool call {id:?} has neither an OpenAI \"function\" nor a LangChain \"name\""
            ))
        })?;
        let arguments = match map.get("args") {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(args) => args.to_string(),
        };
        Ok(ToolCall { id: id.to_owned(), name: name.to_owned(), arguments })
    }

    fn to_value(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        })
    }
}

/// One message of a conversation.
///
/// The JSON form is OpenAI's chat-completions message, plus two optional fields of this
/// crate that every operation preserves: `id` and `metadata`.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its body; `None` is JSON `null` (an assistant message that only calls tools).
    pub content: Option<Content>,
    /// OpenAI's optional participant name.
    pub name: Option<String>,
    /// Tool calls requested by an assistant message (empty otherwise).
    pub tool_calls: Vec<ToolCall>,
    /// The call that a [`Role::Tool`] message answers.
    pub tool_call_id: Option<String>,
    /// A caller-chosen identifier, kept through every operation.
    pub id: Option<String>,
    /// Free metadata, kept through every operation.
    pub metadata: Map<String, Value>,
    /// Wire fields this crate does not model, kept verbatim.
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with the given role and text and nothing else.
    pub fn new(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            id: None,
            metadata: Map::new(),
            extra: Map::new(),
        }
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Message {
        Message::new(Role::System, text)
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Message {
        Message::new(Role::User, text)
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Message {
        Message::new(Role::Assistant, text)
    }

    /// An assistant message that calls tools (its content is `null`).
    ///
    /// ```
    /// use agent_memory::message::{Message, ToolCall};
    /// let call = ToolCall::new("call_1", "get_weather", &serde_json::json!({"city": "Paris"}));
    /// let message = Message::assistant_tool_calls(vec![call]);
    /// assert_eq!(message.tool_calls[0].name, "get_weather");
    /// ```
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Message {
        Message { content: None, tool_calls, ..Message::new(Role::Assistant, "") }
    }

    /// A tool result answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, text: impl Into<String>) -> Message {
        Message { tool_call_id: Some(tool_call_id.into()), ..Message::new(Role::Tool, text) }
    }

    /// Sets [`Message::id`].
    pub fn with_id(mut self, id: impl Into<String>) -> Message {
        self.id = Some(id.into());
        self
    }

    /// The message's text (text parts joined by newlines; empty when there is none).
    pub fn text(&self) -> Cow<'_, str> {
        match &self.content {
            Some(content) => content.text(),
            None => Cow::Borrowed(""),
        }
    }

    /// Reads one message from a JSON value (OpenAI or LangChain shape).
    pub fn from_value(value: Value) -> Result<Message, MessageError> {
        let Value::Object(mut map) = value else {
            return Err(MessageError::invalid(format!("a message must be a JSON object, got {}", json_kind(&value))));
        };
        let role_value = match map.remove("role") {
            Some(role) => role,
            None => map
                .remove("type")
                .ok_or_else(|| MessageError::invalid("a message needs a \"role\" (or a LangChain \"type\")"))?,
        };
        let role = match &role_value {
            Value::String(name) => Role::parse(name)?,
            other => {
                return Err(MessageError::invalid(format!("\"role\" must be a string, got {}", json_kind(other))));
            }
        };
        let content = match map.remove("content") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(Content::Text(text)),
            Some(Value::Array(parts)) => {
                Some(Content::Parts(parts.into_iter().map(ContentPart::from_value).collect::<Result<_, _>>()?))
            }
            Some(other) => {
                return Err(MessageError::invalid(format!(
                    "\"content\" must be a string, an array of parts or null, got {}",
                    json_kind(&other)
                )));
            }
        };
        let name = take_optional_string(&mut map, "name")?;
        let tool_call_id = take_optional_string(&mut map, "tool_call_id")?;
        let id = take_optional_string(&mut map, "id")?;
        let tool_calls = match map.remove("tool_calls") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(calls)) => calls.iter().map(ToolCall::from_value).collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(MessageError::invalid(format!(
                    "\"tool_calls\" must be an array, got {}",
                    json_kind(&other)
                )));
            }
        };
        let metadata = match map.remove("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(other) => {
                return Err(MessageError::invalid(format!(
                    "\"metadata\" must be an object, got {}",
                    json_kind(&other)
                )));
            }
        };
        let message = Message { role, content, name, tool_calls, tool_call_id, id, metadata, extra: map };
        message.validate()?;
        Ok(message)
    }

    /// Writes this message as OpenAI chat-completions JSON (plus `id` and `metadata` when
    /// set, and any [`Message::extra`] fields).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("role".into(), Value::String(self.role.as_str().into()));
        let content = match &self.content {
            None => Value::Null,
            Some(Content::Text(text)) => Value::String(text.clone()),
            Some(Content::Parts(parts)) => Value::Array(parts.iter().map(ContentPart::to_value).collect()),
        };
        map.insert("content".into(), content);
        if let Some(name) = &self.name {
            map.insert("name".into(), Value::String(name.clone()));
        }
        if !self.tool_calls.is_empty() {
            map.insert("tool_calls".into(), Value::Array(self.tool_calls.iter().map(ToolCall::to_value).collect()));
        }
        if let Some(tool_call_id) = &self.tool_call_id {
            map.insert("tool_call_id".into(), Value::String(tool_call_id.clone()));
        }
        if let Some(id) = &self.id {
            map.insert("id".into(), Value::String(id.clone()));
        }
        if !self.metadata.is_empty() {
            map.insert("metadata".into(), Value::Object(self.metadata.clone()));
        }
        for (key, value) in &self.extra {
            map.insert(key.clone(), value.clone());
        }
        Value::Object(map)
    }

    /// Checks the structural rules: only assistant messages carry tool calls, a tool
    /// message names the call it answers.
    pub fn validate(&self) -> Result<(), MessageError> {
        if !self.tool_calls.is_empty() && self.role != Role::Assistant {
            return Err(MessageError::invalid(format!(
                "only assistant messages may have tool_calls, this one is {}",
                self.role
            )));
        }
        if self.role == Role::Tool && self.tool_call_id.as_deref().is_none_or(str::is_empty) {
            return Err(MessageError::invalid("a tool message needs the \"tool_call_id\" of the call it answers"));
        }
        Ok(())
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Message, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Message::from_value(value).map_err(D::Error::custom)
    }
}

/// Reads a JSON array of messages (OpenAI or LangChain shape).
///
/// Errors name the position of the first bad message.
pub fn parse_messages(json: &str) -> Result<Vec<Message>, MessageError> {
    let value: Value = serde_json::from_str(json)?;
    messages_from_value(value)
}

/// Reads messages from an already parsed JSON array.
pub fn messages_from_value(value: Value) -> Result<Vec<Message>, MessageError> {
    let Value::Array(items) = value else {
        return Err(MessageError::invalid(format!("expected a JSON array of messages, got {}", json_kind(&value))));
    };
    items.into_iter().enumerate().map(|(index, item)| Message::from_value(item).map_err(|err| err.at(index))).collect()
}

/// Writes messages as a JSON array in OpenAI's shape.
pub fn messages_to_value(messages: &[Message]) -> Value {
    Value::Array(messages.iter().map(Message::to_value).collect())
}

fn take_optional_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, MessageError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(MessageError::invalid(format!("{key:?} must be a string, got {}", json_kind(&other)))),
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(value: Value) {
        let message = Message::from_value(value.clone()).unwrap();
        assert_eq!(message.to_value(), value);
    }

    #[test]
    fn openai_messages_round_trip_unchanged() {
        round_trip(json!({"role": "user", "content": "hi"}));
        round_trip(json!({"role": "system", "content": "Be brief."}));
        round_trip(json!({"role": "developer", "content": "Be brief."}));
        round_trip(json!({"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
        ]}));
        round_trip(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
        ]}));
        round_trip(json!({"role": "tool", "content": "sunny", "tool_call_id": "call_1"}));
        round_trip(json!({"role": "assistant", "content": "x", "refusal": null, "name": "bot"}));
        round_trip(json!({"role": "user", "content": "hi", "id": "m1", "metadata": {"turn": 3}}));
    }

    #[test]
    fn langchain_roles_and_tool_calls_are_accepted() {
        let messages = parse_messages(
            r#"[{"type":"human","content":"hi"},
                {"role":"ai","content":"","tool_calls":[{"name":"f","args":{"a":1},"id":"c1","type":"tool_call"}]},
                {"role":"ToolMessage","content":"ok","tool_call_id":"c1"},
                {"role":"SystemMessage","content":"s"}]"#,
        )
        .unwrap();
        let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::System]);
        assert_eq!(
            messages[1].tool_calls,
            [ToolCall { id: "c1".into(), name: "f".into(), arguments: r#"{"a":1}"#.into() }]
        );
    }

    #[test]
    fn bad_messages_are_clear_errors() {
        let err = |json: &str| parse_messages(json).unwrap_err().to_string();
        assert_eq!(
            err(r#"[{"role":"user","content":"a"},{"role":"robot","content":"b"}]"#),
            "message 1: unknown role \"robot\" (expected system, developer, user, assistant or tool, or a LangChain name such as human, ai, HumanMessage)"
        );
        assert!(err("[{").starts_with("malformed JSON"));
        assert_eq!(err(r#"{"role":"user"}"#), "expected a JSON array of messages, got an object");
        assert_eq!(err(r#"[{"content":"a"}]"#), "message 0: a message needs a \"role\" (or a LangChain \"type\")");
        assert_eq!(
            err(r#"[{"role":"tool","content":"a"}]"#),
            "message 0: a tool message needs the \"tool_call_id\" of the call it answers"
        );
        assert_eq!(
            err(r#"[{"role":"user","content":5}]"#),
            "message 0: \"content\" must be a string, an array of parts or null, got a number"
        );
        assert_eq!(
            err(r#"[{"role":"user","content":"a","tool_calls":[{"id":"c","function":{"name":"f"}}]}]"#),
            "message 0: only assistant messages may have tool_calls, this one is user"
        );
    }

    #[test]
    fn text_joins_text_parts() {
        let message = Message::from_value(json!({"role":"user","content":[
            {"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"http://x"}},{"type":"text","text":"b"}]}))
        .unwrap();
        assert_eq!(message.text(), "a\nb");
        assert_eq!(Message::assistant_tool_calls(vec![]).text(), "");
    }
}
