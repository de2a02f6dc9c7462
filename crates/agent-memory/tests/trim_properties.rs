//! Property tests of `trim_messages`: on any valid conversation and any options, the result
//! is a valid conversation (tool calls and their results together), within every limit,
//! made of the input's messages in order, contiguous, and trimming it again changes nothing.

use std::sync::Arc;

use agent_memory::message::{Message, Role};
use agent_memory::tokens::{ApproximateCounter, OpenAiCounter, TokenCounter};
use agent_memory::trim::{TrimError, TrimOptions, TrimStrategy, trim_message_refs, trim_messages};
use proptest::prelude::*;

mod common;
use common::{assert_valid_tool_pairing, conversation};

fn options() -> impl Strategy<Value = TrimOptions> {
    (
        prop_oneof![Just(TrimStrategy::Last), Just(TrimStrategy::First), Just(TrimStrategy::Token)],
        prop::option::of(0usize..20),
        prop::option::of(0usize..400),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(strategy, max_messages, max_tokens, preserve_system, exact, start_on_user)| {
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
            if start_on_user && strategy != TrimStrategy::First {
                options = options.with_start_on(Role::User);
            }
            options
        })
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
        // With `start_on`, the longest run of what trimming without it keeps that opens with
        // the role.
        if let Some(role) = options.start_on {
            let mut plain = options.clone();
            plain.start_on = None;
            let without = trim_messages(&messages, &plain).unwrap();
            let kept_without: Vec<&Message> = without.iter().filter(|m| !is_pinned(m, &options)).collect();
            let opening = kept_without.iter().position(|m| m.role == role).unwrap_or(kept_without.len());
            prop_assert_eq!(&kept_without[opening..], &kept[..]);
        }
        // The borrowing variant keeps the same messages.
        let refs: Vec<Message> = trim_message_refs(&messages, &options).unwrap().into_iter().cloned().collect();
        prop_assert_eq!(&refs, &trimmed);
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

#[test]
fn start_on_is_refused_with_strategy_first() {
    let options = TrimOptions::first(2).with_start_on(Role::User);
    let error = trim_messages(&[Message::user("hi")], &options).unwrap_err();
    assert_eq!(error, TrimError::StartOnWithFirst);
    assert_eq!(error.to_string(), "start_on applies to strategies last and token, not first");
}
