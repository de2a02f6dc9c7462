//! The in-process backend: a B-tree of items behind a read-write lock, a vector index (exact,
//! with an HNSW graph at scale) and an inverted keyword index per corpus ([`KeywordCorpora`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::backend::{
    ExportQuery, ExportedItem, HybridQuery, KeywordQuery, NamespaceQuery, RestoredItem, ScanQuery, Scope, ScoredItem,
    StoreBackend, VectorQuery, canonical_index_text, fused_row_ids, has_value_filter, hybrid_from_rankings,
};
use super::keyword::KeywordStatistics;
use super::keyword_corpora::KeywordCorpora;
use super::vector_index::{RowMeta, VectorIndex, VectorIndexOptions, first_want, widen};
use super::{Filter, Item, ItemIndex, ItemKey, ItemWrite, Namespace, StoreError, StoredVector};

/// An in-process [`StoreBackend`]: fast, safe for concurrent use, lost when dropped.
///
/// Reads share a lock and writes take it exclusively, so a batch is applied atomically.
/// Semantic search is exact up to [`VectorIndexOptions::ann_min_vectors`] vectors of one
/// model and approximate (HNSW) above, except in small scopes; see
/// [`MemoryBackend::with_vector_index`].
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: RwLock<State>,
}

/// Items keyed by (encoded namespace, key), so a namespace prefix is a key range.
type Address = (String, String);

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<Address, Entry>,
    /// The vectors, by entry id (see [`VectorIndex`]).
    vectors: VectorIndex,
    /// The address of each entry id.
    addresses: HashMap<i64, Address>,
    next_id: i64,
    /// The keyword index, by entry id.
    keywords: KeywordCorpora,
}

#[derive(Debug)]
struct Entry {
    item: Item,
    /// The index spec the item was written with.
    index: ItemIndex,
    /// This entry's row in `State::vectors` and `State::keywords` (a new one for every write).
    id: i64,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// An empty backend whose vector index uses `options` (when to build an HNSW graph and
    /// how; [`VectorIndexOptions::exact`] never does).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use agent_memory::store::{MemoryBackend, MemoryStore, StoreOptions, VectorIndexOptions};
    ///
    /// let exact = MemoryBackend::with_vector_index(VectorIndexOptions::exact());
    /// let store = MemoryStore::new(Arc::new(exact), StoreOptions::default());
    /// # drop(store);
    /// ```
    pub fn with_vector_index(options: VectorIndexOptions) -> MemoryBackend {
        MemoryBackend::with_indexes(options, KeywordStatistics::Store)
    }

    /// An empty backend whose vector index uses `vector_index` and whose keyword scores
    /// count `keyword_statistics`' items ([`KeywordStatistics::Tenant`]: each tenant's own).
    ///
    /// ```
    /// use agent_memory::store::{KeywordStatistics, MemoryBackend, VectorIndexOptions};
    ///
    /// let backend = MemoryBackend::with_indexes(VectorIndexOptions::default(), KeywordStatistics::Tenant);
    /// assert_eq!(backend.keyword_statistics(), KeywordStatistics::Tenant);
    /// ```
    pub fn with_indexes(vector_index: VectorIndexOptions, keyword_statistics: KeywordStatistics) -> MemoryBackend {
        let state = State {
            vectors: VectorIndex::new(vector_index),
            keywords: KeywordCorpora::new(keyword_statistics),
            ..State::default()
        };
        MemoryBackend { state: RwLock::new(state) }
    }

    /// Whose items keyword scores count (see [`MemoryBackend::with_indexes`]).
    pub fn keyword_statistics(&self) -> KeywordStatistics {
        self.read().keywords.statistics()
    }

    /// The vector index options this backend runs with (those given to
    /// [`MemoryBackend::with_vector_index`], with any later
    /// [`MemoryBackend::set_expansion_search`]).
    ///
    /// ```
    /// use agent_memory::store::{MemoryBackend, VectorIndexOptions};
    ///
    /// let backend = MemoryBackend::with_vector_index(VectorIndexOptions::exact());
    /// backend.set_expansion_search(64);
    /// assert_eq!(backend.vector_index_options().expansion_search, 64);
    /// assert_eq!(backend.vector_index_options().ann_min_vectors, usize::MAX);
    /// ```
    pub fn vector_index_options(&self) -> VectorIndexOptions {
        self.read().vectors.options()
    }

