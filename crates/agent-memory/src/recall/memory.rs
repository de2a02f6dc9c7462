//! [`ConversationMemory`]: past conversations, chunked and stored per user in a
//! [`MemoryStore`], found again by keyword, meaning or both.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::chunk::chunks_in_context;
use super::date::{check_bound, date_of_unix_seconds};
use super::keyword::{CONTEXT_LINES, chunk_header, keyword_query, keyword_text};
use super::{ChunkingOptions, ConversationChunk, RecallError, SearchResult, chunk_id, parse_date};
use crate::embed::{EmbedError, Embedder};
use crate::message::Message;
use crate::store::{
    Filter, FusionMethod, HybridWeights, ItemIndex, ItemKey, ItemWrite, MemoryStore, Namespace, NamespaceListing,
    ScanQuery, Scope, SearchMode, SearchQuery, StoredVector, validate_value,
};
use crate::summarize::Summarizer;

/// The second label of every conversation namespace: chunks of user `U`'s session `S`
/// live in namespace `(U, "conversations", S)`.
pub const CONVERSATIONS_LABEL: &str = "conversations";

/// Indexes finished conversations per user and searches across all of them.
///
/// Built on a [`MemoryStore`] (any backend; its embedder, when it has one, gives semantic
/// and hybrid search, and keyword BM25 search always works). Cheap to clone: clones share
/// the store.
///
/// Each chunk is embedded as its clean transcript ([`ConversationChunk::search_text`]) and
/// keyword-indexed with the lines around it, stemmed and without stopwords (see
/// [`super::keyword_terms`]); hybrid search fuses the keyword ranking of the processed query
/// with the semantic ranking of the query as written, by a weighted sum of normalized
/// scores ([`FusionWeights`], [`ConversationMemory::DEFAULT_FUSION`]).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use agent_memory::embed::HashEmbedder;
/// use agent_memory::message::Message;
/// use agent_memory::recall::{ConversationMemory, RecallQuery};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agent_memory::recall::RecallError> {
/// let memory = ConversationMemory::in_memory().with_embedder(Arc::new(HashEmbedder::new(256)));
/// let metadata = json!({"topic": "authentication", "date": "2025-01-15"});
/// memory
///     .index_conversation(
///         "user_123",
///         "session_001",
///         &[
///             Message::user("I'm getting an auth error"),
///             Message::assistant("Let's check your JWT token..."),
///             Message::user("It was expired!"),
///             Message::assistant("You can refresh it with the refresh endpoint."),
///         ],
///         metadata.as_object().unwrap(),
///     )
///     .await?;
///
/// let results = memory.search("user_123", &RecallQuery::new("how did we fix the JWT auth error?").limit(3)).await?;
/// assert_eq!(results[0].chunk.session_id, "session_001");
/// assert!(results[0].context.starts_with("[Topic: authentication, Date: 2025-01-15]\n\nHuman: I'm getting an auth error"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ConversationMemory {
    store: MemoryStore,
    chunking: ChunkingOptions,
    summarizer: Option<Arc<dyn Summarizer>>,
    fusion: FusionWeights,
}

impl fmt::Debug for ConversationMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConversationMemory")
            .field("store", &self.store)
            .field("chunking", &self.chunking)
            .field("include_summary", &self.summarizer.is_some())
            .field("fusion", &self.fusion)
            .finish()
    }
}

/// A search over a user's past conversations.
///
/// ```
/// use agent_memory::recall::RecallQuery;
///
/// let query = RecallQuery::new("auth bug").limit(3).session("session_001").dates(Some("2025-01-01"), None);
/// assert_eq!(query.limit, 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecallQuery {
    /// What to look for (must not be blank).
    pub text: String,
    /// How many results at most (default 5, the reference's).
    pub limit: usize,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only results scoring at least this (on the scale of [`RecallQuery::mode`]).
    pub min_score: Option<f64>,
    /// Only conversations on or after this date (`YYYY-MM-DD`, inclusive).
    pub date_from: Option<String>,
    /// Only conversations on or before this date (`YYYY-MM-DD`, inclusive).
    pub date_to: Option<String>,
    /// How to rank: [`SearchMode::Auto`] (hybrid with an embedder, keyword without) by
    /// default.
    pub mode: SearchMode,
}

