//! The seam between [`super::MemoryStore`] and storage engines.
//!
//! A backend stores items and answers scoped queries; it never embeds, validates user
//! input or reads the clock. [`super::MemoryStore`] validates every argument (namespaces,
//! keys, values, TTLs, filters, limits), computes each item's index text and vector, reads
//! the clock once per operation and passes `now` down. Backends may therefore assume valid
//! input; they must still never panic on stored data (corrupt rows are
//! [`StoreError::Backend`] errors).
//!
//! # Contract shared by every method
//!
//! * **Expiry.** An item is *live* at `now` when `expires_at` is `None` or `now < expires_at`.
//!   No method returns, counts or lists an expired item, whether or not it has been purged.
//! * **Order.** "Recency order" is `updated_at` descending, then namespace ascending (tuple
//!   order, i.e. bytewise on [`Namespace::encoded`]), then key ascending (bytewise).
//!   Scored results are ordered by score descending, ties in recency order.
//! * **Filters** are applied before `offset` and `limit`, with exactly the semantics of
//!   [`Filter::matches`]: a page is short only when there are no more matches.
//! * **Atomicity.** Each call is one round trip and, for writes, one transaction: a failed
//!   `put_many`/`delete_many` leaves the store unchanged.
//! * **Concurrency.** Backends are shared across tasks (`Send + Sync`); concurrent calls must
//!   neither fail nor lose writes because of each other.
//! * **Scores** are documented per method and comparable across backends.
//!
//! The conformance suite (`store::testkit`, feature `testkit`) checks all of this; every
//! backend's test file runs it with one line: `agent_memory::store_conformance!(make_backend);`.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use async_trait::async_trait;

use super::fusion::{FusionMethod, reciprocal_rank_fusion, relative_score_fusion};
use super::keyword;
use super::keyword_corpora::KeywordCorpora;
use super::vector_index::VectorIndex;
use super::{
    Filter, HybridWeights, Item, ItemIndex, ItemKey, ItemWrite, Namespace, NamespacePrefix, StoreError, StoredVector,
};

/// Which namespaces a query covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly this namespace.
    Namespace(Namespace),
    /// Every namespace that starts with this prefix (label by label); the root prefix is
    /// every namespace.
    Prefix(NamespacePrefix),
}

impl Scope {
    /// Whether `namespace` is in scope.
    pub fn contains(&self, namespace: &Namespace) -> bool {
        match self {
            Scope::Namespace(exact) => exact == namespace,
            Scope::Prefix(prefix) => namespace.starts_with(prefix),
        }
    }
}

/// Live items in scope that match a filter, in recency order, paginated.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanQuery {
    /// Which namespaces.
    pub scope: Scope,
    /// Which values (the empty filter matches all).
    pub filter: Filter,
    /// How many matches to skip.
    pub offset: usize,
    /// The most items to return; `None` for all.
    pub limit: Option<usize>,
    /// The current time (Unix seconds).
    pub now: f64,
}

/// The `limit` live, matching items in scope whose vector comes from `model`, nearest to
/// `vector` first.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorQuery {
    /// Which namespaces.
    pub scope: Scope,
    /// Which values.
    pub filter: Filter,
    /// The query vector (same length as the model's vectors).
    pub vector: Vec<f32>,
    /// The embedder's model id; items embedded by another model are ignored.
    pub model: String,
    /// How many results at most (≥ 1). An approximate index may be used only if it still
    /// returns `limit` results whenever that many items match.
    pub limit: usize,
    /// The current time (Unix seconds).
    pub now: f64,
}

/// The `limit` live, matching items in scope whose index text contains at least one of
/// `terms`, best BM25 first.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordQuery {
    /// Which namespaces.
    pub scope: Scope,
    /// Which values.
    pub filter: Filter,
    /// Distinct lower-cased terms from [`super::keyword::query_terms`] (never empty).
    pub terms: Vec<String>,
    /// How many results at most (≥ 1).
    pub limit: usize,
    /// The current time (Unix seconds).
    pub now: f64,
}

/// Hybrid search: the two rankings of one query, fused as `weights` say.
///
/// `vector` and `keyword` share scope, filter and `now`; each `limit` is the depth of its
/// ranking. `keyword` is `None` when the query has no terms.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridQuery {
    /// The semantic ranking.
    pub vector: VectorQuery,
    /// The keyword ranking, if the query has terms.
    pub keyword: Option<KeywordQuery>,
    /// The fusion method, the weights of the two rankings and the RRF constant.
    pub weights: HybridWeights,
    /// The most fused results wanted.
    pub limit: usize,
}

