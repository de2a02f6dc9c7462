//! An in-process vector index that a backend keeps beside its storage: exact scans for small
//! sets and small scopes, an HNSW graph (usearch) for large ones, kept up to date by a
//! background worker so that writes never wait for the graph.
//!
//! Per (model id, dimension), and per first namespace label with
//! [`VectorIndexOptions::partition_by_first_label`] (the service's tenants; a search across
//! labels searches each label's set and merges in the store's order), an `f32` matrix (each
//! row's vector in a slot of its own, which layouts do not move) with each row's norm,
//! row id and the metadata that scoping and ordering need (encoded namespace, key,
//! `updated_at`, `expires_at`), so a search reads no storage until it has its winners.
//! Scores are always exactly those of [`vector::cosine`] on the stored vectors (graph
//! candidates are re-scored from the matrix), and ties are broken in the store's recency
//! order, so an exact search equals a brute-force scan. Exact scans read an 8-bit copy of
//! the matrix first and score from it only the rows that can make the page
//! ([`super::exact_scan`]; a quarter more memory per row).
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
//! The graph holds every dimension of each vector, except for a model whose dimensions come
//! in decreasing order of variance ([`crate::embed::variance_ordered`]: the built-in one),
//! whose graph holds the leading half only
//! ([`VectorIndexOptions::leading_half_graph`]): the same recall at the same `ef` on the
//! built-in model's vectors, with half the bytes per distance (`bench/store/README.md`,
//! "Session 6"). Either way the graph only proposes candidates: they are re-scored from the
//! full vectors.
//!
//! # The graph worker
//!
//! Writes are O(1) for the index: a new row goes to the matrix and, when its set has a
//! graph, to the set's pending rows, and the owner's write call ends. One worker thread per
//! index (started with the first graph, stopped and joined when the index is dropped) moves
//! pending rows into the graph in batches, in the order they were written: it copies a
//! batch's vectors under a brief read lock, adds them to the graph on a few threads holding
//! no lock that writes or searches wait for (usearch supports concurrent insertion and
//! search), then publishes how far the graph goes. Every row carries a write sequence number,
//! which is also its graph key; a search takes the graph's published sequence once, accepts
//! graph nodes up to it and scans the pending rows after it exactly, so a row is found as
//! soon as its write returns and never twice. A removed (or rewritten) row's node stays in
//! the graph, rejected by the search predicate, until the dead nodes outnumber the live ones
//! and the graph is rebuilt (in the background, searches stay exact meanwhile); while more
//! than half of a set's rows are pending (a new or rebuilt graph), searches scan exactly.
//!
//! The owner applies every write ([`VectorIndex::upsert`], [`VectorIndex::remove`],
//! [`VectorIndex::set_expiry`]) and then calls [`VectorIndex::maintain`] once per write call
//! (cheap: it prunes, decides on building or dropping graphs and wakes the worker); value
//! filters are the owner's job (it checks candidates in score order and asks again with a
//! larger `want` until it has enough).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as Atomic};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::backend::Scope;
use super::exact_scan::RowCodes;
use super::layout::Layout;
use super::vector;

/// The most candidates a search takes from the graph; a larger `want` scans exactly.
pub const MAX_GRAPH_WANT: usize = 4096;
/// The first `want` of a page of `limit` results: `limit` itself without a value filter;
/// with one, eight times more (at least 64), since the filter will reject some.
pub(super) fn first_want(filter: &super::Filter, limit: usize) -> usize {
    if filter.is_empty() { limit } else { limit.saturating_mul(8).max(64) }
}

/// The next `want` after a value filter rejected too many of `want` candidates: eight times
/// more, up to [`MAX_GRAPH_WANT`] (the widest graph search), then every row in scope.
pub(super) fn widen(want: usize) -> usize {
    if want >= MAX_GRAPH_WANT { usize::MAX } else { want.saturating_mul(8).min(MAX_GRAPH_WANT) }
}

/// The most pending rows the worker adds to a graph before it publishes its progress.
const WORKER_BATCH: usize = 1024;
/// Dead graph nodes tolerated before a rebuild, at least (see [`VectorSet::maintain`]).
const MIN_DEAD_FOR_REBUILD: usize = 1024;
/// How many threads may use one graph at the same time (usearch reserves a context for
/// each); a search that finds none free scans exactly instead.
const GRAPH_SEARCH_SLOTS: usize = 64;
/// Threads that add a batch of rows to a graph.
const GRAPH_ADD_THREADS: usize = 4;

/// The precision of the vectors an HNSW graph keeps for its own distance computations.
///
/// Search results are re-scored from the index's `f32` matrix whatever this is, so it only
/// changes which candidates the graph proposes (and the graph's memory: 4, 2 or 1 bytes per
/// dimension and vector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphPrecision {
    /// 32-bit floats: a second full copy of every vector.
    F32,
    /// bfloat16: half the memory, 8 bits of mantissa.
    BF16,
    /// IEEE half precision: half the memory, 11 bits of mantissa.
    F16,
    /// 8-bit integers: a quarter of the memory. Each vector is scaled so that its largest
    /// component is ±127, then rounded (by this module, not by usearch).
    I8,
}

impl GraphPrecision {
    fn scalar_kind(self) -> usearch::ScalarKind {
        match self {
            GraphPrecision::F32 => usearch::ScalarKind::F32,
            GraphPrecision::BF16 => usearch::ScalarKind::BF16,
            GraphPrecision::F16 => usearch::ScalarKind::F16,
            GraphPrecision::I8 => usearch::ScalarKind::I8,
        }
    }
}

/// When and how an in-process backend's vector index uses its approximate (HNSW) graph.
///
/// The defaults use the graph from 10,000 vectors of one model (where it kept recall@10
/// ≥ 0.99 on clustered and built-in-embedder vectors and answered faster than the exact
/// scan, whose 15 MB matrix no longer fits the caches; measured in `bench/store/README.md`,
/// "Session 3"), with M = 16, `ef_construction` = 320 and `ef_search` = 96 (raised to the
/// number of candidates a search wants): the better-built graph finds at ef 96 at least what
/// an `ef_construction` 128 graph found at ef 128 (recall@10 on built-in-embedder vectors
/// 0.9945 at 10k, 0.9935 at 30k, 0.9865 at 100k; "Session 6"), with a quarter fewer
/// candidates per search, for a background build that takes about twice as long. 8-bit graph
/// vectors ([`GraphPrecision::I8`]: at 100k × 384 it builds twice as
/// fast as `f32` at the same recall, since candidates are re-scored from the `f32` matrix;
/// `bench/store/README.md`); [`VectorIndexOptions::exact`] never builds one.
///
/// ```
/// use agent_memory::store::{GraphPrecision, MemoryBackend, VectorIndexOptions};
///
/// let options = VectorIndexOptions {
///     ann_min_vectors: 50_000,
///     expansion_search: 256,
///     graph_precision: GraphPrecision::BF16,
///     ..Default::default()
/// };
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
    /// The precision of the graph's own copy of the vectors.
    pub graph_precision: GraphPrecision,
    /// For a model whose dimensions come in decreasing order of variance
    /// ([`crate::embed::variance_ordered`]: the built-in model), the graph holds only the
    /// first half of each vector: half the bytes for its distance kernel to load, at the
    /// same recall (candidates are re-scored from the full vectors). `false`: every
    /// dimension, for every model.
    pub leading_half_graph: bool,
    /// Keep the rows of each namespace's first label apart: their own matrix and graph, as
    /// if each first label had an index of its own. A search within one first label (every
    /// search of one tenant in the service, whose namespaces start with the tenant) then
    /// walks only that label's graph instead of one in which other labels' rows, rejected
    /// one by one, may be the nearest; a search across labels searches each and merges.
    /// `false` (the library's default): one set for every namespace, which suits searches
    /// across many first labels (one per user).
    pub partition_by_first_label: bool,
}

impl Default for VectorIndexOptions {
    fn default() -> Self {
        VectorIndexOptions {
            ann_min_vectors: 10_000,
            exact_scope_max: 20_000,
            connectivity: 16,
            expansion_add: 320,
            expansion_search: 96,
            graph_precision: GraphPrecision::I8,
            leading_half_graph: true,
            partition_by_first_label: false,
        }
    }
}

impl VectorIndexOptions {
    /// Options that never build a graph: every search is an exact scan.
    pub fn exact() -> VectorIndexOptions {
        VectorIndexOptions { ann_min_vectors: usize::MAX, ..VectorIndexOptions::default() }
    }

    /// How many of a vector's leading dimensions the graph of `model`'s `dims`-dimensional
    /// vectors holds.
    fn graph_dimensions(&self, model: &str, dims: usize) -> usize {
        if self.leading_half_graph && crate::embed::variance_ordered(model) { dims.div_ceil(2) } else { dims }
    }
}