impl RecallQuery {
    /// The reference's default limit.
    pub const DEFAULT_LIMIT: usize = 5;

    /// A query for `text` with the defaults: 5 results, every session and date, auto mode.
    pub fn new(text: impl Into<String>) -> RecallQuery {
        RecallQuery {
            text: text.into(),
            limit: Self::DEFAULT_LIMIT,
            session_id: None,
            min_score: None,
            date_from: None,
            date_to: None,
            mode: SearchMode::Auto,
        }
    }

    /// Sets the most results.
    pub fn limit(mut self, limit: usize) -> RecallQuery {
        self.limit = limit;
        self
    }

    /// Searches only `session_id`.
    pub fn session(mut self, session_id: impl Into<String>) -> RecallQuery {
        self.session_id = Some(session_id.into());
        self
    }

    /// Keeps only results scoring at least `min_score` (0 is a real threshold, not "none").
    pub fn min_score(mut self, min_score: f64) -> RecallQuery {
        self.min_score = Some(min_score);
        self
    }

    /// Keeps only conversations dated within `from..=to` (`YYYY-MM-DD`; `None` is open).
    pub fn dates(mut self, from: Option<&str>, to: Option<&str>) -> RecallQuery {
        self.date_from = from.map(str::to_owned);
        self.date_to = to.map(str::to_owned);
        self
    }

    /// Sets the ranking.
    pub fn mode(mut self, mode: SearchMode) -> RecallQuery {
        self.mode = mode;
        self
    }
}

impl ConversationMemory {
    /// How hybrid search weighs its two rankings by default: keyword 1, semantic 0.5.
    /// Conversations are searched for the people, places and things they name, which
    /// keywords find and a small embedder only approximates; on LoCoMo the keyword ranking
    /// is the stronger one at every chunking, and equal weights let the weaker ranking pull
    /// the fused one below it (`docs/recall-locomo.md`).
    pub const DEFAULT_FUSION: FusionWeights = FusionWeights { keyword: 1.0, semantic: 0.5 };

    /// How many candidates each ranking gives hybrid fusion (more when the limit is higher).
    pub const FUSION_CANDIDATES: usize = 100;

    /// Conversation memory on `store` (its backend, embedder and clock), with the default
    /// chunking, no summaries and [`ConversationMemory::DEFAULT_FUSION`].
    pub fn new(store: MemoryStore) -> ConversationMemory {
        ConversationMemory {
            store,
            chunking: ChunkingOptions::default(),
            summarizer: None,
            fusion: ConversationMemory::DEFAULT_FUSION,
        }
    }

    /// Sets how hybrid search weighs the keyword and semantic rankings (negative or
    /// non-finite weights count as 0).
    pub fn with_fusion(mut self, fusion: FusionWeights) -> ConversationMemory {
        let weight = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        self.fusion = FusionWeights { keyword: weight(fusion.keyword), semantic: weight(fusion.semantic) };
        self
    }

    /// The hybrid fusion weights in use.
    pub fn fusion(&self) -> FusionWeights {
        self.fusion
    }

    /// Conversation memory in process memory, with the built-in embedder (as
    /// [`MemoryStore::in_memory`]), so search is hybrid; change it with
    /// [`ConversationMemory::with_embedder`].
    pub fn in_memory() -> ConversationMemory {
        ConversationMemory::new(MemoryStore::in_memory())
    }

