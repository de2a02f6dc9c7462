//! Counting with a local HuggingFace `tokenizer.json` (feature `hf-tokenizer`).
#![cfg(feature = "hf-tokenizer")]

use agent_memory::message::Message;
use agent_memory::models::{ModelRegistry, ModelSpec, TokenizerKind};
use agent_memory::tokens::{ChatFraming, HuggingFaceCounter, TokenCount, TokenCounter};
use std::sync::Arc;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wordlevel-tokenizer.json");

#[test]
fn text_counts_are_the_tokenizers_and_exact() {
    let counter = HuggingFaceCounter::from_file(FIXTURE).unwrap();
    // Lowercase + whitespace/punctuation split: hello , world ! -> 4 tokens.
    assert_eq!(counter.count_text("Hello, World!"), TokenCount::exact(4));
    // Unknown words are one [UNK] token each, not dropped.
    assert_eq!(counter.count_text("hello strange new world"), TokenCount::exact(4));
    assert_eq!(counter.count_text(""), TokenCount::exact(0));
    assert_eq!(counter.name(), format!("hf:{FIXTURE}"));
}

#[test]
fn message_counts_are_estimates_until_the_framing_is_declared() {
    let counter = HuggingFaceCounter::from_file(FIXTURE).unwrap();
    let messages = [Message::user("Hello, world!")];
    // OpenAI's framing as an estimate: 3 + "user" (1) + 4, and 3 for the reply priming.
    assert_eq!(counter.count_messages(&messages), TokenCount::approximate(11));
    let framing = ChatFraming { per_message: 2, per_name: 0, per_tool_call: 0, reply_priming: 1, count_role: false };
    let counter = counter.with_framing(framing);
    assert_eq!(counter.count_messages(&messages), TokenCount::exact(2 + 4 + 1));
}

#[test]
fn a_missing_or_broken_file_is_a_clear_error() {
    let err = HuggingFaceCounter::from_file("/nonexistent/tokenizer.json").unwrap_err();
    assert!(err.to_string().starts_with("cannot load tokenizer /nonexistent/tokenizer.json: "), "{err}");
    let err = HuggingFaceCounter::from_bytes(b"{\"not\": \"a tokenizer\"}", "inline").unwrap_err();
    assert!(err.to_string().starts_with("cannot load tokenizer inline: "), "{err}");
}

#[test]
fn a_registered_model_uses_its_tokenizer() {
    let counter: Arc<dyn TokenCounter> = Arc::new(HuggingFaceCounter::from_file(FIXTURE).unwrap());
    let mut registry = ModelRegistry::builtin();
    registry.register(ModelSpec::new("llama-3.1", 131_072, TokenizerKind::Custom(counter))).unwrap();
    let count = registry.counter_for_model("meta-llama/Llama-3.1-8B-Instruct").count_text("hello world");
    assert_eq!(count, TokenCount::exact(2));
}
