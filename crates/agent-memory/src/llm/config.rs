//! Choosing and configuring a provider: [`Provider`], [`LlmConfig`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{AnthropicChat, ChatModel, LlmError, OpenAiChat, RetryPolicy};

/// Which API a model is reached through.
///
/// Every provider but [`Provider::Anthropic`] speaks OpenAI's chat-completions format and
/// differs only in its default base URL and key variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`).
    OpenAi,
    /// Anthropic's Messages API (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`).
    Anthropic,
    /// A local Ollama server (`OLLAMA_BASE_URL`, default `http://localhost:11434/v1`).
    Ollama,
    /// OpenRouter (`OPENROUTER_API_KEY`, `OPENROUTER_BASE_URL`).
    OpenRouter,
    /// Groq (`GROQ_API_KEY`, `GROQ_BASE_URL`).
    Groq,
    /// Any other OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio, …): the
    /// base URL is required (`OPENAI_BASE_URL`), the key optional (`OPENAI_API_KEY`).
    OpenAiCompatible,
}

impl Provider {
    /// Every provider, in the order of [`Provider::parse`]'s error message.
    pub const ALL: [Provider; 6] = [
        Provider::OpenAi,
        Provider::Anthropic,
        Provider::Ollama,
        Provider::OpenRouter,
        Provider::Groq,
        Provider::OpenAiCompatible,
    ];

    /// Parses a provider name, ignoring ASCII case: `openai`, `anthropic` (or `claude`),
    /// `ollama`, `openrouter`, `groq`, or `openai-compatible` (also `compatible`, `vllm`,
    /// `llamacpp`, `llama.cpp`, `lmstudio`).
    ///
    /// ```
    /// use agent_memory::llm::Provider;
    /// assert_eq!(Provider::parse("OpenAI")?, Provider::OpenAi);
    /// assert_eq!(Provider::parse("vllm")?, Provider::OpenAiCompatible);
    /// assert!(Provider::parse("skynet").is_err());
    /// # Ok::<(), agent_memory::llm::LlmError>(())
    /// ```
    pub fn parse(name: &str) -> Result<Provider, LlmError> {
        let provider = match name.to_ascii_lowercase().as_str() {
            "openai" => Provider::OpenAi,
            "anthropic" | "claude" => Provider::Anthropic,
            "ollama" => Provider::Ollama,
            "openrouter" => Provider::OpenRouter,
            "groq" => Provider::Groq,
            "openai-compatible" | "compatible" | "vllm" | "llamacpp" | "llama.cpp" | "llama-cpp" | "lmstudio" => {
                Provider::OpenAiCompatible
            }
            _ => {
                let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
                return Err(LlmError::NotConfigured(format!(
                    "unknown LLM provider {name:?} (expected one of {})",
                    names.join(", ")
                )));
            }
        };
        Ok(provider)
    }

