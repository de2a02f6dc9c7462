//! [`MemoryStore`]: the store's API over any [`StoreBackend`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::backend::{
    HybridQuery, KeywordQuery, NamespaceQuery, ScanQuery, Scope, ScoredItem, StoreBackend, VectorQuery,
};
use super::clock::{Clock, SystemClock};
use super::fusion::{self, FusionMethod};
use super::item::{StoredVector, validate_key, validate_ttl, validate_value};
use super::keyword::query_terms;
use super::memory::MemoryBackend;
use super::text::IndexFields;
use super::{
    Filter, IntoNamespace, IntoNamespacePrefix, Item, ItemIndex, ItemKey, ItemWrite, Namespace, NamespacePrefix,
    SearchHit, StoreError,
};
use crate::embed::{EmbedError, Embedder, EmbedderOptions};

/// The largest `limit` a search or listing accepts.
pub const MAX_LIMIT: usize = 10_000;

/// The label of user namespaces' second level used by the user convenience methods.
const USER_CATEGORY: &str = "memories";

/// How a search with a query ranks items, and what its scores mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Hybrid when the store has an embedder, keyword otherwise.
    #[default]
    Auto,
    /// By meaning: the score is the cosine similarity of the query's and the item's
    /// embeddings, in `[-1, 1]`. Needs an embedder; items stored without a vector (or with
    /// another model's) are not found.
    Semantic,
    /// By words: the score is BM25 normalized to `(0, 1)` (see [`super::keyword`]). Needs
    /// no embedder.
    Keyword,
    /// Both, fused as [`HybridWeights`] say (see [`super::fusion`]): by default weighted
    /// reciprocal-rank fusion, whose score is in `(0, 1]`, 1 meaning first in both rankings.
    /// Needs an embedder.
    Hybrid,
}

/// How hybrid search fuses its two rankings: the method, the weights of the rankings and
/// the RRF constant `k`.
///
/// ```
/// use agent_memory::store::fusion::FusionMethod;
/// use agent_memory::store::{HybridWeights, SearchQuery};
///
/// // Relative-score fusion leaning on keywords, for one query.
/// let weights = HybridWeights { keyword: 1.0, semantic: 0.5, method: FusionMethod::RelativeScore, ..Default::default() };
/// let query = SearchQuery::text("ski trip").hybrid_weights(weights);
/// assert_eq!(query.hybrid_weights.map(|w| w.method), Some(FusionMethod::RelativeScore));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HybridWeights {
    /// Weight of the semantic ranking (≥ 0).
    pub semantic: f64,
    /// Weight of the keyword ranking (≥ 0).
    pub keyword: f64,
    /// The RRF constant (> 0); larger flattens the rank curve.
    pub k: f64,
    /// How the rankings are fused (default reciprocal rank). With
    /// [`FusionMethod::RelativeScore`] both weights may be 0 (every score is then 0); with
    /// reciprocal rank, not.
    pub method: FusionMethod,
}

impl Default for HybridWeights {
    /// Reciprocal-rank fusion, equal weights, `k = 60`.
    fn default() -> HybridWeights {
        HybridWeights { semantic: 1.0, keyword: 1.0, k: fusion::DEFAULT_K, method: FusionMethod::ReciprocalRank }
    }
}

impl HybridWeights {
    fn check(&self) -> Result<(), StoreError> {
        let valid_weight = |w: f64| w.is_finite() && w >= 0.0;
        let some_weight = self.semantic + self.keyword > 0.0 || self.method == FusionMethod::RelativeScore;
        if valid_weight(self.semantic)
            && valid_weight(self.keyword)
            && some_weight
            && self.k.is_finite()
            && self.k > 0.0
        {
            return Ok(());
        }
        Err(StoreError::InvalidRequest(format!(
            "hybrid weights must be finite, non-negative and (for reciprocal-rank fusion) not both zero, and k must \
             be positive; got {self:?}"
        )))
    }
}

/// What a hybrid search ranks and fuses: the texts of its two rankings, the fusion, each
/// ranking's depth and the fused results wanted.
struct HybridPlan<'a> {
    semantic_text: &'a str,
    keyword_text: &'a str,
    weights: HybridWeights,
    depth: usize,
    wanted: usize,
}

/// How a [`MemoryStore`] embeds, indexes, fuses and tells time.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The embedder for semantic search; `None` leaves keyword search only.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Which fields of a value are embedded and keyword-indexed (default: all), for the
    /// items put without their own spec ([`PutRequest::index`]).
    pub index_fields: IndexFields,
    /// Whether `get` pushes back the expiry of items with a TTL (default: false).
    pub refresh_ttl_on_get: bool,
    /// Hybrid-search fusion weights.
    pub hybrid: HybridWeights,
    /// How many candidates each ranking contributes to hybrid fusion (at least
    /// `offset + limit`; default 100). Pages stay consistent while `offset + limit` is below it.
    pub hybrid_candidates: usize,
    /// The time source (default: the system clock).
    pub clock: Arc<dyn Clock>,
}

/// The in-process indexes' options for [`MemoryStore::open_with`], which every backend it
/// opens keeps (PostgreSQL's as [`super::PostgresConfig`] describes). A
/// [`super::VectorIndexOptions`] converts into one with the default keyword statistics.
///
/// ```
/// use agent_memory::store::{KeywordStatistics, OpenOptions, VectorIndexOptions};
///
/// let options = OpenOptions::from(VectorIndexOptions::default());
/// assert_eq!(options, OpenOptions::default());
/// assert_eq!(options.keyword_statistics, KeywordStatistics::Store);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// The vector index's.
    pub vector_index: super::VectorIndexOptions,
    /// Which items keyword scores count ([`super::KeywordStatistics`]); every process on
    /// one database should use the same.
    pub keyword_statistics: super::KeywordStatistics,
}