/// Which [`VectorSet`] a row is in: its partition (the first label of its namespace with
/// [`VectorIndexOptions::partition_by_first_label`], else empty), its model and dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SetKey {
    partition: String,
    model: String,
    dims: usize,
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

/// An HNSW graph and its progress, shared by the set that owns it and the worker.
struct GraphShared {
    /// Read-locked to add and search (usearch allows both concurrently); write-locked only
    /// to grow its capacity.
    hnsw: RwLock<usearch::Index>,
    /// Whether the graph holds 8-bit vectors, which this module quantizes itself.
    is_i8: bool,
    /// The leading dimensions of each vector (and query) that the graph holds.
    dims: usize,
    /// Every live row whose sequence number is at most this is in `hnsw`.
    done: AtomicU64,
    /// Nodes added (live or dead), as of `done`.
    nodes: AtomicUsize,
    /// Whether `failed` holds an error (read by every search, without locking).
    has_failed: AtomicBool,
    /// Why the worker gave up on this graph (a usearch error); the owner then drops it.
    failed: Mutex<Option<String>>,
}

impl GraphShared {
    fn failure(&self) -> Option<String> {
        if !self.has_failed.load(Atomic::Acquire) {
            return None;
        }
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn fail(&self, error: String) {
        *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
        self.has_failed.store(true, Atomic::Release);
    }
}

/// The HNSW graph of a [`VectorSet`] and the rows not yet in it.
struct Graph {
    shared: Arc<GraphShared>,
    /// Live rows that were not in the graph when last pruned, by sequence number (value:
    /// row id); those after `shared.done` are scanned exactly by searches.
    pending: BTreeMap<u64, i64>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("done", &self.shared.done.load(Atomic::Relaxed))
            .field("nodes", &self.shared.nodes.load(Atomic::Relaxed))
            .field("pending", &self.pending.len())
            .finish()
    }
}

#[derive(Debug, Default)]
struct VectorSet {
    dims: usize,
    /// The leading dimensions of each vector that its graph holds (at most `dims`).
    graph_dims: usize,
    /// The rows' `f32` vectors (not moved by layouts).
    vectors: Matrix,
    norms: Vec<f32>,
    /// The 8-bit copy of the vectors that exact scans bound scores with (laid out).
    codes: RowCodes,
    ids: Vec<i64>,
    /// Each row's write sequence number (its graph key).
    seqs: Vec<u64>,
    meta: Vec<RowMeta>,
    position: FxHashMap<i64, usize>,
    /// The row of each live sequence number (graph nodes of other numbers are dead).
    row_of_seq: FxHashMap<u64, usize>,
    /// Rows by encoded namespace (in no particular order), to count and list a scope's rows
    /// (kept as rows move).
    by_namespace: BTreeMap<String, Vec<u32>>,
    /// Each row's position in its namespace's list in `by_namespace`.
    namespace_slot: Vec<u32>,
    /// When the rows inserted since they were last laid out in namespace order call for
    /// another layout ([`VectorSet::lay_out`]).
    layout: Layout,
    graph: Option<Graph>,
    /// The graph could not be built or updated (usearch error): stay exact.
    graph_failed: bool,
}

/// `vector` as the 8-bit graph vector: scaled so that its largest component is ±127, then
/// rounded. The graph's metric is the angle, which scaling a vector does not change, so
/// only the rounding is lost. usearch's own conversion scales the unit vector by 127 and
/// truncates, which leaves most components of a 256- or 384-dimensional vector a handful of
/// levels; this gives them the whole range (recall at the same `ef`: `bench/store/README.md`).
fn quantize_i8(vector: &[f32], out: &mut Vec<i8>) {
    out.clear();
    let largest = vector.iter().fold(0.0f32, |largest, x| largest.max(x.abs()));
    if !(largest > 0.0 && largest.is_finite()) {
        out.resize(vector.len(), 0);
        return;
    }
    let scale = 127.0 / largest;
    // `as` saturates (and maps NaN to 0).
    out.extend(vector.iter().map(|x| (x * scale).round() as i8));
}

/// A query as the graph takes it.
enum GraphQuery<'a> {
    F32(&'a [f32]),
    I8(Vec<i8>),
}

impl GraphQuery<'_> {
    fn of<'a>(graph: &GraphShared, query: &'a [f32]) -> GraphQuery<'a> {
        let query = &query[..graph.dims];
        if graph.is_i8 {
            let mut quantized = Vec::with_capacity(query.len());
            quantize_i8(query, &mut quantized);
            GraphQuery::I8(quantized)
        } else {
            GraphQuery::F32(query)
        }
    }

    fn search(&self, hnsw: &usearch::Index, count: usize) -> Result<usearch::ffi::Matches, String> {
        match self {
            GraphQuery::F32(query) => hnsw.search(query, count),
            GraphQuery::I8(query) => hnsw.search(query, count),
        }
        .map_err(|e| e.to_string())
    }

    fn filtered_search(
        &self,
        hnsw: &usearch::Index,
        count: usize,
        admits: impl Fn(u64) -> bool,
    ) -> Result<usearch::ffi::Matches, String> {
        match self {
            GraphQuery::F32(query) => hnsw.filtered_search(query, count, admits),
            GraphQuery::I8(query) => hnsw.filtered_search(query, count, admits),
        }
        .map_err(|e| e.to_string())
    }
}

/// A set's `f32` vectors. Each row's vector lies in a slot of its own, in arrival order:
/// a layout renumbers rows without moving them (only the rows' slots are permuted), since
/// scans read the laid-out 8-bit codes and score few rows from here, while moving them was
/// most of a layout's time (63 of 87 ms at 109k rows of 256 dimensions).
#[derive(Debug, Default)]
struct Matrix {
    dims: usize,
    data: Vec<f32>,
    slot_of_row: Vec<u32>,
    row_of_slot: Vec<u32>,
}

impl Matrix {
    /// Appends `vector` as the last row (every row has the first row's length).
    fn push(&mut self, vector: &[f32]) {
        if self.slot_of_row.is_empty() {
            self.dims = vector.len();
        }
        self.data.extend_from_slice(vector);
        // The new row takes the new slot: both are numbered by how many there were.
        let index = self.slot_of_row.len() as u32;
        self.row_of_slot.push(index);
        self.slot_of_row.push(index);
    }

    fn row(&self, row: usize) -> &[f32] {
        let slot = self.slot_of_row[row] as usize;
        &self.data[slot * self.dims..(slot + 1) * self.dims]
    }

    /// Renumbers the rows: `order[i]` is the row that becomes row `i`.
    fn reorder(&mut self, order: &[usize]) {
        self.slot_of_row = order.iter().map(|&row| self.slot_of_row[row]).collect();
        for (row, &slot) in self.slot_of_row.iter().enumerate() {
            self.row_of_slot[slot as usize] = row as u32;
        }
    }

    /// Removes `row`, giving its number to the last row; the last slot's vector moves into
    /// the freed slot.
    fn swap_remove(&mut self, row: usize) {
        let (slot, last_slot) = (self.slot_of_row[row] as usize, self.row_of_slot.len() - 1);
        if slot != last_slot {
            let dims = self.dims;
            self.data.copy_within(last_slot * dims..(last_slot + 1) * dims, slot * dims);
            let moved = self.row_of_slot[last_slot];
            self.slot_of_row[moved as usize] = slot as u32;
            self.row_of_slot[slot] = moved;
        }
        self.data.truncate(last_slot * self.dims);
        self.row_of_slot.pop();
        self.slot_of_row.swap_remove(row);
        if let Some(&slot) = self.slot_of_row.get(row) {
            self.row_of_slot[slot as usize] = row as u32;
        }
    }
}

impl VectorSet {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn insert(&mut self, id: i64, seq: u64, vector: &[f32], meta: RowMeta) {
        let row = self.ids.len();
        self.position.insert(id, row);
        self.row_of_seq.insert(seq, row);
        self.vectors.push(vector);
        self.norms.push(vector::norm(vector));
        self.codes.push(vector);
        self.ids.push(id);
        self.seqs.push(seq);
        let rows = self.by_namespace.entry(meta.namespace.clone()).or_default();
        self.namespace_slot.push(rows.len() as u32);
        rows.push(row as u32);
        self.meta.push(meta);
        if let Some(graph) = &mut self.graph {
            graph.pending.insert(seq, id);
        }
        if self.layout.appended(&self.meta[row].namespace, self.len()) {
            self.lay_out();
        }
    }

