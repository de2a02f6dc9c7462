//! An in-process vector index that a backend keeps beside its storage: exact scans for small
//! sets and small scopes, an HNSW graph (usearch) for large ones.
//!
//! Per (model id, dimension), one contiguous `f32` matrix (row-major) with each row's norm,
//! row id and the metadata that scoping and ordering need (encoded namespace, key,
//! `updated_at`, `expires_at`), so a search reads no storage until it has its winners.
//! Scores are always exactly those of [`vector::cosine`] on the stored vectors (graph
//! candidates are re-scored from the matrix), and ties are broken in the store's recency
//! order, so an exact search equals a brute-force scan.
//!
//! # When the graph is used
//!
//! A set with at least [`VectorIndexOptions::ann_min_vectors`] vectors gets an HNSW graph.
//! A search still scans exactly when its scope holds at most
//! [`VectorIndexOptions::exact_scope_max`] rows (counted from a per-namespace row map, so a
//! selective scope never depends on the graph), or when it wants more than
//! [`MAX_GRAPH_WANT`] candidates (a filter that rejected most of the nearest). Otherwise the
//! graph is searched with scope and expiry as its predicate (so they never use up the
//! candidate list), with `ef = max(expansion_search, want)`; when the graph yields fewer than
//! `ef` rows, the search scans exactly instead (HNSW does not promise that every node is
//! reachable, and a short page must mean there are no more rows).
//!
//! New rows are added to the graph in batches: until a batch is full (or the owner's write
//! call ends, see [`VectorIndex::maintain`]) they wait in a pending set that every search
//! scans exactly. Removed rows are deleted from the graph at once (usearch tombstones), and
//! the graph is rebuilt when tombstones outnumber live rows.
//!
//! The owner applies every write ([`VectorIndex::upsert`], [`VectorIndex::remove`],
//! [`VectorIndex::set_expiry`]) and then calls [`VectorIndex::maintain`] once per write call;
//! value filters are the owner's job (it checks candidates in score order and asks again
//! with a larger `want` until it has enough).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;

use rustc_hash::{FxHashMap, FxHashSet};

use super::backend::Scope;
use super::vector;

/// The most candidates a search takes from the graph; a larger `want` scans exactly.
pub const MAX_GRAPH_WANT: usize = 4096;
/// The next `want` after a value filter rejected too many of `want` candidates: eight times
/// more, up to [`MAX_GRAPH_WANT`] (the widest graph search), then every row in scope.
pub(super) fn widen(want: usize) -> usize {
    if want >= MAX_GRAPH_WANT { usize::MAX } else { want.saturating_mul(8).min(MAX_GRAPH_WANT) }
}

/// Pending rows are added to the graph once there are this many.
const PENDING_BATCH: usize = 1024;
/// How many threads may search one graph at the same time (usearch reserves a context for
/// each); a search that finds none free scans exactly instead.
const GRAPH_SEARCH_SLOTS: usize = 64;
/// Threads that add a batch of rows to a graph.
const GRAPH_ADD_THREADS: usize = 4;

/// When and how an in-process backend's vector index uses its approximate (HNSW) graph.
///
/// The defaults use the graph from 20,000 vectors of one model, with M = 16,
/// `ef_construction` = 128 and `ef_search` = 128 (raised to the number of candidates a search
/// wants); [`VectorIndexOptions::exact`] never builds one.
///
/// ```
/// use agent_memory::store::{MemoryBackend, VectorIndexOptions};
///
/// let options = VectorIndexOptions { ann_min_vectors: 50_000, expansion_search: 256, ..Default::default() };
/// let backend = MemoryBackend::with_vector_index(options);
/// # drop(backend);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorIndexOptions {
    /// Vectors of one model (and dimension) from which the graph is built; below, every
    /// search is exact. The graph is dropped again below half of this.
    pub ann_min_vectors: usize,
    /// Scopes with at most this many rows are scanned exactly, even when a graph exists.
    pub exact_scope_max: usize,
    /// HNSW connectivity (M): edges per node.
    pub connectivity: usize,
    /// HNSW `ef_construction`: candidates considered while adding a row.
    pub expansion_add: usize,
    /// HNSW `ef_search`: candidates kept while searching (at least the number wanted).
    pub expansion_search: usize,
}

