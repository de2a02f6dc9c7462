//! `summarize_messages` and `SummarizationMiddleware`: the reference tests (§2
//! test_memory.py 20–27) with exact values, and the rules the reference breaks.

#![allow(clippy::unwrap_used)] // helpers of a test may panic: that is the test failing

use std::sync::Arc;

use agent_memory::llm::{ChatModel, ScriptedChat};
use agent_memory::message::{Message, ToolCall};
use agent_memory::summarize::{
    LlmSummarizer, SummarizationMiddleware, SummarizeOptions, SummarizeResult, extend_summary, summarize_messages,
};
use agent_memory::tokens::{ApproximateCounter, TokenCounter};
use serde_json::json;

fn scripted(replies: &[&str]) -> Arc<ScriptedChat> {
    Arc::new(ScriptedChat::new(replies.iter().map(|reply| Message::assistant(*reply))))
}

fn summarizer(model: &Arc<ScriptedChat>) -> LlmSummarizer {
    LlmSummarizer::new(model.clone() as Arc<dyn ChatModel>)
}

fn numbered(count: usize) -> Vec<Message> {
    (1..=count)
        .map(
            |i| {
                if i % 2 == 1 {
                    Message::user(format!("Message {i}"))
                } else {
                    Message::assistant(format!("Reply {i}"))
                }
            },
        )
        .collect()
}

/// The prompt the model was sent in its `index`th request.
fn prompt(model: &ScriptedChat, index: usize) -> String {
    let requests = model.requests();
    assert_eq!(requests[index].messages.len(), 1);
    requests[index].messages[0].text().into_owned()
}

// 20. 6 messages, keep_last=2 → the model's text is the summary; 4 summarized, 2 kept.
#[tokio::test]
async fn reference_20_summarizes_all_but_the_last_two() {
    let model = scripted(&["Summary of conversation"]);
    let messages = numbered(6);
    let result = summarize_messages(&messages, &SummarizeOptions::keep_last(2), &summarizer(&model)).await.unwrap();
    assert_eq!(
        result,
        SummarizeResult {
            messages: vec![
                Message::system("[Previous conversation summary]\nSummary of conversation"),
                Message::user("Message 5"),
                Message::assistant("Reply 6"),
            ],
            summary: "Summary of conversation".into(),
            original_count: 6,
            summarized_count: 4,
            kept_count: 2,
        }
    );
    assert_eq!(
        prompt(&model, 0),
        "Summarize the following conversation history concisely.\nFocus on:\n- Key topics discussed\n\
         - Important decisions made\n- Relevant context for continuing the conversation\n\
         - Any user preferences or facts mentioned\n\nKeep the summary brief but comprehensive enough to maintain \
         conversation context.\n\nConversation to summarize:\nUser: Message 1\nAssistant: Reply 2\nUser: Message 3\n\
         Assistant: Reply 4\n\nSummary:"
    );
}

// 21. System + 4 messages, keep_last=1 → [the system message, the summary, the last one].
#[tokio::test]
async fn reference_21_keeps_the_system_message_out_of_the_summary() {
    let model = scripted(&["Summary"]);
    let mut messages = vec![Message::system("system prompt")];
    messages.extend(numbered(4));
    let result = summarize_messages(&messages, &SummarizeOptions::keep_last(1), &summarizer(&model)).await.unwrap();
    assert_eq!(
        result.messages,
        vec![
            Message::system("system prompt"),
            Message::system("[Previous conversation summary]\nSummary"),
            Message::assistant("Reply 4")
        ]
    );
    assert_eq!((result.original_count, result.summarized_count, result.kept_count), (5, 3, 1));
    assert!(!prompt(&model, 0).contains("system prompt"));
}

// 22. 2 messages, keep_last=5 → no model call, empty summary.
#[tokio::test]
async fn reference_22_keep_last_at_least_len_makes_no_call() {
    let model = scripted(&[]);
    let messages = numbered(2);
    let result = summarize_messages(&messages, &SummarizeOptions::keep_last(5), &summarizer(&model)).await.unwrap();
    assert_eq!(
        result,
        SummarizeResult {
            messages: messages.clone(),
            summary: String::new(),
            original_count: 2,
            summarized_count: 0,
            kept_count: 2
        }
    );
    assert!(model.requests().is_empty());
}

