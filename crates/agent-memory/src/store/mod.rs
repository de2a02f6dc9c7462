//! Long-term memory: a namespaced key-value store of JSON objects with TTL, filters and
//! semantic + keyword search, on interchangeable backends.
//!
//! * [`MemoryStore`] is the API (async): `put`, `get`, `delete`, `list`, `search`,
//!   `list_namespaces`, `count`, `delete_namespace`, batches, `purge_expired`, a background
//!   sweeper, and the seed's convenience methods (`put_user_memory`, …).
//! * [`StoreBackend`] is the seam every storage engine implements: [`MemoryBackend`]
//!   (in-process), [`SqliteBackend`] (one file, WAL, FTS5), PostgreSQL + pgvector.
//! * [`Namespace`]s are validated tuples of labels; [`Filter`]s select values;
//!   [`keyword`] and [`fusion`] define keyword scores and hybrid fusion.
//!
//! # Scores
//!
//! Every backend reports the same scores (see [`SearchMode`]): cosine similarity for
//! semantic search, normalized BM25 in `(0, 1)` for keyword search, normalized
//! reciprocal-rank fusion in `(0, 1]` (or relative-score fusion in `[0, 1]`, see
//! [`HybridWeights`]) for hybrid search.
//!
//! # What is indexed
//!
//! A value's search text (embedded and keyword-indexed) is [`value_text`] under the store's
//! [`StoreOptions::index_fields`] (the whole value by default). Each put may choose its
//! own, as LangGraph's `put(..., index=...)` does ([`ItemIndex`] on [`PutRequest::index`],
//! [`MemoryStore::put_with`]): [`ItemIndex::Disabled`] for no search text at all, or
//! [`ItemIndex::Paths`] for other fields. The spec is stored with the item on every backend
//! and travels in export dumps. An item without search text behaves exactly like one whose
//! fields hold no text: no vector, no keyword postings, never returned by a search with a
//! query, still returned by `get`, `list` and searches without a query.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//!
//! use agent_memory::embed::HashEmbedder;
//! use agent_memory::store::{MemoryStore, SearchQuery};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), agent_memory::store::StoreError> {
//! let store = MemoryStore::in_memory().with_embedder(Arc::new(HashEmbedder::new(64)));
//! let ns = ("user_123", "facts");
//! store.put(ns, "lang", json!({"value": "User prefers Python for data science"}), None).await?;
//! store.put(ns, "editor", json!({"value": "User uses VS Code with Vim keybindings"}), None).await?;
//!
//! let item = store.get(ns, "lang").await?.expect("just stored");
//! assert_eq!(item.value["value"], "User prefers Python for data science");
//!
//! let hits = store.search(ns, SearchQuery::text("python data").limit(1)).await?;
//! assert_eq!(hits[0].item.key, "lang");
//! # Ok(())
//! # }
//! ```

mod backend;
#[cfg(feature = "sqlite")]
pub(crate) mod checkpoint;
mod clock;
mod exact_scan;
pub mod filter;
pub mod fusion;
mod group_commit;
mod item;
pub mod keyword;
mod keyword_corpora;
mod keyword_index;
mod layout;
mod memory;
mod memory_store;
mod namespace;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
#[cfg(feature = "testkit")]
#[doc(hidden)]
pub mod testkit;
mod text;
pub mod vector;
mod vector_index;

pub use backend::{
    ExportQuery, ExportedItem, HybridQuery, KeywordQuery, NamespaceQuery, RestoredItem, ScanQuery, Scope, ScoredItem,
    StoreBackend, VectorQuery, canonical_index_text, canonical_text_of,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use filter::{Condition, Filter, Operator};
pub use fusion::FusionMethod;
pub use item::{
    Item, ItemKey, ItemWrite, MAX_KEY_BYTES, MAX_VALUE_BYTES, SearchHit, StoredVector, validate_key, validate_ttl,
    validate_value,
};
pub use keyword::KeywordStatistics;
pub use memory::MemoryBackend;
pub use memory_store::{
    HybridWeights, MAX_LIMIT, MemoryStore, NamespaceListing, OpenOptions, Page, PutRequest, SearchMode, SearchQuery,
    StoreOptions, Sweeper, resolve_embedder, resolve_embedder_spec,
};
pub use namespace::{
    IntoNamespace, IntoNamespacePrefix, LABEL_SEPARATOR, MAX_DEPTH, MAX_LABEL_BYTES, Namespace, NamespacePrefix,
};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBackend, PostgresConfig};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteBackend, SqliteOptions, SqliteSync};
pub use text::{IndexFields, ItemIndex, MAX_INDEX_PATH_BYTES, MAX_INDEX_PATHS, value_text};
pub use vector_index::{GraphPrecision, MAX_GRAPH_WANT, VectorIndexOptions};

use crate::embed::EmbedError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A namespace or namespace prefix is invalid.
    #[error("invalid namespace: {0}")]
    InvalidNamespace(String),
    /// A key is invalid.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A value is not a JSON object, too large, or contains U+0000.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A TTL is zero, negative or not finite.
    #[error("invalid ttl: {0}")]
    InvalidTtl(String),
    /// A filter is malformed.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// An item's index spec ([`ItemIndex`]) or a list of index paths is invalid.
    #[error("invalid index: {0}")]
    InvalidIndex(String),
    /// Another argument (limit, offset, weights, …) is out of range.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The operation needs an embedder and the store has none.
    #[error("{0}")]
    EmbedderRequired(String),
    /// The store is misconfigured (unknown backend, bad path, unknown embedding provider).
    #[error("store configuration: {0}")]
    Config(String),
    /// The embedder failed.
    #[error("embedding failed: {0}")]
    Embed(#[from] EmbedError),
    /// The storage engine failed (I/O, database error, corrupt row).
    #[error("{backend} backend: {message}")]
    Backend {
        /// Which backend (`memory`, `sqlite`, `postgres`, …).
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl StoreError {
    /// A [`StoreError::Backend`] error.
    pub fn backend(backend: &'static str, message: impl Into<String>) -> StoreError {
        StoreError::Backend { backend, message: message.into() }
    }

    /// Whether the error is the caller's fault (bad input or configuration) rather than a
    /// failure of the embedder or the storage engine; the CLI maps these to exit code 2.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidNamespace(_)
                | StoreError::InvalidKey(_)
                | StoreError::InvalidValue(_)
                | StoreError::InvalidTtl(_)
                | StoreError::InvalidFilter(_)
                | StoreError::InvalidIndex(_)
                | StoreError::InvalidRequest(_)
                | StoreError::EmbedderRequired(_)
                | StoreError::Config(_)
        )
    }
}