impl From<super::VectorIndexOptions> for OpenOptions {
    fn from(vector_index: super::VectorIndexOptions) -> OpenOptions {
        OpenOptions { vector_index, ..OpenOptions::default() }
    }
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            embedder: None,
            index_fields: IndexFields::All,
            refresh_ttl_on_get: false,
            hybrid: HybridWeights::default(),
            hybrid_candidates: 100,
            clock: Arc::new(SystemClock),
        }
    }
}

/// One write ([`MemoryStore::put_with`], or one of a batch: [`MemoryStore::put_many`]).
///
/// ```
/// use agent_memory::store::{ItemIndex, PutRequest};
/// use serde_json::json;
///
/// // LangGraph's put(namespace, key, value, index=["title"], ttl=...), the TTL in seconds.
/// let request = PutRequest::new("docs", "d1", json!({"title": "Alps", "body": "…"}))?
///     .index(ItemIndex::paths(["title"]))
///     .ttl(3600.0);
/// assert_eq!(request.index, ItemIndex::paths(["title"]));
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PutRequest {
    /// Where.
    pub namespace: Namespace,
    /// The key.
    pub key: String,
    /// The value (must be a JSON object).
    pub value: Value,
    /// Time to live in seconds (> 0), or `None` for never.
    pub ttl_seconds: Option<f64>,
    /// What the item indexes for search (default: the store's
    /// [`StoreOptions::index_fields`]); see [`ItemIndex`].
    pub index: ItemIndex,
}

impl PutRequest {
    /// A write without TTL, indexed under the store's fields.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] when the namespace is invalid.
    pub fn new(namespace: impl IntoNamespace, key: impl Into<String>, value: Value) -> Result<PutRequest, StoreError> {
        Ok(PutRequest {
            namespace: namespace.into_namespace()?,
            key: key.into(),
            value,
            ttl_seconds: None,
            index: ItemIndex::StoreDefault,
        })
    }

    /// Sets the TTL in seconds.
    pub fn ttl(mut self, seconds: f64) -> PutRequest {
        self.ttl_seconds = Some(seconds);
        self
    }

    /// Sets what the item indexes for search.
    pub fn index(mut self, index: ItemIndex) -> PutRequest {
        self.index = index;
        self
    }
}

/// Pagination of [`MemoryStore::list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Page {
    /// How many items to skip.
    pub offset: usize,
    /// The most items to return; `None` for all.
    pub limit: Option<usize>,
}

impl Page {
    /// Every item.
    pub fn all() -> Page {
        Page { offset: 0, limit: None }
    }

    /// The first `limit` items.
    pub fn first(limit: usize) -> Page {
        Page { offset: 0, limit: Some(limit) }
    }

    /// `limit` items after skipping `offset`.
    pub fn new(offset: usize, limit: usize) -> Page {
        Page { offset, limit: Some(limit) }
    }
}

/// What to search for ([`MemoryStore::search`]).
///
/// ```
/// use agent_memory::store::{Filter, SearchMode, SearchQuery};
/// use serde_json::json;
///
/// let query = SearchQuery::text("dark mode")
///     .filter(Filter::from_json(&json!({"kind": "preference"}))?)
///     .limit(5)
///     .min_score(0.1)
///     .mode(SearchMode::Keyword);
/// assert_eq!(query.limit, 5);
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// The text to search for. `None` (or blank) lists the matching items in recency
    /// order, without scores.
    pub query: Option<String>,
    /// Which values qualify (applied before `offset` and `limit`).
    pub filter: Filter,
    /// The most results (default 10, at most 10,000; 0 returns nothing).
    pub limit: usize,
    /// How many results to skip.
    pub offset: usize,
    /// Results scoring below this are dropped (ignored without a query).
    pub min_score: Option<f64>,
    /// How a query ranks.
    pub mode: SearchMode,
    /// The text the keyword ranking reads, when not the query (in keyword and hybrid
    /// modes): for example the query with stopwords dropped and words stemmed, when the
    /// indexed text was written that way.
    pub keyword_query: Option<String>,
    /// Hybrid fusion for this query, instead of the store's ([`StoreOptions::hybrid`]).
    pub hybrid_weights: Option<HybridWeights>,
    /// Candidates each ranking gives hybrid fusion for this query, instead of the store's
    /// ([`StoreOptions::hybrid_candidates`]); at least `offset + limit` either way.
    pub hybrid_candidates: Option<usize>,
}

impl Default for SearchQuery {
    fn default() -> SearchQuery {
        SearchQuery {
            query: None,
            filter: Filter::all(),
            limit: 10,
            offset: 0,
            min_score: None,
            mode: SearchMode::Auto,
            keyword_query: None,
            hybrid_weights: None,
            hybrid_candidates: None,
        }
    }
}

impl SearchQuery {
    /// No query: every matching item, most recently updated first.
    pub fn all() -> SearchQuery {
        SearchQuery::default()
    }

    /// A search for `text`.
    pub fn text(text: impl Into<String>) -> SearchQuery {
        SearchQuery { query: Some(text.into()), ..SearchQuery::default() }
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: Filter) -> SearchQuery {
        self.filter = filter;
        self
    }

    /// Sets the limit.
    pub fn limit(mut self, limit: usize) -> SearchQuery {
        self.limit = limit;
        self
    }

    /// Sets the offset.
    pub fn offset(mut self, offset: usize) -> SearchQuery {
        self.offset = offset;
        self
    }

    /// Sets the minimum score.
    pub fn min_score(mut self, min_score: f64) -> SearchQuery {
        self.min_score = Some(min_score);
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: SearchMode) -> SearchQuery {
        self.mode = mode;
        self
    }