impl Default for VectorIndexOptions {
    fn default() -> Self {
        VectorIndexOptions {
            ann_min_vectors: 20_000,
            exact_scope_max: 20_000,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 128,
        }
    }
}

impl VectorIndexOptions {
    /// Options that never build a graph: every search is an exact scan.
    pub fn exact() -> VectorIndexOptions {
        VectorIndexOptions { ann_min_vectors: usize::MAX, ..VectorIndexOptions::default() }
    }
}

/// What a row carries besides its vector.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RowMeta {
    /// [`super::Namespace::encoded`].
    pub(super) namespace: String,
    pub(super) key: String,
    pub(super) updated_at: f64,
    pub(super) expires_at: Option<f64>,
}

/// The HNSW graph of a [`VectorSet`] and the rows not yet in it.
struct Graph {
    hnsw: usearch::Index,
    /// Ids of rows that are not in `hnsw` yet (searched exactly).
    pending: FxHashSet<i64>,
    /// Removed rows that `hnsw` still holds as deleted nodes.
    tombstones: usize,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.hnsw.size())
            .field("pending", &self.pending.len())
            .field("tombstones", &self.tombstones)
            .finish()
    }
}

#[derive(Debug, Default)]
struct VectorSet {
    dims: usize,
    data: Vec<f32>,
    norms: Vec<f32>,
    ids: Vec<i64>,
    meta: Vec<RowMeta>,
    position: FxHashMap<i64, usize>,
    /// Row ids by encoded namespace, to count and list a scope's rows.
    by_namespace: BTreeMap<String, FxHashSet<i64>>,
    graph: Option<Graph>,
    /// The graph could not be built or updated (usearch error): stay exact.
    graph_failed: bool,
}

/// A row of `data` as a slice.
fn row_of(data: &[f32], dims: usize, row: usize) -> &[f32] {
    &data[row * dims..(row + 1) * dims]
}

impl VectorSet {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn insert(&mut self, id: i64, vector: &[f32], meta: RowMeta) {
        self.position.insert(id, self.ids.len());
        self.data.extend_from_slice(vector);
        self.norms.push(vector::norm(vector));
        self.ids.push(id);
        self.by_namespace.entry(meta.namespace.clone()).or_default().insert(id);
        self.meta.push(meta);
        if let Some(graph) = &mut self.graph {
            graph.pending.insert(id);
        }
    }

