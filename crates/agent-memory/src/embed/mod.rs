//! Embedders: text in, vectors out.
//!
//! [`Embedder`] is the seam between the store (and conversation memory) and whatever turns
//! text into vectors: hosted APIs, local transformer models, the built-in static model, or
//! the deterministic [`HashEmbedder`] used in tests and examples.
//!
//! With nothing configured, use [`BuiltinEmbedder`]: a static model distilled from
//! all-MiniLM-L6-v2 and compiled into the binary, so semantic search works offline with no
//! key and no download; [`default_embedder`] returns it.
//!
//! Choose one by name, the way the Python library does (`embedding_provider="openai"`,
//! `embedding_model="text-embedding-3-small"`), with [`from_provider`]:
//!
//! | provider (aliases) | default model | key (environment) | base URL |
//! |---|---|---|---|
//! | `openai` | `text-embedding-3-small` | `OPENAI_API_KEY` | `OPENAI_BASE_URL` or `https://api.openai.com/v1` |
//! | `openai-compatible` (`vllm`, `lmstudio`, `llamacpp`) | none | optional | required (`…/v1`) |
//! | `ollama` | `nomic-embed-text` | none | `OLLAMA_HOST` or `http://localhost:11434` |
//! | `voyage` (`voyageai`, `anthropic`) | `voyage-3` | `VOYAGE_API_KEY` | `https://api.voyageai.com/v1` |
//! | `cohere` | `embed-english-v3.0` | `COHERE_API_KEY`, `CO_API_KEY` | `https://api.cohere.com/v2` |
//! | `gemini` (`google`, `google_genai`) | `text-embedding-004` | `GEMINI_API_KEY`, `GOOGLE_API_KEY`, `GOOGLE_GENAI_API_KEY` | `https://generativelanguage.googleapis.com/v1beta` |
//! | `huggingface` (`local`, `sentence-transformers`; feature `local-embeddings`) | `sentence-transformers/all-MiniLM-L6-v2` | none | a folder or the HuggingFace cache |
//! | `builtin` (`static`, `model2vec`) | `minilm-static-256-v1` | none | compiled in |
//! | `hash` | `64` (the dimension) | none | none |
//!
//! Hosted providers batch to the provider's limits, retry 429 and 5xx answers (and
//! timeouts) with exponential backoff that honours `Retry-After`, and fail with an
//! [`EmbedError::Provider`] that names the provider and the cause. [`CachedEmbedder`] wraps
//! any embedder so that a text already embedded by the same model is never sent again.
//!
//! # Quality
//!
//! Turn retrieval on LoCoMo (`shared/data/locomo-dev`: 5 conversations, 3,006 turns, 989
//! questions with evidence; each question ranks every turn of its conversation), measured
//! by `cargo run --release -p agent-memory --features local-embeddings --example
//! embed_quality -- ../shared/data/locomo-dev`:
//!
//! | method | recall@5 | recall@10 |
//! |---|---|---|
//! | BM25 | 0.462 | 0.541 |
//! | built-in static model | 0.377 | 0.453 |
//! | BM25 + built-in (reciprocal rank fusion) | **0.463** | **0.557** |
//! | all-MiniLM-L6-v2 | 0.312 | 0.414 |
//! | BM25 + all-MiniLM-L6-v2 (RRF) | 0.436 | 0.552 |
//!
//! The built-in model beats the full MiniLM it was distilled from on this task (the
//! questions name people and things that the static model weighs by token), and hybrid
//! BM25 + built-in is the best of all, so it is the default.
//!
//! Throughput (`bench/embed/run.sh`: 1,024 seeded short sentences of 5–41 word pieces,
//! batch 32, 2 cores shared with other builds under a load average of 8–14, side by side
//! with PyTorch sentence-transformers on the same model folder; table and method in
//! `bench/embed/README.md`): the built-in model embeds tens of thousands of sentences per
//! second on one thread (84k/s, 0.007 ms of CPU each; 123k–134k/s measured earlier with
//! `examples/embed_throughput.rs`); the local MiniLM costs about 7 ms of CPU per sentence,
//! like PyTorch at one thread, and runs 3.7–4.5× faster than PyTorch at its default
//! threads under that load, whose spinning threads spend 24–26 ms of CPU per sentence.
//! Peak memory: 18 MB (built-in), 186 MB (MiniLM), about 960 MB (PyTorch).
//!
//! **Invariant:** every vector is stored together with [`Embedder::model_id`], so a change
//! of model is detected and vectors of different models are never compared.