    /// Changes the HNSW `ef_search` of later semantic searches
    /// ([`VectorIndexOptions::expansion_search`]): higher is slower and closer to exact.
    pub fn set_expansion_search(&self, ef: usize) {
        self.write().vectors.set_expansion_search(ef);
    }

    /// Blocks until the vector index's HNSW graphs hold every vector written so far (at
    /// once without a graph). Searches never need this: rows the graph does not hold yet
    /// are scanned exactly. For benchmarks and tests that want to time or check the graph.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use agent_memory::embed::default_embedder;
    /// use agent_memory::store::{MemoryBackend, MemoryStore, StoreOptions, VectorIndexOptions};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let graph_from_one = VectorIndexOptions { ann_min_vectors: 1, ..VectorIndexOptions::default() };
    /// let backend = Arc::new(MemoryBackend::with_vector_index(graph_from_one));
    /// let store = MemoryStore::new(backend.clone(), StoreOptions::default()).with_embedder(default_embedder());
    /// store.put("notes", "n1", json!({"text": "tea at five"}), None).await?;
    /// backend.wait_for_vector_index(); // the graph now holds n1 (searches found it before, too)
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_for_vector_index(&self) {
        let progress = self.read().vectors.graph_progress();
        progress.wait();
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written (writes are
        // applied with infallible operations), so a poisoned lock is still usable.
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn in_scope<'s>(&'s self, scope: &Scope) -> Box<dyn Iterator<Item = &'s Entry> + 's> {
        match scope {
            Scope::Namespace(namespace) => {
                let encoded = namespace.encoded();
                let start = (encoded.clone(), String::new());
                let namespace = namespace.clone();
                Box::new(
                    self.entries
                        .range((Bound::Included(start), Bound::Unbounded))
                        .map(|(_, e)| e)
                        .take_while(move |e| e.item.namespace == namespace),
                )
            }
            Scope::Prefix(prefix) => match prefix.encoded_range() {
                None => Box::new(self.entries.values()),
                Some((low, high)) => Box::new(
                    self.entries
                        .range((Bound::Included((low, String::new())), Bound::Excluded((high, String::new()))))
                        .map(|(_, e)| e),
                ),
            },
        }
    }

    fn remove(&mut self, address: &Address) -> Option<Entry> {
        let entry = self.entries.remove(address)?;
        self.vectors.remove(entry.id);
        self.keywords.remove(entry.id);
        self.addresses.remove(&entry.id);
        Some(entry)
    }

    /// Stores `entry` under a new id, its `text` in the keyword index and `vector` in the
    /// vector index.
    fn insert(&mut self, address: Address, mut entry: Entry, text: &str, vector: Option<StoredVector>) {
        self.next_id += 1;
        entry.id = self.next_id;
        let meta = RowMeta {
            namespace: address.0.clone(),
            key: address.1.clone(),
            updated_at: entry.item.updated_at,
            expires_at: entry.item.expires_at,
        };
        self.keywords.upsert(entry.id, text, meta.clone());
        self.vectors.upsert(entry.id, vector.as_ref().map(|v| (v.model.as_str(), v.vector.as_slice())), meta);
        self.addresses.insert(entry.id, address.clone());
        self.entries.insert(address, entry);
    }
}

impl State {
    /// A page of `limit` results from an index ranking (`rank(want)`: the best `want`
    /// entry ids with their scores, and whether it left entries out), in rank order,
    /// checking `filter` on each and asking for more until the page is full or the ranking
    /// has nothing more.
    fn fill_page(
        &self,
        filter: &Filter,
        limit: usize,
        mut rank: impl FnMut(usize) -> (Vec<(i64, f64)>, bool),
    ) -> Vec<ScoredItem> {
        let mut want = first_want(filter, limit);
        loop {
            let (ranked, truncated) = rank(want);
            let mut hits = Vec::with_capacity(limit.min(ranked.len()));
            for (id, score) in ranked {
                let Some(entry) = self.addresses.get(&id).and_then(|a| self.entries.get(a)) else { continue };
                if matches(entry, filter) {
                    hits.push(ScoredItem { item: entry.item.clone(), score });
                    if hits.len() == limit {
                        break;
                    }
                }
            }
            if hits.len() == limit || !truncated {
                return hits;
            }
            // The filter rejected too many of the best: ask for more.
            want = widen(want);
        }
    }
}

fn address(namespace: &Namespace, key: &str) -> Address {
    (namespace.encoded(), key.to_owned())
}

fn live(entry: &Entry, now: f64) -> bool {
    !entry.item.is_expired(now)
}

fn matches(entry: &Entry, filter: &Filter) -> bool {
    filter.is_empty() || filter.matches_object(&entry.item.value)
}

/// Recency order: `updated_at` descending, then namespace and key ascending.
pub(crate) fn recency(a: &Item, b: &Item) -> Ordering {
    b.updated_at.total_cmp(&a.updated_at).then_with(|| a.namespace.cmp(&b.namespace)).then_with(|| a.key.cmp(&b.key))
}

fn paginate<T>(items: Vec<T>, offset: usize, limit: Option<usize>) -> Vec<T> {
    items.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect()
}

#[async_trait]
impl StoreBackend for MemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn export_items(&self, query: &ExportQuery) -> Result<Vec<ExportedItem>, StoreError> {
        let state = self.read();
        // Entries are keyed by (encoded namespace, key): already in address order, and a
        // scope is one contiguous range of them.
        let scope_start = match &query.scope {
            Scope::Namespace(namespace) => Some((namespace.encoded(), String::new())),
            Scope::Prefix(prefix) => prefix.encoded_range().map(|(low, _)| (low, String::new())),
        };
        let after = query.after.as_ref().map(|after| address(&after.namespace, &after.key));
        let start = match (after, scope_start) {
            (Some(after), Some(scope_start)) if after < scope_start => Bound::Included(scope_start),
            (Some(after), _) => Bound::Excluded(after),
            (None, Some(scope_start)) => Bound::Included(scope_start),
            (None, None) => Bound::Unbounded,
        };
        Ok(state
            .entries
            .range((start, Bound::Unbounded))
            .map(|(_, entry)| entry)
            .take_while(|entry| query.scope.contains(&entry.item.namespace))
            .filter(|entry| live(entry, query.now))
            .take(query.limit)
            .map(|entry| ExportedItem {
                item: entry.item.clone(),
                vector: state
                    .vectors
                    .vector(entry.id)
                    .map(|(model, vector)| StoredVector { model: model.to_owned(), vector: vector.to_vec() }),
                index: entry.index.clone(),
                // Every entry is in the keyword index (an empty text as a document without terms).
                text: state.keywords.doc_terms(entry.id).map(canonical_index_text).unwrap_or_default(),
            })
            .collect())
    }