    fn remove(&mut self, id: i64) {
        let Some(row) = self.position.remove(&id) else { return };
        let last = self.ids.len() - 1;
        if row != last {
            let (dims, moved) = (self.dims, self.ids[last]);
            self.data.copy_within(last * dims..(last + 1) * dims, row * dims);
            self.position.insert(moved, row);
        }
        self.data.truncate(last * self.dims);
        self.norms.swap_remove(row);
        self.ids.swap_remove(row);
        let meta = self.meta.swap_remove(row);
        if let Some(ids) = self.by_namespace.get_mut(&meta.namespace) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_namespace.remove(&meta.namespace);
            }
        }
        if let Some(graph) = &mut self.graph
            && !graph.pending.remove(&id)
        {
            match graph.hnsw.remove(graph_key(id)) {
                Ok(_) => graph.tombstones += 1,
                Err(error) => self.drop_graph(&error.to_string()),
            }
        }
    }

    fn drop_graph(&mut self, why: &str) {
        tracing::warn!(error = why, "vector index: HNSW graph failed, searching exactly from now on");
        self.graph = None;
        self.graph_failed = true;
    }

    /// Builds, updates, rebuilds or drops the graph as the options and the set's size say.
    fn maintain(&mut self, options: &VectorIndexOptions) {
        let len = self.len();
        if self.graph_failed || self.dims == 0 {
            return;
        }
        let rebuild = match &self.graph {
            None => len >= options.ann_min_vectors,
            Some(graph) => graph.tombstones > len.max(PENDING_BATCH),
        };
        if self.graph.is_some() && len < options.ann_min_vectors / 2 {
            self.graph = None;
            return;
        }
        if rebuild {
            self.graph = None;
            match self.new_graph(options) {
                Ok(graph) => {
                    self.graph = Some(graph);
                    let all: Vec<i64> = self.ids.clone();
                    self.add_to_graph(&all);
                }
                Err(error) => self.drop_graph(&error),
            }
            return;
        }
        let Some(graph) = &mut self.graph else { return };
        if graph.pending.len() >= PENDING_BATCH {
            let pending: Vec<i64> = graph.pending.drain().collect();
            self.add_to_graph(&pending);
        }
    }

    fn new_graph(&self, options: &VectorIndexOptions) -> Result<Graph, String> {
        let hnsw = usearch::Index::new(&usearch::IndexOptions {
            dimensions: self.dims,
            metric: usearch::MetricKind::Cos,
            quantization: usearch::ScalarKind::F32,
            connectivity: options.connectivity,
            expansion_add: options.expansion_add,
            // usearch searches with max(this, count); `nearest` passes the `ef` it wants as
            // the count, so the options' value can change without touching the graph.
            expansion_search: 1,
            multi: false,
        })
        .map_err(|e| e.to_string())?;
        Ok(Graph { hnsw, pending: FxHashSet::default(), tombstones: 0 })
    }

    /// Adds rows `ids` (present in the matrix, not in the graph) to the graph, on a few threads.
    fn add_to_graph(&mut self, ids: &[i64]) {
        let Some(graph) = &self.graph else { return };
        let needed = graph.hnsw.size() + graph.tombstones + ids.len();
        if needed > graph.hnsw.capacity()
            && let Err(error) = graph.hnsw.reserve_capacity_and_threads(needed + needed / 2, GRAPH_SEARCH_SLOTS)
        {
            return self.drop_graph(&error.to_string());
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(GRAPH_ADD_THREADS)
            .min(ids.len().div_ceil(256))
            .max(1);
        let (hnsw, data, dims, position) = (&graph.hnsw, &self.data, self.dims, &self.position);
        let failure = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|first| {
                    scope.spawn(move || {
                        for &id in ids.iter().skip(first).step_by(threads) {
                            let Some(&row) = position.get(&id) else { continue };
                            hnsw.add(graph_key(id), row_of(data, dims, row)).map_err(|e| e.to_string())?;
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            workers.into_iter().find_map(|worker| match worker.join() {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(_) => Some("a graph insertion thread panicked".to_owned()),
            })
        });
        if let Some(error) = failure {
            self.drop_graph(&error);
        }
    }

    /// Row numbers of the scope's rows, ascending (so a scan reads the matrix in order), when
    /// there are at most `max` of them and fewer than half the set (`None`: scan everything).
    fn small_scope_rows(&self, scope: &Scope, max: usize) -> Option<Vec<usize>> {
        let max = max.min(self.len() / 2);
        let rows =
            |ids: &FxHashSet<i64>| ids.iter().filter_map(|id| self.position.get(id).copied()).collect::<Vec<_>>();
        let sorted = |mut rows: Vec<usize>| {
            rows.sort_unstable();
            rows
        };
        match scope {
            Scope::Namespace(namespace) => {
                let ids = self.by_namespace.get(&namespace.encoded());
                let count = ids.map_or(0, FxHashSet::len);
                (count <= max).then(|| sorted(ids.map(rows).unwrap_or_default()))
            }
            Scope::Prefix(prefix) => {
                let (low, high) = prefix.encoded_range()?;
                let mut count = 0;
                let range =
                    self.by_namespace.range::<str, _>((Bound::Included(low.as_str()), Bound::Excluded(high.as_str())));
                for ids in range.clone().map(|(_, ids)| ids) {
                    count += ids.len();
                    if count > max {
                        return None;
                    }
                }
                Some(sorted(range.flat_map(|(_, ids)| rows(ids)).collect()))
            }
        }
    }
}

/// usearch keys are `u64`; row ids are positive `i64`s (a bijection either way).
fn graph_key(id: i64) -> u64 {
    id as u64
}

/// A scored row: its id and cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    pub(super) id: i64,
    pub(super) score: f64,
}

/// The index. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct VectorIndex {
    options: VectorIndexOptions,
    sets: FxHashMap<(String, usize), VectorSet>,
    /// Which set each id is in.
    location: FxHashMap<i64, (String, usize)>,
}

