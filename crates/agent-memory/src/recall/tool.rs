//! The text of the `recall_past_conversations` tool: its name, description, input schema
//! and output, exactly as the reference writes them (reference §1.9).

use serde_json::{Value, json};

use super::SearchResult;

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