/// Distinct namespaces that hold at least one live item.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceQuery {
    /// Only namespaces starting with this.
    pub prefix: NamespacePrefix,
    /// Only namespaces ending with these labels (empty: no condition).
    pub suffix: Vec<String>,
    /// Namespaces longer than this are cut to this many labels, then deduplicated.
    pub max_depth: Option<usize>,
    /// How many namespaces to skip (after cutting and deduplication).
    pub offset: usize,
    /// The most namespaces to return.
    pub limit: usize,
    /// The current time (Unix seconds).
    pub now: f64,
}

/// An item with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredItem {
    /// The item.
    pub item: Item,
    /// Its score (meaning per query kind).
    pub score: f64,
}

/// A live item with its vector, as [`StoreBackend::export_items`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedItem {
    /// The item, times, expiry and TTL included.
    pub item: Item,
    /// Its stored vector, if any.
    pub vector: Option<StoredVector>,
    /// The index spec it was written with.
    pub index: ItemIndex,
    /// What it is keyword-indexed by, in a canonical form every backend writes alike
    /// ([`canonical_index_text`]): its tokens in byte order, each as often as the indexed
    /// text holds it. Indexed again, it gives the very same postings (each token's
    /// frequency and the token count), hence the same BM25 scores.
    pub text: String,
}

/// The canonical form of an indexed text ([`ExportedItem::text`]) from its tokens' counts
/// (tokens as [`keyword::tokenize`] makes them; counts of zero are left out): the tokens in
/// byte order, each `count` times, space-separated.
///
/// [`keyword::tokenize`] gives back exactly these tokens with these counts. The one token
/// form that would not survive is U+0130 (İ) lower-cased, `i` + U+0307 (the combining dot
/// is not alphanumeric): it is written as U+0130 again, which tokenizes to it.
///
/// ```
/// use agent_memory::store::canonical_index_text;
///
/// let text = canonical_index_text([("went", 2), ("bo", 1), ("i\u{307}zmir", 1)]);
/// assert_eq!(text, "bo \u{130}zmir went went");
/// ```
pub fn canonical_index_text<S: AsRef<str>>(counts: impl IntoIterator<Item = (S, u32)>) -> String {
    let mut counts: Vec<(S, u32)> = counts.into_iter().filter(|(_, count)| *count > 0).collect();
    counts.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut text = String::new();
    for (token, count) in &counts {
        let token = token.as_ref();
        let written = if token.contains('\u{307}') {
            std::borrow::Cow::Owned(token.replace("i\u{307}", "\u{130}"))
        } else {
            std::borrow::Cow::Borrowed(token)
        };
        for _ in 0..*count {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&written);
        }
    }
    text
}

/// [`canonical_index_text`] of `text`'s tokens (as [`keyword::tokenize`] makes them).
///
/// ```
/// use agent_memory::store::canonical_text_of;
///
/// assert_eq!(canonical_text_of("Bo: I went, Bo went!"), "bo bo i went went");
/// ```
pub fn canonical_text_of(text: &str) -> String {
    // Sorted tokens, repeats side by side: the canonical text without counting. Export
    // calls this for every SQLite row, so ASCII tokens are lower-cased without allocating
    // when they already are (`str::to_lowercase` is ASCII lower-casing on ASCII).
    let mut tokens: Vec<std::borrow::Cow<'_, str>> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(|token| {
            if token.is_ascii() && !token.bytes().any(|b| b.is_ascii_uppercase()) {
                std::borrow::Cow::Borrowed(token)
            } else {
                std::borrow::Cow::Owned(token.to_lowercase())
            }
        })
        .collect();
    tokens.sort_unstable();
    let mut out = String::with_capacity(text.len());
    for token in &tokens {
        if !out.is_empty() {
            out.push(' ');
        }
        if token.contains('\u{307}') {
            out.push_str(&token.replace("i\u{307}", "\u{130}"));
        } else {
            out.push_str(token);
        }
    }
    out
}

/// One page of an export: the live items in scope after an address, in address order.
///
/// Pages are read by keyset: the first page has `after: None`, each next one starts after
/// the last address of the page before (see [`StoreBackend::export_items`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportQuery {
    /// Which namespaces (the root prefix for every item).
    pub scope: Scope,
    /// Only items whose address (namespace in tuple order, then key) comes strictly after
    /// this one; `None` from the first item.
    pub after: Option<ItemKey>,
    /// The most items to return (≥ 1).
    pub limit: usize,
    /// The time the whole export is judged at (Unix seconds): the same for every page.
    pub now: f64,
}