    /// Sets the text the keyword ranking reads (see [`SearchQuery::keyword_query`]).
    pub fn keyword_query(mut self, text: impl Into<String>) -> SearchQuery {
        self.keyword_query = Some(text.into());
        self
    }

    /// Sets this query's hybrid fusion.
    pub fn hybrid_weights(mut self, weights: HybridWeights) -> SearchQuery {
        self.hybrid_weights = Some(weights);
        self
    }

    /// Sets how many candidates each ranking gives hybrid fusion for this query.
    pub fn hybrid_candidates(mut self, candidates: usize) -> SearchQuery {
        self.hybrid_candidates = Some(candidates);
        self
    }
}

/// Which namespaces [`MemoryStore::list_namespaces`] returns.
///
/// ```
/// use agent_memory::store::NamespaceListing;
///
/// let listing = NamespaceListing::all().prefix(["user_1"])?.max_depth(2).limit(50);
/// assert_eq!(listing.max_depth, Some(2));
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceListing {
    /// Only namespaces starting with this (default: all).
    pub prefix: NamespacePrefix,
    /// Only namespaces ending with these labels (default: no condition).
    pub suffix: Vec<String>,
    /// Cut longer namespaces to this many labels (≥ 1) and deduplicate.
    pub max_depth: Option<usize>,
    /// The most namespaces (default 100).
    pub limit: usize,
    /// How many to skip.
    pub offset: usize,
}

impl NamespaceListing {
    /// Every namespace (the first 100).
    pub fn all() -> NamespaceListing {
        NamespaceListing { prefix: NamespacePrefix::root(), suffix: Vec::new(), max_depth: None, limit: 100, offset: 0 }
    }

    /// Only namespaces starting with `prefix`.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] when the prefix is invalid.
    pub fn prefix(mut self, prefix: impl IntoNamespacePrefix) -> Result<NamespaceListing, StoreError> {
        self.prefix = prefix.into_namespace_prefix()?;
        Ok(self)
    }

    /// Only namespaces ending with `suffix`.
    pub fn suffix<I: IntoIterator<Item = S>, S: Into<String>>(mut self, suffix: I) -> NamespaceListing {
        self.suffix = suffix.into_iter().map(Into::into).collect();
        self
    }

    /// Cuts namespaces to `depth` labels.
    pub fn max_depth(mut self, depth: usize) -> NamespaceListing {
        self.max_depth = Some(depth);
        self
    }

    /// Sets the limit.
    pub fn limit(mut self, limit: usize) -> NamespaceListing {
        self.limit = limit;
        self
    }

    /// Sets the offset.
    pub fn offset(mut self, offset: usize) -> NamespaceListing {
        self.offset = offset;
        self
    }
}

/// Resolves the seed's `embedding_provider` / `embedding_model` pair into an embedder, with
/// [`crate::embed::from_provider`] (keys and base URLs from the provider's usual environment
/// variables; `model` `None` is the provider's default model). Every provider of
/// [`crate::embed::providers`] is accepted: `openai`, `ollama`, `voyage`, `cohere`,
/// `gemini`, `builtin`, `hash` (its model is the dimension), `huggingface` (feature
/// `local-embeddings`), ….
///
/// ```
/// use agent_memory::store::resolve_embedder;
///
/// let embedder = resolve_embedder("hash", Some("32"))?;
/// assert_eq!(embedder.model_id(), "hash-v1/32");
/// assert_eq!(resolve_embedder("builtin", None)?.model_id(), "builtin/minilm-static-256-v1");
/// assert!(resolve_embedder("nonexistent", None).is_err());
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
///
/// # Errors
///
/// [`StoreError::Config`] for an unknown provider, a bad model name or a missing key.
pub fn resolve_embedder(provider: &str, model: Option<&str>) -> Result<Arc<dyn Embedder>, StoreError> {
    crate::embed::from_provider(provider, model, &EmbedderOptions::new()).map_err(config_error)
}

fn config_error(error: EmbedError) -> StoreError {
    match error {
        EmbedError::Config(message) => StoreError::Config(message),
        other => StoreError::Config(other.to_string()),
    }
}

/// Resolves a `provider[:model]` string (`openai:text-embedding-3-small`, `hash:32`,
/// `builtin`) with [`crate::embed::from_spec`].
///
/// ```
/// use agent_memory::store::resolve_embedder_spec;
///
/// assert_eq!(resolve_embedder_spec("hash:16")?.dimensions(), 16);
/// # Ok::<(), agent_memory::store::StoreError>(())
/// ```
///
/// # Errors
///
/// As [`resolve_embedder`].
pub fn resolve_embedder_spec(spec: &str) -> Result<Arc<dyn Embedder>, StoreError> {
    crate::embed::from_spec(spec, &EmbedderOptions::new()).map_err(config_error)
}

/// The long-term memory store: namespaced JSON items with TTL, filters and search, over a
/// [`StoreBackend`]. Cheap to clone (clones share the backend).
///
/// Every method validates its input and returns [`StoreError`] rather than panicking.
/// See the [module documentation](super) for an example.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    backend: Arc<dyn StoreBackend>,
    options: StoreOptions,
}

impl MemoryStore {
    /// A store over `backend` with `options`.
    pub fn new(backend: Arc<dyn StoreBackend>, options: StoreOptions) -> MemoryStore {
        MemoryStore { backend, options }
    }

