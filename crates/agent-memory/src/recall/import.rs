//! The JSONL import format: one conversation per line.
//!
//! ```json
//! {"user_id": "u1", "session_id": "s1", "messages": [{"role": "user", "content": "hi"}], "metadata": {"date": "2025-01-15"}}
//! ```
//!
//! `messages` are OpenAI or LangChain messages (see [`crate::message`]); `metadata` is
//! optional. Blank lines are skipped; errors name the line.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::RecallError;
use crate::message::{Message, messages_from_value};

/// One conversation to index, as read from a JSONL line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    /// Whose conversation it is.
    pub user_id: String,
    /// Which session it was.
    pub session_id: String,
    /// Its messages.
    pub messages: Vec<Message>,
    /// Metadata stored with each of its chunks (`date` and `topic` are shown and searched).
    pub metadata: Map<String, Value>,
}

impl ConversationRecord {
    /// Reads a record from one JSON object.
    ///
    /// # Errors
    ///
    /// [`RecallError::Input`] (without a line number) when a field is missing, empty or of
    /// the wrong type, or a message is invalid.
    ///
    /// ```
    /// use agent_memory::recall::ConversationRecord;
    ///
    /// let record = ConversationRecord::from_json(
    ///     r#"{"user_id":"u1","session_id":"s1","messages":[{"role":"user","content":"hi","id":"m1"}]}"#,
    /// )?;
    /// assert_eq!(record.messages[0].id.as_deref(), Some("m1"));
    /// assert!(record.metadata.is_empty());
    /// # Ok::<(), agent_memory::recall::RecallError>(())
    /// ```
    pub fn from_json(json: &str) -> Result<ConversationRecord, RecallError> {
        let value: Value = serde_json::from_str(json).map_err(|err| input(None, format!("malformed JSON: {err}")))?;
        ConversationRecord::from_value(value)
    }

    /// Reads a record from an already parsed JSON value.
    ///
    /// # Errors
    ///
    /// As [`ConversationRecord::from_json`].
    pub fn from_value(value: Value) -> Result<ConversationRecord, RecallError> {
        let Value::Object(mut map) = value else {
            return Err(input(None, "a conversation must be a JSON object"));
        };
        let mut text_field = |key: &str| match map.remove(key) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text),
            _ => Err(input(None, format!("a conversation needs a non-empty string {key:?}"))),
        };
        let user_id = text_field("user_id")?;
        let session_id = text_field("session_id")?;
        let messages = match map.remove("messages") {
            Some(messages @ Value::Array(_)) => {
                messages_from_value(messages).map_err(|err| input(None, format!("messages: {err}")))?
            }
            _ => return Err(input(None, "a conversation needs an array \"messages\"")),
        };
        let metadata = match map.remove("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(_) => return Err(input(None, "\"metadata\" must be an object")),
        };
        if let Some(key) = map.keys().next() {
            return Err(input(
                None,
                format!("unknown field {key:?} (expected user_id, session_id, messages, metadata)"),
            ));
        }
        Ok(ConversationRecord { user_id, session_id, messages, metadata })
    }

    /// Writes the record as one JSON object (the inverse of [`ConversationRecord::from_value`]).
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "user_id": self.user_id,
            "session_id": self.session_id,
            "messages": self.messages.iter().map(Message::to_value).collect::<Vec<_>>(),
            "metadata": self.metadata,
        })
    }
}

/// Reads JSONL conversations, one per non-blank line, lazily.
///
/// # Errors
///
/// Each item is an error ([`RecallError::Input`] with the 1-based line number, or
/// [`RecallError::Io`]) when its line cannot be read or parsed; reading may go on after one.
///
/// ```
/// use agent_memory::recall::read_conversations;
///
/// let jsonl = "{\"user_id\":\"u\",\"session_id\":\"s\",\"messages\":[]}\n\n{\"user_id\":\"u\"}\n";
/// let records: Vec<_> = read_conversations(jsonl.as_bytes()).collect();
/// assert!(records[0].is_ok());
/// assert_eq!(
///     records[1].as_ref().unwrap_err().to_string(),
///     "line 3: a conversation needs a non-empty string \"session_id\""
/// );
/// ```
pub fn read_conversations<R: BufRead>(reader: R) -> impl Iterator<Item = Result<ConversationRecord, RecallError>> {
    reader.lines().enumerate().filter_map(|(index, line)| {
        let line_number = index + 1;
        match line {
            Err(err) => Some(Err(RecallError::Io(err))),
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(ConversationRecord::from_json(&line).map_err(|err| err.at_line(line_number))),
        }
    })
}

fn input(line: Option<usize>, reason: impl Into<String>) -> RecallError {
    RecallError::Input { line, reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn records_round_trip_with_tool_calls_ids_and_metadata() {
        let value = json!({
            "user_id": "u1",
            "session_id": "s1",
            "messages": [
                {"role": "user", "content": "weather?", "id": "m1", "metadata": {"lang": "en"}},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "content": "sunny", "tool_call_id": "c1"}
            ],
            "metadata": {"topic": "weather"}
        });
        let record = ConversationRecord::from_value(value.clone()).unwrap();
        assert_eq!(record.to_value(), value);
    }

    #[test]
    fn bad_records_are_named_errors() {
        let err = |json: &str| ConversationRecord::from_json(json).unwrap_err().to_string();
        assert_eq!(err("[]"), "a conversation must be a JSON object");
        assert_eq!(
            err(r#"{"user_id":"","session_id":"s","messages":[]}"#),
            "a conversation needs a non-empty string \"user_id\""
        );
        assert_eq!(err(r#"{"user_id":"u","session_id":"s"}"#), "a conversation needs an array \"messages\"");
        assert_eq!(
            err(r#"{"user_id":"u","session_id":"s","messages":[{"role":"robot","content":""}]}"#),
            "messages: message 0: unknown role \"robot\" (expected system, developer, user, assistant or tool, or a LangChain name such as human, ai, HumanMessage)"
        );
        assert_eq!(
            err(r#"{"user_id":"u","session_id":"s","messages":[],"user":"x"}"#),
            "unknown field \"user\" (expected user_id, session_id, messages, metadata)"
        );
        assert!(err("{").starts_with("malformed JSON: "));
    }
}