// 23. An empty list → an empty result, no call.
#[tokio::test]
async fn reference_23_empty_input() {
    let model = scripted(&[]);
    let result = summarize_messages(&[], &SummarizeOptions::keep_last(5), &summarizer(&model)).await.unwrap();
    assert_eq!(
        result,
        SummarizeResult {
            messages: vec![],
            summary: String::new(),
            original_count: 0,
            summarized_count: 0,
            kept_count: 0
        }
    );
    assert!(model.requests().is_empty());
}

// 24. trigger_tokens=50: "Hi" (5 approximate tokens) → no; 500 × "x" (129) → yes.
#[test]
fn reference_24_token_trigger() {
    let middleware = SummarizationMiddleware::new().trigger_tokens(50);
    let short = [Message::user("Hi")];
    let long = [Message::user("x".repeat(500))];
    assert_eq!(ApproximateCounter.count_messages(&short).tokens, 5);
    assert_eq!(ApproximateCounter.count_messages(&long).tokens, 129);
    assert!(!middleware.should_summarize(&short));
    assert!(middleware.should_summarize(&long));
    let at_limit = [Message::user("x".repeat(184))]; // 4 + 46 = 50: the trigger is strict
    assert!(!middleware.should_summarize(&at_limit));
    assert!(!SummarizationMiddleware::new().should_summarize(&long), "no trigger set: never");
    assert!(!middleware.should_summarize(&[]));
}

// 25. trigger_messages=3: 2 messages → no; 5 → yes.
#[test]
fn reference_25_message_trigger() {
    let middleware = SummarizationMiddleware::new().trigger_messages(3);
    assert!(!middleware.should_summarize(&numbered(2)));
    assert!(!middleware.should_summarize(&numbered(3)));
    assert!(middleware.should_summarize(&numbered(5)));
}

// 26. Not triggered → `process` returns the input unchanged (and calls nothing).
#[tokio::test]
async fn reference_26_untriggered_process_is_identity() {
    let model = scripted(&[]);
    let middleware = SummarizationMiddleware::new().trigger_messages(10).with_model(model.clone());
    let messages = numbered(4);
    assert_eq!(middleware.process(messages.clone()).await.unwrap(), messages);
    assert!(model.requests().is_empty());
    assert_eq!(middleware.last_summary(), None);
}

// 27. trigger_messages=3, keep_last=1, 4 messages → [summary, last], one model call.
#[tokio::test]
async fn reference_27_triggered_process_summarizes_once() {
    let model = scripted(&["Summary"]);
    let middleware = SummarizationMiddleware::new().trigger_messages(3).keep_last(1).with_model(model.clone());
    let processed = middleware.process(numbered(4)).await.unwrap();
    assert_eq!(
        processed,
        vec![Message::system("[Previous conversation summary]\nSummary"), Message::assistant("Reply 4")]
    );
    assert_eq!(model.requests().len(), 1);
    assert_eq!(middleware.last_summary().as_deref(), Some("Summary"));
}

fn tool_conversation() -> Vec<Message> {
    vec![
        Message::system("sys"),
        Message::user("Weather in Paris and Rome?"),
        Message::assistant_tool_calls(vec![
            ToolCall::new("a", "weather", &json!({"city": "Paris"})),
            ToolCall::new("b", "weather", &json!({"city": "Rome"})),
        ]),
        Message::tool("a", "sunny"),
        Message::tool("b", "rain"),
        Message::assistant("Paris is sunny, Rome rainy."),
    ]
}

#[tokio::test]
async fn the_cut_never_separates_a_tool_call_from_its_results() {
    let model = scripted(&["User asked about weather."]);
    let messages = tool_conversation();
    // keep_last 2 would start the kept part at the tool result "b": the cut moves back to
    // the assistant turn that called it.
    let result = summarize_messages(&messages, &SummarizeOptions::keep_last(2), &summarizer(&model)).await.unwrap();
    assert_eq!(result.messages[0], Message::system("sys"));
    assert_eq!(result.messages[1], Message::system("[Previous conversation summary]\nUser asked about weather."));
    assert_eq!(result.messages[2..], messages[2..]);
    assert_eq!((result.summarized_count, result.kept_count), (1, 4));
    assert!(prompt(&model, 0).contains("Conversation to summarize:\nUser: Weather in Paris and Rome?\n\nSummary:"));
}

