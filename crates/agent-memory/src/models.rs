//! The model registry: the context window and tokenizer of each model family.
//!
//! A model name is matched against the registered patterns and **the most specific match
//! wins**: the longest pattern that occurs in the lower-cased name on word boundaries (the
//! characters around it are not letters or digits). So `gpt-4.1-mini` is `gpt-4.1-mini`,
//! not `gpt-4`; `gpt-5` is not `gpt-4`'s 8k; provider prefixes and date suffixes
//! (`openai/gpt-4o-2024-08-06`, `anthropic.claude-3-5-sonnet-20240620-v1:0`) are
//! recognised. On a tie the pattern registered last wins, so your registrations override
//! the built-in table.
//!
//! An unknown model is [`None`] (or [`ModelError::Unknown`]), never a made-up default, and
//! [`counter_for_model`] gives it the approximate counter, whose counts say `exact: false`.
//!
//! The built-in table (context windows as the providers document them, November 2026) is
//! [`ModelRegistry::builtin`]; a few families also have a fallback entry (`claude`,
//! `gemini`, `grok`) because every current member shares one window.
//!
//! # Examples
//!
//! ```
//! use agent_memory::models::{self, ModelSpec, TokenizerKind};
//!
//! assert_eq!(models::get_context_limit("gpt-4.1-mini"), Some(1_047_576));
//! assert_eq!(models::get_context_limit("claude-opus-4-5-20251101"), Some(200_000));
//! assert_eq!(models::get_context_limit("my-llm"), None);
//!
//! models::register_model(ModelSpec::new("my-llm", 32_000, TokenizerKind::Approximate))?;
//! assert_eq!(models::get_context_limit("my-llm-v2"), Some(32_000));
//! # Ok::<(), agent_memory::models::ModelError>(())
//! ```

use std::fmt;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use crate::tokens::{ApproximateCounter, Encoding, OpenAiCounter, TokenCounter};

/// Why a model could not be resolved or registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// No registered pattern matches the model name.
    #[error("unknown model {model:?}: register it with models::register_model or give the context limit explicitly")]
    Unknown {
        /// The name that was looked up.
        model: String,
    },
    /// A registration was rejected.
    #[error("invalid model spec {pattern:?}: {reason}")]
    InvalidSpec {
        /// The pattern of the rejected spec.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Which tokenizer counts a model's tokens.
#[derive(Clone)]
pub enum TokenizerKind {
    /// An OpenAI encoding: counted exactly by [`OpenAiCounter`].
    OpenAi(Encoding),
    /// No tokenizer is available here (Claude, Gemini, Grok, open models without a local
    /// `tokenizer.json`): counted by [`ApproximateCounter`].
    Approximate,
    /// Your own counter, for example a `HuggingFaceCounter` for a local `tokenizer.json`.
    Custom(Arc<dyn TokenCounter>),
}

impl TokenizerKind {
    /// The counter for this tokenizer.
    pub fn counter(&self) -> Arc<dyn TokenCounter> {
        match self {
            TokenizerKind::OpenAi(encoding) => Arc::new(OpenAiCounter::new(*encoding)),
            TokenizerKind::Approximate => Arc::new(ApproximateCounter),
            TokenizerKind::Custom(counter) => Arc::clone(counter),
        }
    }
}

impl fmt::Debug for TokenizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerKind::OpenAi(encoding) => f.debug_tuple("OpenAi").field(encoding).finish(),
            TokenizerKind::Approximate => f.write_str("Approximate"),
            TokenizerKind::Custom(counter) => f.debug_tuple("Custom").field(&counter.name()).finish(),
        }
    }
}

