//! The model registry: context windows and tokenizers (reference tests test_memory.py
//! 16–19, with its stale and order-dependent values replaced by the providers' own).

use agent_memory::models::{
    self, ModelError, ModelRegistry, ModelSpec, TokenizerKind, context_limit, get_context_limit, lookup_model,
};
use agent_memory::tokens::{ApproximateCounter, Encoding, TokenCounter};
use std::sync::Arc;

#[test]
fn reference_context_limits() {
    // Reference test 16 (gpt-3.5-turbo now points at the 16k model; the reference said 4096).
    assert_eq!(get_context_limit("gpt-4o"), Some(128_000));
    assert_eq!(get_context_limit("gpt-4-turbo"), Some(128_000));
    assert_eq!(get_context_limit("gpt-4"), Some(8_192));
    assert_eq!(get_context_limit("gpt-3.5-turbo"), Some(16_385));
    assert_eq!(get_context_limit("gpt-3.5-turbo-0613"), Some(4_096));
    // Reference test 17.
    assert_eq!(get_context_limit("claude-3-opus"), Some(200_000));
    assert_eq!(get_context_limit("claude-sonnet-4-20250514"), Some(200_000));
    // Reference test 18 (Google documents 1,048,576; the reference rounded to 1,000,000).
    assert_eq!(get_context_limit("gemini-2.0-flash"), Some(1_048_576));
    // Reference test 19: an unknown model is unknown, not 4096.
    assert_eq!(get_context_limit("unknown-model"), None);
    assert_eq!(
        context_limit("unknown-model").unwrap_err().to_string(),
        "unknown model \"unknown-model\": register it with models::register_model or give the context limit explicitly"
    );
}

#[test]
fn the_most_specific_pattern_wins_where_the_reference_took_the_first_substring() {
    let cases = [
        ("gpt-4.1", 1_047_576),
        ("gpt-4.1-mini-2025-04-14", 1_047_576),
        ("gpt-5", 400_000),
        ("gpt-5-chat-latest", 128_000),
        ("o3", 200_000),
        ("o1-mini", 128_000),
        ("o4-mini", 200_000),
        ("gpt-4-32k-0613", 32_768),
        ("gpt-4-1106-preview", 128_000),
        ("chatgpt-4o-latest", 128_000),
        ("claude-opus-4", 200_000),
        ("claude-2.0", 100_000),
        ("claude-2.1", 200_000),
        ("gemini-pro", 32_760),
        ("gemini-1.5-pro-002", 2_097_152),
        ("gemini-2.5-flash", 1_048_576),
        ("llama3", 8_192),
        ("llama3.1:8b", 131_072),
        ("mistral-large-latest", 131_072),
        ("grok-4-0709", 256_000),
        ("grok-beta", 131_072),
        ("deepseek-chat", 131_072),
        ("qwen2.5-72b-instruct", 32_768),
    ];
    for (model, expected) in cases {
        assert_eq!(get_context_limit(model), Some(expected), "{model}");
    }
}

#[test]
fn provider_prefixes_case_and_suffixes_are_recognised() {
    assert_eq!(lookup_model("openai/GPT-4o-2024-08-06").unwrap().pattern(), "gpt-4o");
    assert_eq!(lookup_model("anthropic.claude-3-5-sonnet-20240620-v1:0").unwrap().pattern(), "claude-3-5");
    assert_eq!(lookup_model("models/gemini-1.5-flash-8b").unwrap().pattern(), "gemini-1.5-flash");
    assert_eq!(lookup_model("meta-llama/Meta-Llama-3.1-70B-Instruct").unwrap().pattern(), "llama-3.1");
    assert_eq!(lookup_model("ft:gpt-4o-mini-2024-07-18:acme::abc123").unwrap().pattern(), "gpt-4o-mini");
    // No match inside a longer word.
    assert_eq!(get_context_limit("gpt-40"), None);
    assert_eq!(get_context_limit("foo1"), None);
}

#[test]
fn tokenizers_per_family() {
    let tokenizer = |model: &str| lookup_model(model).unwrap().tokenizer;
    for model in ["gpt-4o", "gpt-4.1-nano", "gpt-5-mini", "o1", "o3-mini", "o4-mini", "gpt-oss-120b"] {
        assert_eq!(tokenizer(model), TokenizerKind::OpenAi(Encoding::O200kBase), "{model}");
    }
    for model in ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "text-embedding-3-small"] {
        assert_eq!(tokenizer(model), TokenizerKind::OpenAi(Encoding::Cl100kBase), "{model}");
    }
    for model in ["claude-3-7-sonnet", "gemini-2.5-pro", "llama-3.3-70b", "mistral-small", "grok-3"] {
        assert_eq!(tokenizer(model), TokenizerKind::Approximate, "{model}");
    }
    assert_eq!(models::counter_for_model("gpt-4o").name(), "o200k_base");
    assert_eq!(models::counter_for_model("gpt-4").name(), "cl100k_base");
    assert_eq!(models::counter_for_model("claude-opus-4-5").name(), "approximate");
    assert_eq!(models::counter_for_model("nobody-knows").name(), "approximate");
}

#[test]
fn users_register_their_own_models_and_override_builtins() {
    let mut registry = ModelRegistry::builtin();
    registry.register(ModelSpec::new("acme-chat", 64_000, TokenizerKind::Approximate)).unwrap();
    assert_eq!(registry.context_limit("acme-chat-2"), Ok(64_000));
    // Same pattern as a built-in: the later registration wins.
    registry.register(ModelSpec::new("gpt-4o", 100_000, TokenizerKind::OpenAi(Encoding::O200kBase))).unwrap();
    assert_eq!(registry.context_limit("gpt-4o"), Ok(100_000));
    // A more specific built-in still wins over a shorter user pattern.
    registry.register(ModelSpec::new("gpt", 1, TokenizerKind::Approximate)).unwrap();
    assert_eq!(registry.context_limit("gpt-4.1"), Ok(1_047_576));
    assert_eq!(registry.context_limit("gpt-neo"), Ok(1));
    // A custom counter travels with the spec.
    let counter: Arc<dyn TokenCounter> = Arc::new(ApproximateCounter);
    registry.register(ModelSpec::new("acme-exact", 8_000, TokenizerKind::Custom(Arc::clone(&counter)))).unwrap();
    assert!(Arc::ptr_eq(&registry.counter_for_model("acme-exact"), &counter));
    // An empty registry knows nothing.
    assert_eq!(ModelRegistry::empty().context_limit("gpt-4o"), Err(ModelError::Unknown { model: "gpt-4o".into() }));
}

#[test]
fn the_global_registry_accepts_registrations() {
    assert_eq!(get_context_limit("zephyr-local-test"), None);
    models::register_model(ModelSpec::new("zephyr-local-test", 12_345, TokenizerKind::Approximate)).unwrap();
    assert_eq!(get_context_limit("zephyr-local-test-v2"), Some(12_345));
}
