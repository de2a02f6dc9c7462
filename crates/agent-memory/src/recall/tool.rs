//! The `recall_past_conversations` tool: its name, description, input schema and output,
//! exactly as the reference writes them (reference §1.9).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{ConversationMemory, RecallQuery, SearchResult};
use crate::agent::{Tool, ToolError};

/// The tool's default name.
pub const DEFAULT_TOOL_NAME: &str = "recall_past_conversations";

/// The tool's default description.
pub const DEFAULT_TOOL_DESCRIPTION: &str = "Search through past conversations with this user to find relevant \
context, solutions, or preferences discussed before. Use this when the user references something from a previous \
conversation.";

/// The tool's answer when nothing relevant was found.
pub const NO_RESULTS_TEXT: &str = "No relevant past conversations found.";

/// The tool's answer when it was created without a user id.
pub const MISSING_USER_TEXT: &str = "Error: user_id not provided when creating the tool. Cannot search conversations.";

/// The JSON schema of the tool's input: one required string, `query`.
///
/// ```
/// let schema = agent_memory::recall::tool_input_schema();
/// assert_eq!(schema["required"], serde_json::json!(["query"]));
/// ```
pub fn tool_input_schema() -> Value {
    json!({
        "title": "MemoryToolInput",
        "description": "Input schema for memory search tool.",
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "title": "Query",
                "description": "Search query to find relevant past conversations. Be specific about what you're looking for."
            }
        },
        "required": ["query"]
    })
}

/// How the tool renders its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ToolOutputOptions {
    /// Adds a `**Score:** 0.87` line under each result header.
    pub return_scores: bool,
    /// Cuts the whole text to this many characters, the last three being `...`.
    pub max_chars: Option<usize>,
}

/// Renders search results as the tool's answer: `### Result i`, the optional score line, a
/// blank line and the result's context, with `---` between results; the no-results text
/// when there are none; then the `max_chars` cut.
///
/// ```
/// use agent_memory::recall::{format_tool_output, ToolOutputOptions, NO_RESULTS_TEXT};
///
/// assert_eq!(format_tool_output(&[], ToolOutputOptions::default()), NO_RESULTS_TEXT);
/// ```
pub fn format_tool_output(results: &[SearchResult], options: ToolOutputOptions) -> String {
    if results.is_empty() {
        return NO_RESULTS_TEXT.to_owned();
    }
    let rendered: Vec<String> = results
        .iter()
        .enumerate()
        .map(|(i, result)| {
            let mut text = format!("### Result {}", i + 1);
            if options.return_scores {
                text.push_str(&format!("\n**Score:** {:.2}", result.score));
            }
            text.push_str("\n\n");
            text.push_str(&result.context);
            text
        })
        .collect();
    let text = rendered.join("\n\n---\n\n");
    match options.max_chars {
        Some(max_chars) => truncate_with_ellipsis(text, max_chars),
        None => text,
    }
}

/// A recall tool for one user's past conversations (the seed's `create_memory_tool`, which
/// in Rust is async and so also its `create_memory_tool_async`).
///
/// The user is fixed when the tool is created, so the model cannot reach another user's
/// conversations.
///
/// ```
/// use agent_memory::agent::Tool;
/// use agent_memory::message::Message;
/// use agent_memory::recall::{create_memory_tool, ConversationMemory, DEFAULT_TOOL_NAME};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::recall::RecallError> {
/// let memory = ConversationMemory::in_memory();
/// let metadata = json!({"topic": "caching"});
/// let messages = [Message::user("Redis evicts our sessions"), Message::assistant("Raise maxmemory and use volatile-lru.")];
/// memory.index_conversation("user_123", "s1", &messages, metadata.as_object().unwrap()).await?;
///
/// let tool = create_memory_tool(memory, Some("user_123")).limit(3).return_scores(true);
/// assert_eq!(tool.name(), DEFAULT_TOOL_NAME);
/// let answer = tool.call(json!({"query": "redis sessions"})).await.unwrap();
/// assert!(answer.starts_with("### Result 1\n**Score:** "));
/// assert!(answer.ends_with("[Topic: caching]\n\nHuman: Redis evicts our sessions\nAssistant: Raise maxmemory and use volatile-lru."));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RecallTool {
    memory: ConversationMemory,
    user_id: Option<String>,
    name: String,
    description: String,
    limit: usize,
    min_score: Option<f64>,
    output: ToolOutputOptions,
}

