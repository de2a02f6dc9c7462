//! `trim_messages`: the reference library's tests (test_memory.py 1–11 and 43) with exact
//! expected values, and its defects (orphaned tool results, budget overruns, only the
//! first system message preserved) replaced by the correct behaviour.

use std::sync::Arc;

use agent_memory::message::{Message, Role, ToolCall, parse_messages};
use agent_memory::models::counter_for_model;
use agent_memory::tokens::{ApproximateCounter, TokenCounter};
use agent_memory::trim::{TrimError, TrimOptions, TrimStrategy, trim_messages};
use serde_json::json;

fn four_messages() -> Vec<Message> {
    vec![Message::user("msg1"), Message::assistant("msg2"), Message::user("msg3"), Message::assistant("msg4")]
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text().into_owned()).collect()
}

#[test]
fn last_keeps_the_newest() {
    // Reference test 1.
    assert_eq!(texts(&trim_messages(&four_messages(), &TrimOptions::last(2)).unwrap()), ["msg3", "msg4"]);
}

#[test]
fn first_keeps_the_oldest() {
    // Reference test 2.
    assert_eq!(texts(&trim_messages(&four_messages(), &TrimOptions::first(2)).unwrap()), ["msg1", "msg2"]);
}

#[test]
fn a_leading_system_message_is_preserved_and_not_counted() {
    // Reference test 3.
    let mut messages = vec![Message::system("You are helpful")];
    messages.extend(four_messages());
    let trimmed = trim_messages(&messages, &TrimOptions::last(1)).unwrap();
    assert_eq!(trimmed, [messages[0].clone(), messages[4].clone()]);
    // Reference test 4.
    let trimmed = trim_messages(&messages, &TrimOptions::last(1).with_preserve_system(false)).unwrap();
    assert_eq!(trimmed, [messages[4].clone()]);
}

#[test]
fn token_keeps_the_newest_messages_that_fit() {
    // Reference test 5 only asserted len(result) <= len(input). Approximate counts:
    // "Hello" 4+2=6, "Hi there! How can I help?" 4+7=11, "Tell me about Rust" 4+5=9,
    // "Rust is a systems language." 4+7=11. Budget 20: 11 + 9 fit, 6 more would not.
    let messages = vec![
        Message::user("Hello"),
        Message::assistant("Hi there! How can I help?"),
        Message::user("Tell me about Rust"),
        Message::assistant("Rust is a systems language."),
    ];
    let trimmed = trim_messages(&messages, &TrimOptions::token(20)).unwrap();
    assert_eq!(trimmed, messages[2..]);
    assert_eq!(ApproximateCounter.count_messages(&trimmed).tokens, 20);
    assert_eq!(trim_messages(&messages, &TrimOptions::token(19)).unwrap(), messages[3..]);
}

#[test]
fn empty_input_gives_empty_output() {
    // Reference test 6.
    assert_eq!(trim_messages(&[], &TrimOptions::last(2)).unwrap(), []);
    assert_eq!(trim_messages(&[], &TrimOptions::token(0)).unwrap(), []);
}

#[test]
fn zero_messages_keeps_only_the_system_messages() {
    // Reference test 7.
    assert_eq!(trim_messages(&four_messages(), &TrimOptions::last(0)).unwrap(), []);
    let messages = vec![Message::system("s"), Message::user("u")];
    assert_eq!(trim_messages(&messages, &TrimOptions::last(0)).unwrap(), messages[..1]);
}