/// The index range of an [`ExportQuery`] over encoded (namespace, key) addresses, with
/// the bound `after` makes redundant dropped, so that a SQL planner seeks straight to the
/// cursor instead of scanning from the scope's start on every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExportRange {
    /// No address can match.
    Nothing,
    /// Every address.
    All,
    /// `(namespace, key) > (namespace, key)`.
    After { namespace: String, key: String },
    /// `(namespace, key) > (namespace, key) AND namespace < below`.
    AfterBelow { namespace: String, key: String, below: String },
    /// `namespace >= from AND namespace < below`.
    Between { from: String, below: String },
    /// `namespace = namespace`.
    Namespace { namespace: String },
    /// `namespace = namespace AND key > key`.
    NamespaceAfter { namespace: String, key: String },
}

impl ExportQuery {
    /// The addresses this page may come from, as one index range.
    pub(crate) fn range(&self) -> ExportRange {
        let after = self.after.as_ref().map(|after| (after.namespace.encoded(), after.key.clone()));
        match (&self.scope, after) {
            (Scope::Namespace(namespace), after) => {
                let namespace = namespace.encoded();
                match after {
                    Some((after, key)) if after == namespace => ExportRange::NamespaceAfter { namespace, key },
                    Some((after, _)) if after > namespace => ExportRange::Nothing,
                    _ => ExportRange::Namespace { namespace },
                }
            }
            (Scope::Prefix(prefix), after) => match (prefix.encoded_range(), after) {
                (None, None) => ExportRange::All,
                (None, Some((namespace, key))) => ExportRange::After { namespace, key },
                (Some((from, below)), Some((namespace, key))) if namespace >= from => {
                    ExportRange::AfterBelow { namespace, key, below }
                }
                (Some((from, below)), _) => ExportRange::Between { from, below },
            },
        }
    }
}

/// An item to write exactly as given, as [`StoreBackend::restore_items`] takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredItem {
    /// The item: its `created_at`, `updated_at`, `expires_at` and `ttl_seconds` are kept.
    pub item: Item,
    /// The text indexed for keyword search.
    pub text: String,
    /// Its vector, if any.
    pub vector: Option<StoredVector>,
    /// The index spec `text` was derived under, stored with the item.
    pub index: ItemIndex,
}

/// A storage engine for [`super::MemoryStore`]. See the module documentation for the
/// contract every method shares.
#[async_trait]
pub trait StoreBackend: Send + Sync + fmt::Debug {
    /// A short name for messages and metrics: `memory`, `sqlite`, `postgres`.
    fn kind(&self) -> &'static str;