    /// Moves the rows into namespace order (the namespaces in order, each one's rows in their
    /// present order), so that a small scope's rows (their 8-bit codes, norms and metadata,
    /// which a scan reads) are one stretch of memory; when, see [`Layout`]. The `f32` vectors
    /// stay in their slots ([`Matrix`]); graph keys are sequence numbers, which do not move.
    fn lay_out(&mut self) {
        let started = std::time::Instant::now();
        let order: Vec<usize> = self
            .by_namespace
            .values()
            .flat_map(|rows| {
                let mut rows = rows.clone();
                rows.sort_unstable();
                rows
            })
            .map(|row| row as usize)
            .collect();
        self.vectors.reorder(&order);
        self.norms = order.iter().map(|&row| self.norms[row]).collect();
        self.codes.reorder(&order);
        self.ids = order.iter().map(|&row| self.ids[row]).collect();
        self.seqs = order.iter().map(|&row| self.seqs[row]).collect();
        let mut old_meta: Vec<Option<RowMeta>> = std::mem::take(&mut self.meta).into_iter().map(Some).collect();
        self.meta = order.iter().filter_map(|&row| old_meta[row].take()).collect();
        self.position = self.ids.iter().enumerate().map(|(row, &id)| (id, row)).collect();
        self.row_of_seq = self.seqs.iter().enumerate().map(|(row, &seq)| (seq, row)).collect();
        let mut next = 0u32;
        for rows in self.by_namespace.values_mut() {
            let count = rows.len() as u32;
            rows.clear();
            rows.extend(next..next + count);
            next += count;
        }
        self.namespace_slot = self.by_namespace.values().flat_map(|rows| 0..rows.len() as u32).collect();
        self.layout.laid_out();
        tracing::debug!(
            rows = self.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "vector index: rows laid out in namespace order"
        );
    }

    fn remove(&mut self, id: i64) {
        let Some(row) = self.position.remove(&id) else { return };
        let seq = self.seqs[row];
        self.row_of_seq.remove(&seq);
        let namespace = &self.meta[row].namespace;
        if let Some(rows) = self.by_namespace.get_mut(namespace) {
            let at = self.namespace_slot[row] as usize;
            rows.swap_remove(at);
            if let Some(&moved) = rows.get(at) {
                self.namespace_slot[moved as usize] = at as u32;
            }
            if rows.is_empty() {
                self.by_namespace.remove(namespace);
            }
        }
        let last = self.ids.len() - 1;
        if row != last {
            let moved = self.ids[last];
            self.position.insert(moved, row);
            self.row_of_seq.insert(self.seqs[last], row);
            if let Some(rows) = self.by_namespace.get_mut(&self.meta[last].namespace) {
                rows[self.namespace_slot[last] as usize] = row as u32;
            }
        }
        self.vectors.swap_remove(row);
        self.norms.swap_remove(row);
        self.codes.swap_remove(row);
        self.ids.swap_remove(row);
        self.seqs.swap_remove(row);
        self.meta.swap_remove(row);
        self.namespace_slot.swap_remove(row);
        // A row already in the graph leaves a dead node there, which the predicate rejects.
        if let Some(graph) = &mut self.graph {
            graph.pending.remove(&seq);
        }
    }

    /// Whether every namespace with rows in the set lies in `[low, high)`.
    fn spans_every_namespace(&self, (low, high): &(String, String)) -> bool {
        let (Some((first, _)), Some((last, _))) =
            (self.by_namespace.first_key_value(), self.by_namespace.last_key_value())
        else {
            return true;
        };
        first.as_str() >= low.as_str() && last.as_str() < high.as_str()
    }

    fn drop_graph(&mut self, why: &str) {
        tracing::warn!(error = why, "vector index: HNSW graph failed, searching exactly from now on");
        self.graph = None;
        self.graph_failed = true;
    }

    /// Builds, rebuilds or drops the graph as the options and the set's size say, and prunes
    /// the pending rows the worker has added; whether the worker has rows to add.
    fn maintain(&mut self, options: &VectorIndexOptions) -> bool {
        let len = self.len();
        if self.graph_failed || self.dims == 0 {
            return false;
        }
        if let Some(graph) = &self.graph
            && let Some(error) = graph.shared.failure()
        {
            self.drop_graph(&error);
            return false;
        }
        let rebuild = match &mut self.graph {
            None => len >= options.ann_min_vectors,
            Some(_) if len < options.ann_min_vectors / 2 => {
                self.graph = None;
                return false;
            }
            Some(graph) => {
                let done = graph.shared.done.load(Atomic::Acquire);
                while let Some(entry) = graph.pending.first_entry()
                    && *entry.key() <= done
                {
                    entry.remove();
                }
                let live_nodes = len - graph.pending.len();
                let dead = graph.shared.nodes.load(Atomic::Acquire).saturating_sub(live_nodes);
                dead > live_nodes.max(MIN_DEAD_FOR_REBUILD)
            }
        };
        if rebuild {
            self.graph = None;
            match self.new_graph(options) {
                Ok(graph) => self.graph = Some(graph),
                Err(error) => self.drop_graph(&error),
            }
        }
        self.graph.as_ref().is_some_and(|graph| !graph.pending.is_empty())
    }

    /// An empty graph with every row pending.
    fn new_graph(&self, options: &VectorIndexOptions) -> Result<Graph, String> {
        let hnsw = usearch::Index::new(&usearch::IndexOptions {
            dimensions: self.graph_dims,
            metric: usearch::MetricKind::Cos,
            quantization: options.graph_precision.scalar_kind(),
            connectivity: options.connectivity,
            expansion_add: options.expansion_add,
            // usearch searches with max(this, count); `nearest` passes the `ef` it wants as
            // the count, so the options' value can change without touching the graph.
            expansion_search: 1,
            multi: false,
        })
        .map_err(|e| e.to_string())?;
        let mut rows: Vec<(u64, i64)> = self.seqs.iter().copied().zip(self.ids.iter().copied()).collect();
        rows.sort_unstable();
        let shared = GraphShared {
            hnsw: RwLock::new(hnsw),
            is_i8: options.graph_precision == GraphPrecision::I8,
            dims: self.graph_dims,
            done: AtomicU64::new(0),
            nodes: AtomicUsize::new(0),
            has_failed: AtomicBool::new(false),
            failed: Mutex::new(None),
        };
        Ok(Graph { shared: Arc::new(shared), pending: rows.into_iter().collect() })
    }

    /// The next rows the worker should add to the graph, with copies of their vectors.
    fn next_batch(&self) -> Option<Batch> {
        let graph = self.graph.as_ref()?;
        let done = graph.shared.done.load(Atomic::Acquire);
        let mut batch =
            Batch { graph: graph.shared.clone(), dims: self.dims, seqs: Vec::new(), vectors: Vec::new(), last: done };
        for (&seq, id) in graph.pending.range(done + 1..).take(WORKER_BATCH) {
            let Some(&row) = self.position.get(id) else { continue };
            batch.seqs.push(seq);
            batch.vectors.extend_from_slice(self.vectors.row(row));
            batch.last = seq;
        }
        (!batch.seqs.is_empty()).then_some(batch)
    }

    /// Row numbers of the scope's rows, ascending (so a scan reads the matrix in order), when
    /// there are at most `max` of them and fewer than half the set (`None`: scan everything).
    fn small_scope_rows(&self, scope: &Scope, max: usize) -> Option<Vec<usize>> {
        let max = max.min(self.len() / 2);
        let mut rows: Vec<usize> = Vec::new();
        match scope {
            Scope::Namespace(namespace) => {
                let found = self.by_namespace.get(&namespace.encoded()).map_or(&[][..], Vec::as_slice);
                if found.len() > max {
                    return None;
                }
                rows.extend(found.iter().map(|&row| row as usize));
            }
            Scope::Prefix(prefix) => {
                let (low, high) = prefix.encoded_range()?;
                let range =
                    self.by_namespace.range::<str, _>((Bound::Included(low.as_str()), Bound::Excluded(high.as_str())));
                for (_, found) in range {
                    if rows.len() + found.len() > max {
                        return None;
                    }
                    rows.extend(found.iter().map(|&row| row as usize));
                }
            }
        }
        // In memory order: laid out, a scope's rows are one stretch of the codes.
        rows.sort_unstable();
        Some(rows)
    }
}

/// Rows for the worker to add to one graph: sequence numbers (graph keys) in order, their
/// vectors, and the sequence number to publish once they are in.
struct Batch {
    graph: Arc<GraphShared>,
    dims: usize,
    seqs: Vec<u64>,
    vectors: Vec<f32>,
    last: u64,
}

impl Batch {
    /// Adds the batch to its graph on a few threads, then publishes it; on a usearch error
    /// records the failure (the owner drops the graph at its next write).
    fn add(self, stop: &AtomicBool) {
        let graph = &self.graph;
        if let Err(error) = self.add_nodes(stop) {
            graph.fail(error);
            return;
        }
        if !stop.load(Atomic::Relaxed) {
            graph.nodes.fetch_add(self.seqs.len(), Atomic::Release);
            graph.done.store(self.last, Atomic::Release);
        }
    }

