//! Choosing an embedder by name: [`from_provider`], [`from_spec`], [`connect`] and the table
//! of [`providers`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::hosted::{Cohere, Gemini, HostedEmbedder, HttpSettings, Ollama, OpenAi, Voyage, WireFormat};
use super::{BuiltinEmbedder, EmbedError, Embedder, HashEmbedder};

/// Settings shared by every provider; each one takes what applies to it.
///
/// Keys and base URLs not given here come from the provider's usual environment variables
/// (see the table in [`crate::embed`]).
///
/// ```
/// use std::time::Duration;
/// use agent_memory::embed::EmbedderOptions;
///
/// let options = EmbedderOptions::new()
///     .with_base_url("http://localhost:8000/v1")
///     .with_timeout(Duration::from_secs(10))
///     .with_max_retries(5);
/// assert_eq!(options.timeout(), Duration::from_secs(10));
/// ```
#[derive(Clone)]
pub struct EmbedderOptions {
    api_key: Option<String>,
    base_url: Option<String>,
    dimensions: Option<usize>,
    batch_size: Option<usize>,
    timeout: Duration,
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl fmt::Debug for EmbedderOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedderOptions")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("dimensions", &self.dimensions)
            .field("batch_size", &self.batch_size)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        EmbedderOptions::new()
    }
}

impl EmbedderOptions {
    /// No key or URL (the environment supplies them), 60 s timeout, 3 retries starting at
    /// 500 ms and capped at 30 s, the provider's own batch limit.
    pub fn new() -> EmbedderOptions {
        EmbedderOptions {
            api_key: None,
            base_url: None,
            dimensions: None,
            batch_size: None,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }

    /// The API key, instead of the provider's environment variable.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API's base URL (for OpenAI-compatible servers, up to and including `/v1`).
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Asks for vectors of this size (OpenAI `text-embedding-3-*`, Gemini, Voyage, Cohere
    /// v4, Ollama), or declares the size of a model the table does not know (`hash`:
    /// the number of buckets).
    pub fn with_dimensions(mut self, dimensions: usize) -> Self {
        self.dimensions = Some(dimensions);
        self
    }

    /// At most this many texts per request or forward pass (never more than the
    /// provider's own limit).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = Some(batch_size.max(1));
        self
    }

    /// The limit for one HTTP request, connection included.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a request that failed with 429, 5xx or a timeout is tried again.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The first wait before a retry (doubled each time, plus up to 25% jitter) and the
    /// longest wait, `Retry-After` included.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            timeout: self.timeout,
            max_retries: self.max_retries,
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
        }
    }
}

/// What [`providers`] knows about one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// The canonical name accepted by [`from_provider`].
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// The model used when none is given; `None` when a model must be named.
    pub default_model: Option<&'static str>,
    /// Environment variables read for the key, in order.
    pub key_env: &'static [&'static str],
    /// Whether this build can use it (local models need the `local-embeddings` feature).
    pub available: bool,
    /// One line for humans.
    pub description: &'static str,
}

/// Every provider [`from_provider`] accepts, in the order the Python library auto-detects
/// them.
///
/// ```
/// let names: Vec<_> = agent_memory::embed::providers().iter().map(|p| p.name).collect();
/// assert_eq!(
///     names,
///     ["openai", "voyage", "gemini", "cohere", "builtin", "huggingface", "ollama", "openai-compatible", "hash"]
/// );
/// ```
pub fn providers() -> Vec<ProviderInfo> {
    vec![
        ProviderInfo {
            name: "openai",
            aliases: &[],
            default_model: Some("text-embedding-3-small"),
            key_env: &["OPENAI_API_KEY"],
            available: true,
            description: "OpenAI /v1/embeddings (base URL from OPENAI_BASE_URL when set)",
        },
        ProviderInfo {
            name: "voyage",
            aliases: &["voyageai", "anthropic"],
            default_model: Some("voyage-3"),
            key_env: &["VOYAGE_API_KEY"],
            available: true,
            description: "Voyage AI /v1/embeddings",
        },
        ProviderInfo {
            name: "gemini",
            aliases: &["google", "google_genai", "google-genai"],
            default_model: Some("text-embedding-004"),
            key_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_API_KEY"],
            available: true,
            description: "Google Gemini batchEmbedContents",
        },
        ProviderInfo {
            name: "cohere",
            aliases: &[],
            default_model: Some("embed-english-v3.0"),
            key_env: &["COHERE_API_KEY", "CO_API_KEY"],
            available: true,
            description: "Cohere /v2/embed",
        },
        ProviderInfo {
            name: "builtin",
            aliases: &["static", "model2vec", "default"],
            default_model: Some("minilm-static-256-v1"),
            key_env: &[],
            available: true,
            description: "the static model compiled into agent-memory (distilled from all-MiniLM-L6-v2): offline, no download",
        },
        ProviderInfo {
            name: "huggingface",
            aliases: &["local", "sentence-transformers"],
            default_model: Some("sentence-transformers/all-MiniLM-L6-v2"),
            key_env: &[],
            available: cfg!(feature = "local-embeddings"),
            description: "a local BERT-family sentence-transformers model run in-process (a folder or the HuggingFace cache)",
        },
        ProviderInfo {
            name: "ollama",
            aliases: &[],
            default_model: Some("nomic-embed-text"),
            key_env: &[],
            available: true,
            description: "Ollama's native /api/embed (base URL from OLLAMA_HOST when set)",
        },
        ProviderInfo {
            name: "openai-compatible",
            aliases: &["openai_compatible", "vllm", "lmstudio", "llamacpp", "llama.cpp"],
            default_model: None,
            key_env: &[],
            available: true,
            description: "any OpenAI-compatible /v1/embeddings server (needs a base URL)",
        },
        ProviderInfo {
            name: "hash",
            aliases: &[],
            default_model: Some("64"),
            key_env: &[],
            available: true,
            description: "deterministic bag-of-words hashing: for tests, no meaning captured",
        },
    ]
}