/// Creates the recall tool over `memory` for `user_id`, with the reference's defaults:
/// name `recall_past_conversations`, its description, 3 results, no score threshold, no
/// scores shown, no length cap. Without a user id the tool answers with
/// [`MISSING_USER_TEXT`].
pub fn create_memory_tool(memory: ConversationMemory, user_id: Option<&str>) -> RecallTool {
    RecallTool {
        memory,
        user_id: user_id.map(str::to_owned),
        name: DEFAULT_TOOL_NAME.to_owned(),
        description: DEFAULT_TOOL_DESCRIPTION.to_owned(),
        limit: RecallTool::DEFAULT_LIMIT,
        min_score: None,
        output: ToolOutputOptions::default(),
    }
}

impl RecallTool {
    /// The reference's default number of results.
    pub const DEFAULT_LIMIT: usize = 3;

    /// Sets the tool's name.
    pub fn with_name(mut self, name: impl Into<String>) -> RecallTool {
        self.name = name.into();
        self
    }

    /// Sets the tool's description.
    pub fn with_description(mut self, description: impl Into<String>) -> RecallTool {
        self.description = description.into();
        self
    }

    /// Sets how many results the tool returns at most.
    pub fn limit(mut self, limit: usize) -> RecallTool {
        self.limit = limit;
        self
    }

    /// Keeps only results scoring at least `min_score`.
    pub fn min_score(mut self, min_score: f64) -> RecallTool {
        self.min_score = Some(min_score);
        self
    }

    /// Shows each result's score.
    pub fn return_scores(mut self, return_scores: bool) -> RecallTool {
        self.output.return_scores = return_scores;
        self
    }

    /// Caps the answer at `max_chars` characters.
    pub fn max_chars(mut self, max_chars: usize) -> RecallTool {
        self.output.max_chars = Some(max_chars);
        self
    }

    /// The user whose conversations the tool searches.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// Searches for `query` and renders the answer (see [`format_tool_output`]); without a
    /// user id, the answer is [`MISSING_USER_TEXT`].
    ///
    /// # Errors
    ///
    /// [`ToolError::InvalidInput`] for a blank query, [`ToolError::Failed`] when the search
    /// fails; an agent hands either to the model as an error result.
    pub async fn recall(&self, query: &str) -> Result<String, ToolError> {
        let Some(user_id) = &self.user_id else {
            return Ok(MISSING_USER_TEXT.to_owned());
        };
        if query.trim().is_empty() {
            return Err(ToolError::InvalidInput("\"query\" must not be blank".into()));
        }
        let mut search = RecallQuery::new(query).limit(self.limit);
        if let Some(min_score) = self.min_score {
            search = search.min_score(min_score);
        }
        let results = self.memory.search(user_id, &search).await.map_err(ToolError::failed)?;
        Ok(format_tool_output(&results, self.output))
    }
}

#[async_trait]
impl Tool for RecallTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> Value {
        tool_input_schema()
    }

    async fn call(&self, input: Value) -> Result<String, ToolError> {
        match input.get("query") {
            Some(Value::String(query)) => self.recall(query).await,
            _ => Err(ToolError::InvalidInput("the tool needs a string \"query\"".into())),
        }
    }
}

/// Cuts `text` to at most `max_chars` characters, ending in `...` when it was cut.
fn truncate_with_ellipsis(text: String, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text;
    }
    let keep = max_chars.saturating_sub(3);
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(&"..."[..max_chars.min(3)]);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_within_max_chars() {
        assert_eq!(truncate_with_ellipsis("héllo world".into(), 8), "héllo...");
        assert_eq!(truncate_with_ellipsis("hello".into(), 5), "hello");
        assert_eq!(truncate_with_ellipsis("hello".into(), 2), "..");
        assert_eq!(truncate_with_ellipsis("hello".into(), 0), "");
    }
}
