//! `fit_context`: the reference library's tests (test_context.py 3–14 and 16–21) with exact
//! values, and its defects (summary dropped while messages fit, budget not enforced after
//! summarizing, an LLM call on an empty transcript, the system prompt summarized) replaced
//! by the correct behaviour.

use std::sync::{Arc, Mutex};

use agent_memory::context::{ContextResult, FitAction, FitError, FitOptions, SUMMARY_PREFIX, fit_context};
use agent_memory::message::{Message, Role, ToolCall, parse_messages};
use agent_memory::models::counter_for_model;
use agent_memory::summarize::{SummarizeError, Summarizer};
use agent_memory::tokens::{ApproximateCounter, TokenCount, TokenCounter};
use async_trait::async_trait;
use serde_json::json;

/// A summarizer that answers from a script and records what it was asked.
struct ScriptedSummarizer {
    replies: Mutex<Vec<Result<String, String>>>,
    calls: Mutex<Vec<(Vec<String>, Option<String>)>>,
}

impl ScriptedSummarizer {
    fn new(replies: &[&str]) -> Arc<ScriptedSummarizer> {
        Arc::new(ScriptedSummarizer {
            replies: Mutex::new(replies.iter().rev().map(|r| Ok((*r).to_owned())).collect()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn failing(reason: &str) -> Arc<ScriptedSummarizer> {
        Arc::new(ScriptedSummarizer {
            replies: Mutex::new(vec![Err(reason.to_owned())]),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<(Vec<String>, Option<String>)> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl Summarizer for ScriptedSummarizer {
    async fn summarize(&self, messages: &[Message], existing: Option<&str>) -> Result<String, SummarizeError> {
        assert!(!messages.is_empty(), "the summarizer must never be called with nothing to summarize");
        let texts = messages.iter().map(|m| m.text().into_owned()).collect();
        self.calls.lock().expect("not poisoned").push((texts, existing.map(str::to_owned)));
        match self.replies.lock().expect("not poisoned").pop().expect("the script has a reply for every call") {
            Ok(reply) => Ok(reply),
            Err(reason) => Err(SummarizeError::Failed(reason)),
        }
    }
}

/// 84 approximate tokens: 320 characters (80) plus 4.
fn long(i: usize) -> Message {
    let text = format!("{i:02}{}", "x".repeat(318));
    if i.is_multiple_of(2) { Message::user(text) } else { Message::assistant(text) }
}

fn long_conversation(n: usize) -> Vec<Message> {
    (0..n).map(long).collect()
}

fn texts(result: &ContextResult) -> Vec<String> {
    result.messages.iter().map(|m| m.text().into_owned()).collect()
}

#[tokio::test]
async fn empty_input() {
    // Reference test 3.
    let result = fit_context(&[], 100, &FitOptions::new()).await.unwrap();
    assert_eq!(
        result,
        ContextResult {
            messages: vec![],
            action: FitAction::None,
            tokens: TokenCount::exact(0),
            summary: None,
            original_count: 0,
            final_count: 0,
            summarized_count: 0,
        }
    );
}

#[tokio::test]
async fn messages_that_fit_are_returned_unchanged() {
    // Reference tests 4, 16 and 21.
    let messages = vec![Message::user("Hello"), Message::assistant("Hi there!")];
    let result = fit_context(&messages, 4000, &FitOptions::new()).await.unwrap();
    assert_eq!(result.messages, messages);
    assert_eq!((result.action, result.original_count, result.final_count), (FitAction::None, 2, 2));
    // "Hello" 4+2, "Hi there!" 4+3.
    assert_eq!(result.tokens, TokenCount::approximate(13));
    let one = [Message::user("Hello")];
    let result = fit_context(&one, 4000, &FitOptions::new()).await.unwrap();
    assert_eq!((result.messages.as_slice(), result.action), (&one[..], FitAction::None));
}

#[tokio::test]
async fn too_long_is_trimmed_to_the_budget() {
    // Reference tests 5 and 17 asserted final < original and tokens <= 200.
    let messages = long_conversation(20);
    let result = fit_context(&messages, 200, &FitOptions::new()).await.unwrap();
    assert_eq!(result.action, FitAction::Trimmed);
    assert_eq!(result.messages, messages[18..]);
    assert_eq!((result.original_count, result.final_count), (20, 2));
    assert_eq!(result.tokens, TokenCount::approximate(168));
}

#[tokio::test]
async fn trimming_keeps_the_system_message() {
    // Reference test 6. "Be helpful." is 4+3 = 7 tokens.
    let mut messages = vec![Message::system("Be helpful.")];
    messages.extend(long_conversation(3));
    let result = fit_context(&messages, 200, &FitOptions::new()).await.unwrap();
    assert_eq!(result.action, FitAction::Trimmed);
    assert_eq!(result.messages, [&messages[0], &messages[2], &messages[3]].map(Clone::clone));
    assert_eq!(result.tokens.tokens, 175);
}

#[tokio::test]
async fn json_messages_keep_their_roles() {
    // Reference test 7.
    let messages =
        parse_messages(r#"[{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi!"}]"#).unwrap();
    let result = fit_context(&messages, 4000, &FitOptions::new()).await.unwrap();
    let roles: Vec<Role> = result.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant]);
}

#[tokio::test]
async fn an_existing_summary_is_injected_while_messages_fit() {
    // Reference test 8 passed the summary through but left it out of the messages.
    let messages = vec![Message::system("Be brief."), Message::user("hi")];
    let options = FitOptions::new().with_summary("PRIOR");
    let result = fit_context(&messages, 4000, &options).await.unwrap();
    assert_eq!(result.action, FitAction::None);
    assert_eq!(texts(&result), ["Be brief.", "[Conversation summary]\nPRIOR", "hi"]);
    assert_eq!(result.messages[1].role, Role::System);
    assert_eq!(result.summary.as_deref(), Some("PRIOR"));
    assert_eq!((result.original_count, result.final_count), (2, 3));
}

#[tokio::test]
async fn trimming_keeps_the_summary() {
    // Reference test 9.
    let messages = long_conversation(10);
    let result = fit_context(&messages, 200, &FitOptions::new().with_summary("PRIOR")).await.unwrap();
    assert_eq!(result.action, FitAction::Trimmed);
    assert_eq!(result.summary.as_deref(), Some("PRIOR"));
    // Summary message: 28 chars -> 7 + 4 = 11; then two long messages (168): 179.
    assert_eq!(texts(&result)[0], format!("{SUMMARY_PREFIX}PRIOR"));
    assert_eq!(result.messages[1..], messages[8..]);
    assert_eq!(result.tokens.tokens, 179);
}

#[tokio::test]
async fn a_summarizer_is_not_called_while_messages_fit() {
    // Reference test 10.
    let summarizer = ScriptedSummarizer::new(&[]);
    let options = FitOptions::new().with_summarizer(summarizer.clone());
    let result = fit_context(&[Message::user("Hello")], 4000, &options).await.unwrap();
    assert_eq!((result.action, result.summary), (FitAction::None, None));
    assert!(summarizer.calls().is_empty());
}

#[tokio::test]
async fn old_messages_are_summarized_and_the_budget_holds() {
    // Reference tests 11 and 18; the reference returned 282 tokens for a budget of 200 here.
    let summarizer = ScriptedSummarizer::new(&["This is a summary of the conversation."]);
    let options = FitOptions::new().with_summarizer(summarizer.clone()).with_keep(3);
    let messages = long_conversation(20);
    let result = fit_context(&messages, 200, &options).await.unwrap();
    assert_eq!(result.action, FitAction::Summarized);
    assert_eq!(result.summary.as_deref(), Some("This is a summary of the conversation."));
    // Only 2 of the 3 messages to keep fit next to the summary; the 18 others are summarized.
    let calls = summarizer.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0.len(), 18);
    assert_eq!(calls[0].1, None);
    assert_eq!(result.messages[1..], messages[18..]);
    // Summary message: 23 + 38 = 61 chars -> 16 + 4 = 20; plus 168.
    assert_eq!(result.tokens, TokenCount::approximate(188));
    assert_eq!((result.original_count, result.final_count, result.summarized_count), (20, 3, 18));
}

#[tokio::test]
async fn keep_is_the_most_messages_kept() {
    // Reference test 12 asserted final_count <= 6.
    let summarizer = ScriptedSummarizer::new(&["S"]);
    let options = FitOptions::new().with_summarizer(summarizer).with_keep(5);
    let messages: Vec<Message> = (0..30).map(|i| Message::user(format!("message number {i:02}"))).collect();
    // Each message: 17 chars -> 5 + 4 = 9 tokens; 270 in all.
    let result = fit_context(&messages, 100, &options).await.unwrap();
    assert_eq!(result.action, FitAction::Summarized);
    assert_eq!(result.final_count, 6);
    assert_eq!(result.messages[1..], messages[25..]);
    assert_eq!(result.tokens.tokens, 10 + 45);
}

#[tokio::test]
async fn an_existing_summary_is_extended() {
    // Reference test 13: the summarizer receives the old summary.
    let summarizer = ScriptedSummarizer::new(&["NEW"]);
    let options = FitOptions::new().with_summarizer(summarizer.clone()).with_keep(2).with_summary("OLD");
    let result = fit_context(&long_conversation(6), 200, &options).await.unwrap();
    assert_eq!(result.summary.as_deref(), Some("NEW"));
    assert_eq!(summarizer.calls()[0].1.as_deref(), Some("OLD"));
    assert_eq!(texts(&result)[0], "[Conversation summary]\nNEW");
    assert_eq!(result.final_count, 3);
}

#[tokio::test]
async fn the_system_prompt_stays_first_and_is_not_summarized() {
    // Reference test 14; the reference also put the system prompt into the transcript.
    let summarizer = ScriptedSummarizer::new(&["S"]);
    let options = FitOptions::new().with_summarizer(summarizer.clone()).with_keep(1);
    let mut messages = vec![Message::system("You are helpful.")];
    messages.extend(long_conversation(20));
    let result = fit_context(&messages, 300, &options).await.unwrap();
    assert_eq!(result.messages[0], messages[0]);
    assert_eq!(texts(&result)[1], "[Conversation summary]\nS");
    assert_eq!(result.messages[2..], messages[20..]);
    let summarized = &summarizer.calls()[0].0;
    assert_eq!(summarized.len(), 19);
    assert!(!summarized.contains(&"You are helpful.".to_owned()));
}

#[tokio::test]
async fn keep_zero_summarizes_everything() {
    // Reference test 19.
    let summarizer = ScriptedSummarizer::new(&["all of it"]);
    let options = FitOptions::new().with_summarizer(summarizer).with_keep(0);
    let result = fit_context(&long_conversation(5), 200, &options).await.unwrap();
    assert_eq!(result.final_count, 1);
    assert_eq!(texts(&result), ["[Conversation summary]\nall of it"]);
    assert_eq!(result.summarized_count, 5);
}

#[tokio::test]
async fn a_single_message_over_a_tiny_budget_is_dropped() {
    // Reference test 20 only asserted that messages is not None.
    let result = fit_context(&[Message::user("x".repeat(100))], 10, &FitOptions::new()).await.unwrap();
    assert_eq!((result.action, result.messages, result.tokens), (FitAction::Trimmed, vec![], TokenCount::exact(0)));
}

#[tokio::test]
async fn keep_covering_everything_makes_no_summarizer_call() {
    // The reference called the LLM with an empty transcript and grew the output.
    let summarizer = ScriptedSummarizer::new(&[]);
    let options = FitOptions::new().with_summarizer(summarizer.clone()).with_keep(3);
    let messages = long_conversation(3);
    let result = fit_context(&messages, 200, &options).await.unwrap();
    assert!(summarizer.calls().is_empty());
    assert_eq!(result.action, FitAction::Trimmed);
    assert_eq!(result.messages, messages[1..]);
}

#[tokio::test]
async fn a_long_new_summary_absorbs_the_messages_it_displaces() {
    // The first summary (423 chars -> 110 tokens) leaves room for 1 of the 2 kept messages;
    // the displaced one is folded into the summary by a second call, not silently dropped.
    let long_summary = "y".repeat(400);
    let summarizer = ScriptedSummarizer::new(&[&long_summary, "T"]);
    let options = FitOptions::new().with_summarizer(summarizer.clone()).with_keep(3);
    let messages = long_conversation(20);
    let result = fit_context(&messages, 200, &options).await.unwrap();
    let calls = summarizer.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].0, [messages[18].text().into_owned()]);
    assert_eq!(calls[1].1.as_deref(), Some(long_summary.as_str()));
    assert_eq!(result.summary.as_deref(), Some("T"));
    assert_eq!(result.messages[1..], messages[19..]);
    assert_eq!((result.summarized_count, result.final_count, result.tokens.tokens), (19, 2, 94));
}

#[tokio::test]
async fn a_tool_call_is_not_split_from_its_results_at_the_boundary() {
    let summarizer = ScriptedSummarizer::new(&["S"]);
    let options = FitOptions::new().with_summarizer(summarizer.clone()).with_keep(2);
    let call = |id: &str| ToolCall::new(id, "f", &json!({}));
    let mut messages = long_conversation(4);
    messages.extend([
        Message::assistant_tool_calls(vec![call("a"), call("b")]),
        Message::tool("a", "1"),
        Message::tool("b", "2"),
        Message::assistant("done"),
    ]);
    let result = fit_context(&messages, 200, &options).await.unwrap();
    // Keeping 2 would keep the result "2" without its call: only "done" is kept.
    assert_eq!(result.messages[1..], messages[7..]);
    assert_eq!(summarizer.calls()[0].0.len(), 7);
}

#[tokio::test]
async fn system_messages_over_the_budget_are_an_error() {
    let messages = vec![Message::system("x".repeat(400)), Message::user("hi")];
    let err = fit_context(&messages, 50, &FitOptions::new()).await.unwrap_err();
    assert!(matches!(err, FitError::OverBudget { required: 104, max_tokens: 50 }));
    assert_eq!(
        err.to_string(),
        "the system messages and the summary alone need 104 tokens, over the budget of 50: raise max_tokens or shorten them"
    );
}

#[tokio::test]
async fn a_failing_summarizer_is_an_error() {
    let options = FitOptions::new().with_summarizer(ScriptedSummarizer::failing("rate limited")).with_keep(1);
    let err = fit_context(&long_conversation(5), 200, &options).await.unwrap_err();
    assert_eq!(err.to_string(), "summarization failed: rate limited");
}

#[tokio::test]
async fn counts_are_exact_with_a_models_tokenizer() {
    let messages = vec![Message::system("Be brief."), Message::user("Hello, world!")];
    let result = fit_context(&messages, 4000, &FitOptions::for_model("gpt-4o").with_summary("PRIOR")).await.unwrap();
    let counter = counter_for_model("gpt-4o");
    assert_eq!(result.tokens, counter.count_messages(&result.messages));
    assert!(result.tokens.exact);
    // The approximate counter says it is not exact.
    let result = fit_context(&messages, 4000, &FitOptions::for_model("claude-sonnet-4-5")).await.unwrap();
    assert_eq!(result.tokens, ApproximateCounter.count_messages(&messages));
    assert!(!result.tokens.exact);
}

#[tokio::test]
async fn ids_and_metadata_survive() {
    let mut messages: Vec<Message> =
        long_conversation(4).into_iter().enumerate().map(|(i, m)| m.with_id(format!("m{i}"))).collect();
    messages[3].metadata.insert("pinned".into(), json!(true));
    let result = fit_context(&messages, 200, &FitOptions::new()).await.unwrap();
    assert_eq!(result.messages, messages[2..]);
}