mod builtin;
mod cache;
mod hash;
mod hosted;
#[cfg(feature = "local-embeddings")]
#[cfg_attr(docsrs, doc(cfg(feature = "local-embeddings")))]
pub mod local;
mod provider;

use std::fmt;

pub use builtin::BuiltinEmbedder;
pub use cache::{CacheStats, CachedEmbedder};
pub use hash::HashEmbedder;
pub use provider::{
    EmbedderOptions, ProviderInfo, connect, default_embedder, detect_provider, from_provider, from_spec, providers,
};

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The embedder is misconfigured (missing key, unknown model, bad option).
    #[error("embedder configuration: {0}")]
    Config(String),
    /// A provider could not be reached or answered with an error.
    #[error("{provider}: {message}")]
    Provider {
        /// Which provider (`openai`, `ollama`, …).
        provider: String,
        /// What went wrong, including the HTTP status when there is one.
        message: String,
    },
    /// The input cannot be embedded (for example too many texts at once).
    #[error("invalid embedding input: {0}")]
    Input(String),
    /// A local model failed.
    #[error("local model: {0}")]
    Model(String),
}

/// Whether the vectors of the model `model_id` ([`Embedder::model_id`]) have their
/// dimensions in decreasing order of variance (a PCA's output, or a Matryoshka-trained
/// model), so that the first half of a vector ranks neighbours almost as well as all of it.
/// Only models measured so are listed: the built-in one ([`BuiltinEmbedder`]; with half its
/// dimensions an HNSW graph keeps its recall, `bench/store/README.md`, "Session 6").
///
/// ```
/// use agent_memory::embed::{BuiltinEmbedder, variance_ordered};
///
/// assert!(variance_ordered(BuiltinEmbedder::MODEL_ID));
/// assert!(!variance_ordered("local/all-MiniLM-L6-v2"));
/// ```
pub fn variance_ordered(model_id: &str) -> bool {
    model_id == BuiltinEmbedder::MODEL_ID
}

/// Turns texts into vectors of a fixed dimension.
///
/// Implementations batch internally as their provider requires; callers may pass any
/// number of texts. The output has one vector per input text, in order, each of length
/// [`Embedder::dimensions`].
#[async_trait::async_trait]
pub trait Embedder: Send + Sync + fmt::Debug {
    /// A stable identifier of the model, e.g. `openai/text-embedding-3-small` or
    /// `hash-v1/64`. Stored with every vector.
    fn model_id(&self) -> &str;

    /// The length of every vector this embedder returns.
    ///
    /// A hosted model whose size is neither in the built-in table nor configured (an
    /// Ollama or OpenAI-compatible model, say) reports 0 until its first successful call;
    /// [`connect`] makes that call up front.
    fn dimensions(&self) -> usize;

    /// Embeds `texts`, one vector per text.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Embeds a single text.
    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self.embed(&[text.to_owned()]).await?;
        vectors.pop().ok_or_else(|| EmbedError::Model("the embedder returned no vector".into()))
    }

    /// Embeds a search query. Providers that embed queries and documents differently
    /// (Cohere's and Voyage's `input_type`, Gemini's `taskType`) override this; the default
    /// is [`Embedder::embed_one`].
    async fn embed_query(&self, query: &str) -> Result<Vec<f32>, EmbedError> {
        self.embed_one(query).await
    }
}

/// Cosine similarity of two vectors of equal length; 0 when either has zero norm.
///
/// # Panics
///
/// Never on user input: vectors of different lengths give 0 (and a debug assertion).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "vectors of different dimensions");
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut norm_a, mut norm_b) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    dot / (norm_a.sqrt() * norm_b.sqrt())
}