    async fn restore_items(&self, items: Vec<RestoredItem>) -> Result<u64, StoreError> {
        let mut state = self.write();
        let written = items.len() as u64;
        for restored in items {
            let address = address(&restored.item.namespace, &restored.item.key);
            state.remove(&address);
            let entry = Entry { item: restored.item, index: restored.index, id: 0 };
            state.insert(address, entry, &restored.text, restored.vector);
        }
        state.vectors.maintain();
        Ok(written)
    }

    async fn put_many(&self, writes: Vec<ItemWrite>, now: f64) -> Result<Vec<Item>, StoreError> {
        let mut state = self.write();
        let mut stored = Vec::with_capacity(writes.len());
        for write in writes {
            let address = address(&write.namespace, &write.key);
            let created_at = match state.remove(&address) {
                Some(old) if live(&old, now) => old.item.created_at,
                _ => now,
            };
            let (item, text, vector, index) = write.into_item(created_at, now);
            stored.push(item.clone());
            state.insert(address, Entry { item, index, id: 0 }, &text, vector);
        }
        state.vectors.maintain();
        Ok(stored)
    }

    async fn get_many(&self, keys: &[ItemKey], now: f64, refresh_ttl: bool) -> Result<Vec<Option<Item>>, StoreError> {
        if refresh_ttl {
            let mut state = self.write();
            return Ok(keys
                .iter()
                .map(|key| {
                    let entry = state.entries.get_mut(&address(&key.namespace, &key.key))?;
                    if !live(entry, now) {
                        return None;
                    }
                    if let Some(ttl) = entry.item.ttl_seconds {
                        entry.item.expires_at = Some(now + ttl);
                    }
                    let (id, item) = (entry.id, entry.item.clone());
                    state.vectors.set_expiry(id, item.expires_at);
                    state.keywords.set_expiry(id, item.expires_at);
                    Some(item)
                })
                .collect());
        }
        let state = self.read();
        Ok(keys
            .iter()
            .map(|key| {
                state.entries.get(&address(&key.namespace, &key.key)).filter(|e| live(e, now)).map(|e| e.item.clone())
            })
            .collect())
    }