    fn add_nodes(&self, stop: &AtomicBool) -> Result<(), String> {
        let graph = &self.graph;
        {
            let hnsw = graph.hnsw.read().unwrap_or_else(PoisonError::into_inner);
            let needed = hnsw.size() + self.seqs.len();
            if needed > hnsw.capacity() {
                drop(hnsw);
                let hnsw = graph.hnsw.write().unwrap_or_else(PoisonError::into_inner);
                hnsw.reserve_capacity_and_threads(needed + needed / 2, GRAPH_SEARCH_SLOTS)
                    .map_err(|e| e.to_string())?;
            }
        }
        let hnsw = graph.hnsw.read().unwrap_or_else(PoisonError::into_inner);
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(GRAPH_ADD_THREADS)
            .min(self.seqs.len().div_ceil(128))
            .max(1);
        let (hnsw, dims, graph_dims, is_i8) = (&*hnsw, self.dims, graph.dims, graph.is_i8);
        std::thread::scope(|scope| {
            let add = move |first: usize| {
                let mut quantized = Vec::new();
                for (i, &seq) in self.seqs.iter().enumerate().skip(first).step_by(threads) {
                    if stop.load(Atomic::Relaxed) {
                        break;
                    }
                    let vector = &self.vectors[i * dims..i * dims + graph_dims];
                    let added = if is_i8 {
                        quantize_i8(vector, &mut quantized);
                        hnsw.add(seq, &quantized)
                    } else {
                        hnsw.add(seq, vector)
                    };
                    added.map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            };
            let helpers: Vec<_> = (1..threads).map(|first| scope.spawn(move || add(first))).collect();
            let mut result = add(0);
            for helper in helpers {
                let outcome = helper.join().unwrap_or_else(|_| Err("a graph insertion thread panicked".to_owned()));
                result = result.and(outcome);
            }
            result
        })
    }
}

/// What the index and its worker share.
#[derive(Default)]
struct Shared {
    sets: RwLock<FxHashMap<SetKey, VectorSet>>,
    signal: Mutex<Signal>,
    wake: Condvar,
    /// Set when the index is dropped; checked between insertions.
    stop: AtomicBool,
}

/// What the worker waits for.
#[derive(Default)]
struct Signal {
    work: bool,
    stop: bool,
    /// Tests hold the worker to observe rows that are not in the graph yet.
    paused: bool,
}

impl Shared {
    fn signal(&self) -> MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker: waits for work, then adds batches until no graph has pending rows.
    fn run_worker(&self) {
        loop {
            {
                let mut signal = self.signal();
                while (!signal.work || signal.paused) && !signal.stop {
                    signal = self.wake.wait(signal).unwrap_or_else(PoisonError::into_inner);
                }
                if signal.stop {
                    return;
                }
                signal.work = false;
            }
            while !self.signal().paused {
                let batches: Vec<Batch> = {
                    let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
                    sets.values().filter_map(VectorSet::next_batch).collect()
                };
                if batches.is_empty() {
                    break;
                }
                for batch in batches {
                    if self.stop.load(Atomic::Relaxed) {
                        return;
                    }
                    batch.add(&self.stop);
                }
            }
        }
    }
}

/// Waits for graphs to reach the sequence numbers they had pending (see
/// [`VectorIndex::graph_progress`]).
#[derive(Default)]
pub(super) struct GraphProgress {
    targets: Vec<(Arc<GraphShared>, u64)>,
}

impl GraphProgress {
    /// Blocks until every graph holds its target rows (or failed, or was dropped).
    pub(super) fn wait(self) {
        for (graph, target) in self.targets {
            while graph.done.load(Atomic::Acquire) < target
                && graph.failure().is_none()
                && Arc::strong_count(&graph) > 1
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// A scored row: its id and cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    pub(super) id: i64,
    pub(super) score: f64,
}

/// The index. See the module documentation.
pub(super) struct VectorIndex {
    options: VectorIndexOptions,
    shared: Arc<Shared>,
    /// Which set each id is in.
    location: FxHashMap<i64, SetKey>,
    /// The last write sequence number handed out.
    last_seq: u64,
    /// The sets that writes changed since the last [`VectorIndex::maintain`], which visits
    /// only these: with one set per tenant (or per user's conversations) there may be many.
    touched: rustc_hash::FxHashSet<SetKey>,
    worker: Option<JoinHandle<()>>,
}

impl Default for VectorIndex {
    fn default() -> Self {
        VectorIndex::new(VectorIndexOptions::default())
    }
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("options", &self.options)
            .field("rows", &self.location.len())
            .field("sets", &*self.sets())
            .field("worker", &self.worker.is_some())
            .finish()
    }
}

impl Drop for VectorIndex {
    fn drop(&mut self) {
        self.shared.stop.store(true, Atomic::Relaxed);
        self.shared.signal().stop = true;
        self.shared.wake.notify_all();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::warn!("vector index: the graph worker panicked");
        }
    }
}

/// Which rows a search may return.
struct RowTest<'a> {
    exact: Option<String>,
    range: Option<(String, String)>,
    now: f64,
    meta: &'a [RowMeta],
}

