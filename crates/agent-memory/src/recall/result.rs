//! What is stored for each chunk, and what a search returns.

use serde_json::{Map, Value, json};

use super::RecallError;
use super::transcript::{render_context, render_search_text};
use crate::message::{Message, messages_from_value};

/// One stored chunk of a past conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationChunk {
    /// Its id, deterministic in (user, session, offset) ([`super::chunk_id`]).
    pub chunk_id: String,
    /// Whose conversation it is.
    pub user_id: String,
    /// Which session it comes from.
    pub session_id: String,
    /// The position of its first line in the session's transcript.
    pub offset: usize,
    /// The messages it covers, whole, with their tool calls, ids and metadata.
    pub messages: Vec<Message>,
    /// Its transcript: one `Label: text` line per message (or piece of a long message).
    pub text: String,
    /// A short LLM summary, when the memory was built with a summarizer.
    pub summary: Option<String>,
    /// The metadata given when the conversation was indexed.
    pub metadata: Map<String, Value>,
    /// The conversation's date, `YYYY-MM-DD`: read from `metadata.date` (see
    /// [`super::parse_date`]), else the day it was indexed; `None` when `metadata.date` is
    /// not a recognisable date. Date-range searches compare it.
    pub date: Option<String>,
    /// When the chunk was stored (Unix seconds).
    pub created_at: f64,
}

impl ConversationChunk {
    /// The context shown to a model: `[Topic: …, Date: …]`, the summary, the transcript.
    ///
    /// ```
    /// use agent_memory::recall::ConversationChunk;
    /// use serde_json::json;
    ///
    /// let chunk = ConversationChunk {
    ///     chunk_id: "c".into(), user_id: "u".into(), session_id: "s".into(), offset: 0,
    ///     messages: vec![], text: "Human: Message 4\nHuman: Message 5".into(), summary: None,
    ///     metadata: json!({"topic": "t", "date": "2025-01-01"}).as_object().unwrap().clone(),
    ///     date: Some("2025-01-01".into()), created_at: 0.0,
    /// };
    /// assert_eq!(chunk.context(), "[Topic: t, Date: 2025-01-01]\n\nHuman: Message 4\nHuman: Message 5");
    /// ```
    pub fn context(&self) -> String {
        render_context(&self.metadata, self.summary.as_deref(), &self.text)
    }

    /// The text that is embedded and keyword-indexed: header, summary and transcript.
    pub fn search_text(&self) -> String {
        render_search_text(&self.metadata, self.summary.as_deref(), &self.text)
    }

    /// The stored JSON value of this chunk (everything but the user id, chunk id and
    /// creation time, which the store's namespace, key and item hold).
    pub fn to_value(&self) -> Value {
        json!({
            "session_id": self.session_id,
            "offset": self.offset,
            "date": self.date,
            "text": self.text,
            "summary": self.summary,
            "metadata": self.metadata,
            "messages": self.messages.iter().map(Message::to_value).collect::<Vec<_>>(),
        })
    }

    /// Reads a chunk back from its stored value, taking its parts out of it;
    /// [`RecallError::Corrupt`] when the value is not one that [`ConversationChunk::to_value`]
    /// wrote.
    pub(crate) fn from_value(
        user_id: &str,
        chunk_id: &str,
        created_at: f64,
        mut map: Map<String, Value>,
    ) -> Result<ConversationChunk, RecallError> {
        let corrupt = |what: &str| RecallError::Corrupt(format!("chunk {chunk_id:?} of user {user_id:?}: {what}"));
        let mut text_field = |key: &str| match map.remove(key) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        };
        let session_id = text_field("session_id").ok_or_else(|| corrupt("no session_id"))?;
        let text = text_field("text").ok_or_else(|| corrupt("no text"))?;
        let summary = text_field("summary");
        let date = text_field("date");
        let offset = map.get("offset").and_then(Value::as_u64).ok_or_else(|| corrupt("no offset"))?;
        let metadata = match map.remove("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(_) => return Err(corrupt("metadata is not an object")),
        };
        let messages = messages_from_value(map.remove("messages").unwrap_or(Value::Array(Vec::new())))
            .map_err(|err| corrupt(&format!("messages: {err}")))?;
        Ok(ConversationChunk {
            chunk_id: chunk_id.to_owned(),
            user_id: user_id.to_owned(),
            session_id,
            offset: usize::try_from(offset).map_err(|_| corrupt("offset out of range"))?,
            messages,
            text,
            summary,
            metadata,
            date,
            created_at,
        })
    }
}

/// One search hit: the chunk, its score, and the context to show a model.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The chunk found.
    pub chunk: ConversationChunk,
    /// Its relevance, higher is better: the store's score for the search mode (see
    /// [`crate::store::SearchMode`]).
    pub score: f64,
    /// [`ConversationChunk::context`], rendered once.
    pub context: String,
}

impl SearchResult {
    /// A result for `chunk` with `score`, rendering its context.
    pub fn new(chunk: ConversationChunk, score: f64) -> SearchResult {
        let context = chunk.context();
        SearchResult { chunk, score, context }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;

    #[test]
    fn stored_value_round_trips_tool_messages_ids_and_metadata() {
        let mut user = Message::user("weather in Paris?").with_id("m1");
        user.metadata.insert("lang".into(), json!("en"));
        let chunk = ConversationChunk {
            chunk_id: "abc".into(),
            user_id: "u".into(),
            session_id: "s".into(),
            offset: 8,
            messages: vec![
                user,
                Message::assistant_tool_calls(vec![ToolCall::new("c1", "get_weather", &json!({"city": "Paris"}))]),
                Message::tool("c1", "sunny").with_id("m3"),
            ],
            text: "Human: weather in Paris?".into(),
            summary: Some("asked for weather".into()),
            metadata: json!({"topic": "weather"}).as_object().unwrap().clone(),
            date: Some("2025-01-15".into()),
            created_at: 12.5,
        };
        let back =
            ConversationChunk::from_value("u", "abc", 12.5, chunk.to_value().as_object().unwrap().clone()).unwrap();
        assert_eq!(back, chunk);
    }

    #[test]
    fn corrupt_values_are_errors() {
        let err = ConversationChunk::from_value("u", "k", 0.0, json!({"text": "x"}).as_object().unwrap().clone())
            .unwrap_err();
        assert_eq!(err.to_string(), "stored chunk is corrupt: chunk \"k\" of user \"u\": no session_id");
    }
}