    /// The provider's name, as [`Provider::parse`] reads it and errors show it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Ollama => "ollama",
            Provider::OpenRouter => "openrouter",
            Provider::Groq => "groq",
            Provider::OpenAiCompatible => "openai-compatible",
        }
    }

    /// The environment variable holding the API key.
    pub fn api_key_var(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi | Provider::OpenAiCompatible => Some("OPENAI_API_KEY"),
            Provider::Anthropic => Some("ANTHROPIC_API_KEY"),
            Provider::OpenRouter => Some("OPENROUTER_API_KEY"),
            Provider::Groq => Some("GROQ_API_KEY"),
            Provider::Ollama => None,
        }
    }

    /// The environment variable holding a base URL that replaces the default.
    pub fn base_url_var(self) -> &'static str {
        match self {
            Provider::OpenAi | Provider::OpenAiCompatible => "OPENAI_BASE_URL",
            Provider::Anthropic => "ANTHROPIC_BASE_URL",
            Provider::Ollama => "OLLAMA_BASE_URL",
            Provider::OpenRouter => "OPENROUTER_BASE_URL",
            Provider::Groq => "GROQ_BASE_URL",
        }
    }

    /// The base URL used when none is configured (`None`: one must be given).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi => Some("https://api.openai.com/v1"),
            Provider::Anthropic => Some("https://api.anthropic.com"),
            Provider::Ollama => Some("http://localhost:11434/v1"),
            Provider::OpenRouter => Some("https://openrouter.ai/api/v1"),
            Provider::Groq => Some("https://api.groq.com/openai/v1"),
            Provider::OpenAiCompatible => None,
        }
    }

    /// True when a request to this provider needs an API key: hosted services at their
    /// default URL. A custom base URL (a local server or a proxy) makes the key optional.
    fn requires_key(self, custom_base_url: bool) -> bool {
        !custom_base_url
            && matches!(self, Provider::OpenAi | Provider::Anthropic | Provider::OpenRouter | Provider::Groq)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything needed to reach a chat model.
///
/// Build it explicitly with [`LlmConfig::new`], or from the environment with
/// [`LlmConfig::from_env`] (a chosen provider) or [`LlmConfig::detect`] (the seed's default
/// `openai` / `gpt-4o-mini`, or whichever provider has a key), then
/// [`connect`](LlmConfig::connect).
///
/// ```
/// use agent_memory::llm::{LlmConfig, Provider};
///
/// let env = |name: &str| (name == "OPENAI_BASE_URL").then(|| "http://127.0.0.1:8089/v1".to_owned());
/// let config = LlmConfig::resolve(Provider::OpenAi, "smollm2", env);
/// assert_eq!(config.base_url(), Some("http://127.0.0.1:8089/v1"));
/// let model = config.connect()?; // a local server needs no key
/// assert_eq!(model.model(), "smollm2");
///
/// let err = LlmConfig::resolve(Provider::Anthropic, "claude-haiku-4-5", |_| None).connect().err().unwrap();
/// assert_eq!(err.to_string(), "no LLM configured: anthropic needs an API key: set ANTHROPIC_API_KEY");
/// # Ok::<(), agent_memory::llm::LlmError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct LlmConfig {
    /// Which API to call.
    pub provider: Provider,
    /// The model's name at that provider.
    pub model: String,
    /// The API key, if any.
    pub api_key: Option<String>,
    /// A base URL replacing the provider's default (for OpenAI-compatible providers it
    /// ends before `/chat/completions`, for Anthropic before `/v1/messages`).
    pub base_url: Option<String>,
    /// How long one HTTP attempt may take.
    pub timeout: Duration,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
    /// The `max_tokens` sent when a request sets none. Anthropic requires one, so it gets
    /// 4096 when this is `None`.
    pub max_tokens: Option<u32>,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl LlmConfig {
    /// The seed's default provider.
    pub const DEFAULT_PROVIDER: Provider = Provider::OpenAi;
    /// The seed's default model (fast and cheap).
    pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
    /// The model [`LlmConfig::detect`] picks when only an Anthropic key is set.
    pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-haiku-4-5";
    /// The variable naming the provider for [`LlmConfig::detect`].
    pub const PROVIDER_VAR: &str = "AGENT_MEMORY_LLM_PROVIDER";
    /// The variable naming the model for [`LlmConfig::detect`].
    pub const MODEL_VAR: &str = "AGENT_MEMORY_LLM_MODEL";

    /// A configuration with no key, the provider's default URL, a 60 s timeout and
    /// [`RetryPolicy::standard`]. Reads no environment.
    pub fn new(provider: Provider, model: impl Into<String>) -> LlmConfig {
        LlmConfig {
            provider,
            model: model.into(),
            api_key: None,
            base_url: None,
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::standard(),
            max_tokens: None,
        }
    }

    /// [`LlmConfig::new`] with the key and base URL taken from the provider's environment
    /// variables ([`Provider::api_key_var`], [`Provider::base_url_var`]).
    pub fn from_env(provider: Provider, model: impl Into<String>) -> LlmConfig {
        LlmConfig::resolve(provider, model, |name| std::env::var(name).ok())
    }

    /// [`LlmConfig::from_env`] reading variables through `env` instead of the process
    /// environment. Empty values count as unset.
    pub fn resolve(provider: Provider, model: impl Into<String>, env: impl Fn(&str) -> Option<String>) -> LlmConfig {
        let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        LlmConfig {
            api_key: provider.api_key_var().and_then(var),
            base_url: var(provider.base_url_var()),
            ..LlmConfig::new(provider, model)
        }
    }

    /// Picks a provider and model from the environment, as the seed does:
    /// `AGENT_MEMORY_LLM_PROVIDER` / `AGENT_MEMORY_LLM_MODEL` when set; otherwise OpenAI
    /// (`gpt-4o-mini`) when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set; otherwise
    /// Anthropic (`claude-haiku-4-5`) when `ANTHROPIC_API_KEY` is set. With none of them,
    /// an error saying how to configure one.
    pub fn detect() -> Result<LlmConfig, LlmError> {
        LlmConfig::detect_with(|name| std::env::var(name).ok())
    }

    /// [`LlmConfig::detect`] reading variables through `env`.
    ///
    /// ```
    /// use agent_memory::llm::{LlmConfig, Provider};
    ///
    /// let config = LlmConfig::detect_with(|name| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant".to_owned()))?;
    /// assert_eq!((config.provider, config.model.as_str()), (Provider::Anthropic, "claude-haiku-4-5"));
    /// assert!(LlmConfig::detect_with(|_| None).unwrap_err().to_string().contains("set OPENAI_API_KEY"));
    /// # Ok::<(), agent_memory::llm::LlmError>(())
    /// ```
    pub fn detect_with(env: impl Fn(&str) -> Option<String>) -> Result<LlmConfig, LlmError> {
        let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let model = var(LlmConfig::MODEL_VAR);
        let provider = match var(LlmConfig::PROVIDER_VAR) {
            Some(name) => Provider::parse(&name)?,
            None if var("OPENAI_API_KEY").is_some() || var("OPENAI_BASE_URL").is_some() => Provider::OpenAi,
            None if var("ANTHROPIC_API_KEY").is_some() => Provider::Anthropic,
            None if model.is_some() => LlmConfig::DEFAULT_PROVIDER,
            None => return Err(LlmError::NotConfigured(LlmConfig::how_to_configure())),
        };
        let model = model.unwrap_or_else(|| match provider {
            Provider::Anthropic => LlmConfig::DEFAULT_ANTHROPIC_MODEL.to_owned(),
            _ => LlmConfig::DEFAULT_MODEL.to_owned(),
        });
        Ok(LlmConfig::resolve(provider, model, env))
    }

    /// How to configure a model, for error messages.
    pub fn how_to_configure() -> String {
        "set OPENAI_API_KEY (OpenAI, model gpt-4o-mini), OPENAI_BASE_URL (a local OpenAI-compatible server such \
         as Ollama, vLLM or llama.cpp) or ANTHROPIC_API_KEY; choose the provider and model with \
         AGENT_MEMORY_LLM_PROVIDER and AGENT_MEMORY_LLM_MODEL, or pass a model built with LlmConfig::new(…).connect()"
            .to_owned()
    }

    /// The base URL that will be used: the configured one, else the provider's default.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref().or(self.provider.default_base_url())
    }

    /// Builds the client for this configuration. Fails, saying what to set, when a hosted
    /// provider has no key or an OpenAI-compatible provider has no base URL.
    pub fn connect(&self) -> Result<Arc<dyn ChatModel>, LlmError> {
        if self.model.trim().is_empty() {
            return Err(LlmError::NotConfigured(format!("{} needs a model name", self.provider)));
        }
        if self.base_url().is_none() {
            return Err(LlmError::NotConfigured(format!(
                "{} needs a base URL: set {} (for example http://127.0.0.1:8080/v1)",
                self.provider,
                self.provider.base_url_var()
            )));
        }
        if self.api_key.is_none()
            && self.provider.requires_key(self.base_url.is_some())
            && let Some(var) = self.provider.api_key_var()
        {
            return Err(LlmError::NotConfigured(format!("{} needs an API key: set {var}", self.provider)));
        }
        Ok(match self.provider {
            Provider::Anthropic => Arc::new(AnthropicChat::from_config(self)?),
            _ => Arc::new(OpenAiChat::from_config(self)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    }

    #[test]
    fn detect_follows_the_seed_defaults() {
        let config = LlmConfig::detect_with(env(&[("OPENAI_API_KEY", "sk-1"), ("ANTHROPIC_API_KEY", "sk-a")])).unwrap();
        assert_eq!((config.provider, config.model.as_str()), (Provider::OpenAi, "gpt-4o-mini"));
        assert_eq!(config.api_key.as_deref(), Some("sk-1"));
        assert_eq!(config.base_url(), Some("https://api.openai.com/v1"));

        let config = LlmConfig::detect_with(env(&[
            ("AGENT_MEMORY_LLM_PROVIDER", "groq"),
            ("AGENT_MEMORY_LLM_MODEL", "llama-3.1-8b-instant"),
            ("GROQ_API_KEY", "gsk"),
        ]))
        .unwrap();
        assert_eq!((config.provider, config.model.as_str()), (Provider::Groq, "llama-3.1-8b-instant"));
        assert_eq!(config.api_key.as_deref(), Some("gsk"));
        assert_eq!(config.base_url(), Some("https://api.groq.com/openai/v1"));

        let err = LlmConfig::detect_with(env(&[("OPENAI_API_KEY", "  ")])).unwrap_err();
        assert_eq!(err.to_string(), format!("no LLM configured: {}", LlmConfig::how_to_configure()));
        let err = LlmConfig::detect_with(env(&[("AGENT_MEMORY_LLM_PROVIDER", "gemini")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no LLM configured: unknown LLM provider \"gemini\" (expected one of openai, anthropic, ollama, \
             openrouter, groq, openai-compatible)"
        );
    }

    #[test]
    fn connect_says_what_is_missing() {
        let err = |config: LlmConfig| config.connect().err().map(|e| e.to_string());
        assert_eq!(
            err(LlmConfig::new(Provider::OpenAi, "gpt-4o-mini")).as_deref(),
            Some("no LLM configured: openai needs an API key: set OPENAI_API_KEY")
        );
        assert_eq!(
            err(LlmConfig::new(Provider::OpenAiCompatible, "qwen")).as_deref(),
            Some(
                "no LLM configured: openai-compatible needs a base URL: set OPENAI_BASE_URL \
                 (for example http://127.0.0.1:8080/v1)"
            )
        );
        assert_eq!(
            err(LlmConfig::new(Provider::Ollama, " ")).as_deref(),
            Some("no LLM configured: ollama needs a model name")
        );
        assert_eq!(err(LlmConfig::new(Provider::Ollama, "llama3.2")), None);
        let model = LlmConfig::resolve(Provider::Anthropic, "claude-haiku-4-5", env(&[("ANTHROPIC_API_KEY", "k")]))
            .connect()
            .unwrap();
        assert_eq!((model.provider(), model.model()), ("anthropic", "claude-haiku-4-5"));
    }

    #[test]
    fn debug_hides_the_key() {
        let config = LlmConfig { api_key: Some("sk-secret".into()), ..LlmConfig::new(Provider::OpenAi, "m") };
        let debug = format!("{config:?}");
        assert!(debug.contains("<redacted>") && !debug.contains("sk-secret"), "{debug}");
    }
}