impl RowTest<'_> {
    fn is_live(&self, row: usize) -> bool {
        self.meta[row].expires_at.is_none_or(|at| self.now < at)
    }

    fn admits(&self, row: usize) -> bool {
        let meta = &self.meta[row];
        if !self.is_live(row) {
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
        VectorIndex {
            options,
            shared: Arc::new(Shared::default()),
            location: FxHashMap::default(),
            last_seq: 0,
            touched: Default::default(),
            worker: None,
        }
    }

    fn sets(&self) -> RwLockReadGuard<'_, FxHashMap<SetKey, VectorSet>> {
        self.shared.sets.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn sets_mut(&self) -> RwLockWriteGuard<'_, FxHashMap<SetKey, VectorSet>> {
        self.shared.sets.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Inserts or replaces row `id`; a row without vector is removed.
    pub(super) fn upsert(&mut self, id: i64, vector: Option<(&str, &[f32])>, meta: RowMeta) {
        self.remove(id);
        let Some((model, vector)) = vector else { return };
        let set_key = SetKey {
            partition: self.partition_of(&meta.namespace).to_owned(),
            model: model.to_owned(),
            dims: vector.len(),
        };
        self.last_seq += 1;
        let seq = self.last_seq;
        let options = self.options;
        self.sets_mut()
            .entry(set_key.clone())
            .or_insert_with(|| VectorSet {
                dims: vector.len(),
                graph_dims: options.graph_dimensions(model, vector.len()),
                ..VectorSet::default()
            })
            .insert(id, seq, vector, meta);
        self.touched.insert(set_key.clone());
        self.location.insert(id, set_key);
    }

    /// Removes row `id` if present.
    pub(super) fn remove(&mut self, id: i64) {
        let Some(set_key) = self.location.remove(&id) else { return };
        if let Some(set) = self.sets_mut().get_mut(&set_key) {
            set.remove(id);
        }
        self.touched.insert(set_key);
    }

    /// Sets row `id`'s expiry (after a TTL refresh).
    pub(super) fn set_expiry(&mut self, id: i64, expires_at: Option<f64>) {
        if let Some(set_key) = self.location.get(&id)
            && let Some(set) = self.sets_mut().get_mut(set_key)
            && let Some(&row) = set.position.get(&id)
        {
            set.meta[row].expires_at = expires_at;
        }
    }

    /// Row `id`'s model and vector, if it has one.
    pub(super) fn vector(&self, id: i64) -> Option<(&str, Vec<f32>)> {
        let set_key = self.location.get(&id)?;
        let sets = self.sets();
        let set = sets.get(set_key)?;
        let row = *set.position.get(&id)?;
        Some((set_key.model.as_str(), set.vectors.row(row).to_vec()))
    }

    /// Whether row `id` is held with exactly this model, vector and metadata.
    pub(super) fn holds(&self, id: i64, model: &str, vector: &[f32], meta: &RowMeta) -> bool {
        let Some(set_key) = self.location.get(&id) else { return false };
        let sets = self.sets();
        let Some(set) = sets.get(set_key) else { return false };
        let Some(&row) = set.position.get(&id) else { return false };
        set_key.model == model && set.dims == vector.len() && set.meta[row] == *meta && set.vectors.row(row) == vector
    }

    /// Removes every row whose id `keep` rejects.
    pub(super) fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        let gone: Vec<i64> = self.location.keys().copied().filter(|&id| !keep(id)).collect();
        for id in gone {
            self.remove(id);
        }
    }

    /// Builds, rebuilds or drops graphs as the writes applied since the last call require,
    /// and hands pending rows to the worker; call once at the end of each write call. Cheap:
    /// the graph work happens on the worker.
    pub(super) fn maintain(&mut self) {
        let options = self.options;
        let work = {
            // The field, not `sets_mut()`: `touched` is drained (keeping its buffer) meanwhile.
            let mut sets = self.shared.sets.write().unwrap_or_else(PoisonError::into_inner);
            let mut work = false;
            for key in self.touched.drain() {
                let Some(set) = sets.get_mut(&key) else { continue };
                #[cfg(test)]
                tests::MAINTAINED_SETS.with(|count| count.set(count.get() + 1));
                if set.len() == 0 {
                    sets.remove(&key);
                } else {
                    work |= set.maintain(&options);
                }
            }
            work
        };
        if !work {
            return;
        }
        if self.worker.is_none() {
            let shared = self.shared.clone();
            let spawned =
                std::thread::Builder::new().name("vector-index".to_owned()).spawn(move || shared.run_worker());
            match spawned {
                Ok(worker) => self.worker = Some(worker),
                Err(error) => {
                    tracing::warn!(%error, "vector index: cannot start the graph worker, searching exactly");
                    for set in self.sets_mut().values_mut() {
                        set.drop_graph(&error.to_string());
                    }
                    return;
                }
            }
        }
        self.shared.signal().work = true;
        self.shared.wake.notify_one();
    }

    /// What [`GraphProgress::wait`] waits for: every graph holding every row written so far.
    pub(super) fn graph_progress(&self) -> GraphProgress {
        let sets = self.sets();
        let targets = sets
            .values()
            .filter_map(|set| {
                let graph = set.graph.as_ref()?;
                let (&target, _) = graph.pending.last_key_value()?;
                Some((graph.shared.clone(), target))
            })
            .collect();
        GraphProgress { targets }
    }

    /// The options this index runs with (after any [`VectorIndex::set_expansion_search`]).
    pub(super) fn options(&self) -> VectorIndexOptions {
        self.options
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
        self.sets().iter().any(|(key, set)| key.model == model && key.dims == dims && set.graph.is_some())
    }

    /// Holds (`true`) or releases the worker between batches.
    #[cfg(test)]
    pub(super) fn pause_worker(&self, paused: bool) {
        let mut signal = self.shared.signal();
        signal.paused = paused;
        signal.work = true;
        drop(signal);
        self.shared.wake.notify_one();
    }

    /// How many rows of `model` vectors of dimension `dims` the graph does not hold yet.
    #[cfg(test)]
    pub(super) fn pending(&self, model: &str, dims: usize) -> usize {
        self.sets()
            .iter()
            .filter(|(key, _)| key.model == model && key.dims == dims)
            .filter_map(|(_, set)| set.graph.as_ref())
            .map(|graph| graph.pending.range(graph.shared.done.load(Atomic::Acquire) + 1..).count())
            .sum()
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
        if want == 0 || query.is_empty() {
            return (Vec::new(), false);
        }
        let sets = self.sets();
        let matching: Vec<&VectorSet> = match self.scope_partition(scope) {
            Some(partition) => {
                let key = SetKey { partition: partition.to_owned(), model: model.to_owned(), dims: query.len() };
                sets.get(&key).into_iter().collect()
            }
            None => sets
                .iter()
                .filter(|(key, _)| key.model == model && key.dims == query.len())
                .map(|(_, set)| set)
                .collect(),
        };
        let candidate = |set: &VectorSet, (score, row): (f32, u32)| Candidate {
            id: set.ids[row as usize],
            score: f64::from(score),
        };
        match matching.as_slice() {
            [] => (Vec::new(), false),
            [set] => {
                let (rows, more) = self.nearest_in(set, query, scope, now, want);
                (rows.into_iter().map(|row| candidate(set, row)).collect(), more)
            }
            several => {
                // The best `want` of each partition, merged in the store's order.
                let mut more = false;
                let mut merged: Vec<(f32, usize, u32)> = Vec::new();
                for (i, set) in several.iter().enumerate() {
                    let (rows, set_more) = self.nearest_in(set, query, scope, now, want);
                    more |= set_more;
                    merged.extend(rows.into_iter().map(|(score, row)| (score, i, row)));
                }
                let order = |a: &(f32, usize, u32), b: &(f32, usize, u32)| {
                    store_order((a.0, &several[a.1].meta[a.2 as usize]), (b.0, &several[b.1].meta[b.2 as usize]))
                };
                more |= keep_best(&mut merged, want, order);
                let candidates =
                    merged.into_iter().map(|(score, set, row)| candidate(several[set], (score, row))).collect();
                (candidates, more)
            }
        }
    }

    /// The partition of a row of (encoded) `namespace`.
    fn partition_of<'n>(&self, namespace: &'n str) -> &'n str {
        if !self.options.partition_by_first_label {
            return "";
        }
        namespace.split(super::namespace::LABEL_SEPARATOR).next().unwrap_or("")
    }

    /// The one partition that holds every row in `scope`; `None` when it may span several.
    fn scope_partition<'s>(&self, scope: &'s Scope) -> Option<&'s str> {
        if !self.options.partition_by_first_label {
            return Some("");
        }
        match scope {
            Scope::Namespace(namespace) => namespace.labels().first().map(String::as_str),
            Scope::Prefix(prefix) => prefix.labels().first().map(String::as_str),
        }
    }

    /// [`VectorIndex::nearest`] in one set: the best `want` (score, row) in the store's
    /// order, and whether rows may have been left out.
    fn nearest_in(
        &self,
        set: &VectorSet,
        query: &[f32],
        scope: &Scope,
        now: f64,
        want: usize,
    ) -> (Vec<(f32, u32)>, bool) {
        if set.dims == 0 {
            return (Vec::new(), false);
        }
        let test = match scope {
            Scope::Namespace(namespace) => {
                RowTest { exact: Some(namespace.encoded()), range: None, now, meta: &set.meta }
            }
            Scope::Prefix(prefix) => {
                // A prefix that spans every namespace of the set (one tenant, or the single
                // user of an embedded store) needs no per-row namespace test.
                let range = prefix.encoded_range().filter(|range| !set.spans_every_namespace(range));
                RowTest { exact: None, range, now, meta: &set.meta }
            }
        };
        let query_norm = vector::norm(query);
        let score = |row: usize| vector::cosine(set.vectors.row(row), set.norms[row], query, query_norm);
        // An exact scan scores only the rows whose 8-bit bounds can reach the page; it
        // answers them and how many rows it admitted.
        let scan = |rows: Vec<u32>| {
            let admitted = rows.len();
            (set.codes.candidates(rows, query, query_norm, &set.norms, want, score), admitted)
        };
        let scan_all = || scan((0..set.len()).filter(|&row| test.admits(row)).map(|row| row as u32).collect());
        let mut admitted = 0;
        let mut scored: Vec<(f32, u32)> = Vec::new();
        let mut more = false;
        // The graph serves once it holds at least half the rows (and has not failed); rows
        // written after its published progress are scanned exactly beside it.
        let graph = set.graph.as_ref().and_then(|graph| {
            let done = graph.shared.done.load(Atomic::Acquire);
            let unindexed = graph.pending.range(done + 1..).take(set.len() / 2 + 1).count();
            (unindexed <= set.len() / 2 && !graph.shared.has_failed.load(Atomic::Acquire))
                .then_some((graph, done, unindexed))
        });
        match (graph, set.small_scope_rows(scope, self.options.exact_scope_max)) {
            (_, Some(rows)) => {
                // In scope by construction: only expiry to test.
                (scored, admitted) =
                    scan(rows.into_iter().filter(|&row| test.is_live(row)).map(|row| row as u32).collect());
            }
            (Some((graph, done, unindexed)), None) if want <= MAX_GRAPH_WANT => {
                let ef = want.max(self.options.expansion_search);
                let hnsw = graph.shared.hnsw.read().unwrap_or_else(PoisonError::into_inner);
                let graph_query = GraphQuery::of(&graph.shared, query);
                let admitted_row = |key: &u64| {
                    let row = set.row_of_seq.get(key).copied().filter(|_| *key <= done)?;
                    test.admits(row).then_some(row)
                };
                // A scope that spans every namespace needs no per-node test, and with few
                // dead nodes the predicate would rarely reject one.
                let nodes = graph.shared.nodes.load(Atomic::Acquire);
                let few_dead = nodes.saturating_sub(set.len() - unindexed) <= nodes / 8;
                let unfiltered = (test.exact.is_none() && test.range.is_none() && few_dead)
                    .then(|| unfiltered_graph_rows(&hnsw, &graph_query, ef, want, admitted_row))
                    .flatten();
                let graph_rows = match unfiltered {
                    Some(rows) => Some(rows),
                    None => match graph_query.filtered_search(&hnsw, ef, |key| admitted_row(&key).is_some()) {
                        // The graph ran out of admitted nodes: either that is all there is,
                        // or it cannot reach some (HNSW does not promise that every node is
                        // reachable). Only a scan tells, and it is exact.
                        Ok(found) if found.keys.len() < ef => None,
                        Ok(found) => {
                            Some(found.keys.iter().filter_map(|key| set.row_of_seq.get(key).copied()).collect())
                        }
                        Err(error) => {
                            tracing::debug!(%error, "vector index: graph search failed, scanning exactly");
                            None
                        }
                    },
                };
                match graph_rows {
                    Some(rows) => {
                        let pending = graph
                            .pending
                            .range(done + 1..)
                            .filter_map(|(_, id)| set.position.get(id).copied())
                            .filter(|&row| test.admits(row));
                        scored.extend(rows.into_iter().chain(pending).map(|row| (score(row), row as u32)));
                        more = true;
                    }
                    None => (scored, admitted) = scan_all(),
                }
            }
            _ => (scored, admitted) = scan_all(),
        }
        let truncated = keep_best(&mut scored, want, |a, b| {
            store_order((a.0, &set.meta[a.1 as usize]), (b.0, &set.meta[b.1 as usize]))
        });
        (scored, truncated || admitted > want || more)
    }
}