    /// Gets ready to search: loads whatever in-process indexes the backend keeps (which the
    /// first search that needs them would otherwise load while it waits), and opens the
    /// connections searches run on. Searches never need it; a server calls it as it starts.
    /// The default does nothing.
    async fn warm_up(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Upserts `writes` in one transaction, in order (a later write of the same key wins),
    /// and returns the stored items in the same order.
    ///
    /// For each write: `updated_at = now`; `created_at` is kept from the existing item if
    /// that item is live, and is `now` otherwise; `expires_at = now + ttl_seconds`. The
    /// stored vector and index text are replaced (a write without a vector removes the old
    /// one).
    async fn put_many(&self, writes: Vec<ItemWrite>, now: f64) -> Result<Vec<Item>, StoreError>;

    /// Reads `keys`, one result per key in the same order: `None` when absent or expired.
    ///
    /// With `refresh_ttl`, each returned item that has a TTL gets
    /// `expires_at = now + ttl_seconds` (stored and returned); `updated_at` is unchanged.
    async fn get_many(&self, keys: &[ItemKey], now: f64, refresh_ttl: bool) -> Result<Vec<Option<Item>>, StoreError>;

    /// Deletes `keys` in one transaction, one result per key: `true` when a live item was
    /// removed. Expired items are removed too, but report `false`.
    async fn delete_many(&self, keys: &[ItemKey], now: f64) -> Result<Vec<bool>, StoreError>;

    /// Live items in scope matching the filter, in recency order, `offset`/`limit` applied
    /// after filtering.
    async fn scan(&self, query: &ScanQuery) -> Result<Vec<Item>, StoreError>;

    /// Nearest items by cosine similarity. `score` is the cosine similarity of the stored
    /// vector and the query vector, in `[-1, 1]`.
    async fn vector_search(&self, query: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError>;

    /// Best keyword matches. `score` is [`super::keyword::normalize`] of the Okapi BM25 sum
    /// defined in [`super::keyword`] (statistics over every stored item), in `(0, 1)`.
    async fn keyword_search(&self, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError>;

    /// The best `limit` items of a hybrid search: the vector and keyword rankings fused as
    /// `query.weights` say, with [`super::fusion::reciprocal_rank_fusion`] (ties in
    /// first-seen order, the vector list first; scores in `(0, 1]`) or
    /// [`super::fusion::relative_score_fusion`] (keyword scores as BM25 sums,
    /// [`super::keyword::bm25_sum`]; ties in first-seen order, the keyword list first;
    /// scores in `[0, 1]`); `score` is the fused score.
    ///
    /// The provided method runs [`StoreBackend::vector_search`] and
    /// [`StoreBackend::keyword_search`] at the same time (joined futures: a pooled backend
    /// uses two connections) and fuses their items; a backend may rank row ids
    /// first and read only the winners, with the same results.
    async fn hybrid_search(&self, query: &HybridQuery) -> Result<Vec<ScoredItem>, StoreError> {
        hybrid_from_rankings(self, query).await
    }

    /// Distinct namespaces with live items, ascending (tuple order), after `max_depth`
    /// truncation and deduplication, then `offset`/`limit`.
    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Vec<Namespace>, StoreError>;

    /// The number of live items in scope.
    async fn count(&self, scope: &Scope, now: f64) -> Result<u64, StoreError>;

    /// Deletes every item (live or expired) in scope in one transaction; returns how many
    /// live items were removed.
    async fn delete_scope(&self, scope: &Scope, now: f64) -> Result<u64, StoreError>;

    /// Physically removes every expired item; returns how many were removed.
    async fn purge_expired(&self, now: f64) -> Result<u64, StoreError>;

    /// One page of a dump ([`crate::transfer`]): the first `limit` items in scope that are
    /// live at `now` and whose address comes after `after`, with their vectors, ordered by
    /// namespace (tuple order) then key (bytewise). A page shorter than `limit` is the
    /// last one.
    ///
    /// Each page is read in one snapshot (one statement or one lock hold), and holds at
    /// most `limit` items, so an export's memory is bounded by its page size, not by the
    /// store. Across pages, with writers at work: an item that exists from the first page
    /// to the last is returned exactly once (as it was when its page was read); an item
    /// written, moved or deleted during the export may or may not be returned; no address
    /// is returned twice. Backends read pages from an index on (namespace, key), so every
    /// page costs about the same.
    ///
    /// The default answers [`StoreError::Config`]: a backend that cannot enumerate its
    /// items cannot be exported.
    async fn export_items(&self, query: &ExportQuery) -> Result<Vec<ExportedItem>, StoreError> {
        let _ = query;
        Err(StoreError::Config(format!("the {} backend cannot export its items", self.kind())))
    }

    /// Writes `items` exactly as given (times, expiry, TTL, index text, vector) in one
    /// transaction, replacing any item at the same address (a later item of the same
    /// address wins); returns how many items were given. For a restore ([`crate::transfer`]):
    /// nothing is validated beyond what [`super::MemoryStore`] validates for writes.
    ///
    /// The default answers [`StoreError::Config`].
    async fn restore_items(&self, items: Vec<RestoredItem>) -> Result<u64, StoreError> {
        let _ = items;
        Err(StoreError::Config(format!("the {} backend cannot restore items", self.kind())))
    }
}

/// [`StoreBackend::hybrid_search`] from the backend's two rankings, fused on items.
pub(crate) async fn hybrid_from_rankings<B: StoreBackend + ?Sized>(
    backend: &B,
    query: &HybridQuery,
) -> Result<Vec<ScoredItem>, StoreError> {
    // Joined, so a backend with a connection pool (PostgreSQL) runs both at once.
    let keyword = async {
        match &query.keyword {
            Some(keyword) => backend.keyword_search(keyword).await,
            None => Ok(Vec::new()),
        }
    };
    let (semantic, keyword) = futures::try_join!(backend.vector_search(&query.vector), keyword)?;
    let mut fused = fuse(semantic, keyword, &query.weights);
    fused.truncate(query.limit);
    Ok(fused)
}

/// Hybrid search on in-process indexes (the memory and SQLite backends): both rankings as
/// row ids, fused, best first, so only the winners' rows need reading. Value filters are
/// the caller's job (it must not call this with one).
pub(crate) fn fused_row_ids(vectors: &VectorIndex, keywords: &KeywordCorpora, query: &HybridQuery) -> Vec<(i64, f64)> {
    let vector = &query.vector;
    let (candidates, _) = vectors.nearest(&vector.model, &vector.vector, &vector.scope, vector.now, vector.limit);
    let semantic: Vec<(i64, f64)> = candidates.into_iter().map(|candidate| (candidate.id, candidate.score)).collect();
    let keyword: Vec<(i64, f64)> = match &query.keyword {
        Some(keyword) => {
            let (hits, _) = keywords.search(&keyword.terms, &keyword.scope, keyword.now, keyword.limit);
            hits.into_iter().map(|hit| (hit.id, hit.score)).collect()
        }
        None => Vec::new(),
    };
    fuse_rankings(semantic, keyword, &query.weights)
}

/// Fuses the two rankings of a hybrid search, each `(key, score)` best first, as `weights`
/// say: reciprocal rank over (semantic, keyword), or relative score over (keyword as BM25
/// sums, semantic), each list first where scores tie.
fn fuse_rankings<K: Clone + Eq + Hash>(
    semantic: Vec<(K, f64)>,
    keyword: Vec<(K, f64)>,
    weights: &HybridWeights,
) -> Vec<(K, f64)> {
    match weights.method {
        FusionMethod::ReciprocalRank => {
            let semantic: Vec<K> = semantic.into_iter().map(|(key, _)| key).collect();
            let keyword: Vec<K> = keyword.into_iter().map(|(key, _)| key).collect();
            reciprocal_rank_fusion(&[(weights.semantic, &semantic), (weights.keyword, &keyword)], weights.k)
        }
        FusionMethod::RelativeScore => {
            let keyword: Vec<(K, f64)> =
                keyword.into_iter().map(|(key, score)| (key, keyword::bm25_sum(score))).collect();
            relative_score_fusion(&[(weights.keyword, &keyword), (weights.semantic, &semantic)])
        }
    }
}

/// Whether a hybrid query has a value filter (on either ranking).
pub(crate) fn has_value_filter(query: &HybridQuery) -> bool {
    !query.vector.filter.is_empty() || query.keyword.as_ref().is_some_and(|keyword| !keyword.filter.is_empty())
}

/// Fuses two rankings of items as `weights` say, keyed by (namespace, key).
fn fuse(semantic: Vec<ScoredItem>, keyword: Vec<ScoredItem>, weights: &HybridWeights) -> Vec<ScoredItem> {
    let key = |hit: &ScoredItem| (hit.item.namespace.clone(), hit.item.key.clone());
    let semantic_keys: Vec<_> = semantic.iter().map(|hit| (key(hit), hit.score)).collect();
    let keyword_keys: Vec<_> = keyword.iter().map(|hit| (key(hit), hit.score)).collect();
    let fused = fuse_rankings(semantic_keys, keyword_keys, weights);
    let mut items: HashMap<(Namespace, String), Item> = HashMap::new();
    for hit in semantic.into_iter().chain(keyword) {
        items.entry(key(&hit)).or_insert(hit.item);
    }
    fused.into_iter().filter_map(|(k, score)| items.remove(&k).map(|item| ScoredItem { item, score })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token, of every alphanumeric character: the canonical text tokenizes back to
    /// the same tokens with the same counts (the only lower-cased form that holds a
    /// character that is not alphanumeric is U+0130's).
    #[test]
    fn canonical_text_tokenizes_back_to_its_counts() {
        let mut tokens: Vec<String> = Vec::new();
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32).filter(|c| c.is_alphanumeric()) {
            tokens.extend(keyword::tokenize(&format!("{c}a{c}")));
        }
        let counts: HashMap<String, u32> =
            tokens.iter().enumerate().map(|(i, t)| (t.clone(), 1 + (i % 3) as u32)).collect();
        let text = canonical_index_text(counts.iter().map(|(t, &n)| (t.as_str(), n)));
        let mut back: HashMap<String, u32> = HashMap::new();
        for token in keyword::tokenize(&text) {
            *back.entry(token).or_insert(0) += 1;
        }
        assert_eq!(back, counts);
        assert_eq!(canonical_text_of(&text), text, "canonical twice is canonical once");
        // The same text as counting `tokenize`'s tokens, from a text of every character.
        let mixed: String = (0..=0x10FFFF_u32).filter_map(char::from_u32).map(|c| format!("{c}x{c}, X{c}")).collect();
        let mut counts: HashMap<String, u32> = HashMap::new();
        for token in keyword::tokenize(&mixed) {
            *counts.entry(token).or_insert(0) += 1;
        }
        assert_eq!(canonical_text_of(&mixed), canonical_index_text(counts));
    }

    #[test]
    fn zero_counts_and_empty_texts_write_nothing() {
        assert_eq!(canonical_index_text([("a", 0), ("b", 2)]), "b b");
        assert_eq!(canonical_index_text(Vec::<(String, u32)>::new()), "");
        assert_eq!(canonical_text_of(" ,;"), "");
    }
}