#[test]
fn json_messages_are_trimmed() {
    // Reference test 8.
    let messages =
        parse_messages(r#"[{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi"}]"#).unwrap();
    assert_eq!(texts(&trim_messages(&messages, &TrimOptions::last(1)).unwrap()), ["Hi"]);
}

#[test]
fn bad_options_are_clear_errors() {
    // Reference test 9.
    assert_eq!(
        "middle".parse::<TrimStrategy>().unwrap_err().to_string(),
        "unknown strategy \"middle\": use last, first or token"
    );
    // Reference tests 10 and 11.
    let err = trim_messages(&four_messages(), &TrimOptions::new(TrimStrategy::Last)).unwrap_err();
    assert_eq!(err.to_string(), "max_messages is required for strategy last");
    let err = trim_messages(&four_messages(), &TrimOptions::new(TrimStrategy::First)).unwrap_err();
    assert_eq!(err, TrimError::MissingMaxMessages { strategy: TrimStrategy::First });
    let err = trim_messages(&four_messages(), &TrimOptions::new(TrimStrategy::Token)).unwrap_err();
    assert_eq!(err.to_string(), "max_tokens is required for strategy token");
    // Unlike the reference, options are checked even when there is nothing to trim.
    assert_eq!(trim_messages(&[], &TrimOptions::new(TrimStrategy::Token)), Err(TrimError::MissingMaxTokens));
}

#[test]
fn system_plus_six_last_three() {
    // Reference test 43 asserted tokens > 0; the approximate count is exact here:
    // "Be helpful" 4+3=7, then "Message 3".."Message 5" at 4+3=7 each.
    let mut messages = vec![Message::system("Be helpful")];
    messages.extend((0..6).map(|i| Message::user(format!("Message {i}"))));
    let trimmed = trim_messages(&messages, &TrimOptions::last(3)).unwrap();
    assert_eq!(texts(&trimmed), ["Be helpful", "Message 3", "Message 4", "Message 5"]);
    assert_eq!(ApproximateCounter.count_messages(&trimmed).tokens, 28);
}

fn tool_conversation() -> Vec<Message> {
    vec![
        Message::system("You are a weather bot."),
        Message::user("What is the weather in Paris?"),
        Message::assistant_tool_calls(vec![ToolCall::new("call_1", "get_weather", &json!({"city": "Paris"}))]),
        Message::tool("call_1", "Sunny, 24 degrees."),
        Message::assistant("It is sunny and 24 degrees in Paris."),
    ]
}

#[test]
fn a_tool_result_is_never_orphaned_by_last() {
    // The reference returned [System, ToolMessage, AI] here: an orphan tool result.
    let messages = tool_conversation();
    let trimmed = trim_messages(&messages, &TrimOptions::last(2)).unwrap();
    assert_eq!(trimmed, [messages[0].clone(), messages[4].clone()]);
    let trimmed = trim_messages(&messages, &TrimOptions::last(3)).unwrap();
    assert_eq!(trimmed, [&messages[0], &messages[2], &messages[3], &messages[4]].map(Clone::clone));
}

#[test]
fn a_tool_result_is_never_orphaned_by_token() {
    // Approximate counts: system 4+6=10, user 4+8=12, call 4+ceil((11+16)/4)=11,
    // result 4+ceil((18+6)/4)=10, answer 4+9=13. The reference kept [System, ToolMessage, AI]
    // for budgets like these.
    let messages = tool_conversation();
    let counts: Vec<usize> = messages.iter().map(|m| ApproximateCounter.count_message(m).tokens).collect();
    assert_eq!(counts, [10, 12, 11, 10, 13]);
    let trimmed = trim_messages(&messages, &TrimOptions::token(47)).unwrap();
    assert_eq!(trimmed, [&messages[0], &messages[2], &messages[3], &messages[4]].map(Clone::clone));
    let trimmed = trim_messages(&messages, &TrimOptions::token(43)).unwrap();
    assert_eq!(trimmed, [messages[0].clone(), messages[4].clone()]);
}

#[test]
fn a_call_is_never_kept_without_all_its_results() {
    let call = |id: &str| ToolCall::new(id, "f", &json!({}));
    let messages = vec![
        Message::user("go"),
        Message::assistant_tool_calls(vec![call("a"), call("b")]),
        Message::tool("a", "1"),
        Message::tool("b", "2"),
    ];
    // first/3 would cut between the two results: the group is left out whole.
    assert_eq!(trim_messages(&messages, &TrimOptions::first(3)).unwrap(), messages[..1]);
    assert_eq!(trim_messages(&messages, &TrimOptions::first(4)).unwrap(), messages);
    assert_eq!(trim_messages(&messages, &TrimOptions::last(2)).unwrap(), []);
}

#[test]
fn the_budget_is_never_exceeded_by_the_system_message() {
    // The reference returned the 104-token system message for a budget of 10.
    let messages = vec![Message::system("x".repeat(400)), Message::user("hi")];
    let err = trim_messages(&messages, &TrimOptions::token(10)).unwrap_err();
    assert_eq!(err, TrimError::SystemOverBudget { required: 104, max_tokens: 10 });
    assert_eq!(
        err.to_string(),
        "the system messages alone need 104 tokens, over the budget of 10: raise max_tokens or shorten the system prompt"
    );
    // Exactly fitting is fine.
    assert_eq!(trim_messages(&messages, &TrimOptions::token(104)).unwrap(), messages[..1]);
    // Without preserve_system the system message is an ordinary message and is dropped.
    let options = TrimOptions::token(10).with_preserve_system(false);
    assert_eq!(trim_messages(&messages, &options).unwrap(), messages[1..]);
}

#[test]
fn every_system_message_is_preserved_in_place() {
    // The reference only preserved a system message at index 0.
    let messages = vec![
        Message::system("first"),
        Message::user("a"),
        Message::new(Role::Developer, "later instruction"),
        Message::user("b"),
        Message::assistant("c"),
    ];
    let trimmed = trim_messages(&messages, &TrimOptions::last(1)).unwrap();
    assert_eq!(texts(&trimmed), ["first", "later instruction", "c"]);
    let trimmed = trim_messages(&messages, &TrimOptions::first(1)).unwrap();
    assert_eq!(texts(&trimmed), ["first", "a", "later instruction"]);
}

#[test]
fn token_stops_at_the_first_message_that_does_not_fit() {
    // The kept messages stay contiguous: a short old message is not picked past a long one.
    let messages = vec![Message::user("hi"), Message::user("x".repeat(400)), Message::user("yo")];
    assert_eq!(trim_messages(&messages, &TrimOptions::token(20)).unwrap(), messages[2..]);
}

#[test]
fn limits_combine() {
    let messages: Vec<Message> = (0..10).map(|i| Message::user(format!("m{i}"))).collect();
    // Each message is 4 + 1 = 5 approximate tokens.
    let options = TrimOptions::token(100).with_max_messages(3);
    assert_eq!(trim_messages(&messages, &options).unwrap(), messages[7..]);
    let options = TrimOptions::last(5).with_max_tokens(10);
    assert_eq!(trim_messages(&messages, &options).unwrap(), messages[8..]);
    let options = TrimOptions::first(5).with_max_tokens(15);
    assert_eq!(trim_messages(&messages, &options).unwrap(), messages[..3]);
}

#[test]
fn an_exact_counter_includes_the_reply_priming() {
    let messages = vec![Message::system("Be brief."), Message::user("Hello, world!"), Message::user("Hello, world!")];
    let counter: Arc<dyn TokenCounter> = counter_for_model("gpt-4o");
    // system: 3 + 1 + 3 ("Be", " brief", ".") = 7; each user: 3 + 1 + 4 = 8; priming 3.
    let trimmed = trim_messages(&messages, &TrimOptions::token(26).with_counter(Arc::clone(&counter))).unwrap();
    assert_eq!(trimmed, messages);
    assert_eq!(counter.count_messages(&trimmed).tokens, 26);
    let trimmed = trim_messages(&messages, &TrimOptions::token(25).with_counter(Arc::clone(&counter))).unwrap();
    assert_eq!(trimmed, [messages[0].clone(), messages[2].clone()]);
    let err = trim_messages(&messages, &TrimOptions::token(9).with_counter(counter)).unwrap_err();
    assert_eq!(err, TrimError::SystemOverBudget { required: 10, max_tokens: 9 });
}

#[test]
fn ids_and_metadata_survive() {
    let mut message = Message::user("keep me").with_id("m-42");
    message.metadata.insert("turn".into(), json!(7));
    let messages = vec![Message::user("drop me"), message.clone()];
    assert_eq!(trim_messages(&messages, &TrimOptions::last(1)).unwrap(), [message]);
}