/// Graph search without a predicate (the callback, a foreign call and a row test per
/// visited node, costs about a third of the graph search): the `ef` nearest nodes, less
/// the dead, expired and not yet published ones (`admitted_row`), as rows. `None` (search
/// with the predicate) when the graph yields fewer than `ef` nodes or fewer than `want` of
/// them pass, so a rejected node can never shorten the page.
fn unfiltered_graph_rows(
    hnsw: &usearch::Index,
    query: &GraphQuery<'_>,
    ef: usize,
    want: usize,
    admitted_row: impl Fn(&u64) -> Option<usize>,
) -> Option<Vec<usize>> {
    let found = query.search(hnsw, ef).ok()?;
    if found.keys.len() < ef {
        return None;
    }
    let rows: Vec<usize> = found.keys.iter().filter_map(admitted_row).collect();
    #[cfg(test)]
    if rows.len() >= want {
        tests::UNFILTERED_SEARCHES.with(|count| count.set(count.get() + 1));
    }
    (rows.len() >= want).then_some(rows)
}

/// The store's order of two scored rows: score descending, then recency order (updated_at
/// descending, namespace and key ascending).
fn store_order((score_a, a): (f32, &RowMeta), (score_b, b): (f32, &RowMeta)) -> Ordering {
    f64::from(score_b)
        .total_cmp(&f64::from(score_a))
        .then_with(|| b.updated_at.total_cmp(&a.updated_at))
        .then_with(|| a.namespace.cmp(&b.namespace))
        .then_with(|| a.key.cmp(&b.key))
}