    /// An in-process store (lost when dropped) with the built-in embedder
    /// ([`crate::embed::default_embedder`]: semantic search offline, no key, no download).
    /// Choose another with [`MemoryStore::with_embedder`] or
    /// [`MemoryStore::with_embedding_provider`], or none with [`MemoryStore::without_embedder`].
    ///
    /// ```
    /// use agent_memory::store::MemoryStore;
    ///
    /// let store = MemoryStore::in_memory();
    /// assert_eq!(store.backend().kind(), "memory");
    /// assert_eq!(store.embedder().map(|e| e.model_id()), Some("builtin/minilm-static-256-v1"));
    /// ```
    pub fn in_memory() -> MemoryStore {
        MemoryStore::new(Arc::new(MemoryBackend::new()), StoreOptions::default()).with_default_embedder()
    }

    /// A store in the SQLite file at `path` (created if missing), with the built-in embedder
    /// (as [`MemoryStore::in_memory`]).
    ///
    /// ```
    /// use agent_memory::store::MemoryStore;
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let store = MemoryStore::sqlite(dir.path().join("memories.db")).await?;
    /// store.put("notes", "n1", json!({"text": "hello"}), None).await?;
    /// assert_eq!(store.count("notes").await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the file cannot be opened or migrated.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(path: impl AsRef<std::path::Path>) -> Result<MemoryStore, StoreError> {
        MemoryStore::sqlite_with(path.as_ref(), OpenOptions::default()).await
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite_with(path: impl AsRef<std::path::Path>, options: OpenOptions) -> Result<MemoryStore, StoreError> {
        let OpenOptions { vector_index, keyword_statistics } = options;
        let options = super::SqliteOptions { vector_index, keyword_statistics, ..super::SqliteOptions::default() };
        let backend = super::SqliteBackend::open_with(path.as_ref(), options).await?;
        Ok(MemoryStore::new(Arc::new(backend), StoreOptions::default()).with_default_embedder())
    }