/// Which rows a search may return.
struct RowTest<'a> {
    exact: Option<String>,
    range: Option<(String, String)>,
    now: f64,
    meta: &'a [RowMeta],
}

impl RowTest<'_> {
    fn admits(&self, row: usize) -> bool {
        let meta = &self.meta[row];
        if meta.expires_at.is_some_and(|at| self.now >= at) {
            return false;
        }
        match (&self.exact, &self.range) {
            (Some(namespace), _) => meta.namespace == *namespace,
            (None, Some((low, high))) => {
                meta.namespace.as_str() >= low.as_str() && meta.namespace.as_str() < high.as_str()
            }
            (None, None) => true,
        }
    }
}

impl VectorIndex {
    /// An empty index with these options.
    pub(super) fn new(options: VectorIndexOptions) -> VectorIndex {
        VectorIndex { options, ..VectorIndex::default() }
    }

    /// Inserts or replaces row `id`; a row without vector is removed.
    pub(super) fn upsert(&mut self, id: i64, vector: Option<(&str, &[f32])>, meta: RowMeta) {
        self.remove(id);
        let Some((model, vector)) = vector else { return };
        let set_key = (model.to_owned(), vector.len());
        let set = self
            .sets
            .entry(set_key.clone())
            .or_insert_with(|| VectorSet { dims: vector.len(), ..VectorSet::default() });
        set.insert(id, vector, meta);
        self.location.insert(id, set_key);
    }

    /// Removes row `id` if present.
    pub(super) fn remove(&mut self, id: i64) {
        if let Some(set_key) = self.location.remove(&id)
            && let Some(set) = self.sets.get_mut(&set_key)
        {
            set.remove(id);
        }
    }

    /// Sets row `id`'s expiry (after a TTL refresh).
    pub(super) fn set_expiry(&mut self, id: i64, expires_at: Option<f64>) {
        if let Some(set_key) = self.location.get(&id)
            && let Some(set) = self.sets.get_mut(set_key)
            && let Some(&row) = set.position.get(&id)
        {
            set.meta[row].expires_at = expires_at;
        }
    }

    /// Row `id`'s model and vector, if it has one.
    pub(super) fn vector(&self, id: i64) -> Option<(&str, &[f32])> {
        let set_key = self.location.get(&id)?;
        let set = self.sets.get(set_key)?;
        let row = *set.position.get(&id)?;
        Some((set_key.0.as_str(), &set.data[row * set.dims..(row + 1) * set.dims]))
    }

    /// Whether row `id` is held with exactly this model, vector and metadata.
    pub(super) fn holds(&self, id: i64, model: &str, vector: &[f32], meta: &RowMeta) -> bool {
        let Some(set_key) = self.location.get(&id) else { return false };
        let Some(set) = self.sets.get(set_key) else { return false };
        let Some(&row) = set.position.get(&id) else { return false };
        set_key.0 == model
            && set.dims == vector.len()
            && set.meta[row] == *meta
            && row_of(&set.data, set.dims, row) == vector
    }