    async fn delete_many(&self, keys: &[ItemKey], now: f64) -> Result<Vec<bool>, StoreError> {
        let mut state = self.write();
        let removed = keys
            .iter()
            .map(|key| state.remove(&address(&key.namespace, &key.key)).is_some_and(|e| live(&e, now)))
            .collect();
        state.vectors.maintain();
        Ok(removed)
    }

    async fn scan(&self, query: &ScanQuery) -> Result<Vec<Item>, StoreError> {
        let state = self.read();
        let mut items: Vec<Item> = state
            .in_scope(&query.scope)
            .filter(|e| live(e, query.now) && matches(e, &query.filter))
            .map(|e| e.item.clone())
            .collect();
        items.sort_by(recency);
        Ok(paginate(items, query.offset, query.limit))
    }

    async fn vector_search(&self, query: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
        let state = self.read();
        Ok(state.fill_page(&query.filter, query.limit, |want| {
            let (candidates, truncated) =
                state.vectors.nearest(&query.model, &query.vector, &query.scope, query.now, want);
            (candidates.into_iter().map(|candidate| (candidate.id, candidate.score)).collect(), truncated)
        }))
    }

    async fn keyword_search(&self, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
        let state = self.read();
        Ok(state.fill_page(&query.filter, query.limit, |want| {
            let (ranked, truncated) = state.keywords.search(&query.terms, &query.scope, query.now, want);
            (ranked.into_iter().map(|hit| (hit.id, hit.score)).collect(), truncated)
        }))
    }

    /// Without a value filter, both rankings as entry ids (no item is cloned but the
    /// winners'); with one, the provided item rankings.
    async fn hybrid_search(&self, query: &HybridQuery) -> Result<Vec<ScoredItem>, StoreError> {
        if has_value_filter(query) {
            return hybrid_from_rankings(self, query).await;
        }
        let state = self.read();
        let fused = fused_row_ids(&state.vectors, &state.keywords, query);
        Ok(fused
            .into_iter()
            .filter_map(|(id, score)| {
                let entry = state.addresses.get(&id).and_then(|address| state.entries.get(address))?;
                Some(ScoredItem { item: entry.item.clone(), score })
            })
            .take(query.limit)
            .collect())
    }

    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Vec<Namespace>, StoreError> {
        let state = self.read();
        let mut namespaces = BTreeSet::new();
        for entry in state.in_scope(&Scope::Prefix(query.prefix.clone())) {
            let namespace = &entry.item.namespace;
            if !live(entry, query.now) || !namespace.ends_with(&query.suffix) {
                continue;
            }
            namespaces.insert(match query.max_depth {
                Some(depth) => namespace.truncated(depth),
                None => namespace.clone(),
            });
        }
        Ok(namespaces.into_iter().skip(query.offset).take(query.limit).collect())
    }

    async fn count(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        Ok(self.read().in_scope(scope).filter(|e| live(e, now)).count() as u64)
    }

    async fn delete_scope(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        let mut state = self.write();
        let addresses: Vec<Address> = state.in_scope(scope).map(|e| address(&e.item.namespace, &e.item.key)).collect();
        let mut removed = 0;
        for address in addresses {
            if state.remove(&address).is_some_and(|e| live(&e, now)) {
                removed += 1;
            }
        }
        state.vectors.maintain();
        Ok(removed)
    }

    async fn purge_expired(&self, now: f64) -> Result<u64, StoreError> {
        let mut state = self.write();
        let expired: Vec<Address> =
            state.entries.iter().filter(|(_, e)| !live(e, now)).map(|(address, _)| address.clone()).collect();
        for address in &expired {
            state.remove(address);
        }
        state.vectors.maintain();
        Ok(expired.len() as u64)
    }
}
