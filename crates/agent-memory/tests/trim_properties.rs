//! Property tests of `trim_messages`: on any valid conversation and any options, the result
//! is a valid conversation (tool calls and their results together), within every limit,
//! made of the input's messages in order, contiguous, and trimming it again changes nothing.

use std::sync::Arc;

use agent_memory::message::{Message, Role, ToolCall};
use agent_memory::tokens::{ApproximateCounter, OpenAiCounter, TokenCounter};
use agent_memory::trim::{TrimError, TrimOptions, TrimStrategy, trim_messages};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Turn {
    System(String),
    User(String),
    Assistant(String),
    Tools(Vec<String>),
}

fn turn() -> impl Strategy<Value = Turn> {
    let text = "[a-zA-Z ,.]{0,60}";
    prop_oneof![
        1 => text.prop_map(Turn::System),
        4 => text.prop_map(Turn::User),
        4 => text.prop_map(Turn::Assistant),
        3 => prop::collection::vec(text, 1..4).prop_map(Turn::Tools),
    ]
}

/// A valid conversation: every tool-call message directly followed by one result per call.
/// Every message has a unique id.
fn conversation() -> impl Strategy<Value = Vec<Message>> {
    (any::<bool>(), prop::collection::vec(turn(), 0..25)).prop_map(|(leading_system, turns)| {
        let mut messages = Vec::new();
        if leading_system {
            messages.push(Message::system("You are a careful assistant."));
        }
        for (turn_index, turn) in turns.into_iter().enumerate() {
            match turn {
                Turn::System(text) => messages.push(Message::system(text)),
                Turn::User(text) => messages.push(Message::user(text)),
                Turn::Assistant(text) => messages.push(Message::assistant(text)),
                Turn::Tools(results) => {
                    let ids: Vec<String> = (0..results.len()).map(|i| format!("call_{turn_index}_{i}")).collect();
                    let calls = ids.iter().map(|id| ToolCall::new(id, "lookup", &json!({"q": id}))).collect();
                    messages.push(Message::assistant_tool_calls(calls));
                    messages.extend(ids.iter().zip(results).map(|(id, text)| Message::tool(id, text)));
                }
            }
        }
        messages.into_iter().enumerate().map(|(i, m)| m.with_id(format!("m{i}"))).collect()
    })
}

fn options() -> impl Strategy<Value = TrimOptions> {
    (
        prop_oneof![Just(TrimStrategy::Last), Just(TrimStrategy::First), Just(TrimStrategy::Token)],
        prop::option::of(0usize..20),
        prop::option::of(0usize..400),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(strategy, max_messages, max_tokens, preserve_system, exact)| {
            let counter: Arc<dyn TokenCounter> =
                if exact { Arc::new(OpenAiCounter::o200k_base()) } else { Arc::new(ApproximateCounter) };
            let mut options = TrimOptions::new(strategy).with_preserve_system(preserve_system).with_counter(counter);
            options.max_messages = match strategy {
                TrimStrategy::Token => max_messages,
                _ => Some(max_messages.unwrap_or(3)),
            };
            options.max_tokens = match strategy {
                TrimStrategy::Token => Some(max_tokens.unwrap_or(100)),
                _ => max_tokens,
            };
            options
        })
}

/// Checks OpenAI's and Anthropic's rule: each tool-call message is directly followed by
/// exactly the results of its calls, and every tool result belongs to such a group.
fn assert_valid_tool_pairing(messages: &[Message]) -> Result<(), TestCaseError> {
    let mut index = 0;
    while index < messages.len() {
        let message = &messages[index];
        prop_assert!(message.role != Role::Tool, "orphan tool result at {index}: {:?}", message.id);
        index += 1;
        if message.role == Role::Assistant && !message.tool_calls.is_empty() {
            let mut answered: Vec<&str> = Vec::new();
            while index < messages.len() && messages[index].role == Role::Tool {
                answered.push(messages[index].tool_call_id.as_deref().unwrap_or_default());
                index += 1;
            }
            let mut called: Vec<&str> = message.tool_calls.iter().map(|c| c.id.as_str()).collect();
            answered.sort_unstable();
            called.sort_unstable();
            prop_assert_eq!(answered, called, "results of {:?}", message.id);
        }
    }
    Ok(())
}

fn is_pinned(message: &Message, options: &TrimOptions) -> bool {
    options.preserve_system && message.role.is_system()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn trimming_keeps_every_invariant(messages in conversation(), options in options()) {
        assert_valid_tool_pairing(&messages)?;
        let pinned: Vec<Message> = messages.iter().filter(|m| is_pinned(m, &options)).cloned().collect();
        let result = trim_messages(&messages, &options);

        // The only possible error: the pinned system messages alone are over the budget.
        let pinned_tokens = options.counter.count_messages(&pinned).tokens;
        let system_over_budget = !pinned.is_empty() && options.max_tokens.is_some_and(|max| pinned_tokens > max);
        let trimmed = match result {
            Err(TrimError::SystemOverBudget { required, max_tokens }) => {
                prop_assert!(system_over_budget);
                prop_assert_eq!((required, Some(max_tokens)), (pinned_tokens, options.max_tokens));
                return Ok(());
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
            Ok(trimmed) => trimmed,
        };
        prop_assert!(!system_over_budget);

        // Valid for the APIs.
        assert_valid_tool_pairing(&trimmed)?;
        // Within every limit.
        if let Some(max_tokens) = options.max_tokens {
            prop_assert!(options.counter.count_messages(&trimmed).tokens <= max_tokens);
        }
        let counted = trimmed.iter().filter(|m| !is_pinned(m, &options)).count();
        if let Some(max_messages) = options.max_messages {
            prop_assert!(counted <= max_messages);
        }
        // The input's messages, unchanged, in order; every pinned message kept.
        let positions: Vec<usize> = trimmed
            .iter()
            .map(|kept| messages.iter().position(|m| m == kept).expect("kept message comes from the input"))
            .collect();
        prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(pinned.iter().all(|p| trimmed.contains(p)));
        // Contiguous: the newest (last, token) or oldest (first) of the trimmable messages.
        let trimmable: Vec<&Message> = messages.iter().filter(|m| !is_pinned(m, &options)).collect();
        let kept: Vec<&Message> = trimmed.iter().filter(|m| !is_pinned(m, &options)).collect();
        match options.strategy {
            TrimStrategy::First => prop_assert_eq!(&trimmable[..kept.len()], &kept[..]),
            TrimStrategy::Last | TrimStrategy::Token => prop_assert_eq!(&trimmable[trimmable.len() - kept.len()..], &kept[..]),
        }
        // Idempotent.
        prop_assert_eq!(trim_messages(&trimmed, &options).unwrap(), trimmed.clone());
    }

    #[test]
    fn a_generous_budget_keeps_everything(messages in conversation()) {
        let options = TrimOptions::token(1_000_000).with_counter(Arc::new(OpenAiCounter::o200k_base()));
        prop_assert_eq!(trim_messages(&messages, &options).unwrap(), messages.clone());
        prop_assert_eq!(trim_messages(&messages, &TrimOptions::last(messages.len())).unwrap(), messages);
    }
}
