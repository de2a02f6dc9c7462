//! The recall tool: the reference's tests (test_conversation_memory.py 21–30) with exact
//! output text.

#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

use std::sync::Arc;

use agent_memory::agent::{Agent, Tool, ToolError};
use agent_memory::embed::HashEmbedder;
use agent_memory::llm::ScriptedChat;
use agent_memory::message::{Message, Role, ToolCall};
use agent_memory::recall::{
    ConversationMemory, DEFAULT_TOOL_DESCRIPTION, DEFAULT_TOOL_NAME, MISSING_USER_TEXT, NO_RESULTS_TEXT,
    create_memory_tool,
};
use serde_json::json;

async fn memory_with_history() -> ConversationMemory {
    let memory = ConversationMemory::in_memory().with_embedder(Arc::new(HashEmbedder::new(256)));
    let topics = [("s1", "python"), ("s2", "rust"), ("s3", "go")];
    for (session, topic) in topics {
        let messages = [
            Message::user(format!("How do I handle errors in {topic}? test query")),
            Message::assistant(format!("In {topic}, handle errors explicitly.")),
        ];
        let metadata = json!({"topic": topic, "date": "2025-01-01"});
        memory.index_conversation("user_1", session, &messages, metadata.as_object().unwrap()).await.unwrap();
    }
    memory
}

#[tokio::test]
async fn t21_default_name_description_and_schema() {
    let tool = create_memory_tool(ConversationMemory::in_memory(), Some("user_1"));
    assert_eq!(tool.name(), "recall_past_conversations");
    assert_eq!(tool.name(), DEFAULT_TOOL_NAME);
    assert_eq!(
        tool.description(),
        "Search through past conversations with this user to find relevant context, solutions, or preferences \
         discussed before. Use this when the user references something from a previous conversation."
    );
    assert_eq!(tool.description(), DEFAULT_TOOL_DESCRIPTION);
    assert_eq!(
        tool.input_schema(),
        json!({"title":"MemoryToolInput","description":"Input schema for memory search tool.","type":"object",
               "properties":{"query":{"type":"string","title":"Query","description":"Search query to find relevant past conversations. Be specific about what you're looking for."}},
               "required":["query"]})
    );
}

#[tokio::test]
async fn t22_custom_name_and_description() {
    let tool = create_memory_tool(ConversationMemory::in_memory(), Some("user_1"))
        .with_name("search_history")
        .with_description("Search the history.");
    assert_eq!((tool.name(), tool.description()), ("search_history", "Search the history."));
}

#[tokio::test]
async fn t23_without_a_user_the_tool_says_so() {
    let tool = create_memory_tool(memory_with_history().await, None);
    assert_eq!(tool.recall("test query").await.unwrap(), MISSING_USER_TEXT);
    assert_eq!(MISSING_USER_TEXT, "Error: user_id not provided when creating the tool. Cannot search conversations.");
}

#[tokio::test]
async fn t24_with_a_user_and_history_the_tool_answers_exactly() {
    let tool = create_memory_tool(memory_with_history().await, Some("user_1")).limit(1);
    assert_eq!(
        tool.recall("errors in rust").await.unwrap(),
        "### Result 1\n\n[Topic: rust, Date: 2025-01-01]\n\n\
         Human: How do I handle errors in rust? test query\nAssistant: In rust, handle errors explicitly."
    );
}

#[tokio::test]
async fn t25_a_user_without_history_gets_the_no_results_text() {
    let tool = create_memory_tool(memory_with_history().await, Some("someone_else"));
    assert_eq!(tool.recall("test query").await.unwrap(), "No relevant past conversations found.");
    assert_eq!(NO_RESULTS_TEXT, "No relevant past conversations found.");
}

#[tokio::test]
async fn t26_limit_caps_the_results_and_separates_them() {
    let tool = create_memory_tool(memory_with_history().await, Some("user_1")).limit(2);
    let answer = tool.recall("test query").await.unwrap();
    assert_eq!(answer.matches("### Result").count(), 2);
    assert_eq!(answer.matches("\n\n---\n\n").count(), 1);
    assert!(answer.starts_with("### Result 1\n\n[Topic: "));
    assert!(answer.contains("\n\n---\n\n### Result 2\n\n[Topic: "));
}

#[tokio::test]
async fn t27_scores_are_shown_with_two_decimals() {
    let tool = create_memory_tool(memory_with_history().await, Some("user_1")).limit(3).return_scores(true);
    let answer = tool.recall("errors in rust").await.unwrap();
    let scores: Vec<&str> = answer.lines().filter(|l| l.starts_with("**Score:** ")).collect();
    assert_eq!(scores.len(), 3);
    // Hybrid scores are normalized RRF: the first result scores 1.00 when it ranks first in both lists.
    assert_eq!(scores[0], "**Score:** 1.00");
    assert!(scores.iter().all(|s| s.len() == "**Score:** 0.00".len()));
}

#[tokio::test]
async fn t28_max_chars_cuts_with_an_ellipsis() {
    let tool = create_memory_tool(memory_with_history().await, Some("user_1")).max_chars(100);
    let answer = tool.recall("test query").await.unwrap();
    assert_eq!(answer.chars().count(), 100);
    assert!(answer.ends_with("..."));
    assert!(answer.starts_with("### Result 1\n\n[Topic: "));
    // Short answers are not cut.
    let tool = create_memory_tool(memory_with_history().await, Some("nobody")).max_chars(100);
    assert_eq!(tool.recall("test query").await.unwrap(), NO_RESULTS_TEXT);
}

#[tokio::test]
async fn t29_t30_the_tool_is_async_and_takes_json_arguments() {
    let tool = create_memory_tool(memory_with_history().await, Some("user_1"));
    let answer = tool.call(json!({"query": "test"})).await.unwrap();
    assert_eq!(answer.matches("### Result").count(), 3);
    assert_eq!(
        tool.call(json!({"q": "test"})).await,
        Err(ToolError::InvalidInput("the tool needs a string \"query\"".into()))
    );
    assert_eq!(tool.recall("   ").await, Err(ToolError::InvalidInput("\"query\" must not be blank".into())));
    assert_eq!(tool.definition().name, "recall_past_conversations");
}

#[tokio::test]
async fn an_agent_calls_the_tool_and_reads_its_answer() {
    let tool = create_memory_tool(memory_with_history().await, Some("user_1")).limit(1);
    let call = ToolCall::new("call_1", DEFAULT_TOOL_NAME, &json!({"query": "errors in go"}));
    let model = Arc::new(ScriptedChat::new([
        Message::assistant_tool_calls(vec![call]),
        Message::assistant("We said: handle errors explicitly."),
    ]));
    let agent = Agent::builder(model.clone()).tool(tool).build().unwrap();
    let run = agent.run("How did we handle errors in Go last time?", None).await.unwrap();
    assert_eq!(run.reply, "We said: handle errors explicitly.");
    let result = run.messages.iter().find(|m| m.role == Role::Tool).unwrap();
    assert_eq!(
        result.text(),
        "### Result 1\n\n[Topic: go, Date: 2025-01-01]\n\n\
         Human: How do I handle errors in go? test query\nAssistant: In go, handle errors explicitly."
    );
    assert_eq!(model.requests()[0].tools[0].name, "recall_past_conversations");
}