    /// Conversation memory in the SQLite file at `path` (created if missing).
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] when the file cannot be opened.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(path: impl AsRef<std::path::Path>) -> Result<ConversationMemory, RecallError> {
        Ok(ConversationMemory::new(MemoryStore::sqlite(path).await?))
    }

    /// Conversation memory on the store at `url` (see [`MemoryStore::open`]).
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] for an unsupported URL or when the store cannot be opened.
    pub async fn open(url: &str) -> Result<ConversationMemory, RecallError> {
        Ok(ConversationMemory::new(MemoryStore::open(url).await?))
    }

    /// Uses `embedder` for semantic and hybrid search (and to embed every chunk indexed
    /// from now on).
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> ConversationMemory {
        self.store = self.store.with_embedder(embedder);
        self
    }

    /// Sets how conversations are cut into chunks.
    pub fn with_chunking(mut self, chunking: ChunkingOptions) -> ConversationMemory {
        self.chunking = chunking;
        self
    }

    /// Writes a short summary of every chunk with `summarizer` (the seed's
    /// `include_summary=True`); summaries are shown in the context and searched.
    pub fn with_summarizer(mut self, summarizer: Arc<dyn Summarizer>) -> ConversationMemory {
        self.summarizer = Some(summarizer);
        self
    }

    /// The chunking in use.
    pub fn chunking(&self) -> &ChunkingOptions {
        &self.chunking
    }

    /// Whether chunks get a summary.
    pub fn includes_summary(&self) -> bool {
        self.summarizer.is_some()
    }

    /// The underlying store.
    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// Indexes one session of `user_id`'s conversations and returns its chunk ids, in order.
    ///
    /// Chunk ids are deterministic, and chunks the session had before that the new
    /// indexing does not produce are deleted, so indexing a session again replaces it.
    /// System messages are not indexed. `metadata` is stored with every chunk; its `topic`
    /// and `date` are shown and searched, and `date` (see [`super::parse_date`]) is what
    /// date ranges compare; without one, the day of indexing is used.
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] for an invalid user or session id (empty, over 255 bytes,
    /// control characters) or a store failure; [`RecallError::Embed`] and
    /// [`RecallError::Summarize`] when the embedder or summarizer fails. Nothing is written
    /// when embedding or summarizing fails.
    pub async fn index_conversation(
        &self,
        user_id: &str,
        session_id: &str,
        messages: &[Message],
        metadata: &Map<String, Value>,
    ) -> Result<Vec<String>, RecallError> {
        let namespace = session_namespace(user_id, session_id)?;
        let now = self.store.options().clock.now();
        let date = match metadata.get("date") {
            None | Some(Value::Null) => Some(date_of_unix_seconds(now)),
            Some(Value::String(text)) => parse_date(text),
            Some(_) => None,
        };
        let mut chunks = Vec::new();
        let mut keyword_texts = Vec::new();
        for in_context in chunks_in_context(messages, &self.chunking, CONTEXT_LINES) {
            let planned = in_context.chunk;
            let summary = match &self.summarizer {
                Some(summarizer) => Some(summarizer.summarize(&planned.messages, None).await?),
                None => None,
            };
            keyword_texts.push(keyword_text(
                &chunk_header(metadata, summary.as_deref()),
                &in_context.before,
                &planned.transcript,
                &in_context.after,
            ));
            chunks.push(ConversationChunk {
                chunk_id: chunk_id(user_id, session_id, planned.offset),
                user_id: user_id.to_owned(),
                session_id: session_id.to_owned(),
                offset: planned.offset,
                messages: planned.messages,
                text: planned.transcript,
                summary,
                metadata: metadata.clone(),
                date: date.clone(),
                created_at: now,
            });
        }
        let texts: Vec<String> = chunks.iter().map(ConversationChunk::search_text).collect();
        let vectors = self.embed(&texts).await?;
        let mut writes = Vec::with_capacity(chunks.len());
        for (index, (chunk, text)) in chunks.iter().zip(keyword_texts).enumerate() {
            writes.push(ItemWrite {
                namespace: namespace.clone(),
                key: chunk.chunk_id.clone(),
                value: validate_value(chunk.to_value())?,
                ttl_seconds: None,
                text,
                vector: vectors
                    .as_ref()
                    .map(|(model, vectors)| StoredVector { model: model.clone(), vector: vectors[index].clone() }),
                index: ItemIndex::StoreDefault,
            });
        }
        let backend = self.store.backend();
        if !writes.is_empty() {
            backend.put_many(writes, now).await?;
        }
        // Remove what an earlier indexing of this session left beyond the new chunks.
        let ids: Vec<String> = chunks.into_iter().map(|chunk| chunk.chunk_id).collect();
        let keep: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let scan = ScanQuery {
            scope: Scope::Namespace(namespace.clone()),
            filter: Filter::all(),
            offset: 0,
            limit: None,
            now,
        };
        let stale: Vec<ItemKey> = backend
            .scan(&scan)
            .await?
            .into_iter()
            .filter(|item| !keep.contains(item.key.as_str()))
            .map(|item| ItemKey { namespace: namespace.clone(), key: item.key })
            .collect();
        if !stale.is_empty() {
            backend.delete_many(&stale, now).await?;
        }
        Ok(ids)
    }

    /// Searches `user_id`'s past conversations, best first. Session, date and score
    /// filters apply before `limit`, in the store; only `user_id`'s chunks are searched.
    ///
    /// # Errors
    ///
    /// [`RecallError::InvalidOptions`] for a blank query or a date that is not
    /// `YYYY-MM-DD`; [`RecallError::Store`] for an invalid user id, a limit over 10,000, a
    /// semantic or hybrid mode without embedder, or a store failure; [`RecallError::Embed`]
    /// when embedding the query fails.
    pub async fn search(&self, user_id: &str, query: &RecallQuery) -> Result<Vec<SearchResult>, RecallError> {
        if query.text.trim().is_empty() {
            return Err(RecallError::InvalidOptions("the search query must not be blank".into()));
        }
        let scope = match &query.session_id {
            Some(session_id) => session_namespace(user_id, session_id)?,
            None => user_namespace(user_id)?,
        };
        let mut range = Map::new();
        if let Some(from) = &query.date_from {
            range.insert("$gte".into(), Value::String(check_bound("date_from", from)?));
        }
        if let Some(to) = &query.date_to {
            range.insert("$lte".into(), Value::String(check_bound("date_to", to)?));
        }
        let filter = if range.is_empty() { Filter::all() } else { Filter::from_json(&json!({"date": range}))? };
        let has_embedder = self.store.options().embedder.is_some();
        let mode = match query.mode {
            SearchMode::Auto if has_embedder => SearchMode::Hybrid,
            SearchMode::Auto => SearchMode::Keyword,
            mode => mode,
        };
        let mut search = SearchQuery::text(query.text.clone())
            .keyword_query(keyword_query(&query.text))
            .filter(filter)
            .limit(query.limit)
            .mode(mode);
        if let Some(min_score) = query.min_score {
            search = search.min_score(min_score);
        }
        if mode == SearchMode::Hybrid {
            // One fused search: the store ranks row ids and reads only the page's chunks.
            let weights = HybridWeights {
                keyword: self.fusion.keyword,
                semantic: self.fusion.semantic,
                method: FusionMethod::RelativeScore,
                ..HybridWeights::default()
            };
            search = search.hybrid_weights(weights).hybrid_candidates(Self::FUSION_CANDIDATES);
        }
        // Semantic search, and hybrid without embedder, fail with the store's error.
        let hits = self.store.search(scope, search).await?;
        hits.into_iter()
            .map(|hit| {
                let item = hit.item;
                let owner = item.namespace.labels().first().map_or("", String::as_str);
                let chunk = ConversationChunk::from_value(owner, &item.key, item.created_at, item.value)?;
                Ok(SearchResult::new(chunk, hit.score.unwrap_or(0.0)))
            })
            .collect()
    }

    /// The chunks of one session, in transcript order.
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] for invalid ids or a store failure; [`RecallError::Corrupt`]
    /// for a chunk this crate did not write.
    pub async fn session_chunks(&self, user_id: &str, session_id: &str) -> Result<Vec<ConversationChunk>, RecallError> {
        let namespace = session_namespace(user_id, session_id)?;
        let now = self.store.options().clock.now();
        let scan = ScanQuery { scope: Scope::Namespace(namespace), filter: Filter::all(), offset: 0, limit: None, now };
        let mut chunks = self
            .store
            .backend()
            .scan(&scan)
            .await?
            .into_iter()
            .map(|item| ConversationChunk::from_value(user_id, &item.key, item.created_at, item.value))
            .collect::<Result<Vec<_>, _>>()?;
        chunks.sort_by_key(|chunk| chunk.offset);
        Ok(chunks)
    }

    /// The ids of `user_id`'s indexed sessions, ascending: the first 10,000
    /// ([`crate::store::MAX_LIMIT`]); [`ConversationMemory::sessions_page`] reads past them.
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] for an invalid user id or a store failure.
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<String>, RecallError> {
        self.sessions_page(user_id, 0, crate::store::MAX_LIMIT).await
    }

    /// One page of `user_id`'s indexed session ids, ascending: at most `limit` (up to
    /// 10,000) after the first `offset`.
    ///
    /// ```
    /// use agent_memory::message::Message;
    /// use agent_memory::recall::ConversationMemory;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::recall::RecallError> {
    /// let memory = ConversationMemory::in_memory();
    /// for session in ["s1", "s2", "s3"] {
    ///     memory.index_conversation("u1", session, &[Message::user("hello")], &Default::default()).await?;
    /// }
    /// assert_eq!(memory.sessions_page("u1", 1, 5).await?, ["s2", "s3"]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] for an invalid user id, a limit over 10,000 or a store failure.
    pub async fn sessions_page(&self, user_id: &str, offset: usize, limit: usize) -> Result<Vec<String>, RecallError> {
        let listing =
            NamespaceListing::all().prefix(user_namespace(user_id)?)?.max_depth(3).offset(offset).limit(limit);
        let namespaces = self.store.list_namespaces(listing).await?;
        Ok(namespaces.into_iter().filter_map(|ns| ns.labels().get(2).cloned()).collect())
    }

    /// Deletes one session's chunks in one statement; returns how many were deleted.
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] for invalid ids or a store failure.
    pub async fn delete_conversation(&self, user_id: &str, session_id: &str) -> Result<u64, RecallError> {
        Ok(self.store.delete_namespace(session_namespace(user_id, session_id)?).await?)
    }

    /// Deletes all of a user's chunks in one statement; returns how many were deleted.
    ///
    /// # Errors
    ///
    /// [`RecallError::Store`] for an invalid user id or a store failure.
    pub async fn delete_user_conversations(&self, user_id: &str) -> Result<u64, RecallError> {
        Ok(self.store.delete_namespace(user_namespace(user_id)?).await?)
    }

    /// Embeds `texts` with the store's embedder, checking the answer's shape; `None`
    /// without embedder.
    async fn embed(&self, texts: &[String]) -> Result<Option<(String, Vec<Vec<f32>>)>, RecallError> {
        let Some(embedder) = &self.store.options().embedder else {
            return Ok(None);
        };
        if texts.is_empty() {
            return Ok(Some((embedder.model_id().to_owned(), Vec::new())));
        }
        let vectors = embedder.embed(texts).await?;
        if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != embedder.dimensions()) {
            return Err(RecallError::Embed(EmbedError::Model(format!(
                "{} returned {} vectors of the wrong shape for {} texts of {} dimensions",
                embedder.model_id(),
                vectors.len(),
                texts.len(),
                embedder.dimensions()
            ))));
        }
        Ok(Some((embedder.model_id().to_owned(), vectors)))
    }
}