    /// Opens a store by URL, with the built-in embedder (as [`MemoryStore::in_memory`]):
    /// `memory:`, `sqlite:PATH` (or a bare path), or `postgres://…` / `postgresql://…`
    /// (see [`MemoryStore::postgres`]). Other schemes are
    /// [`StoreError::Config`] errors naming what is supported in this build.
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] for an unsupported URL, or the backend's open error.
    pub async fn open(url: &str) -> Result<MemoryStore, StoreError> {
        MemoryStore::open_with(url, super::VectorIndexOptions::default()).await
    }

    /// [`MemoryStore::open`] with the in-process indexes' options ([`OpenOptions`], or just
    /// the vector index's: every backend keeps one; PostgreSQL's is described at
    /// [`super::PostgresConfig::vector_index`]).
    ///
    /// ```
    /// use agent_memory::store::{KeywordStatistics, MemoryStore, OpenOptions, VectorIndexOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let options = VectorIndexOptions { expansion_search: 64, ..VectorIndexOptions::default() };
    /// let store = MemoryStore::open_with("memory:", options).await?;
    /// assert_eq!(store.backend().kind(), "memory");
    /// // Keyword scores counted per tenant, as `agent-memory serve` counts them.
    /// let options = OpenOptions { keyword_statistics: KeywordStatistics::Tenant, ..OpenOptions::default() };
    /// let store = MemoryStore::open_with("memory:", options).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::open`].
    pub async fn open_with(url: &str, options: impl Into<OpenOptions>) -> Result<MemoryStore, StoreError> {
        let options = options.into();
        if url == "memory" || url == "memory:" {
            let backend = MemoryBackend::with_indexes(options.vector_index, options.keyword_statistics);
            return Ok(MemoryStore::new(Arc::new(backend), StoreOptions::default()).with_default_embedder());
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return MemoryStore::postgres_with(url, options).await;
        }
        #[cfg(feature = "sqlite")]
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(StoreError::Config("sqlite: needs a file path, e.g. sqlite:./agent-memory.db".into()));
            }
            return MemoryStore::sqlite_with(path, options).await;
        }
        #[cfg(feature = "sqlite")]
        if !url.contains("://") {
            return MemoryStore::sqlite_with(url, options).await;
        }
        let supported = [
            Some("memory:"),
            cfg!(feature = "sqlite").then_some("sqlite:PATH"),
            cfg!(feature = "postgres").then_some("postgres://…"),
        ];
        let supported: Vec<&str> = supported.into_iter().flatten().collect();
        Err(StoreError::Config(format!("unsupported store url {url:?} (this build supports {})", supported.join(", "))))
    }

    /// The same store with `embedder` for semantic and hybrid search.
    ///
    /// **Model changes.** Every stored vector carries its embedder's
    /// [`Embedder::model_id`], and semantic search compares only vectors of the store's
    /// current model (and dimension): vectors of another model are never mixed in. Items
    /// written before the change (or without an embedder) are not found by semantic search
    /// until they are re-embedded, which [`MemoryStore::put`] does on every write; keyword
    /// search (and its half of hybrid search) still finds them. Re-put such items to
    /// re-embed them.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> MemoryStore {
        self.options.embedder = Some(embedder);
        self
    }

    /// The same store with the built-in embedder ([`crate::embed::default_embedder`],
    /// which logs the choice once per process).
    pub fn with_default_embedder(self) -> MemoryStore {
        self.with_embedder(crate::embed::default_embedder())
    }

    /// The same store without embedder: keyword search only, and writes compute no
    /// vectors (the fastest writes).
    ///
    /// ```
    /// use agent_memory::store::MemoryStore;
    ///
    /// assert!(MemoryStore::in_memory().without_embedder().embedder().is_none());
    /// ```
    pub fn without_embedder(mut self) -> MemoryStore {
        self.options.embedder = None;
        self
    }

    /// The embedder, if any.
    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.options.embedder.as_ref()
    }

    /// The same store with the seed's `embedding_provider` / `embedding_model`
    /// (see [`resolve_embedder`]; `model` `None` is the provider's default).
    ///
    /// ```
    /// use agent_memory::store::MemoryStore;
    ///
    /// let store = MemoryStore::in_memory().with_embedding_provider("hash", Some("32"))?;
    /// assert_eq!(store.embedder().map(|e| e.model_id()), Some("hash-v1/32"));
    /// // The seed's choice; the key comes from OPENAI_API_KEY when the first call is made.
    /// let seed = MemoryStore::in_memory().with_embedding_provider("openai", Some("text-embedding-3-small"));
    /// if let Ok(store) = seed {
    ///     assert_eq!(store.embedder().map(|e| e.model_id()), Some("openai/text-embedding-3-small"));
    /// }
    /// # Ok::<(), agent_memory::store::StoreError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] for an unknown provider or model.
    pub fn with_embedding_provider(self, provider: &str, model: Option<&str>) -> Result<MemoryStore, StoreError> {
        Ok(self.with_embedder(resolve_embedder(provider, model)?))
    }

    /// The same store with other options (the backend is kept).
    pub fn with_options(mut self, options: StoreOptions) -> MemoryStore {
        self.options = options;
        self
    }

    /// The same store reading time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> MemoryStore {
        self.options.clock = clock;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn StoreBackend> {
        &self.backend
    }

    /// The options.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    fn now(&self) -> f64 {
        self.options.clock.now()
    }

    /// Stores `value` under `key` in `namespace`, replacing any previous value, and returns
    /// the stored item. An update keeps `created_at`. With `ttl_seconds`, the item expires
    /// that many seconds from now.
    ///
    /// ```
    /// use agent_memory::store::MemoryStore;
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::store::StoreError> {
    /// let store = MemoryStore::in_memory();
    /// let item = store.put(("user_123", "preferences"), "language", json!({"preference": "Python"}), Some(86400.0)).await?;
    /// assert_eq!(item.expires_at, Some(item.created_at + 86400.0));
    /// assert!(store.put("ns", "k", json!(["not", "an", "object"]), None).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Invalid namespace, key, value (not an object, over [`super::MAX_VALUE_BYTES`],
    /// containing U+0000) or TTL; embedder or backend failures.
    pub async fn put(
        &self,
        namespace: impl IntoNamespace,
        key: impl Into<String>,
        value: Value,
        ttl_seconds: Option<f64>,
    ) -> Result<Item, StoreError> {
        let request = PutRequest {
            namespace: namespace.into_namespace()?,
            key: key.into(),
            value,
            ttl_seconds,
            index: ItemIndex::StoreDefault,
        };
        self.put_with(request).await
    }

    /// Stores one item as [`MemoryStore::put`] does, with everything a [`PutRequest`] can
    /// say: its TTL and what it indexes for search ([`ItemIndex`], LangGraph's
    /// `put(..., index=...)`). An item put with [`ItemIndex::Disabled`] is found by `get`,
    /// `list` and searches without a query, never by a query; re-putting the key with
    /// another spec replaces its search text.
    ///
    /// ```
    /// use agent_memory::store::{ItemIndex, MemoryStore, PutRequest, SearchMode, SearchQuery};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::store::StoreError> {
    /// let store = MemoryStore::in_memory();
    /// let hidden = PutRequest::new("docs", "draft", json!({"text": "alpine ski trip"}))?.index(ItemIndex::Disabled);
    /// store.put_with(hidden).await?;
    /// let titled = json!({"title": "alpine ski trip", "body": "lake swim"});
    /// store.put_with(PutRequest::new("docs", "trip", titled)?.index(ItemIndex::paths(["title"]))).await?;
    ///
    /// let by_words = |text: &str| SearchQuery::text(text).mode(SearchMode::Keyword);
    /// let found = store.search("docs", by_words("alpine")).await?;
    /// assert_eq!(found.iter().map(|hit| hit.item.key.as_str()).collect::<Vec<_>>(), ["trip"]);
    /// assert!(store.search("docs", by_words("swim")).await?.is_empty());
    /// assert_eq!(store.search("docs", SearchQuery::all()).await?.len(), 2);
    /// assert!(store.get("docs", "draft").await?.is_some());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::put`], and [`StoreError::InvalidIndex`] for invalid index paths
    /// (nothing is written).
    pub async fn put_with(&self, request: PutRequest) -> Result<Item, StoreError> {
        let mut items = self.put_many(vec![request]).await?;
        items.pop().ok_or_else(|| StoreError::backend(self.backend.kind(), "put returned no item"))
    }

    /// Stores several items in one round trip and one transaction (all or nothing), with one
    /// embedder call; returns the stored items in order.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::put`]; nothing is written when any request is invalid.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn put_many(&self, requests: Vec<PutRequest>) -> Result<Vec<Item>, StoreError> {
        let mut writes = Vec::with_capacity(requests.len());
        for request in requests {
            validate_key(&request.key)?;
            let ttl_seconds = request.ttl_seconds.map(validate_ttl).transpose()?;
            let value = validate_value(request.value)?;
            request.index.validate()?;
            let text = request.index.text(&value, &self.options.index_fields);
            writes.push(ItemWrite {
                namespace: request.namespace,
                key: request.key,
                value,
                ttl_seconds,
                text,
                vector: None,
                index: request.index,
            });
        }
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(embedder) = &self.options.embedder {
            let indexes: Vec<usize> = (0..writes.len()).filter(|&i| !writes[i].text.trim().is_empty()).collect();
            let texts: Vec<String> = indexes.iter().map(|&i| writes[i].text.clone()).collect();
            if !texts.is_empty() {
                let vectors = embed_checked(embedder.as_ref(), &texts).await?;
                for (i, vector) in indexes.into_iter().zip(vectors) {
                    writes[i].vector = Some(StoredVector { model: embedder.model_id().to_owned(), vector });
                }
            }
        }
        let now = self.now();
        self.backend.put_many(writes, now).await
    }

    /// The live item at `key` in `namespace`, or `None`. With
    /// [`StoreOptions::refresh_ttl_on_get`], reading pushes back its expiry.
    ///
    /// # Errors
    ///
    /// Invalid namespace or key; backend failures.
    pub async fn get(&self, namespace: impl IntoNamespace, key: impl Into<String>) -> Result<Option<Item>, StoreError> {
        let key = ItemKey::new(namespace.into_namespace()?, key)?;
        let mut items = self.get_many(&[key]).await?;
        Ok(items.pop().flatten())
    }

    /// Reads several items in one round trip; one result per key, in order.
    ///
    /// # Errors
    ///
    /// Invalid keys; backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn get_many(&self, keys: &[ItemKey]) -> Result<Vec<Option<Item>>, StoreError> {
        for key in keys {
            validate_key(&key.key)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.backend.get_many(keys, self.now(), self.options.refresh_ttl_on_get).await
    }

    /// Reads an item and pushes back its expiry (when it has a TTL), whatever
    /// [`StoreOptions::refresh_ttl_on_get`] says.
    ///
    /// # Errors
    ///
    /// Invalid namespace or key; backend failures.
    pub async fn get_and_refresh(
        &self,
        namespace: impl IntoNamespace,
        key: impl Into<String>,
    ) -> Result<Option<Item>, StoreError> {
        let key = ItemKey::new(namespace.into_namespace()?, key)?;
        let mut items = self.backend.get_many(&[key], self.now(), true).await?;
        Ok(items.pop().flatten())
    }

    /// Deletes the item; `true` when a live item was removed.
    ///
    /// # Errors
    ///
    /// Invalid namespace or key; backend failures.
    pub async fn delete(&self, namespace: impl IntoNamespace, key: impl Into<String>) -> Result<bool, StoreError> {
        let key = ItemKey::new(namespace.into_namespace()?, key)?;
        let mut removed = self.delete_many(&[key]).await?;
        Ok(removed.pop().unwrap_or(false))
    }

    /// Deletes several items in one transaction; one result per key, in order.
    ///
    /// # Errors
    ///
    /// Invalid keys; backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn delete_many(&self, keys: &[ItemKey]) -> Result<Vec<bool>, StoreError> {
        for key in keys {
            validate_key(&key.key)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.backend.delete_many(keys, self.now()).await
    }

    /// The live items of exactly `namespace`, most recently updated first (ties by key).
    ///
    /// ```
    /// use agent_memory::store::{MemoryStore, Page};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::store::StoreError> {
    /// let store = MemoryStore::in_memory();
    /// for key in ["a", "b", "c"] {
    ///     store.put("notes", key, json!({"k": key}), None).await?;
    /// }
    /// assert_eq!(store.list("notes", Page::all()).await?.len(), 3);
    /// assert_eq!(store.list("notes", Page::new(1, 1)).await?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Invalid namespace or a limit over 10,000; backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn list(&self, namespace: impl IntoNamespace, page: Page) -> Result<Vec<Item>, StoreError> {
        let namespace = namespace.into_namespace()?;
        if let Some(limit) = page.limit {
            check_limit(limit)?;
            if limit == 0 {
                return Ok(Vec::new());
            }
        }
        let query = ScanQuery {
            scope: Scope::Namespace(namespace),
            filter: Filter::all(),
            offset: page.offset,
            limit: page.limit,
            now: self.now(),
        };
        self.backend.scan(&query).await
    }

    /// Searches every namespace under `namespace_prefix`: by query (semantic, keyword or
    /// hybrid, see [`SearchMode`]) or, without one, by filter alone in recency order.
    /// Filters apply before `offset`/`limit`, and `min_score` before `offset`.
    ///
    /// # Errors
    ///
    /// Invalid prefix, a limit over 10,000, a non-finite `min_score`, a semantic or hybrid
    /// mode without embedder ([`StoreError::EmbedderRequired`]); embedder or backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn search(
        &self,
        namespace_prefix: impl IntoNamespacePrefix,
        query: SearchQuery,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let scope = Scope::Prefix(namespace_prefix.into_namespace_prefix()?);
        check_limit(query.limit)?;
        if query.min_score.is_some_and(|s| !s.is_finite()) {
            return Err(StoreError::InvalidRequest("min_score must be a finite number".into()));
        }
        let weights = query.hybrid_weights.unwrap_or(self.options.hybrid);
        weights.check()?;
        let text = query.query.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let mode = match (query.mode, &self.options.embedder) {
            (SearchMode::Auto, Some(_)) => SearchMode::Hybrid,
            (SearchMode::Auto, None) => SearchMode::Keyword,
            (mode @ (SearchMode::Semantic | SearchMode::Hybrid), None) if text.is_some() => {
                return Err(StoreError::EmbedderRequired(format!(
                    "{} search requires an embedder: build the store with .with_embedder(...) or \
                     .with_embedding_provider(...), or search with SearchMode::Keyword",
                    if mode == SearchMode::Semantic { "semantic" } else { "hybrid" }
                )));
            }
            (mode, _) => mode,
        };
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let Some(text) = text else {
            let scan = ScanQuery { scope, filter: query.filter, offset: query.offset, limit: Some(query.limit), now };
            let items = self.backend.scan(&scan).await?;
            return Ok(items.into_iter().map(|item| SearchHit { item, score: None }).collect());
        };
        let wanted = query.offset.saturating_add(query.limit);
        let keyword_text = query.keyword_query.as_deref().unwrap_or(text);
        let ranked: Vec<ScoredItem> = match mode {
            SearchMode::Semantic => self.semantic(&scope, &query.filter, text, wanted, now).await?,
            SearchMode::Keyword => self.keyword(&scope, &query.filter, keyword_text, wanted, now).await?,
            SearchMode::Hybrid | SearchMode::Auto => {
                let depth = wanted.max(query.hybrid_candidates.unwrap_or(self.options.hybrid_candidates));
                let plan = HybridPlan { semantic_text: text, keyword_text, weights, depth, wanted };
                self.hybrid(&scope, &query.filter, &plan, now).await?
            }
        };
        Ok(ranked
            .into_iter()
            .filter(|hit| query.min_score.is_none_or(|min| hit.score >= min))
            .skip(query.offset)
            .take(query.limit)
            .map(|hit| SearchHit { item: hit.item, score: Some(hit.score) })
            .collect())
    }

    async fn semantic(
        &self,
        scope: &Scope,
        filter: &Filter,
        text: &str,
        limit: usize,
        now: f64,
    ) -> Result<Vec<ScoredItem>, StoreError> {
        match self.vector_query(scope, filter, text, limit, now).await? {
            Some(query) => self.backend.vector_search(&query).await,
            None => Ok(Vec::new()),
        }
    }

    /// The vector query for `text` (embedded with the store's embedder); `None` without one.
    async fn vector_query(
        &self,
        scope: &Scope,
        filter: &Filter,
        text: &str,
        limit: usize,
        now: f64,
    ) -> Result<Option<VectorQuery>, StoreError> {
        let Some(embedder) = &self.options.embedder else {
            return Ok(None);
        };
        let vector = embedder.embed_query(text).await?;
        if vector.len() != embedder.dimensions() {
            return Err(EmbedError::Model(format!(
                "{} returned a query vector of {} dimensions, expected {}",
                embedder.model_id(),
                vector.len(),
                embedder.dimensions()
            ))
            .into());
        }
        Ok(Some(VectorQuery {
            scope: scope.clone(),
            filter: filter.clone(),
            vector,
            model: embedder.model_id().to_owned(),
            limit,
            now,
        }))
    }

    async fn hybrid(
        &self,
        scope: &Scope,
        filter: &Filter,
        plan: &HybridPlan<'_>,
        now: f64,
    ) -> Result<Vec<ScoredItem>, StoreError> {
        let HybridPlan { semantic_text, keyword_text, weights, depth, wanted } = *plan;
        let Some(vector) = self.vector_query(scope, filter, semantic_text, depth, now).await? else {
            return Ok(Vec::new());
        };
        let terms = query_terms(keyword_text);
        let keyword = (!terms.is_empty()).then(|| KeywordQuery {
            scope: scope.clone(),
            filter: filter.clone(),
            terms,
            limit: depth,
            now,
        });
        let query = HybridQuery { vector, keyword, weights, limit: wanted };
        self.backend.hybrid_search(&query).await
    }

    async fn keyword(
        &self,
        scope: &Scope,
        filter: &Filter,
        text: &str,
        limit: usize,
        now: f64,
    ) -> Result<Vec<ScoredItem>, StoreError> {
        let terms = query_terms(text);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let query = KeywordQuery { scope: scope.clone(), filter: filter.clone(), terms, limit, now };
        self.backend.keyword_search(&query).await
    }

    /// Distinct namespaces holding live items, ascending.
    ///
    /// ```
    /// use agent_memory::store::{MemoryStore, Namespace, NamespaceListing};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::store::StoreError> {
    /// let store = MemoryStore::in_memory();
    /// store.put(("user_1", "prefs"), "k", json!({}), None).await?;
    /// store.put(("user_1", "facts"), "k", json!({}), None).await?;
    /// store.put(("user_2", "prefs"), "k", json!({}), None).await?;
    /// let listed = store.list_namespaces(NamespaceListing::all().prefix("user_1")?).await?;
    /// assert_eq!(listed, [Namespace::new(["user_1", "facts"])?, Namespace::new(["user_1", "prefs"])?]);
    /// let top = store.list_namespaces(NamespaceListing::all().max_depth(1)).await?;
    /// assert_eq!(top, [Namespace::new(["user_1"])?, Namespace::new(["user_2"])?]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A limit over 10,000, `max_depth` 0 or invalid suffix labels; backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn list_namespaces(&self, listing: NamespaceListing) -> Result<Vec<Namespace>, StoreError> {
        check_limit(listing.limit)?;
        if listing.max_depth == Some(0) {
            return Err(StoreError::InvalidRequest("max_depth must be at least 1".into()));
        }
        NamespacePrefix::new(listing.suffix.iter().map(String::as_str))?;
        if listing.limit == 0 {
            return Ok(Vec::new());
        }
        let query = NamespaceQuery {
            prefix: listing.prefix,
            suffix: listing.suffix,
            max_depth: listing.max_depth,
            offset: listing.offset,
            limit: listing.limit,
            now: self.now(),
        };
        self.backend.list_namespaces(&query).await
    }

    /// The number of live items under `namespace_prefix`.
    ///
    /// # Errors
    ///
    /// Invalid prefix; backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn count(&self, namespace_prefix: impl IntoNamespacePrefix) -> Result<u64, StoreError> {
        let scope = Scope::Prefix(namespace_prefix.into_namespace_prefix()?);
        self.backend.count(&scope, self.now()).await
    }

    /// Deletes every item in `namespace` and in the namespaces below it (e.g. all of a
    /// user's memories with `("user_123",)`); returns how many live items were removed.
    ///
    /// # Errors
    ///
    /// Invalid namespace; backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn delete_namespace(&self, namespace: impl IntoNamespace) -> Result<u64, StoreError> {
        let scope = Scope::Prefix(namespace.into_namespace()?.into());
        self.backend.delete_scope(&scope, self.now()).await
    }

    /// Physically removes every expired item; returns how many.
    ///
    /// # Errors
    ///
    /// Backend failures.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.backend.kind()), err(level = "debug", Display))]
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.backend.purge_expired(self.now()).await
    }

    /// Starts a background task that purges expired items every `interval`; it stops when
    /// the returned [`Sweeper`] is dropped or stopped. Errors are logged (`tracing`) and the
    /// sweeper keeps going.
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] when called outside a Tokio runtime or with a zero interval.
    pub fn start_sweeper(&self, interval: Duration) -> Result<Sweeper, StoreError> {
        if interval.is_zero() {
            return Err(StoreError::Config("the sweeper interval must be greater than zero".into()));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::Config("the sweeper needs a running Tokio runtime".into()))?;
        let store = self.clone();
        let task = runtime.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match store.purge_expired().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "store sweeper purged expired items"),
                    Err(error) => tracing::warn!(%error, "store sweeper failed"),
                }
            }
        });
        Ok(Sweeper { task })
    }

    // Convenience methods of the seed and the reference library.

    /// Stores a user memory in namespace `(user_id, "memories")`.
    ///
    /// ```
    /// use agent_memory::store::MemoryStore;
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::store::StoreError> {
    /// let store = MemoryStore::in_memory();
    /// store.put_user_memory("user_123", "theme", json!({"value": "dark"}), None).await?;
    /// let item = store.get_user_memory("user_123", "theme").await?.expect("stored");
    /// assert_eq!(item.namespace.labels(), ["user_123", "memories"]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::put`].
    pub async fn put_user_memory(
        &self,
        user_id: &str,
        key: &str,
        value: Value,
        ttl_seconds: Option<f64>,
    ) -> Result<Item, StoreError> {
        self.put((user_id, USER_CATEGORY), key, value, ttl_seconds).await
    }

    /// Reads a user memory from namespace `(user_id, "memories")`.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::get`].
    pub async fn get_user_memory(&self, user_id: &str, key: &str) -> Result<Option<Item>, StoreError> {
        self.get((user_id, USER_CATEGORY), key).await
    }

    /// Searches namespace `(user_id, "memories")` for `query` (the store's default mode).
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::search`].
    pub async fn search_user_memories(
        &self,
        user_id: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        self.search((user_id, USER_CATEGORY), SearchQuery::text(query).limit(limit)).await
    }

    /// Stores a session memory in namespace `("session", session_id)`.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::put`].
    pub async fn put_session_memory(
        &self,
        session_id: &str,
        key: &str,
        value: Value,
        ttl_seconds: Option<f64>,
    ) -> Result<Item, StoreError> {
        self.put(("session", session_id), key, value, ttl_seconds).await
    }

    /// Reads a session memory from namespace `("session", session_id)`.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::get`].
    pub async fn get_session_memory(&self, session_id: &str, key: &str) -> Result<Option<Item>, StoreError> {
        self.get(("session", session_id), key).await
    }

    /// Stores an application-wide memory in namespace `("app", "global")`, the namespace of
    /// the reference library's app memories (so [`MemoryStore::get_app_memory`] reads it too).
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::put`].
    pub async fn put_global_memory(
        &self,
        key: &str,
        value: Value,
        ttl_seconds: Option<f64>,
    ) -> Result<Item, StoreError> {
        self.put(("app", "global"), key, value, ttl_seconds).await
    }

    /// Reads an application-wide memory from namespace `("app", "global")`.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::get`].
    pub async fn get_global_memory(&self, key: &str) -> Result<Option<Item>, StoreError> {
        self.get(("app", "global"), key).await
    }

    /// The reference library's name for [`MemoryStore::put_global_memory`]: namespace
    /// `("app", "global")`.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::put`].
    pub async fn put_app_memory(&self, key: &str, value: Value, ttl_seconds: Option<f64>) -> Result<Item, StoreError> {
        self.put_global_memory(key, value, ttl_seconds).await
    }

    /// The reference library's name for [`MemoryStore::get_global_memory`]: namespace
    /// `("app", "global")`.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::get`].
    pub async fn get_app_memory(&self, key: &str) -> Result<Option<Item>, StoreError> {
        self.get_global_memory(key).await
    }

    /// Searches namespace `("app", "global")` for `query`.
    ///
    /// # Errors
    ///
    /// As [`MemoryStore::search`].
    pub async fn search_app_memories(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        self.search(("app", "global"), SearchQuery::text(query).limit(limit)).await
    }
}

/// A running background sweeper ([`MemoryStore::start_sweeper`]); dropping it stops it.
#[derive(Debug)]
pub struct Sweeper {
    task: tokio::task::JoinHandle<()>,
}

impl Sweeper {
    /// Stops the sweeper.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn check_limit(limit: usize) -> Result<(), StoreError> {
    if limit > MAX_LIMIT {
        return Err(StoreError::InvalidRequest(format!("limit is {limit}, the maximum is {MAX_LIMIT}")));
    }
    Ok(())
}

async fn embed_checked(embedder: &dyn Embedder, texts: &[String]) -> Result<Vec<Vec<f32>>, StoreError> {
    let vectors = embedder.embed(texts).await?;
    if vectors.len() != texts.len() {
        return Err(EmbedError::Model(format!(
            "{} returned {} vectors for {} texts",
            embedder.model_id(),
            vectors.len(),
            texts.len()
        ))
        .into());
    }
    if let Some(bad) = vectors.iter().find(|v| v.len() != embedder.dimensions()) {
        return Err(EmbedError::Model(format!(
            "{} returned a vector of {} dimensions, expected {}",
            embedder.model_id(),
            bad.len(),
            embedder.dimensions()
        ))
        .into());
    }
    Ok(vectors)
}
