//! Property tests of `fit_context`: on any valid conversation, budget, running summary and
//! summarizer, the result is within the budget (or a clear error when the system messages
//! and summary alone do not fit), valid for the APIs, its count is the count of what it
//! returns, and the running summary is always in it.

use std::sync::Arc;

use agent_memory::context::{FitAction, FitError, FitOptions, SUMMARY_PREFIX, fit_context, summary_message};
use agent_memory::message::Message;
use agent_memory::summarize::{SummarizeError, Summarizer};
use agent_memory::tokens::{ApproximateCounter, OpenAiCounter, TokenCounter};
use async_trait::async_trait;
use proptest::prelude::*;

mod common;
use common::{assert_valid_tool_pairing, conversation};

/// Summarizes into a text of a fixed length.
struct FixedLength(usize);

#[async_trait]
impl Summarizer for FixedLength {
    async fn summarize(&self, messages: &[Message], _existing: Option<&str>) -> Result<String, SummarizeError> {
        assert!(!messages.is_empty(), "called with nothing to summarize");
        Ok("s".repeat(self.0))
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(future)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fitting_keeps_every_invariant(
        messages in conversation(),
        max_tokens in 0usize..500,
        summary in prop::option::of("[a-z ]{0,80}"),
        summary_length in prop::option::of(0usize..300),
        keep in 0usize..12,
        exact in any::<bool>(),
    ) {
        let counter: Arc<dyn TokenCounter> =
            if exact { Arc::new(OpenAiCounter::o200k_base()) } else { Arc::new(ApproximateCounter) };
        let mut options = FitOptions::new().with_counter(Arc::clone(&counter)).with_keep(keep);
        options.summary = summary.clone();
        if let Some(length) = summary_length {
            options.summarizer = Some(Arc::new(FixedLength(length)));
        }
        let lead: Vec<Message> = messages.iter().take_while(|m| m.role.is_system()).cloned().collect();
        match block_on(fit_context(&messages, max_tokens, &options)) {
            Ok(result) => {
                prop_assert!(result.tokens.tokens <= max_tokens);
                prop_assert_eq!(result.tokens, counter.count_messages(&result.messages));
                prop_assert_eq!(result.final_count, result.messages.len());
                prop_assert_eq!(result.original_count, messages.len());
                assert_valid_tool_pairing(&result.messages)?;
                // The leading system messages come first, then the running summary.
                prop_assert_eq!(&result.messages[..lead.len()], &lead[..]);
                match &result.summary {
                    Some(summary) => prop_assert_eq!(&result.messages[lead.len()], &summary_message(summary)),
                    None => prop_assert!(result.messages.iter().all(|m| !m.text().starts_with(SUMMARY_PREFIX))),
                }
                if result.action == FitAction::Summarized {
                    prop_assert!(summary_length.is_some() && result.summarized_count > 0);
                } else {
                    prop_assert_eq!(&result.summary, &summary);
                }
                if result.action == FitAction::None {
                    prop_assert_eq!(result.final_count, messages.len() + usize::from(summary.is_some()));
                }
            }
            Err(FitError::OverBudget { required, max_tokens: budget }) => {
                prop_assert_eq!(budget, max_tokens);
                prop_assert!(required > max_tokens);
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
        }
    }
}