fn user_namespace(user_id: &str) -> Result<Namespace, RecallError> {
    Ok(Namespace::new([user_id, CONVERSATIONS_LABEL])?)
}

fn session_namespace(user_id: &str, session_id: &str) -> Result<Namespace, RecallError> {
    Ok(Namespace::new([user_id, CONVERSATIONS_LABEL, session_id])?)
}

/// How hybrid search combines its two rankings: each ranking's scores over its candidates
/// are min-max normalized onto `[0, 1]` (a chunk missing from a ranking gets 0 from it),
/// then averaged with these weights, so a fused score is in `[0, 1]` and 1 means "best in
/// both". This convex combination keeps how far apart the candidates score, which
/// reciprocal-rank fusion throws away; it is the better fusion on conversations
/// (`docs/recall-locomo.md`) and in the literature (Bruch, Gai and Ingber, "An Analysis of
/// Fusion Functions for Hybrid Retrieval", ACM TOIS 2023).
///
/// ```
/// use agent_memory::recall::{ConversationMemory, FusionWeights};
///
/// let memory = ConversationMemory::in_memory().with_fusion(FusionWeights { keyword: 1.0, semantic: 1.0 });
/// assert_eq!(memory.fusion(), FusionWeights { keyword: 1.0, semantic: 1.0 });
/// assert_eq!(ConversationMemory::DEFAULT_FUSION, FusionWeights { keyword: 1.0, semantic: 0.5 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionWeights {
    /// The weight of the keyword (BM25) ranking (≥ 0).
    pub keyword: f64,
    /// The weight of the semantic ranking (≥ 0).
    pub semantic: f64,
}