    /// Removes every row whose id `keep` rejects.
    pub(super) fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        let gone: Vec<i64> = self.location.keys().copied().filter(|&id| !keep(id)).collect();
        for id in gone {
            self.remove(id);
        }
    }

    /// Brings every graph up to date with the writes applied since the last call (builds,
    /// extends, rebuilds or drops it); call once at the end of each write call.
    pub(super) fn maintain(&mut self) {
        let options = self.options;
        self.sets.retain(|_, set| set.len() > 0);
        for set in self.sets.values_mut() {
            set.maintain(&options);
        }
    }

    /// Changes `ef_search` ([`VectorIndexOptions::expansion_search`]) for later searches.
    pub(super) fn set_expansion_search(&mut self, ef: usize) {
        self.options.expansion_search = ef.max(1);
    }

    /// How many rows (all models).
    pub(super) fn len(&self) -> usize {
        self.location.len()
    }

    /// Whether the set of `model` vectors of dimension `dims` has a graph.
    #[cfg(test)]
    pub(super) fn has_graph(&self, model: &str, dims: usize) -> bool {
        self.sets.get(&(model.to_owned(), dims)).is_some_and(|set| set.graph.is_some())
    }

    /// The best `want` live rows in scope whose vector comes from `model` with the query's
    /// dimension, best first (score descending, then recency order), and whether rows may
    /// have been left out because of `want`. Exact unless the set has a graph, the scope is
    /// large and `want` at most [`MAX_GRAPH_WANT`] (see the module documentation).
    pub(super) fn nearest(
        &self,
        model: &str,
        query: &[f32],
        scope: &Scope,
        now: f64,
        want: usize,
    ) -> (Vec<Candidate>, bool) {
        let Some(set) = self.sets.get(&(model.to_owned(), query.len())) else { return (Vec::new(), false) };
        if want == 0 || set.dims == 0 {
            return (Vec::new(), false);
        }
        let test = match scope {
            Scope::Namespace(namespace) => {
                RowTest { exact: Some(namespace.encoded()), range: None, now, meta: &set.meta }
            }
            Scope::Prefix(prefix) => RowTest { exact: None, range: prefix.encoded_range(), now, meta: &set.meta },
        };
        let query_norm = vector::norm(query);
        let score = |row: usize| vector::cosine(row_of(&set.data, set.dims, row), set.norms[row], query, query_norm);
        let mut scored: Vec<(f32, u32)> = Vec::new();
        let mut more = false;
        match (&set.graph, set.small_scope_rows(scope, self.options.exact_scope_max)) {
            (_, Some(rows)) => {
                scored.extend(rows.into_iter().filter(|&row| test.admits(row)).map(|row| (score(row), row as u32)));
            }
            (Some(graph), None) if want <= MAX_GRAPH_WANT => {
                let ef = want.max(self.options.expansion_search);
                let admit = |key: u64| set.position.get(&(key as i64)).is_some_and(|&row| test.admits(row));
                match graph.hnsw.filtered_search(query, ef, admit) {
                    Ok(found) => {
                        let exhausted = found.keys.len() < ef;
                        let pending = graph.pending.iter().filter_map(|id| set.position.get(id).copied());
                        let graph_rows = found.keys.iter().filter_map(|&key| set.position.get(&(key as i64)).copied());
                        scored.extend(
                            graph_rows
                                .chain(pending)
                                .filter(|&row| test.admits(row))
                                .map(|row| (score(row), row as u32)),
                        );
                        if exhausted {
                            // The graph ran out of admitted nodes: either that is all there
                            // is, or it cannot reach some (HNSW does not promise that every
                            // node is reachable). Only a scan tells, and it is exact.
                            scored.clear();
                            scored.extend(
                                (0..set.len()).filter(|&row| test.admits(row)).map(|row| (score(row), row as u32)),
                            );
                        }
                        more = !exhausted;
                    }
                    Err(error) => {
                        tracing::debug!(%error, "vector index: graph search failed, scanning exactly");
                        scored
                            .extend((0..set.len()).filter(|&row| test.admits(row)).map(|row| (score(row), row as u32)));
                    }
                }
            }
            _ => scored.extend((0..set.len()).filter(|&row| test.admits(row)).map(|row| (score(row), row as u32))),
        }
        let order = |a: &(f32, u32), b: &(f32, u32)| -> Ordering {
            let (ma, mb) = (&set.meta[a.1 as usize], &set.meta[b.1 as usize]);
            f64::from(b.0)
                .total_cmp(&f64::from(a.0))
                .then_with(|| mb.updated_at.total_cmp(&ma.updated_at))
                .then_with(|| ma.namespace.cmp(&mb.namespace))
                .then_with(|| ma.key.cmp(&mb.key))
        };
        let truncated = scored.len() > want;
        if truncated {
            scored.select_nth_unstable_by(want - 1, order);
            scored.truncate(want);
        }
        scored.sort_unstable_by(order);
        let candidates = scored
            .into_iter()
            .map(|(score, row)| Candidate { id: set.ids[row as usize], score: f64::from(score) })
            .collect();
        (candidates, truncated || more)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Namespace, NamespacePrefix};

    fn meta(namespace: &[&str], key: &str, updated_at: f64, expires_at: Option<f64>) -> RowMeta {
        RowMeta {
            namespace: Namespace::new(namespace.iter().copied()).expect("valid").encoded(),
            key: key.to_owned(),
            updated_at,
            expires_at,
        }
    }

    #[test]
    fn nearest_respects_scope_expiry_model_and_updates() {
        let mut index = VectorIndex::default();
        index.upsert(1, Some(("m", &[1.0, 0.0])), meta(&["a"], "k1", 1.0, None));
        index.upsert(2, Some(("m", &[0.6, 0.8])), meta(&["a", "b"], "k2", 2.0, None));
        index.upsert(3, Some(("m", &[0.0, 1.0])), meta(&["c"], "k3", 3.0, Some(10.0)));
        index.upsert(4, Some(("other", &[1.0, 0.0])), meta(&["a"], "k4", 4.0, None));
        let all = Scope::Prefix(NamespacePrefix::root());
        let ids = |found: (Vec<Candidate>, bool)| found.0.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(index.nearest("m", &[1.0, 0.0], &all, 0.0, 10)), [1, 2, 3]);
        let (best, truncated) = index.nearest("m", &[1.0, 0.0], &all, 0.0, 1);
        assert_eq!((best[0].id, best[0].score, truncated), (1, 1.0, true));
        assert_eq!(ids(index.nearest("m", &[1.0, 0.0], &all, 10.0, 10)), [1, 2], "expired at 10");
        let under_a = Scope::Prefix(NamespacePrefix::new(["a"]).expect("valid"));
        assert_eq!(ids(index.nearest("m", &[0.0, 1.0], &under_a, 0.0, 10)), [2, 1]);
        let exactly_a = Scope::Namespace(Namespace::new(["a"]).expect("valid"));
        assert_eq!(ids(index.nearest("m", &[0.0, 1.0], &exactly_a, 0.0, 10)), [1]);
        assert_eq!(ids(index.nearest("other", &[0.0, 1.0], &all, 0.0, 10)), [4]);
        assert_eq!(ids(index.nearest("m", &[0.0, 1.0, 0.0], &all, 0.0, 10)), Vec::<i64>::new(), "dimension");

        index.set_expiry(3, None);
        assert_eq!(ids(index.nearest("m", &[0.0, 1.0], &all, 10.0, 1)), [3]);
        index.remove(1);
        index.upsert(2, None, meta(&["a", "b"], "k2", 5.0, None));
        assert_eq!(ids(index.nearest("m", &[1.0, 0.0], &all, 0.0, 10)), [3]);
        index.upsert(3, Some(("other", &[0.0, 1.0])), meta(&["c"], "k3", 6.0, None));
        assert_eq!(ids(index.nearest("m", &[1.0, 0.0], &all, 0.0, 10)), Vec::<i64>::new());
        assert_eq!(ids(index.nearest("other", &[0.0, 1.0], &all, 0.0, 10)), [3, 4]);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn ties_break_in_recency_order() {
        let mut index = VectorIndex::default();
        index.upsert(1, Some(("m", &[1.0])), meta(&["a"], "x", 1.0, None));
        index.upsert(2, Some(("m", &[2.0])), meta(&["a"], "y", 2.0, None));
        index.upsert(3, Some(("m", &[3.0])), meta(&["a"], "w", 2.0, None));
        let all = Scope::Prefix(NamespacePrefix::root());
        let (found, _) = index.nearest("m", &[1.0], &all, 0.0, 3);
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [3, 2, 1]);
    }
    /// Pseudo-random vectors from a fixed seed (xorshift), `n` rows of `dims`.
    fn vectors(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed.max(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2001) as f32 / 1000.0 - 1.0
        };
        (0..n).map(|_| (0..dims).map(|_| next()).collect()).collect()
    }

    /// Always through the graph: built from one vector on, never a small-scope scan, and
    /// `ef` at least the set's size (so HNSW must find the exact answer).
    fn graph_options(ef: usize) -> VectorIndexOptions {
        VectorIndexOptions { ann_min_vectors: 1, exact_scope_max: 0, expansion_search: ef, ..Default::default() }
    }

    fn fill(index: &mut VectorIndex, rows: &[Vec<f32>], namespace: impl Fn(usize) -> Vec<&'static str>) {
        for (i, v) in rows.iter().enumerate() {
            let id = i as i64 + 1;
            index.upsert(id, Some(("m", v)), meta(&namespace(i), &format!("k{i}"), i as f64, None));
        }
        index.maintain();
    }

    fn ids(found: &(Vec<Candidate>, bool)) -> Vec<i64> {
        found.0.iter().map(|c| c.id).collect()
    }

    #[test]
    fn graph_results_equal_exact_results_on_small_sets() {
        let rows = vectors(600, 24, 7);
        let (mut graph, mut exact) =
            (VectorIndex::new(graph_options(600)), VectorIndex::new(VectorIndexOptions::exact()));
        let spread = |i: usize| vec![["a", "b", "c"][i % 3]];
        fill(&mut graph, &rows, spread);
        fill(&mut exact, &rows, spread);
        assert!(graph.has_graph("m", 24) && !exact.has_graph("m", 24));
        let scopes = [
            Scope::Prefix(NamespacePrefix::root()),
            Scope::Prefix(NamespacePrefix::new(["b"]).expect("valid")),
            Scope::Namespace(Namespace::new(["c"]).expect("valid")),
        ];
        for query in vectors(20, 24, 99) {
            for scope in &scopes {
                for want in [1, 10, 50] {
                    let (from_graph, from_scan) =
                        (graph.nearest("m", &query, scope, 0.0, want), exact.nearest("m", &query, scope, 0.0, want));
                    assert_eq!(from_graph.0, from_scan.0, "same ids and scores, {scope:?} want {want}");
                    assert!(from_graph.1 && from_scan.1, "more rows than wanted");
                }
            }
        }
    }

    #[test]
    fn deleted_and_expired_rows_never_surface_from_the_graph() {
        let rows = vectors(3000, 16, 3);
        let mut index = VectorIndex::new(graph_options(256));
        fill(&mut index, &rows, |_| vec!["a"]);
        let all = Scope::Prefix(NamespacePrefix::root());
        let query = rows[42].clone();
        assert_eq!(ids(&index.nearest("m", &query, &all, 0.0, 1)), [43], "a row is its own nearest");
        // Remove the nearest 100 (by the exact order) and expire the next 100, one at a time
        // and in one batch: neither may ever come back.
        let nearest: Vec<i64> = ids(&index.nearest("m", &query, &all, 0.0, 200));
        for &id in &nearest[..100] {
            index.remove(id);
            index.maintain();
        }
        for &id in &nearest[100..] {
            index.set_expiry(id, Some(5.0));
        }
        let found = ids(&index.nearest("m", &query, &all, 10.0, 50));
        assert_eq!(found.len(), 50);
        assert!(found.iter().all(|id| !nearest.contains(id)), "{found:?}");
        let before_expiry = ids(&index.nearest("m", &query, &all, 4.0, 100));
        assert_eq!(before_expiry.len(), 100);
        assert!(before_expiry.iter().all(|id| !nearest[..100].contains(id)), "deleted");
        // Rewrites (SQLite keeps the id): the old vector is gone from the graph.
        index.upsert(1, Some(("m", &query)), meta(&["a"], "k0", 9000.0, None));
        index.maintain();
        let best = index.nearest("m", &query, &all, 10.0, 2);
        assert_eq!(best.0[0], Candidate { id: 1, score: 1.0 });
        // Many deletions rebuild the graph, which then holds only live rows.
        index.retain(|id| id <= 500);
        index.maintain();
        let live = 500 - nearest[..100].iter().filter(|&&id| id <= 500).count();
        assert!(index.has_graph("m", 16) && index.len() == live);
        let found = ids(&index.nearest("m", &query, &all, 0.0, 1000));
        assert_eq!(found.len(), live, "all of them: the graph runs out, the scan completes");
        assert!(found.iter().all(|&id| id <= 500 && !nearest[..100].contains(&id)));
    }

    #[test]
    fn graph_search_with_a_small_ef_is_close_to_exact() {
        let rows = vectors(4000, 16, 17);
        let (mut graph, mut exact) =
            (VectorIndex::new(graph_options(32)), VectorIndex::new(VectorIndexOptions::exact()));
        fill(&mut graph, &rows, |_| vec!["a"]);
        fill(&mut exact, &rows, |_| vec!["a"]);
        let all = Scope::Prefix(NamespacePrefix::root());
        let mut found = 0;
        for query in vectors(50, 16, 23) {
            let approximate = graph.nearest("m", &query, &all, 0.0, 10);
            assert_eq!((approximate.0.len(), approximate.1), (10, true));
            let truth = ids(&exact.nearest("m", &query, &all, 0.0, 10));
            found += ids(&approximate).iter().filter(|id| truth.contains(id)).count();
            // Scores are exact even when the set is approximate.
            for candidate in &approximate.0 {
                let row = &rows[candidate.id as usize - 1];
                let expected = vector::cosine(row, vector::norm(row), &query, vector::norm(&query));
                assert_eq!(candidate.score, f64::from(expected));
            }
        }
        // HNSW (M = 16, ef = 32) on 4,000 16-d points finds nearly all; 0.8 is a wide margin.
        assert!(found >= 400, "recall@10 {}", found as f64 / 500.0);
    }

    #[test]
    fn pending_rows_are_found_before_they_join_the_graph() {
        let rows = vectors(1500, 8, 11);
        let mut index = VectorIndex::new(graph_options(64));
        fill(&mut index, &rows[..1200], |_| vec!["a"]);
        // Fewer than a batch: these stay pending after `maintain`.
        for (i, v) in rows.iter().enumerate().skip(1200) {
            index.upsert(i as i64 + 1, Some(("m", v)), meta(&["a"], &format!("k{i}"), i as f64, None));
        }
        index.maintain();
        let all = Scope::Prefix(NamespacePrefix::root());
        for i in [1200, 1350, 1499] {
            assert_eq!(ids(&index.nearest("m", &rows[i], &all, 0.0, 1)), [i as i64 + 1]);
        }
    }

    #[test]
    fn graph_is_built_at_the_threshold_and_dropped_well_below_it() {
        let rows = vectors(100, 4, 5);
        let options = VectorIndexOptions { ann_min_vectors: 50, ..Default::default() };
        let mut index = VectorIndex::new(options);
        fill(&mut index, &rows[..49], |_| vec!["a"]);
        assert!(!index.has_graph("m", 4));
        fill(&mut index, &rows[..50], |_| vec!["a"]);
        assert!(index.has_graph("m", 4));
        index.retain(|id| id <= 25);
        index.maintain();
        assert!(index.has_graph("m", 4), "25 of 50 is not below half");
        index.remove(25);
        index.maintain();
        assert!(!index.has_graph("m", 4));
    }

    #[test]
    fn small_scopes_are_scanned_exactly_beside_a_graph() {
        // 2,000 rows in "big", 30 in "small": with ef = 1 the graph alone could not list
        // "small"'s rows, the exact scan of the small scope does.
        let rows = vectors(2030, 8, 13);
        let options =
            VectorIndexOptions { ann_min_vectors: 1, exact_scope_max: 100, expansion_search: 1, ..Default::default() };
        let mut index = VectorIndex::new(options);
        fill(&mut index, &rows, |i| if i < 2000 { vec!["big"] } else { vec!["small", "x"] });
        assert!(index.has_graph("m", 8));
        let small = Scope::Prefix(NamespacePrefix::new(["small"]).expect("valid"));
        let (found, truncated) = index.nearest("m", &rows[0], &small, 0.0, 30);
        let mut found: Vec<i64> = found.iter().map(|c| c.id).collect();
        found.sort_unstable();
        assert_eq!((found, truncated), ((2001..=2030).collect::<Vec<_>>(), false));
        let exactly = Scope::Namespace(Namespace::new(["small", "x"]).expect("valid"));
        assert_eq!(index.nearest("m", &rows[0], &exactly, 0.0, 100).0.len(), 30);
    }
}