impl PartialEq for TokenizerKind {
    fn eq(&self, other: &TokenizerKind) -> bool {
        match (self, other) {
            (TokenizerKind::OpenAi(a), TokenizerKind::OpenAi(b)) => a == b,
            (TokenizerKind::Approximate, TokenizerKind::Approximate) => true,
            (TokenizerKind::Custom(a), TokenizerKind::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A model family: a name pattern, its context window and its tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pattern: String,
    /// The context window in tokens (input and output together, as providers document it).
    pub context_window: usize,
    /// The tokenizer that counts its tokens.
    pub tokenizer: TokenizerKind,
}

impl ModelSpec {
    /// A spec for every model whose name contains `pattern` (compared in lower case, on
    /// word boundaries).
    pub fn new(pattern: impl Into<String>, context_window: usize, tokenizer: TokenizerKind) -> ModelSpec {
        ModelSpec { pattern: pattern.into().trim().to_lowercase(), context_window, tokenizer }
    }

    /// The (lower-case) name pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// A set of [`ModelSpec`]s to resolve model names against.
#[derive(Debug, Clone, Default)]
pub struct ModelRegistry {
    specs: Vec<ModelSpec>,
}

impl ModelRegistry {
    /// An empty registry.
    pub fn empty() -> ModelRegistry {
        ModelRegistry::default()
    }

    /// The built-in table.
    pub fn builtin() -> ModelRegistry {
        let specs = BUILTIN
            .iter()
            .map(|&(pattern, context_window, tokenizer)| {
                let tokenizer = match tokenizer {
                    Tok::O200k => TokenizerKind::OpenAi(Encoding::O200kBase),
                    Tok::Cl100k => TokenizerKind::OpenAi(Encoding::Cl100kBase),
                    Tok::Approx => TokenizerKind::Approximate,
                };
                ModelSpec::new(pattern, context_window, tokenizer)
            })
            .collect();
        ModelRegistry { specs }
    }

    /// Adds `spec`; on equal specificity it wins over everything registered before.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidSpec`] for an empty pattern or a zero context window.
    pub fn register(&mut self, spec: ModelSpec) -> Result<(), ModelError> {
        let reason = if spec.pattern.is_empty() {
            "the pattern is empty"
        } else if spec.context_window == 0 {
            "the context window is 0"
        } else {
            self.specs.push(spec);
            return Ok(());
        };
        Err(ModelError::InvalidSpec { pattern: spec.pattern, reason })
    }

    /// The most specific spec matching `model`, if any.
    pub fn lookup(&self, model: &str) -> Option<&ModelSpec> {
        let name = model.trim().to_lowercase();
        let mut best: Option<&ModelSpec> = None;
        for spec in &self.specs {
            if matches_on_word_boundary(&name, &spec.pattern)
                && best.is_none_or(|best| spec.pattern.len() >= best.pattern.len())
            {
                best = Some(spec);
            }
        }
        best
    }

    /// The context window of `model`.
    ///
    /// # Errors
    ///
    /// [`ModelError::Unknown`] when no pattern matches.
    pub fn context_limit(&self, model: &str) -> Result<usize, ModelError> {
        self.lookup(model)
            .map(|spec| spec.context_window)
            .ok_or_else(|| ModelError::Unknown { model: model.to_owned() })
    }

    /// The counter for `model`: its tokenizer when known, else [`ApproximateCounter`].
    pub fn counter_for_model(&self, model: &str) -> Arc<dyn TokenCounter> {
        match self.lookup(model) {
            Some(spec) => spec.tokenizer.counter(),
            None => Arc::new(ApproximateCounter),
        }
    }
}

/// True when `pattern` occurs in `name` with no letter or digit right before or after it.
fn matches_on_word_boundary(name: &str, pattern: &str) -> bool {
    let bytes = name.as_bytes();
    name.match_indices(pattern).any(|(start, _)| {
        let end = start + pattern.len();
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let after_ok = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        before_ok && after_ok
    })
}

static GLOBAL: LazyLock<RwLock<ModelRegistry>> = LazyLock::new(|| RwLock::new(ModelRegistry::builtin()));

/// Registers `spec` in the process-wide registry that the free functions of this module
/// use; it overrides built-in entries of the same or lower specificity.
///
/// # Errors
///
/// [`ModelError::InvalidSpec`] for an empty pattern or a zero context window.
pub fn register_model(spec: ModelSpec) -> Result<(), ModelError> {
    GLOBAL.write().unwrap_or_else(PoisonError::into_inner).register(spec)
}

/// The most specific spec matching `model` in the process-wide registry.
///
/// ```
/// use agent_memory::models::{lookup_model, TokenizerKind};
/// use agent_memory::tokens::Encoding;
///
/// let spec = lookup_model("openai/gpt-4o-mini-2024-07-18").unwrap();
/// assert_eq!(spec.pattern(), "gpt-4o-mini");
/// assert_eq!(spec.tokenizer, TokenizerKind::OpenAi(Encoding::O200kBase));
/// ```
pub fn lookup_model(model: &str) -> Option<ModelSpec> {
    GLOBAL.read().unwrap_or_else(PoisonError::into_inner).lookup(model).cloned()
}

/// The context window of `model`, or `None` when the model is unknown.
pub fn get_context_limit(model: &str) -> Option<usize> {
    lookup_model(model).map(|spec| spec.context_window)
}

/// The context window of `model`.
///
/// # Errors
///
/// [`ModelError::Unknown`], naming the model, when no pattern matches.
pub fn context_limit(model: &str) -> Result<usize, ModelError> {
    GLOBAL.read().unwrap_or_else(PoisonError::into_inner).context_limit(model)
}

/// The token counter for `model`: exact for OpenAI models (and for models registered with
/// a custom counter), approximate otherwise. The counts it returns say which.
pub fn counter_for_model(model: &str) -> Arc<dyn TokenCounter> {
    GLOBAL.read().unwrap_or_else(PoisonError::into_inner).counter_for_model(model)
}

#[derive(Clone, Copy)]
enum Tok {
    O200k,
    Cl100k,
    Approx,
}

/// The built-in table: pattern, context window, tokenizer. Order does not matter.
#[rustfmt::skip]
const BUILTIN: &[(&str, usize, Tok)] = &[
    // OpenAI, o200k_base.
    ("gpt-4o", 128_000, Tok::O200k),
    ("gpt-4o-mini", 128_000, Tok::O200k),
    ("chatgpt-4o", 128_000, Tok::O200k),
    ("gpt-4.1", 1_047_576, Tok::O200k),
    ("gpt-4.1-mini", 1_047_576, Tok::O200k),
    ("gpt-4.1-nano", 1_047_576, Tok::O200k),
    ("gpt-4.5", 128_000, Tok::O200k),
    ("gpt-5", 400_000, Tok::O200k),
    ("gpt-5-mini", 400_000, Tok::O200k),
    ("gpt-5-nano", 400_000, Tok::O200k),
    ("gpt-5-pro", 400_000, Tok::O200k),
    ("gpt-5-codex", 400_000, Tok::O200k),
    ("gpt-5-chat", 128_000, Tok::O200k),
    ("gpt-5.1", 400_000, Tok::O200k),
    ("gpt-5.1-codex", 400_000, Tok::O200k),
    ("gpt-5.1-chat", 128_000, Tok::O200k),
    ("o1", 200_000, Tok::O200k),
    ("o1-mini", 128_000, Tok::O200k),
    ("o1-preview", 128_000, Tok::O200k),
    ("o1-pro", 200_000, Tok::O200k),
    ("o3", 200_000, Tok::O200k),
    ("o3-mini", 200_000, Tok::O200k),
    ("o3-pro", 200_000, Tok::O200k),
    ("o4-mini", 200_000, Tok::O200k),
    ("codex-mini", 200_000, Tok::O200k),
    ("gpt-oss", 131_072, Tok::O200k),
    // OpenAI, cl100k_base.
    ("gpt-4", 8_192, Tok::Cl100k),
    ("gpt-4-32k", 32_768, Tok::Cl100k),
    ("gpt-4-turbo", 128_000, Tok::Cl100k),
    ("gpt-4-1106", 128_000, Tok::Cl100k),
    ("gpt-4-0125", 128_000, Tok::Cl100k),
    ("gpt-4-vision", 128_000, Tok::Cl100k),
    ("gpt-3.5-turbo", 16_385, Tok::Cl100k),
    ("gpt-3.5-turbo-16k", 16_385, Tok::Cl100k),
    ("gpt-3.5-turbo-0613", 4_096, Tok::Cl100k),
    ("gpt-3.5-turbo-0301", 4_096, Tok::Cl100k),
    ("gpt-3.5-turbo-instruct", 4_096, Tok::Cl100k),
    ("text-embedding-3-small", 8_191, Tok::Cl100k),
    ("text-embedding-3-large", 8_191, Tok::Cl100k),
    ("text-embedding-ada-002", 8_191, Tok::Cl100k),
    // Anthropic (tokenizer not public).
    ("claude", 200_000, Tok::Approx),
    ("claude-instant", 100_000, Tok::Approx),
    ("claude-2", 100_000, Tok::Approx),
    ("claude-2.1", 200_000, Tok::Approx),
    ("claude-3", 200_000, Tok::Approx),
    ("claude-3-5", 200_000, Tok::Approx),
    ("claude-3.5", 200_000, Tok::Approx),
    ("claude-3-7", 200_000, Tok::Approx),
    ("claude-3.7", 200_000, Tok::Approx),
    ("claude-sonnet-4", 200_000, Tok::Approx),
    ("claude-opus-4", 200_000, Tok::Approx),
    ("claude-opus-4-1", 200_000, Tok::Approx),
    ("claude-sonnet-4-5", 200_000, Tok::Approx),
    ("claude-haiku-4-5", 200_000, Tok::Approx),
    ("claude-opus-4-5", 200_000, Tok::Approx),
    // Google.
    ("gemini", 1_048_576, Tok::Approx),
    ("gemini-pro", 32_760, Tok::Approx),
    ("gemini-1.0-pro", 32_760, Tok::Approx),
    ("gemini-1.5-pro", 2_097_152, Tok::Approx),
    ("gemini-1.5-flash", 1_048_576, Tok::Approx),
    ("gemini-2.0-flash", 1_048_576, Tok::Approx),
    ("gemini-2.0-flash-lite", 1_048_576, Tok::Approx),
    ("gemini-2.0-pro", 2_097_152, Tok::Approx),
    ("gemini-2.5-pro", 1_048_576, Tok::Approx),
    ("gemini-2.5-flash", 1_048_576, Tok::Approx),
    ("gemini-2.5-flash-lite", 1_048_576, Tok::Approx),
    ("gemini-3-pro", 1_048_576, Tok::Approx),
    ("gemma-2", 8_192, Tok::Approx),
    ("gemma2", 8_192, Tok::Approx),
    ("gemma-3", 131_072, Tok::Approx),
    ("gemma3", 131_072, Tok::Approx),
    // Meta.
    ("llama-2", 4_096, Tok::Approx),
    ("llama2", 4_096, Tok::Approx),
    ("llama-3", 8_192, Tok::Approx),
    ("llama3", 8_192, Tok::Approx),
    ("llama-3.1", 131_072, Tok::Approx),
    ("llama3.1", 131_072, Tok::Approx),
    ("llama-3.2", 131_072, Tok::Approx),
    ("llama3.2", 131_072, Tok::Approx),
    ("llama-3.3", 131_072, Tok::Approx),
    ("llama3.3", 131_072, Tok::Approx),
    ("llama-4", 1_048_576, Tok::Approx),
    ("llama4", 1_048_576, Tok::Approx),
    ("llama-4-scout", 10_485_760, Tok::Approx),
    ("llama-4-maverick", 1_048_576, Tok::Approx),
    // Mistral.
    ("mistral-large", 131_072, Tok::Approx),
    ("mistral-medium", 131_072, Tok::Approx),
    ("mistral-small", 131_072, Tok::Approx),
    ("mistral-tiny", 32_768, Tok::Approx),
    ("mistral-7b", 32_768, Tok::Approx),
    ("open-mistral-7b", 32_768, Tok::Approx),
    ("mistral-nemo", 131_072, Tok::Approx),
    ("open-mistral-nemo", 131_072, Tok::Approx),
    ("mixtral-8x7b", 32_768, Tok::Approx),
    ("open-mixtral-8x7b", 32_768, Tok::Approx),
    ("mixtral-8x22b", 65_536, Tok::Approx),
    ("open-mixtral-8x22b", 65_536, Tok::Approx),
    ("codestral", 262_144, Tok::Approx),
    ("devstral", 131_072, Tok::Approx),
    ("ministral", 131_072, Tok::Approx),
    ("pixtral", 131_072, Tok::Approx),
    ("magistral", 40_000, Tok::Approx),
    // Qwen (native windows, without YaRN extension).
    ("qwen-max", 32_768, Tok::Approx),
    ("qwen-plus", 131_072, Tok::Approx),
    ("qwen-turbo", 1_000_000, Tok::Approx),
    ("qwen2", 32_768, Tok::Approx),
    ("qwen2.5", 32_768, Tok::Approx),
    ("qwen2.5-coder", 32_768, Tok::Approx),
    ("qwen3", 32_768, Tok::Approx),
    ("qwen3-coder", 262_144, Tok::Approx),
    ("qwq", 131_072, Tok::Approx),
    // DeepSeek.
    ("deepseek-chat", 131_072, Tok::Approx),
    ("deepseek-reasoner", 131_072, Tok::Approx),
    ("deepseek-v3", 131_072, Tok::Approx),
    ("deepseek-r1", 131_072, Tok::Approx),
    ("deepseek-coder", 16_384, Tok::Approx),
    ("deepseek-coder-v2", 131_072, Tok::Approx),
    // xAI.
    ("grok", 131_072, Tok::Approx),
    ("grok-2", 131_072, Tok::Approx),
    ("grok-3", 131_072, Tok::Approx),
    ("grok-3-mini", 131_072, Tok::Approx),
    ("grok-4", 256_000, Tok::Approx),
    ("grok-4-fast", 2_000_000, Tok::Approx),
    ("grok-4-1-fast", 2_000_000, Tok::Approx),
    ("grok-code-fast", 256_000, Tok::Approx),
    // Cohere and Microsoft.
    ("command-r", 128_000, Tok::Approx),
    ("command-r-plus", 128_000, Tok::Approx),
    ("command-a", 256_000, Tok::Approx),
    ("phi-3", 4_096, Tok::Approx),
    ("phi-3-mini-128k", 131_072, Tok::Approx),
    ("phi-3-medium-128k", 131_072, Tok::Approx),
    ("phi-4", 16_384, Tok::Approx),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_boundaries() {
        assert!(matches_on_word_boundary("gpt-4-0613", "gpt-4"));
        assert!(!matches_on_word_boundary("gpt-4o", "gpt-4"));
        assert!(!matches_on_word_boundary("gpt-50", "gpt-5"));
        assert!(!matches_on_word_boundary("chatgpt-4o-latest", "gpt-4o"));
        assert!(matches_on_word_boundary("openai/o3-mini", "o3"));
        assert!(!matches_on_word_boundary("foo3", "o3"));
    }

    #[test]
    fn no_builtin_pattern_is_listed_twice() {
        let mut patterns: Vec<&str> = BUILTIN.iter().map(|entry| entry.0).collect();
        patterns.sort_unstable();
        let count = patterns.len();
        patterns.dedup();
        assert_eq!(patterns.len(), count);
    }

    #[test]
    fn register_rejects_bad_specs() {
        let mut registry = ModelRegistry::empty();
        assert_eq!(
            registry.register(ModelSpec::new(" ", 10, TokenizerKind::Approximate)).unwrap_err().to_string(),
            "invalid model spec \"\": the pattern is empty"
        );
        assert_eq!(
            registry.register(ModelSpec::new("x", 0, TokenizerKind::Approximate)).unwrap_err().to_string(),
            "invalid model spec \"x\": the context window is 0"
        );
    }
}