/// The embedder to use when nothing is configured: the [`BuiltinEmbedder`] (offline, no
/// key, no download). The store, conversation memory and the service call this; the choice
/// is logged once per process (`tracing`, info level).
///
/// It never picks a hosted provider on its own, even with an API key in the environment:
/// sending memories to a third party is opt-in (the Python `MemoryStore` never
/// auto-detects either). [`detect_provider`] offers Python's auto-detection for callers
/// that want it.
///
/// ```
/// let embedder = agent_memory::embed::default_embedder();
/// assert_eq!(embedder.model_id(), "builtin/minilm-static-256-v1");
/// ```
pub fn default_embedder() -> Arc<dyn Embedder> {
    static LOGGED: std::sync::Once = std::sync::Once::new();
    LOGGED.call_once(|| {
        tracing::info!(
            model_id = BuiltinEmbedder::MODEL_ID,
            "no embedder configured: using the built-in static model (set an embedding provider for better quality)"
        );
    });
    Arc::new(BuiltinEmbedder::new())
}

/// The provider the Python library's auto-detection (`Embeddings()` without a provider) picks: the first of `openai`,
/// `voyage`, `gemini` and `cohere` whose key is in the environment, else `builtin` (the
/// compiled-in static model, where Python falls back to a local MiniLM that must be
/// downloaded), together with the reason, for logs and `agent-memory embed --list`.
///
/// ```
/// let (provider, reason) = agent_memory::embed::detect_provider();
/// assert!(["openai", "voyage", "gemini", "cohere", "builtin"].contains(&provider));
/// assert!(!reason.is_empty());
/// ```
pub fn detect_provider() -> (&'static str, String) {
    detect_provider_with_env(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

fn detect_provider_with_env(env: &dyn Fn(&str) -> Option<String>) -> (&'static str, String) {
    for info in providers().into_iter().filter(|p| ["openai", "voyage", "gemini", "cohere"].contains(&p.name)) {
        if let Some(var) = info.key_env.iter().find(|var| env(var).is_some()) {
            return (info.name, format!("{var} is set"));
        }
    }
    ("builtin", "no API key of a hosted provider is set".to_owned())
}

/// The provider's canonical entry, by name or alias (case-insensitive).
fn find_provider(name: &str) -> Option<ProviderInfo> {
    let name = name.trim().to_ascii_lowercase();
    providers().into_iter().find(|p| p.name == name || p.aliases.contains(&name.as_str()))
}

/// Builds the embedder for `provider` (see the table in [`crate::embed`]) and `model` (the
/// provider's default when `None`), the way the Python library's
/// `embedding_provider=…, embedding_model=…` does.
///
/// Nothing is sent over the network here; see [`connect`] to check the connection and
/// learn the size of an unknown model up front.
///
/// ```
/// use agent_memory::embed::{from_provider, EmbedderOptions};
///
/// let embedder = from_provider("openai", None, &EmbedderOptions::new().with_api_key("sk-test"))?;
/// assert_eq!(embedder.model_id(), "openai/text-embedding-3-small");
/// assert_eq!(embedder.dimensions(), 1536);
///
/// let err = from_provider("nope", None, &EmbedderOptions::new()).unwrap_err();
/// assert!(err.to_string().contains("unknown embedding provider `nope`"));
/// # Ok::<(), agent_memory::embed::EmbedError>(())
/// ```
///
/// # Errors
///
/// [`EmbedError::Config`] for an unknown provider, a missing key or base URL, a provider
/// this build lacks (local models without the `local-embeddings` feature), or a local
/// model that cannot be loaded.
pub fn from_provider(
    provider: &str,
    model: Option<&str>,
    options: &EmbedderOptions,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    from_provider_with_env(provider, model, options, &|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// [`from_provider`] from one `provider[:model]` string, as the command line and
/// configuration files spell it: `openai`, `openai:text-embedding-3-large`,
/// `ollama:nomic-embed-text:latest` (everything after the first `:` is the model).
///
/// ```
/// use agent_memory::embed::{from_spec, EmbedderOptions};
///
/// let embedder = from_spec("hash:32", &EmbedderOptions::new())?;
/// assert_eq!((embedder.model_id(), embedder.dimensions()), ("hash-v1/32", 32));
/// # Ok::<(), agent_memory::embed::EmbedError>(())
/// ```
///
/// # Errors
///
/// As [`from_provider`].
pub fn from_spec(spec: &str, options: &EmbedderOptions) -> Result<Arc<dyn Embedder>, EmbedError> {
    let (provider, model) = match spec.split_once(':') {
        Some((provider, model)) => (provider, Some(model).filter(|m| !m.is_empty())),
        None => (spec, None),
    };
    from_provider(provider, model, options)
}

/// [`from_provider`], then one short request when the model's size is unknown (an Ollama
/// or OpenAI-compatible model), so that [`Embedder::dimensions`] is right from the start
/// and a wrong URL, key or model name fails here rather than at the first `put`.
///
/// # Errors
///
/// As [`from_provider`], plus whatever that first request fails with.
pub async fn connect(
    provider: &str,
    model: Option<&str>,
    options: &EmbedderOptions,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    let embedder = from_provider(provider, model, options)?;
    if embedder.dimensions() == 0 {
        embedder.embed_one("dimension probe").await?;
    }
    Ok(embedder)
}

pub(crate) fn from_provider_with_env(
    provider: &str,
    model: Option<&str>,
    options: &EmbedderOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    let info = find_provider(provider).ok_or_else(|| {
        let known: Vec<_> = providers().iter().map(|p| p.name).collect();
        EmbedError::Config(format!("unknown embedding provider `{provider}`; known providers: {}", known.join(", ")))
    })?;
    let model = match model.map(str::trim).filter(|m| !m.is_empty()).or(info.default_model) {
        Some(model) => model.to_owned(),
        None => {
            return Err(EmbedError::Config(format!("the {} provider needs a model name", info.name)));
        }
    };
    // Gemini's API names models `models/NAME`; the id and the request use NAME.
    let model = match info.name {
        "gemini" => model.strip_prefix("models/").map(str::to_owned).unwrap_or(model),
        _ => model,
    };
    let key = || options.api_key.clone().or_else(|| info.key_env.iter().find_map(|name| env(name)));
    let require_key = || {
        key().ok_or_else(|| {
            EmbedError::Config(format!(
                "{}: no API key; set {} or pass one in the options",
                info.name,
                info.key_env.join(" or ")
            ))
        })
    };
    let base_url = |default: String| trim_url(options.base_url.clone().unwrap_or(default));
    let dimensions = options.dimensions.or_else(|| known_dimensions(info.name, &model));
    let model_id = match options.dimensions {
        Some(d) if info.name != "hash" => format!("{}/{model}@{d}", info.name),
        _ => format!("{}/{model}", info.name),
    };
    let hosted = |wire: Box<dyn WireFormat>, headers: Vec<(&'static str, String)>| {
        let embedder = HostedEmbedder::new(
            wire,
            model_id.clone(),
            dimensions,
            options.batch_size,
            headers,
            options.http_settings(),
        )?;
        Ok::<Arc<dyn Embedder>, EmbedError>(Arc::new(embedder))
    };
    let bearer = |key: String| vec![("authorization", format!("Bearer {key}"))];
    let dims = options.dimensions;
    match info.name {
        "openai" => {
            let base_url = base_url(env("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into()));
            let headers = bearer(require_key()?);
            hosted(Box::new(OpenAi { provider: "openai", base_url, model, dimensions: dims }), headers)
        }
        "openai-compatible" => {
            let base_url = options.base_url.clone().map(trim_url).ok_or_else(|| {
                EmbedError::Config(
                    "openai-compatible: a base URL is needed, e.g. http://localhost:8000/v1 (vLLM), \
                     http://localhost:1234/v1 (LM Studio), http://localhost:11434/v1 (Ollama)"
                        .to_owned(),
                )
            })?;
            let headers = options.api_key.clone().map(bearer).unwrap_or_default();
            let model_id = format!("openai-compatible/{model}");
            let embedder = HostedEmbedder::new(
                Box::new(OpenAi { provider: "openai-compatible", base_url, model, dimensions: dims }),
                match dims {
                    Some(d) => format!("{model_id}@{d}"),
                    None => model_id,
                },
                options.dimensions,
                options.batch_size,
                headers,
                options.http_settings(),
            )?;
            Ok(Arc::new(embedder))
        }
        "ollama" => {
            let default = env("OLLAMA_HOST").map(ollama_url).unwrap_or_else(|| "http://localhost:11434".into());
            let headers = options.api_key.clone().map(bearer).unwrap_or_default();
            hosted(Box::new(Ollama { base_url: base_url(default), model, dimensions: dims }), headers)
        }
        "voyage" => {
            let headers = bearer(require_key()?);
            let base_url = base_url("https://api.voyageai.com/v1".into());
            hosted(Box::new(Voyage { base_url, model, dimensions: dims }), headers)
        }
        "cohere" => {
            let headers = bearer(require_key()?);
            let base_url = base_url("https://api.cohere.com/v2".into());
            hosted(Box::new(Cohere { base_url, model, dimensions: dims }), headers)
        }
        "gemini" => {
            let headers = vec![("x-goog-api-key", require_key()?)];
            let base_url = base_url("https://generativelanguage.googleapis.com/v1beta".into());
            hosted(Box::new(Gemini { base_url, model, dimensions: dims }), headers)
        }
        "hash" => {
            let dimensions = match options.dimensions {
                Some(d) => d,
                None => model.parse::<usize>().map_err(|_| {
                    EmbedError::Config(format!("hash: the model is the number of dimensions, not `{model}`"))
                })?,
            };
            if dimensions == 0 {
                return Err(EmbedError::Config("hash: dimensions must be at least 1".into()));
            }
            Ok(Arc::new(HashEmbedder::new(dimensions)))
        }
        "huggingface" => local_embedder(&model, options, env),
        "builtin" => match model.as_str() {
            "minilm-static-256-v1" => Ok(Arc::new(BuiltinEmbedder::new())),
            other => Err(EmbedError::Config(format!(
                "builtin: no built-in model `{other}`; the only one is minilm-static-256-v1"
            ))),
        },
        other => Err(EmbedError::Config(format!("embedding provider `{other}` is listed but not wired"))),
    }
}

#[cfg(feature = "local-embeddings")]
fn local_embedder(
    model: &str,
    options: &EmbedderOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    let dir = super::local::resolve_model_dir_with_env(model, env)?;
    let mut embedder = super::local::SentenceTransformer::load(&dir)?;
    if let Some(batch_size) = options.batch_size {
        embedder = embedder.with_batch_size(batch_size);
    }
    Ok(Arc::new(embedder))
}

#[cfg(not(feature = "local-embeddings"))]
fn local_embedder(
    model: &str,
    _options: &EmbedderOptions,
    _env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    Err(EmbedError::Config(format!(
        "huggingface: local models (`{model}`) need agent-memory built with the `local-embeddings` feature"
    )))
}

/// The vector size of well-known hosted models at their default size.
fn known_dimensions(provider: &str, model: &str) -> Option<usize> {
    let dimensions = match (provider, model) {
        ("openai", "text-embedding-3-small" | "text-embedding-ada-002") => 1536,
        ("openai", "text-embedding-3-large") => 3072,
        ("voyage", "voyage-3" | "voyage-3-large" | "voyage-3.5" | "voyage-code-3" | "voyage-finance-2") => 1024,
        ("voyage", "voyage-law-2" | "voyage-multilingual-2") => 1024,
        ("voyage", "voyage-3-lite" | "voyage-3.5-lite") => 512,
        ("cohere", "embed-english-v3.0" | "embed-multilingual-v3.0") => 1024,
        ("cohere", "embed-english-light-v3.0" | "embed-multilingual-light-v3.0") => 384,
        ("cohere", "embed-v4.0") => 1536,
        ("gemini", "text-embedding-004" | "embedding-001") => 768,
        ("gemini", "gemini-embedding-001") => 3072,
        ("ollama", "nomic-embed-text" | "nomic-embed-text:latest") => 768,
        ("ollama", "all-minilm" | "all-minilm:latest") => 384,
        ("ollama", "mxbai-embed-large" | "mxbai-embed-large:latest") => 1024,
        _ => return None,
    };
    Some(dimensions)
}

fn trim_url(url: String) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// `OLLAMA_HOST` may be `host:port` without a scheme.
fn ollama_url(host: String) -> String {
    if host.contains("://") { host } else { format!("http://{host}") }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn build(provider: &str, model: Option<&str>, options: &EmbedderOptions, env: &[(&str, &str)]) -> String {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match from_provider_with_env(provider, model, options, &|name| env.get(name).cloned()) {
            Ok(embedder) => format!("{} {}", embedder.model_id(), embedder.dimensions()),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn keys_come_from_the_usual_environment_variables() {
        let none = EmbedderOptions::new();
        assert_eq!(build("openai", None, &none, &[("OPENAI_API_KEY", "k")]), "openai/text-embedding-3-small 1536");
        assert_eq!(
            build("openai", None, &none, &[]),
            "error: embedder configuration: openai: no API key; set OPENAI_API_KEY or pass one in the options"
        );
        assert_eq!(build("google", None, &none, &[("GOOGLE_API_KEY", "k")]), "gemini/text-embedding-004 768");
        assert_eq!(build("cohere", None, &none, &[("CO_API_KEY", "k")]), "cohere/embed-english-v3.0 1024");
        assert_eq!(build("anthropic", None, &none, &[("VOYAGE_API_KEY", "k")]), "voyage/voyage-3 1024");
        assert_eq!(
            build("gemini", None, &none, &[]),
            "error: embedder configuration: gemini: no API key; set GEMINI_API_KEY or GOOGLE_API_KEY or \
             GOOGLE_GENAI_API_KEY or pass one in the options"
        );
    }

    #[test]
    fn models_dimensions_and_aliases() {
        let key = EmbedderOptions::new().with_api_key("k");
        assert_eq!(build("OpenAI", Some("text-embedding-3-large"), &key, &[]), "openai/text-embedding-3-large 3072");
        assert_eq!(
            build("openai", None, &key.clone().with_dimensions(256), &[]),
            "openai/text-embedding-3-small@256 256"
        );
        assert_eq!(build("ollama", Some("bge-m3"), &EmbedderOptions::new(), &[]), "ollama/bge-m3 0");
        assert_eq!(build("ollama", None, &EmbedderOptions::new(), &[]), "ollama/nomic-embed-text 768");
        assert_eq!(build("hash", Some("16"), &EmbedderOptions::new(), &[]), "hash-v1/16 16");
        assert_eq!(
            build("hash", Some("many"), &EmbedderOptions::new(), &[]),
            "error: embedder configuration: hash: the model is the number of dimensions, not `many`"
        );
        assert_eq!(
            build("vllm", None, &EmbedderOptions::new().with_base_url("http://h/v1"), &[]),
            "error: embedder configuration: the openai-compatible provider needs a model name"
        );
        assert!(build("lmstudio", Some("m"), &EmbedderOptions::new(), &[]).contains("a base URL is needed"));
        assert_eq!(
            build("vllm", Some("bge"), &EmbedderOptions::new().with_base_url("http://h/v1/"), &[]),
            "openai-compatible/bge 0"
        );
        assert!(build("word2vec", None, &EmbedderOptions::new(), &[]).starts_with(
            "error: embedder configuration: unknown embedding provider `word2vec`; known providers: openai, voyage,"
        ));
    }

    #[test]
    fn detection_follows_the_python_order() {
        let detect = |vars: &[&str]| {
            let vars: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
            detect_provider_with_env(&|name| vars.iter().any(|v| v == name).then(|| "k".to_owned()))
        };
        assert_eq!(detect(&["COHERE_API_KEY", "OPENAI_API_KEY"]), ("openai", "OPENAI_API_KEY is set".to_owned()));
        assert_eq!(detect(&["COHERE_API_KEY", "GOOGLE_API_KEY"]), ("gemini", "GOOGLE_API_KEY is set".to_owned()));
        assert_eq!(detect(&[]), ("builtin", "no API key of a hosted provider is set".to_owned()));
    }

    #[test]
    fn ollama_host_may_lack_a_scheme() {
        assert_eq!(ollama_url("127.0.0.1:11434".into()), "http://127.0.0.1:11434");
        assert_eq!(ollama_url("https://ollama.internal".into()), "https://ollama.internal");
    }

    #[test]
    fn options_debug_hides_the_key() {
        let debug = format!("{:?}", EmbedderOptions::new().with_api_key("sk-secret"));
        assert!(!debug.contains("sk-secret") && debug.contains("<redacted>"), "{debug}");
    }
}