/// Keeps the first `want` of `scored` in `order`, sorted; whether any were dropped.
fn keep_best<T>(scored: &mut Vec<T>, want: usize, order: impl Fn(&T, &T) -> Ordering) -> bool {
    let truncated = scored.len() > want;
    if truncated {
        scored.select_nth_unstable_by(want - 1, &order);
        scored.truncate(want);
    }
    scored.sort_unstable_by(order);
    truncated
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::store::{Namespace, NamespacePrefix};

    thread_local! {
        /// Searches on this thread that the graph answered without its predicate.
        pub(super) static UNFILTERED_SEARCHES: Cell<usize> = const { Cell::new(0) };
        /// Sets that [`VectorIndex::maintain`] visited on this thread.
        pub(super) static MAINTAINED_SETS: Cell<usize> = const { Cell::new(0) };
    }

    fn unfiltered_searches() -> usize {
        UNFILTERED_SEARCHES.with(Cell::get)
    }

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
    fn a_prefix_spans_every_namespace_only_when_all_of_them_lie_under_it() {
        let mut set = VectorSet::default();
        let range = |labels: &[&str]| NamespacePrefix::new(labels.iter().copied()).expect("valid").encoded_range();
        assert!(set.spans_every_namespace(&range(&["users"]).expect("range")), "an empty set");
        set.insert(1, 1, &[1.0], meta(&["users", "u1"], "k", 1.0, None));
        set.insert(2, 2, &[1.0], meta(&["users", "u2", "notes"], "k", 1.0, None));
        assert!(set.spans_every_namespace(&range(&["users"]).expect("range")));
        assert!(!set.spans_every_namespace(&range(&["users", "u1"]).expect("range")));
        set.insert(3, 3, &[1.0], meta(&["users2"], "k", 1.0, None));
        assert!(!set.spans_every_namespace(&range(&["users"]).expect("range")), "users2 is not under users");
        set.remove(3);
        assert!(set.spans_every_namespace(&range(&["users"]).expect("range")));
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
        index.graph_progress().wait();
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
    fn a_matrix_keeps_each_rows_vector_through_reorders_and_removals() {
        let mut matrix = Matrix::default();
        // What each row should hold, as the vector's first component.
        let mut expected: Vec<f32> = Vec::new();
        for i in 0..12 {
            matrix.push(&[i as f32, -(i as f32)]);
            expected.push(i as f32);
        }
        let check = |matrix: &Matrix, expected: &[f32]| {
            for (row, &first) in expected.iter().enumerate() {
                assert_eq!(matrix.row(row), [first, -first], "row {row}");
            }
            assert_eq!(matrix.data.len(), expected.len() * 2);
        };
        let order: Vec<usize> = vec![5, 3, 11, 0, 1, 2, 4, 6, 7, 8, 9, 10];
        matrix.reorder(&order);
        expected = order.iter().map(|&row| expected[row]).collect();
        check(&matrix, &expected);
        // The first row, a middle one, the last one, and the row whose slot is the last.
        let picks: [fn(&Matrix) -> usize; 4] = [
            |_| 0,
            |_| 4,
            |matrix| matrix.slot_of_row.len() - 1,
            |matrix| matrix.row_of_slot[matrix.row_of_slot.len() - 1] as usize,
        ];
        for pick in picks {
            let row = pick(&matrix);
            matrix.swap_remove(row);
            expected.swap_remove(row);
            check(&matrix, &expected);
        }
        matrix.push(&[99.0, -99.0]);
        expected.push(99.0);
        check(&matrix, &expected);
        matrix.reorder(&(0..expected.len()).rev().collect::<Vec<_>>());
        expected.reverse();
        check(&matrix, &expected);
        while !expected.is_empty() {
            matrix.swap_remove(expected.len() / 2);
            expected.swap_remove(expected.len() / 2);
            check(&matrix, &expected);
        }
    }

    /// An exact scan scores only the rows its 8-bit bounds let through; its page still
    /// equals scoring every row in scope, ties (every row has a twin) in recency order.
    #[test]
    fn bounded_scans_answer_what_a_full_scan_answers() {
        let rows = vectors(300, 48, 21);
        let mut index = VectorIndex::new(VectorIndexOptions::exact());
        let mut metas = Vec::new();
        for (i, vector) in rows.iter().chain(&rows).enumerate() {
            let row_meta = meta(&[["a", "b"][i % 2]], &format!("k{i}"), (i % 7) as f64, None);
            index.upsert(i as i64, Some(("m", vector)), row_meta.clone());
            metas.push((i as i64, vector, row_meta));
        }
        let scopes = [Scope::Prefix(NamespacePrefix::root()), Scope::Namespace(Namespace::new(["b"]).expect("valid"))];
        for query in vectors(10, 48, 5).iter().chain([&rows[17]]) {
            for scope in &scopes {
                let mut every: Vec<(f32, &RowMeta, i64)> = metas
                    .iter()
                    .filter(|(_, _, row_meta)| match scope {
                        Scope::Namespace(namespace) => row_meta.namespace == namespace.encoded(),
                        Scope::Prefix(_) => true,
                    })
                    .map(|(id, vector, row_meta)| {
                        (vector::cosine(vector, vector::norm(vector), query, vector::norm(query)), row_meta, *id)
                    })
                    .collect();
                every.sort_by(|a, b| store_order((a.0, a.1), (b.0, b.1)));
                for want in [1, 5, 40] {
                    let expected: Vec<(i64, f64)> =
                        every.iter().take(want).map(|(score, _, id)| (*id, f64::from(*score))).collect();
                    let (found, more) = index.nearest("m", query, scope, 0.0, want);
                    assert_eq!(found.iter().map(|c| (c.id, c.score)).collect::<Vec<_>>(), expected, "{scope:?} {want}");
                    assert!(more, "more rows than wanted");
                }
            }
        }
    }

    /// Partitioned by first label, every search answers exactly what one set answers: a
    /// scope within one label from that label's rows, a scope across labels by merging each
    /// label's best in the store's order (ties included: every row has a twin of equal score
    /// and recency in another label).
    #[test]
    fn partitions_answer_what_one_set_answers() {
        let rows = vectors(300, 16, 5);
        let partitioned_options = VectorIndexOptions { partition_by_first_label: true, ..VectorIndexOptions::exact() };
        let (mut partitioned, mut single) =
            (VectorIndex::new(partitioned_options), VectorIndex::new(VectorIndexOptions::exact()));
        for index in [&mut partitioned, &mut single] {
            for (i, v) in rows.iter().enumerate() {
                let label = ["t1", "t2", "t3"][i % 3];
                index.upsert(
                    i as i64 + 1,
                    Some(("m", v)),
                    meta(&[label, "notes"], &format!("k{i}"), (i % 7) as f64, None),
                );
                // The twin: same vector, same time, another first label.
                let twin = ["t2", "t3", "t1"][i % 3];
                index.upsert(
                    1000 + i as i64,
                    Some(("m", v)),
                    meta(&[twin, "notes"], &format!("k{i}"), (i % 7) as f64, None),
                );
            }
            index.maintain();
        }
        assert_eq!(partitioned.sets().len(), 3, "one set per first label");
        let scopes = [
            Scope::Prefix(NamespacePrefix::root()),
            Scope::Prefix(NamespacePrefix::new(["t2"]).expect("valid")),
            Scope::Prefix(NamespacePrefix::new(["t3", "notes"]).expect("valid")),
            Scope::Namespace(Namespace::new(["t1", "notes"]).expect("valid")),
            Scope::Prefix(NamespacePrefix::new(["nobody"]).expect("valid")),
        ];
        for query in vectors(10, 16, 77) {
            for scope in &scopes {
                for want in [1, 7, 50, 1000] {
                    let (from_partitions, from_one) = (
                        partitioned.nearest("m", &query, scope, 0.0, want),
                        single.nearest("m", &query, scope, 0.0, want),
                    );
                    assert_eq!(from_partitions, from_one, "{scope:?} want {want}");
                }
            }
        }
        // A row that moves to another first label moves to that label's set.
        partitioned.upsert(1, Some(("m", &rows[0])), meta(&["t9"], "k0", 0.0, None));
        let t9 = Scope::Prefix(NamespacePrefix::new(["t9"]).expect("valid"));
        assert_eq!(ids(&partitioned.nearest("m", &rows[0], &t9, 0.0, 5)), [1]);
        let t1 = Scope::Prefix(NamespacePrefix::new(["t1"]).expect("valid"));
        assert!(!ids(&partitioned.nearest("m", &rows[0], &t1, 0.0, 200)).contains(&1));
    }

    /// `maintain` visits the sets that writes changed since its last call, not every set:
    /// with one set per tenant or per user there can be thousands. A set left empty goes.
    #[test]
    fn maintenance_visits_only_the_sets_written_to() {
        let mut index =
            VectorIndex::new(VectorIndexOptions { partition_by_first_label: true, ..VectorIndexOptions::default() });
        let rows = vectors(200, 8, 9);
        for (i, v) in rows.iter().enumerate() {
            index.upsert(i as i64 + 1, Some(("m", v)), meta(&[&format!("u{i}"), "notes"], "k", 0.0, None));
        }
        index.maintain();
        assert_eq!(index.sets().len(), 200);
        let visited = || MAINTAINED_SETS.with(Cell::get);
        let before = visited();
        index.upsert(1, Some(("m", &rows[1])), meta(&["u0", "notes"], "k", 1.0, None));
        index.upsert(500, Some(("m", &rows[2])), meta(&["u7", "notes"], "k2", 1.0, None));
        index.maintain();
        assert_eq!(visited() - before, 2, "u0 and u7 only");
        index.remove(500);
        index.remove(8);
        index.maintain();
        assert_eq!(visited() - before, 3, "then u7 alone");
        assert_eq!(index.sets().len(), 199, "u7 is empty: its set is gone");
        let u7 = Scope::Prefix(NamespacePrefix::new(["u7"]).expect("valid"));
        assert!(index.nearest("m", &rows[2], &u7, 0.0, 5).0.is_empty());
        let u0 = Scope::Prefix(NamespacePrefix::new(["u0"]).expect("valid"));
        assert_eq!(ids(&index.nearest("m", &rows[1], &u0, 0.0, 5)), [1]);
    }

    /// A label's search walks its own graph without a predicate (its set holds only its rows),
    /// where one shared graph needs the predicate to reject the other labels' rows.
    #[test]
    fn a_partition_is_searched_without_the_predicate() {
        let rows = vectors(600, 24, 3);
        // `ef` below a label's 300 rows, so that the graph answers (not a scan).
        let options = graph_options(150);
        let (mut partitioned, mut single) = (
            VectorIndex::new(VectorIndexOptions { partition_by_first_label: true, ..options }),
            VectorIndex::new(options),
        );
        let spread = |i: usize| vec![["t1", "t2"][i % 2], "notes"];
        fill(&mut partitioned, &rows, spread);
        fill(&mut single, &rows, spread);
        let t1 = Scope::Prefix(NamespacePrefix::new(["t1"]).expect("valid"));
        let unfiltered = || UNFILTERED_SEARCHES.with(Cell::get);
        for query in vectors(5, 24, 8) {
            let before = unfiltered();
            let from_one = single.nearest("m", &query, &t1, 0.0, 10);
            assert_eq!(unfiltered(), before, "one set for both labels: the predicate rejects t2's rows");
            let from_partition = partitioned.nearest("m", &query, &t1, 0.0, 10);
            assert_eq!(unfiltered(), before + 1, "t1's own graph: no predicate");
            for found in [&from_one, &from_partition] {
                assert_eq!(found.0.len(), 10);
                assert!(ids(found).iter().all(|id| id % 2 == 1), "t1's rows only (even rows, odd ids)");
            }
        }
    }

    #[test]
    fn a_variance_ordered_model_gets_a_graph_over_the_leading_half_that_still_answers_exactly() {
        let model = crate::embed::BuiltinEmbedder::MODEL_ID;
        let rows = vectors(600, 24, 11);
        let graph_dims = |options: VectorIndexOptions| {
            let mut index = VectorIndex::new(options);
            for (i, v) in rows.iter().enumerate() {
                index.upsert(i as i64 + 1, Some((model, v)), meta(&["a"], &format!("k{i}"), i as f64, None));
                // Another model's vectors in the same index keep every dimension.
                index.upsert(10_000 + i as i64, Some(("m", v)), meta(&["a"], &format!("m{i}"), i as f64, None));
            }
            index.maintain();
            index.graph_progress().wait();
            let dims = |model: &str| {
                let sets = index.sets();
                let graph = sets[&SetKey { partition: String::new(), model: model.to_owned(), dims: 24 }]
                    .graph
                    .as_ref()
                    .map(|graph| graph.shared.dims);
                graph.expect("a graph")
            };
            let found = (dims(model), dims("m"));
            (index, found)
        };
        let (half, dims) = graph_dims(graph_options(600));
        assert_eq!(dims, (12, 24));
        let (_, dims) = graph_dims(VectorIndexOptions { leading_half_graph: false, ..graph_options(600) });
        assert_eq!(dims, (24, 24));
        // The graph proposes candidates from half of each vector; with ef at least the set's
        // size it proposes every row, and the re-scoring from the full vectors is exact.
        let mut exact = VectorIndex::new(VectorIndexOptions::exact());
        for (i, v) in rows.iter().enumerate() {
            exact.upsert(i as i64 + 1, Some((model, v)), meta(&["a"], &format!("k{i}"), i as f64, None));
        }
        let all = Scope::Prefix(NamespacePrefix::root());
        for query in vectors(20, 24, 5) {
            for want in [1, 10, 50] {
                let (from_graph, from_scan) =
                    (half.nearest(model, &query, &all, 0.0, want), exact.nearest(model, &query, &all, 0.0, want));
                assert_eq!(from_graph.0, from_scan.0, "same ids and scores, want {want}");
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
        index.graph_progress().wait();
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
    fn a_page_fills_when_most_graph_neighbours_are_rejected() {
        // The unfiltered graph search sees ef = 128 neighbours; 400 expired rows around the
        // query leave none of them admissible, so the search must take the predicate path.
        // (At ef 64 the recall below dipped to 12/20 in about one run in ten.)
        let rows = vectors(3000, 16, 5);
        let mut index = VectorIndex::new(graph_options(128));
        fill(&mut index, &rows, |_| vec!["a"]);
        index.graph_progress().wait();
        let all = Scope::Prefix(NamespacePrefix::root());
        let query = rows[7].clone();
        let before = unfiltered_searches();
        assert_eq!(ids(&index.nearest("m", &query, &all, 0.0, 1)), [8], "a row is its own nearest");
        assert_eq!(unfiltered_searches(), before + 1, "nothing to reject: no predicate");
        let spanning = Scope::Prefix(NamespacePrefix::new(["a"]).expect("valid"));
        index.nearest("m", &query, &spanning, 0.0, 1);
        assert_eq!(unfiltered_searches(), before + 2, "a prefix that spans every namespace needs no predicate either");
        index.nearest("m", &query, &Scope::Namespace(Namespace::new(["a"]).expect("valid")), 0.0, 1);
        assert_eq!(unfiltered_searches(), before + 2, "a namespace scope is tested per node");
        let nearest = ids(&index.nearest("m", &query, &all, 0.0, 400));
        for &id in &nearest {
            index.set_expiry(id, Some(5.0));
        }
        let before = unfiltered_searches();
        let found = index.nearest("m", &query, &all, 10.0, 20);
        assert_eq!(unfiltered_searches(), before, "the predicate search answered");
        assert_eq!(found.0.len(), 20);
        assert!(found.0.iter().all(|c| !nearest.contains(&c.id)), "{found:?}");
        let mut exact = VectorIndex::new(VectorIndexOptions::exact());
        fill(&mut exact, &rows, |_| vec!["a"]);
        for &id in &nearest {
            exact.set_expiry(id, Some(5.0));
        }
        let truth = ids(&exact.nearest("m", &query, &all, 10.0, 20));
        // Approximate (the graph is built by two threads, so runs differ), but it must reach
        // past the 400 rejected rows to the true neighbours, not wander off.
        let overlap = found.0.iter().filter(|c| truth.contains(&c.id)).count();
        assert!(overlap >= 14, "recall {overlap}/20 against the exact search");
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
    fn writes_are_found_before_the_graph_has_them() {
        let rows = vectors(1500, 8, 11);
        let mut index = VectorIndex::new(graph_options(64));
        fill(&mut index, &rows[..1200], |_| vec!["a"]);
        assert_eq!(index.pending("m", 8), 0);
        index.pause_worker(true);
        for (i, v) in rows.iter().enumerate().skip(1200) {
            index.upsert(i as i64 + 1, Some(("m", v)), meta(&["a"], &format!("k{i}"), i as f64, None));
            index.maintain();
        }
        assert_eq!(index.pending("m", 8), 300, "the worker is held: none of them is in the graph");
        let all = Scope::Prefix(NamespacePrefix::root());
        for i in [1200, 1350, 1499] {
            assert_eq!(ids(&index.nearest("m", &rows[i], &all, 0.0, 1)), [i as i64 + 1]);
        }
        // Removed rows never surface, whether in the graph (a dead node) or pending.
        for id in [1, 2, 1201, 1202] {
            index.remove(id);
        }
        index.maintain();
        assert_eq!(index.pending("m", 8), 298);
        for i in [0, 1, 1200, 1201] {
            let found = ids(&index.nearest("m", &rows[i], &all, 0.0, 5));
            assert!(found.len() == 5 && !found.iter().any(|id| [1, 2, 1201, 1202].contains(id)), "{found:?}");
        }
        index.pause_worker(false);
        index.graph_progress().wait();
        assert_eq!(index.pending("m", 8), 0);
        for i in [1350, 1499] {
            assert_eq!(ids(&index.nearest("m", &rows[i], &all, 0.0, 1)), [i as i64 + 1]);
        }
    }

    #[test]
    fn concurrent_writes_and_searches_stay_complete() {
        // A backend's lock around the index; the worker adds to the graph meanwhile.
        let rows = vectors(4000, 16, 29);
        let index = RwLock::new(VectorIndex::new(graph_options(64)));
        fill(&mut index.write().expect("lock"), &rows[..1000], |_| vec!["a"]);
        let all = Scope::Prefix(NamespacePrefix::root());
        let mut seen_pending = 0;
        std::thread::scope(|scope| {
            // A second searcher keeps the graph busy while rows are written and added.
            let searcher = scope.spawn(|| {
                for query in vectors(300, 16, 31) {
                    let (found, _) = index.read().expect("lock").nearest("m", &query, &all, 0.0, 10);
                    assert_eq!(found.len(), 10);
                }
            });
            for (i, v) in rows.iter().enumerate().skip(1000) {
                {
                    let mut index = index.write().expect("lock");
                    index.upsert(i as i64 + 1, Some(("m", v)), meta(&["a"], &format!("k{i}"), i as f64, None));
                    index.maintain();
                }
                let index = index.read().expect("lock");
                seen_pending += usize::from(index.pending("m", 16) > 0);
                let found = ids(&index.nearest("m", v, &all, 0.0, 1));
                assert_eq!(found, [i as i64 + 1], "row {i} right after its write");
            }
            searcher.join().expect("searcher");
        });
        let index = index.into_inner().expect("lock");
        index.graph_progress().wait();
        assert_eq!((index.pending("m", 16), index.len()), (0, 4000));
        assert!(seen_pending > 0, "some searches ran before the graph had the row");
    }

    #[test]
    fn dropping_the_index_stops_its_worker() {
        let rows = vectors(3000, 32, 37);
        let mut index = VectorIndex::new(graph_options(64));
        for (i, v) in rows.iter().enumerate() {
            index.upsert(i as i64 + 1, Some(("m", v)), meta(&["a"], &format!("k{i}"), i as f64, None));
        }
        index.maintain();
        assert!(index.worker.is_some(), "the first graph starts the worker");
        let shared = index.shared.clone();
        drop(index);
        assert_eq!(Arc::strong_count(&shared), 1, "the worker thread has ended and released the index");
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

    #[test]
    fn laying_rows_out_puts_each_namespace_together_and_changes_no_answer() {
        let options = VectorIndexOptions { ann_min_vectors: 1, exact_scope_max: 100, ..Default::default() };
        let mut index = VectorIndex::new(options);
        let rows = vectors(300, 8, 5);
        fill(&mut index, &rows, |i| vec!["users", ["a", "b", "c"][i % 3]]);
        let query = &rows[7];
        let scopes = [
            Scope::Prefix(NamespacePrefix::new(["users"]).expect("valid")),
            Scope::Namespace(Namespace::new(["users", "b"]).expect("valid")),
        ];
        let before: Vec<_> = scopes.iter().map(|scope| ids(&index.nearest("m", query, scope, 0.0, 20))).collect();
        let mut sets = index.sets_mut();
        let set = sets.get_mut(&SetKey { partition: String::new(), model: "m".to_owned(), dims: 8 }).expect("set");
        set.lay_out();
        for (name, rows) in &set.by_namespace {
            let mut sorted = rows.clone();
            sorted.sort_unstable();
            assert!(sorted.windows(2).all(|pair| pair[1] == pair[0] + 1), "{name}: {sorted:?}");
            for &row in rows {
                assert_eq!(&set.meta[row as usize].namespace, name);
                assert_eq!(set.position[&set.ids[row as usize]], row as usize);
                assert_eq!(set.row_of_seq[&set.seqs[row as usize]], row as usize);
                assert_eq!(rows[set.namespace_slot[row as usize] as usize], row);
            }
        }
        drop(sets);
        let after: Vec<_> = scopes.iter().map(|scope| ids(&index.nearest("m", query, scope, 0.0, 20))).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn scope_row_lists_follow_rows_as_removals_move_them() {
        // Rows move when others are removed (the last one fills the gap); each namespace's
        // list of rows must follow, or a small scope would scan another namespace's rows.
        let mut index = VectorIndex::new(VectorIndexOptions::exact());
        let names = ["a", "b", "c"];
        let mut held: Vec<(i64, usize)> = Vec::new();
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for step in 0..2000i64 {
            if held.len() > 5 && next() % 3 == 0 {
                let (id, _) = held.swap_remove(next() % held.len());
                index.remove(id);
            } else {
                let namespace = next() % names.len();
                let angle = step as f32;
                index.upsert(step, Some(("m", &[angle.cos(), angle.sin()])), meta(&[names[namespace]], "k", 1.0, None));
                held.push((step, namespace));
            }
        }
        for (number, name) in names.iter().enumerate() {
            let scope = Scope::Namespace(Namespace::new([*name]).expect("valid"));
            let (found, _) = index.nearest("m", &[1.0, 0.0], &scope, 0.0, usize::MAX);
            let mut found: Vec<i64> = found.iter().map(|c| c.id).collect();
            found.sort_unstable();
            let mut expected: Vec<i64> = held.iter().filter(|(_, n)| *n == number).map(|(id, _)| *id).collect();
            expected.sort_unstable();
            assert_eq!(found, expected, "namespace {name}");
        }
    }
}