#[tokio::test]
async fn a_cut_that_can_only_move_to_the_start_makes_no_call() {
    let model = scripted(&[]);
    let mut messages = tool_conversation();
    messages.remove(1); // system, call, result a, result b, answer
    // keep_last 2 starts at result b; moving back over the results reaches the call,
    // which is the first message after the system prompt: nothing is left to summarize.
    let result = summarize_messages(&messages, &SummarizeOptions::keep_last(2), &summarizer(&model)).await.unwrap();
    assert_eq!((result.messages.clone(), result.summarized_count, result.kept_count), (messages, 0, 5));
    assert!(model.requests().is_empty());
}

#[tokio::test]
async fn include_system_false_summarizes_the_system_message_too() {
    let model = scripted(&["S"]);
    let mut messages = vec![Message::system("system prompt")];
    messages.extend(numbered(2));
    let options = SummarizeOptions::keep_last(1).include_system(false);
    let result = summarize_messages(&messages, &options, &summarizer(&model)).await.unwrap();
    assert_eq!(
        result.messages,
        vec![Message::system("[Previous conversation summary]\nS"), Message::assistant("Reply 2")]
    );
    assert!(prompt(&model, 0).contains("System: system prompt\nUser: Message 1\n"));
}

#[tokio::test]
async fn a_previous_summary_is_extended_not_stacked() {
    let model = scripted(&["First summary", "Second summary"]);
    let middleware = SummarizationMiddleware::new().trigger_messages(4).keep_last(2).with_model(model.clone());
    let mut conversation = vec![Message::system("sys")];
    conversation.extend(numbered(4));
    let first = middleware.process(conversation).await.unwrap();
    assert_eq!(first.len(), 4); // sys, summary, Message 3, Reply 4
    let mut grown = first;
    grown.extend([Message::user("Message 5"), Message::assistant("Reply 6")]);
    let second = middleware.process(grown).await.unwrap();
    assert_eq!(
        second,
        vec![
            Message::system("sys"),
            Message::system("[Previous conversation summary]\nSecond summary"),
            Message::user("Message 5"),
            Message::assistant("Reply 6"),
        ]
    );
    assert_eq!(
        prompt(&model, 1),
        "You have an existing summary of a conversation, plus new messages.\nCreate an updated summary that \
         incorporates both.\n\nExisting summary:\nFirst summary\n\nNew messages:\nUser: Message 3\nAssistant: Reply 4\n\n\
         Updated summary:"
    );
}

#[tokio::test]
async fn extend_summary_passes_the_existing_summary() {
    let model = scripted(&["Both"]);
    let result =
        extend_summary("Old facts.", &numbered(3), &SummarizeOptions::keep_last(1), &summarizer(&model)).await.unwrap();
    assert_eq!(
        result.messages,
        vec![Message::system("[Previous conversation summary]\nBoth"), Message::user("Message 3")]
    );
    assert!(
        prompt(&model, 0)
            .contains("Existing summary:\nOld facts.\n\nNew messages:\nUser: Message 1\nAssistant: Reply 2\n")
    );
}

#[tokio::test]
async fn model_failures_and_empty_summaries_are_errors() {
    let model = scripted(&["   "]);
    let err = summarize_messages(&numbered(3), &SummarizeOptions::keep_last(1), &summarizer(&model)).await.unwrap_err();
    assert_eq!(err.to_string(), "summarization failed: the summarizer returned an empty summary");
    let err = summarize_messages(&numbered(3), &SummarizeOptions::keep_last(1), &summarizer(&model)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "summarization failed: the scripted model has no response left for request 2 (it was given 1)"
    );
}

#[tokio::test]
async fn custom_prompts_and_token_caps_reach_the_model() {
    let model = scripted(&["S"]);
    let custom = summarizer(&model).with_prompt("Facts only:\n{conversation}").with_max_tokens(64);
    summarize_messages(&numbered(2), &SummarizeOptions::keep_last(1), &custom).await.unwrap();
    assert_eq!(prompt(&model, 0), "Facts only:\nUser: Message 1");
    assert_eq!(model.requests()[0].max_tokens, Some(64));
    assert!(model.requests()[0].tools.is_empty());
}
