//! An in-process inverted index for keyword search that the memory and SQLite backends keep
//! beside their storage, as they keep the [`super::vector_index`].
//!
//! Per term, a posting list of `(document, term frequency)` in insertion order; per
//! document, its token count and the metadata that scoping, expiry and ordering need (the
//! vector index's [`RowMeta`]); the number of documents and of tokens over all of them.
//! Scores are exactly those [`super::keyword`] defines (FTS5's `bm25()`): `N` counts every
//! document held, expired or not, and each term's score is [`keyword::term_score`], summed
//! in query-term order, so every backend built on this index reports the same numbers.
//!
//! # Top-k
//!
//! A search whose query terms' posting lists are short (up to [`EXHAUSTIVE_MAX_POSTINGS`]
//! entries and a few hundred per wanted result) scores every match, one term's list at a
//! time into a per-thread accumulator, and selects the page; it looks at a document only when
//! its score can make the page.
//! Longer lists are walked document by document (MaxScore): each term has an upper
//! bound on its score (its idf at the longest term frequency and the shortest document in
//! its list), and once `want` results are held, the terms whose bounds together cannot reach
//! the weakest of them stop producing candidates; they are only looked up (binary search)
//! for documents the other terms bring. A frequent word next to a rare one therefore costs
//! about as much as the rare word's list. A scope with few documents next to the query
//! terms' lists (one user's conversations in a store of everyone's) is scored from the
//! stretches of the lists that fall in its slots: documents are laid out in namespace
//! order, so a prefix's documents are one run of slots plus those appended since, and a
//! binary search per run and term finds them. A scope scattered over many runs is scored
//! document by document instead, each from its own term list (the namespaces are kept in
//! order, so a prefix's namespaces are one range, and each lists its documents). Ties are broken in the
//! store's recency order (`updated_at` descending, namespace, key), so results equal a full
//! sort of every match, whichever way they were found.
//!
//! # Updates
//!
//! Document slots are never reused in place: a removed document leaves dead entries in its
//! terms' lists, which a list drops once they are half of it, and the whole index is
//! renumbered once dead slots outnumber live documents. Lists therefore stay sorted by slot,
//! which the binary-search lookups rely on. Value filters are the owner's job (it checks the
//! hits in order and asks again with a larger `want`, as for vectors).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::{Hash, Hasher};
use std::ops::Bound;

use rustc_hash::FxHashMap;

use super::backend::Scope;
use super::keyword;
use super::layout::Layout;
use super::vector_index::RowMeta;

/// Relative slack on score bounds: the bounds are summed in another order than scores, so
/// they may round differently.
const BOUND_SLACK: f64 = 1e-9;
/// Entries per block of a posting list; each block keeps bounds of its own (block-max).
#[cfg(not(test))]
const BLOCK: usize = 64;
/// Tiny blocks in tests, so that small lists have many.
#[cfg(test)]
const BLOCK: usize = 4;
/// Posting entries (over the query's terms, plus [`EXHAUSTIVE_POSTINGS_PER_RESULT`] per
/// wanted result) up to which a search scores every match instead of walking with MaxScore:
/// scoring an entry term at a time costs a few nanoseconds, a MaxScore step several times
/// more, so skipping pays only on long lists. Measured with `bench/store` (`fusion-depth`)
/// on `bench/load/gen.py` data: scoring everything was faster at 10k and 100k items for
/// pages of 10 and of 100 (hybrid search at 100k: 0.66 against 1.17 ms).
const EXHAUSTIVE_MAX_POSTINGS: usize = 65_536;
/// See [`EXHAUSTIVE_MAX_POSTINGS`].
const EXHAUSTIVE_POSTINGS_PER_RESULT: usize = 256;
/// A scope whose documents, times the query's terms, times this are fewer than the query
/// terms' posting entries is searched document by document ([`TopK::ScopeScan`]): looking a
/// term up in a document's term list (a binary search) costs several merge steps.
const SCOPE_SCAN_COST: usize = 8;
/// A scope is scored from its stretches of the posting lists ([`TopK::ScopeRuns`]) when its
/// documents lie in at most one run of consecutive slots per this many documents: each run
/// costs a binary search per query term, each entry outside the runs a step that this skips.
const SCOPE_DOCS_PER_RUN: usize = 16;
/// Namespaces added out of name order since the last renumbering up to which a prefix's
/// namespaces are found by binary search over the ordered ones plus a test of each of these;
/// beyond, by walking the name map's range (a pointer chase per namespace).
const APPENDED_NAMESPACES_TESTED_MAX: usize = 256;
/// Dead slots tolerated beyond the live documents before the index is renumbered.
const MIN_DEAD_SLOTS: usize = 4096;

/// One search result: a document's row id and its keyword score ([`keyword::normalize`] of
/// its BM25 sum).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct KeywordHit {
    pub(super) id: i64,
    pub(super) score: f64,
}

/// The index. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct KeywordIndex {
    /// Term → its slot in `postings`.
    terms: FxHashMap<Box<str>, u32>,
    postings: Vec<Postings>,
    /// Slots of `postings` whose term is gone.
    free_terms: Vec<u32>,
    /// Documents by slot; `None` once removed (until the index is renumbered). In namespace
    /// order (each namespace's documents next to each other, the namespaces in order) but for
    /// those appended since the last renumbering (`layout`), so that a scoped search reads one
    /// stretch of memory.
    docs: Vec<Option<Doc>>,
    /// When the appended documents call for renumbering ([`KeywordIndex::renumber`]).
    layout: Layout,
    /// Every document's distinct terms (their slots in `postings`, ascending) with their
    /// frequencies, one stretch per document (`Doc::terms`), in slot order like `docs`;
    /// removed documents leave their stretch behind until the index is renumbered.
    doc_terms: Vec<(u32, u32)>,
    /// Row id → slot in `docs`.
    slots: FxHashMap<i64, u32>,
    /// Encoded namespace → its number (`Doc::namespace`), in order, so that a prefix's
    /// namespaces are one range.
    namespace_ids: BTreeMap<Box<str>, u32>,
    namespaces: Vec<Box<str>>,
    /// How many of the first `namespaces` (by number) are in name order: all of them after a
    /// renumbering, and those added since in order (a load sorted by namespace). A prefix's
    /// namespaces among them are one range of numbers, found by binary search.
    ordered_namespaces: usize,
    /// The document slots of each namespace (by number), ascending; may hold removed
    /// documents' slots until the index is renumbered.
    namespace_docs: Vec<Vec<u32>>,
    /// Documents held (`N` of BM25).
    live: u64,
    /// Tokens over all documents held.
    total_tokens: u64,
    /// `None` entries in `docs`.
    dead: usize,
}

#[derive(Debug)]
struct Doc {
    id: i64,
    namespace: u32,
    key: Box<str>,
    updated_at: f64,
    expires_at: Option<f64>,
    length: u32,
    text_hash: u64,
    /// Where this document's terms lie in `KeywordIndex::doc_terms`: start and count.
    terms: (usize, u32),
}

impl Doc {
    /// This document's stretch of a term arena (`KeywordIndex::doc_terms`).
    fn terms_in<'a>(&self, arena: &'a [(u32, u32)]) -> &'a [(u32, u32)] {
        &arena[self.terms.0..self.terms.0 + self.terms.1 as usize]
    }
}

#[derive(Debug, Default)]
struct Postings {
    term: Box<str>,
    /// Sorted by document slot; may hold removed documents.
    entries: Vec<Posting>,
    /// Documents held that contain the term (`n` of BM25).
    live: u32,
    /// At least every held document's term frequency (may be stale after removals).
    max_tf: u32,
    /// At most every held document's length (may be stale after removals).
    min_length: u32,
    /// The same two bounds per [`BLOCK`] entries of `entries`.
    blocks: Vec<BlockBounds>,
}

/// Bounds of one block of a posting list: a term score computed from them is at least any
/// of the block's entries' scores.
#[derive(Debug, Clone, Copy)]
struct BlockBounds {
    max_tf: u32,
    min_length: u32,
}

/// One document's entry in a term's list. The document's length is repeated here so that
/// scoring reads the lists sequentially and touches a document only when it may make the page.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    tf: u32,
    length: u32,
    /// The document's namespace number, so that a scoped search tests its scope while it
    /// merges the lists, without reading the document.
    namespace: u32,
}

/// The hash [`KeywordIndex::holds`] compares texts by.
pub(super) fn text_hash(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

impl KeywordIndex {
    /// An empty index.
    pub(super) fn new() -> KeywordIndex {
        KeywordIndex::default()
    }

    /// Documents held.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Indexes row `id` with `text` and `meta`, replacing what it held for `id`.
    pub(super) fn upsert(&mut self, id: i64, text: &str, meta: RowMeta) {
        let mut counts: FxHashMap<String, u32> = FxHashMap::default();
        let mut length = 0u32;
        for token in keyword::tokenize(text) {
            *counts.entry(token).or_insert(0) += 1;
            length = length.saturating_add(1);
        }
        self.upsert_counted(id, counts, length, text_hash(text), meta);
    }

    /// [`KeywordIndex::upsert`] for a row already tokenized: its distinct tokens with their
    /// counts, and its token count (for a store that keeps postings rather than texts, such
    /// as PostgreSQL's). `text_hash` is what [`KeywordIndex::holds`] later compares.
    pub(super) fn upsert_counted(
        &mut self,
        id: i64,
        counts: impl IntoIterator<Item = (String, u32)>,
        length: u32,
        text_hash: u64,
        meta: RowMeta,
    ) {
        self.remove(id);
        let counts = counts.into_iter();
        let slot = u32::try_from(self.docs.len()).expect("fewer than 2^32 document slots (renumbered when half dead)");
        let namespace = self.namespace_id(meta.namespace);
        let terms_start = self.doc_terms.len();
        for (term, tf) in counts {
            let term_slot = self.term_slot(term);
            let postings = &mut self.postings[term_slot as usize];
            if postings.live == 0 {
                postings.max_tf = tf;
                postings.min_length = length;
            } else {
                postings.max_tf = postings.max_tf.max(tf);
                postings.min_length = postings.min_length.min(length);
            }
            if postings.entries.len().is_multiple_of(BLOCK) {
                postings.blocks.push(BlockBounds { max_tf: tf, min_length: length });
            } else if let Some(block) = postings.blocks.last_mut() {
                block.max_tf = block.max_tf.max(tf);
                block.min_length = block.min_length.min(length);
            }
            postings.entries.push(Posting { doc: slot, tf, length, namespace });
            postings.live += 1;
            self.doc_terms.push((term_slot, tf));
        }
        self.doc_terms[terms_start..].sort_unstable();
        let terms = (terms_start, u32::try_from(self.doc_terms.len() - terms_start).unwrap_or(u32::MAX));
        self.namespace_docs[namespace as usize].push(slot);
        self.docs.push(Some(Doc {
            id,
            namespace,
            key: meta.key.into_boxed_str(),
            updated_at: meta.updated_at,
            expires_at: meta.expires_at,
            length,
            text_hash,
            terms,
        }));
        self.slots.insert(id, slot);
        self.live += 1;
        self.total_tokens += u64::from(length);
        if self.layout.appended(&self.namespaces[namespace as usize], self.docs.len()) {
            self.renumber();
        }
    }

    /// A document's distinct terms (slots in `postings`, ascending) with their frequencies.
    fn terms_of(&self, doc: &Doc) -> &[(u32, u32)] {
        doc.terms_in(&self.doc_terms)
    }

    /// Row `id`'s distinct terms with their frequencies (in no particular order), if held.
    pub(super) fn doc_terms(&self, id: i64) -> Option<impl Iterator<Item = (&str, u32)> + '_> {
        let doc = self.docs.get(*self.slots.get(&id)? as usize)?.as_ref()?;
        Some(self.terms_of(doc).iter().map(|&(slot, tf)| (&*self.postings[slot as usize].term, tf)))
    }

    fn term_slot(&mut self, term: String) -> u32 {
        if let Some(&slot) = self.terms.get(term.as_str()) {
            return slot;
        }
        let term: Box<str> = term.into_boxed_str();
        let slot = match self.free_terms.pop() {
            Some(slot) => {
                self.postings[slot as usize].term = term.clone();
                slot
            }
            None => {
                self.postings.push(Postings { term: term.clone(), ..Postings::default() });
                u32::try_from(self.postings.len() - 1).expect("fewer than 2^32 distinct terms")
            }
        };
        self.terms.insert(term, slot);
        slot
    }

    fn namespace_id(&mut self, namespace: String) -> u32 {
        if let Some(&id) = self.namespace_ids.get(namespace.as_str()) {
            return id;
        }
        let id = u32::try_from(self.namespaces.len()).expect("fewer than 2^32 namespaces");
        let namespace = namespace.into_boxed_str();
        if self.ordered_namespaces == self.namespaces.len()
            && self.namespaces.last().is_none_or(|last| *last < namespace)
        {
            self.ordered_namespaces += 1;
        }
        self.namespaces.push(namespace.clone());
        self.namespace_docs.push(Vec::new());
        self.namespace_ids.insert(namespace, id);
        id
    }

    /// The numbers of the namespaces in `[low, high)`, in no particular order. The ordered
    /// ones are a range found by binary search; the few added out of order since are tested
    /// one by one, and when there are many, the name map's range is walked instead.
    fn namespaces_in(&self, low: &str, high: &str) -> Vec<u32> {
        let (ordered, appended) = self.namespaces.split_at(self.ordered_namespaces);
        if appended.len() > APPENDED_NAMESPACES_TESTED_MAX {
            return self
                .namespace_ids
                .range::<str, _>((Bound::Included(low), Bound::Excluded(high)))
                .map(|(_, &id)| id)
                .collect();
        }
        let first = ordered.partition_point(|name| &**name < low);
        let end = ordered.partition_point(|name| &**name < high);
        let appended_in_range = appended
            .iter()
            .enumerate()
            .filter(|(_, name)| low <= &***name && &***name < high)
            .map(|(at, _)| ordered.len() + at);
        (first..end).chain(appended_in_range).map(|id| id as u32).collect()
    }

    /// Row `id`'s place in the recency order that breaks ties between equal scores:
    /// `updated_at` (later first), then namespace and key; `None` when it is not held.
    pub(super) fn recency_key(&self, id: i64) -> Option<(f64, &str, &str)> {
        let doc = self.docs.get(*self.slots.get(&id)? as usize)?.as_ref()?;
        Some((doc.updated_at, &self.namespaces[doc.namespace as usize], &doc.key))
    }

    /// Forgets row `id` (nothing when it is not held).
    pub(super) fn remove(&mut self, id: i64) {
        let Some(slot) = self.slots.remove(&id) else { return };
        let Some(doc) = self.docs[slot as usize].take() else { return };
        self.dead += 1;
        self.live -= 1;
        self.total_tokens -= u64::from(doc.length);
        for &(term_slot, _) in doc.terms_in(&self.doc_terms) {
            let postings = &mut self.postings[term_slot as usize];
            postings.live -= 1;
            if postings.live == 0 {
                self.terms.remove(&postings.term);
                *postings = Postings::default();
                self.free_terms.push(term_slot);
            } else if postings.entries.len() > 2 * postings.live as usize + 16 {
                compact_postings(postings, &self.docs);
            }
        }
        if self.dead > self.slots.len().max(MIN_DEAD_SLOTS) {
            self.renumber();
        }
    }

    /// Changes row `id`'s expiry (nothing when it is not held).
    pub(super) fn set_expiry(&mut self, id: i64, expires_at: Option<f64>) {
        if let Some(&slot) = self.slots.get(&id)
            && let Some(doc) = &mut self.docs[slot as usize]
        {
            doc.expires_at = expires_at;
        }
    }

    /// Whether row `id` is held with exactly this metadata and a text of hash `text_hash`.
    pub(super) fn holds(&self, id: i64, meta: &RowMeta, text_hash: u64) -> bool {
        let Some(doc) = self.slots.get(&id).and_then(|&slot| self.docs[slot as usize].as_ref()) else {
            return false;
        };
        doc.text_hash == text_hash
            && doc.updated_at.to_bits() == meta.updated_at.to_bits()
            && doc.expires_at.map(f64::to_bits) == meta.expires_at.map(f64::to_bits)
            && *doc.key == *meta.key
            && *self.namespaces[doc.namespace as usize] == *meta.namespace
    }

    /// Forgets every row whose id `keep` rejects.
    pub(super) fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        let gone: Vec<i64> = self.slots.keys().copied().filter(|&id| !keep(id)).collect();
        for id in gone {
            self.remove(id);
        }
    }

    /// Drops every removed document (slots, posting entries, term stretches and unused
    /// namespaces) and lays the rest out in namespace order: namespaces numbered in order,
    /// each one's documents on consecutive slots with their terms next to each other, and the
    /// posting lists rebuilt in that slot order. Runs when dead slots outnumber live documents
    /// and when the documents appended since the last time outnumber a quarter of those it laid
    /// out, so a store that grows in many users' namespaces at once keeps most of each user's
    /// documents together (a scoped search reads them as one stretch) at an amortized cost of a
    /// few moves per document.
    fn renumber(&mut self) {
        let started = std::time::Instant::now();
        let mut old_docs = std::mem::take(&mut self.docs);
        let old_terms = std::mem::take(&mut self.doc_terms);
        let mut old_names = std::mem::take(&mut self.namespaces);
        let old_namespace_docs = std::mem::take(&mut self.namespace_docs);
        let old_ids = std::mem::take(&mut self.namespace_ids);
        for postings in &mut self.postings {
            postings.entries.clear();
        }
        let mut docs = Vec::with_capacity(self.slots.len());
        let live_terms = old_docs.iter().flatten().map(|doc| doc.terms.1 as usize).sum();
        let mut doc_terms = Vec::with_capacity(live_terms);
        for (_, old_namespace) in old_ids {
            let namespace = self.namespaces.len() as u32;
            let mut slots = Vec::new();
            for &old_slot in &old_namespace_docs[old_namespace as usize] {
                let Some(mut doc) = old_docs[old_slot as usize].take() else { continue };
                let slot = docs.len() as u32;
                let terms = doc.terms_in(&old_terms);
                for &(term, tf) in terms {
                    self.postings[term as usize].entries.push(Posting { doc: slot, tf, length: doc.length, namespace });
                }
                doc.terms = (doc_terms.len(), doc.terms.1);
                doc_terms.extend_from_slice(terms);
                doc.namespace = namespace;
                slots.push(slot);
                docs.push(Some(doc));
            }
            if slots.is_empty() {
                continue;
            }
            let name = std::mem::take(&mut old_names[old_namespace as usize]);
            self.namespace_ids.insert(name.clone(), namespace);
            self.namespaces.push(name);
            self.namespace_docs.push(slots);
        }
        for postings in &mut self.postings {
            if postings.live > 0 {
                postings.entries.shrink_to(2 * postings.entries.len());
                recompute_bounds(postings);
            }
        }
        self.slots = docs.iter().enumerate().filter_map(|(slot, doc)| Some((doc.as_ref()?.id, slot as u32))).collect();
        self.ordered_namespaces = self.namespaces.len();
        self.layout.laid_out();
        self.docs = docs;
        self.doc_terms = doc_terms;
        self.dead = 0;
        tracing::debug!(
            documents = self.docs.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "keyword index: laid out in namespace order"
        );
    }

    /// The best `want` live documents in `scope` that contain at least one of `terms`, best
    /// first (score descending, ties in recency order), and whether there may be more.
    pub(super) fn search(&self, terms: &[String], scope: &Scope, now: f64, want: usize) -> (Vec<KeywordHit>, bool) {
        self.search_with(terms, scope, now, want, None)
    }

    /// [`KeywordIndex::search`] with the top-k method chosen by the posting lists' total
    /// length next to `want`, or `forced`.
    fn search_with(
        &self,
        terms: &[String],
        scope: &Scope,
        now: f64,
        want: usize,
        forced: Option<TopK>,
    ) -> (Vec<KeywordHit>, bool) {
        if want == 0 || self.live == 0 {
            return (Vec::new(), false);
        }
        let Some(in_scope) = ScopeCheck::new(self, scope) else { return (Vec::new(), false) };
        let in_scope_docs: Option<usize> = in_scope
            .namespaces()
            .map(|namespaces| namespaces.iter().map(|&namespace| self.namespace_docs[namespace as usize].len()).sum());
        let average_length = self.total_tokens as f64 / self.live as f64;
        // Per query term (in query order): its idf, when some document holds it.
        let idfs: Vec<Option<f64>> = terms
            .iter()
            .map(|term| {
                let postings = &self.postings[*self.terms.get(term.as_str())? as usize];
                Some(keyword::idf(self.live, u64::from(postings.live)))
            })
            .collect();
        let mut cursors: Vec<Cursor<'_>> = terms
            .iter()
            .zip(&idfs)
            .enumerate()
            .filter_map(|(order, (term, idf))| {
                let idf = (*idf)?;
                let slot = self.terms[term.as_str()];
                let postings = &self.postings[slot as usize];
                let bound = keyword::term_score(idf, postings.max_tf, postings.min_length, average_length);
                Some(Cursor {
                    term: slot,
                    entries: &postings.entries,
                    blocks: &postings.blocks,
                    position: 0,
                    idf,
                    bound,
                    order,
                    block_end: 0,
                    block_bound: 0.0,
                })
            })
            .collect();
        if cursors.is_empty() {
            return (Vec::new(), false);
        }
        let postings: usize = cursors.iter().map(|cursor| cursor.entries.len()).sum();
        let exhaustive_max =
            EXHAUSTIVE_MAX_POSTINGS.saturating_add(want.saturating_mul(EXHAUSTIVE_POSTINGS_PER_RESULT));
        let scope_is_small = in_scope_docs
            .is_some_and(|docs| docs.saturating_mul(cursors.len()).saturating_mul(SCOPE_SCAN_COST) < postings);
        let chosen = if scope_is_small {
            TopK::ScopeScan
        } else if postings <= exhaustive_max {
            if self.docs.len() <= DENSE_ACCUMULATOR_MAX_SLOTS { TopK::Exhaustive } else { TopK::ExhaustiveSparse }
        } else {
            TopK::MaxScore
        };
        // A scope whose documents lie in a few stretches of slots (its namespaces laid out
        // together, see `renumber`) is scored from just those stretches of each list, unless
        // the lists are long enough for MaxScore to skip most of them.
        let mut runs = None;
        let method = match forced {
            Some(method) => method,
            None if chosen == TopK::MaxScore => chosen,
            None => {
                runs = in_scope
                    .namespaces()
                    .zip(in_scope_docs)
                    .and_then(|(namespaces, docs)| self.scope_runs(namespaces, docs / SCOPE_DOCS_PER_RUN));
                if runs.is_some() { TopK::ScopeRuns } else { chosen }
            }
        };
        if method == TopK::ScopeRuns
            && let Some(runs) =
                runs.or_else(|| in_scope.namespaces().and_then(|namespaces| self.scope_runs(namespaces, usize::MAX)))
        {
            return self.search_runs(&cursors, &runs, now, want, average_length);
        }
        match method {
            TopK::Exhaustive => return self.search_exhaustive(&cursors, &in_scope, now, want, average_length),
            TopK::ExhaustiveSparse => {
                return self.search_exhaustive_sparse(&cursors, &in_scope, now, want, average_length);
            }
            TopK::ScopeScan if in_scope.namespaces().is_some() => {
                return self.search_scope(&cursors, &in_scope, now, want, average_length);
            }
            TopK::ScopeScan | TopK::ScopeRuns | TopK::MaxScore => {}
        }
        // Cheapest bound first: terms leave the essential set from the front.
        cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
        let reach: Vec<f64> = cursors
            .iter()
            .scan(0.0, |sum, cursor| {
                *sum += cursor.bound;
                Some(*sum * (1.0 + BOUND_SLACK))
            })
            .collect();
        let mut heap: BinaryHeap<Ranked<'_>> = BinaryHeap::with_capacity(want.min(1024) + 1);
        let mut tfs = vec![0u32; terms.len()];
        // Cursors before `essential` only score documents the others bring.
        let mut essential = 0;
        let mut threshold = f64::NEG_INFINITY;
        loop {
            if heap.len() == want {
                // Block-max: when the blocks the essential cursors are in cannot reach the
                // page together, skip to the end of the first of those blocks to end.
                let mut bound = if essential > 0 { reach[essential - 1] } else { 0.0 };
                let mut last = u32::MAX;
                for cursor in &mut cursors[essential..] {
                    if cursor.position < cursor.entries.len() {
                        cursor.enter_block(average_length);
                        bound += cursor.block_bound;
                        last = last.min(cursor.entries[cursor.block_end - 1].doc);
                    }
                }
                if last != u32::MAX && bound * (1.0 + BOUND_SLACK) < threshold {
                    for cursor in &mut cursors[essential..] {
                        cursor.seek(last.saturating_add(1));
                    }
                    continue;
                }
            }
            let Some(slot) = cursors[essential..].iter().filter_map(Cursor::current).min() else { break };
            tfs.fill(0);
            let mut length = 0;
            for cursor in &mut cursors[essential..] {
                if let Some(posting) = cursor.entries.get(cursor.position)
                    && posting.doc == slot
                {
                    tfs[cursor.order] = posting.tf;
                    length = posting.length;
                    cursor.position += 1;
                }
            }
            let full = heap.len() == want;
            if full && essential > 0 {
                let partial: f64 = cursors[essential..]
                    .iter()
                    .filter(|c| tfs[c.order] > 0)
                    .map(|c| keyword::term_score(c.idf, tfs[c.order], length, average_length))
                    .sum();
                if partial * (1.0 + BOUND_SLACK) + reach[essential - 1] < threshold {
                    continue;
                }
            }
            for cursor in cursors[..essential].iter_mut().rev() {
                cursor.seek(slot);
                if let Some(posting) = cursor.entries.get(cursor.position)
                    && posting.doc == slot
                {
                    tfs[cursor.order] = posting.tf;
                }
            }
            let score: f64 = idfs
                .iter()
                .zip(&tfs)
                .filter(|(_, tf)| **tf > 0)
                .filter_map(|(idf, &tf)| Some(keyword::term_score((*idf)?, tf, length, average_length)))
                .sum();
            // Compared as reported: a sum a rounding below the page's worst may report the
            // same score and be more recent.
            if full && keyword::normalize(score) < keyword::normalize(threshold) {
                continue;
            }
            // Only now the document itself: removed, expired, out of scope.
            let Some(doc) = &self.docs[slot as usize] else { continue };
            if doc.expires_at.is_some_and(|at| now >= at) || !in_scope.contains(doc.namespace) {
                continue;
            }
            let ranked = Ranked {
                score,
                updated_at: doc.updated_at,
                namespace: &self.namespaces[doc.namespace as usize],
                key: &doc.key,
                id: doc.id,
            };
            if !full {
                heap.push(ranked);
            } else if heap.peek().is_some_and(|worst| ranked < *worst) {
                heap.pop();
                heap.push(ranked);
            } else {
                continue;
            }
            if heap.len() == want
                && let Some(worst) = heap.peek()
            {
                threshold = worst.score;
                while essential < cursors.len() && reach[essential] < threshold {
                    essential += 1;
                }
                if essential == cursors.len() {
                    break;
                }
            }
        }
        reported(heap.into_vec(), want)
    }

    /// Top-k by scoring every match, term at a time: each query term's postings (`cursors`,
    /// in query order) add their term scores into a per-thread accumulator indexed by
    /// document slot, then the page is picked by selection on the sums that reach a floor
    /// ([`KeywordIndex::page_floor`]: most matches fall below it and are never selected
    /// among), so only the documents that can make the page are looked at. Each document's sum is built in query
    /// order, as the MaxScore walk builds it, so the scores are the same bit for bit. Cheaper
    /// than MaxScore when the lists are short next to the page (hybrid search asks for 100
    /// candidates, and a low 100th score prunes little), and cheaper than merging the lists
    /// document by document, which compares every list's head at every step.
    fn search_exhaustive(
        &self,
        cursors: &[Cursor<'_>],
        in_scope: &ScopeCheck,
        now: f64,
        want: usize,
        average_length: f64,
    ) -> (Vec<KeywordHit>, bool) {
        let scored = ACCUMULATOR.with_borrow_mut(|accumulator| {
            accumulator.prepare(self.docs.len());
            for cursor in cursors {
                for posting in cursor.entries {
                    let score = keyword::term_score(cursor.idf, posting.tf, posting.length, average_length);
                    accumulator.add(posting, score, || in_scope.contains(posting.namespace));
                }
            }
            let floor = self.page_floor(&accumulator.sums, cursors, in_scope, now, want);
            accumulator.drain_in_scope(floor.unwrap_or(f64::NEG_INFINITY))
        });
        self.select_page(scored, now, want)
    }

    /// A sum below which no document can make the page of `want` (nor tie with its last):
    /// the `want`-th best sum of a sample of the live documents in scope, less a rounding,
    /// since the page's last sum is at least that. The sample comes from the shortest lists
    /// first: their documents hold the query's rarest terms, so they score high and the
    /// floor comes close to the page's. `None` when the sample holds fewer than `want`.
    fn page_floor(
        &self,
        sums: &[f64],
        cursors: &[Cursor<'_>],
        in_scope: &ScopeCheck,
        now: f64,
        want: usize,
    ) -> Option<f64> {
        let target = want.saturating_mul(2);
        if target >= cursors.iter().map(|cursor| cursor.entries.len()).sum::<usize>() {
            // The sample would be every match: nothing to save.
            return None;
        }
        let mut by_length: Vec<&Cursor<'_>> = cursors.iter().collect();
        by_length.sort_unstable_by_key(|cursor| cursor.entries.len());
        let mut slots: Vec<u32> = Vec::with_capacity(target);
        for cursor in by_length {
            let room = target - slots.len();
            let in_scope = cursor.entries.iter().filter(|posting| in_scope.contains(posting.namespace));
            slots.extend(in_scope.take(room).map(|posting| posting.doc));
            if slots.len() >= target {
                break;
            }
        }
        slots.sort_unstable();
        slots.dedup();
        let live =
            |slot: &u32| self.docs[*slot as usize].as_ref().is_some_and(|doc| doc.expires_at.is_none_or(|at| now < at));
        let mut sample: Vec<f64> = slots.iter().filter(|slot| live(slot)).map(|&slot| sums[slot as usize]).collect();
        if sample.len() < want {
            return None;
        }
        let (_, &mut floor, _) = sample.select_nth_unstable_by(want - 1, |a, b| b.total_cmp(a));
        Some(floor - floor.abs() * 1e-6)
    }

    /// [`KeywordIndex::search_exhaustive`] with the sums in a map of the documents touched,
    /// for an index too large for a per-thread array of every slot
    /// ([`DENSE_ACCUMULATOR_MAX_SLOTS`]): the same sums, in the same order, slower per entry.
    fn search_exhaustive_sparse(
        &self,
        cursors: &[Cursor<'_>],
        in_scope: &ScopeCheck,
        now: f64,
        want: usize,
        average_length: f64,
    ) -> (Vec<KeywordHit>, bool) {
        let postings = cursors.iter().map(|cursor| cursor.entries.len()).sum();
        let mut sums: FxHashMap<u32, (f64, bool)> = FxHashMap::with_capacity_and_hasher(postings, Default::default());
        for cursor in cursors {
            for posting in cursor.entries {
                let score = keyword::term_score(cursor.idf, posting.tf, posting.length, average_length);
                sums.entry(posting.doc)
                    .and_modify(|(sum, _)| *sum += score)
                    .or_insert_with(|| (0.0 + score, in_scope.contains(posting.namespace)));
            }
        }
        let scored =
            sums.into_iter().filter(|(_, (_, in_scope))| *in_scope).map(|(slot, (sum, _))| (sum, slot)).collect();
        self.select_page(scored, now, want)
    }

    /// The slots of the documents of `namespaces` (ascending numbers) as runs of
    /// consecutive slots, `(first, end)`, ascending; `None` when they make more than
    /// `max_runs` runs. Once the index is laid out in namespace order, a prefix's documents
    /// are one run, plus those appended since.
    fn scope_runs(&self, namespaces: &[u32], max_runs: usize) -> Option<Vec<(u32, u32)>> {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for &namespace in namespaces {
            for &slot in &self.namespace_docs[namespace as usize] {
                match runs.last_mut() {
                    Some((_, end)) if *end == slot => *end += 1,
                    _ => {
                        if runs.len() == max_runs {
                            return None;
                        }
                        runs.push((slot, slot + 1));
                    }
                }
            }
        }
        // A namespace's documents appended after the layout follow other namespaces' runs.
        runs.sort_unstable();
        runs.dedup_by(|next, run| {
            let adjacent = run.1 == next.0;
            if adjacent {
                run.1 = next.1;
            }
            adjacent
        });
        Some(runs)
    }

    /// Top-k by scoring, term at a time like [`KeywordIndex::search_exhaustive`], only the
    /// entries of each query term's list that fall in the scope's `runs` of slots (found by
    /// binary search): the same sums in the same order, without reading the other
    /// namespaces' entries (one user's conversations in a store of everyone's) or every term
    /// of the scope's documents.
    fn search_runs(
        &self,
        cursors: &[Cursor<'_>],
        runs: &[(u32, u32)],
        now: f64,
        want: usize,
        average_length: f64,
    ) -> (Vec<KeywordHit>, bool) {
        let scored = ACCUMULATOR.with_borrow_mut(|accumulator| {
            accumulator.prepare(self.docs.len());
            for cursor in cursors {
                let mut entries = cursor.entries;
                for &(first, end) in runs {
                    entries = &entries[entries.partition_point(|posting| posting.doc < first)..];
                    let inside = entries.partition_point(|posting| posting.doc < end);
                    for posting in &entries[..inside] {
                        let score = keyword::term_score(cursor.idf, posting.tf, posting.length, average_length);
                        accumulator.add(posting, score, || true);
                    }
                    entries = &entries[inside..];
                    if entries.is_empty() {
                        break;
                    }
                }
            }
            accumulator.drain_in_scope(f64::NEG_INFINITY)
        });
        self.select_page(scored, now, want)
    }

    /// Top-k by scoring each document of a small scope from its own term list, in query
    /// order like the merge, so the scores are the same; cheaper than walking posting lists
    /// that are mostly other namespaces' documents (one user's conversations next to
    /// everyone's). `in_scope` must list its namespaces.
    fn search_scope(
        &self,
        cursors: &[Cursor<'_>],
        in_scope: &ScopeCheck,
        now: f64,
        want: usize,
        average_length: f64,
    ) -> (Vec<KeywordHit>, bool) {
        let mut scored: Vec<(f64, u32)> = Vec::new();
        // The query's term slots as a bit set: a document's terms are tested against it in one
        // pass (the documents of a scope lie together, see `renumber`), and its matches summed
        // in query order like every other path. More than 64 query terms: a binary search per
        // term and document.
        let query_terms = (cursors.len() <= 64).then(|| {
            let mut bits = vec![0u64; self.postings.len().div_ceil(64)];
            for cursor in cursors {
                bits[cursor.term as usize / 64] |= 1 << (cursor.term % 64);
            }
            bits
        });
        let mut tfs = vec![0u32; cursors.len()];
        for &namespace in in_scope.namespaces().unwrap_or_default() {
            for &slot in &self.namespace_docs[namespace as usize] {
                let Some(doc) = &self.docs[slot as usize] else { continue };
                let terms = self.terms_of(doc);
                let score = match &query_terms {
                    Some(bits) => {
                        let mut matched = 0u64;
                        for &(term, tf) in terms {
                            if bits[term as usize / 64] & (1 << (term % 64)) != 0 {
                                for (at, cursor) in cursors.iter().enumerate() {
                                    if cursor.term == term {
                                        tfs[at] = tf;
                                        matched |= 1 << at;
                                    }
                                }
                            }
                        }
                        (matched != 0).then(|| {
                            cursors
                                .iter()
                                .enumerate()
                                .filter(|(at, _)| matched & (1 << at) != 0)
                                .map(|(at, cursor)| {
                                    keyword::term_score(cursor.idf, tfs[at], doc.length, average_length)
                                })
                                .fold(0.0, |sum, score| sum + score)
                        })
                    }
                    None => {
                        let (mut score, mut matched) = (0.0, false);
                        for cursor in cursors {
                            if let Ok(at) = terms.binary_search_by_key(&cursor.term, |&(term, _)| term) {
                                score += keyword::term_score(cursor.idf, terms[at].1, doc.length, average_length);
                                matched = true;
                            }
                        }
                        matched.then_some(score)
                    }
                };
                if let Some(score) = score {
                    scored.push((score, slot));
                }
            }
        }
        self.select_page(scored, now, want)
    }

    /// The best `want` of `scored` (BM25 sum, document slot; every one in scope), less the
    /// removed and expired documents, in the store's order.
    fn select_page(&self, mut scored: Vec<(f64, u32)>, now: f64, want: usize) -> (Vec<KeywordHit>, bool) {
        let by_score = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0);
        // The best `take` by score and every tie of the last: once `want` of them are live
        // and in scope, no document outside can outrank those.
        let mut take = want.saturating_mul(2).max(16);
        loop {
            let candidates: &[(f64, u32)] = if take < scored.len() {
                scored.select_nth_unstable_by(take - 1, by_score);
                // Every sum that reports the same score as the last one taken: it may be more
                // recent ([`Ranked`]'s order). Only sums within a rounding of it can (normalizing
                // divides; most sums are far below and skip it).
                let raw_floor = scored[take - 1].0;
                let near = raw_floor - raw_floor.abs() * 1e-6;
                let floor = keyword::normalize(raw_floor);
                let mut end = take;
                for at in take..scored.len() {
                    if scored[at].0 >= near && keyword::normalize(scored[at].0) == floor {
                        scored.swap(at, end);
                        end += 1;
                    }
                }
                &scored[..end]
            } else {
                &scored
            };
            let mut page: Vec<Ranked<'_>> = Vec::with_capacity(candidates.len());
            for &(score, slot) in candidates {
                // In scope already (tested in the merge); removed or expired, not.
                let Some(doc) = &self.docs[slot as usize] else { continue };
                if doc.expires_at.is_some_and(|at| now >= at) {
                    continue;
                }
                page.push(Ranked {
                    score,
                    updated_at: doc.updated_at,
                    namespace: &self.namespaces[doc.namespace as usize],
                    key: &doc.key,
                    id: doc.id,
                });
            }
            if page.len() >= want || candidates.len() == scored.len() {
                return reported(page, want);
            }
            take = take.saturating_mul(4);
        }
    }
}

/// Document slots up to which an exhaustive search sums in a per-thread array (9 bytes per
/// slot, kept by each thread that searched: 9 MB at this size); a larger index sums in a map
/// of the documents its query touches.
const DENSE_ACCUMULATOR_MAX_SLOTS: usize = 1 << 20;

thread_local! {
    /// Reused by every exhaustive search on this thread, so that a search neither allocates
    /// nor clears a buffer the size of the index.
    static ACCUMULATOR: std::cell::RefCell<Accumulator> = std::cell::RefCell::new(Accumulator::default());
}

/// Per-document BM25 sums of one exhaustive search, indexed by document slot. Between
/// searches every sum is 0 and `touched` is empty: a search resets exactly what it touched.
#[derive(Default)]
struct Accumulator {
    sums: Vec<f64>,
    /// Whether the slot's sum is in use (a sum of positive scores could also be tested for
    /// 0, but a bit per slot is what tells a first posting apart without assumptions).
    seen: Vec<bool>,
    /// The documents touched, in first-touch order, and whether each is in scope.
    touched: Vec<(u32, bool)>,
}

impl Accumulator {
    fn prepare(&mut self, slots: usize) {
        if self.sums.len() < slots {
            self.sums.resize(slots, 0.0);
            self.seen.resize(slots, false);
        }
    }

    /// Adds `score` to the posting's document; `in_scope` is asked once per document.
    fn add(&mut self, posting: &Posting, score: f64, in_scope: impl FnOnce() -> bool) {
        let slot = posting.doc as usize;
        if self.seen[slot] {
            self.sums[slot] += score;
        } else {
            self.seen[slot] = true;
            // `0.0 + score`, as a sum that starts at zero would be.
            self.sums[slot] = 0.0 + score;
            self.touched.push((posting.doc, in_scope()));
        }
    }

    /// The in-scope documents' sums of at least `floor`, as `(sum, slot)`; leaves every
    /// slot reset.
    fn drain_in_scope(&mut self, floor: f64) -> Vec<(f64, u32)> {
        let expected = if floor == f64::NEG_INFINITY { self.touched.len() } else { 0 };
        let mut scored = Vec::with_capacity(expected);
        for (slot, in_scope) in self.touched.drain(..) {
            let at = slot as usize;
            if in_scope && self.sums[at] >= floor {
                scored.push((self.sums[at], slot));
            }
            self.sums[at] = 0.0;
            self.seen[at] = false;
        }
        scored
    }
}

/// How a search picks its top `want`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopK {
    /// Document at a time with score bounds (see the module documentation).
    MaxScore,
    /// Every match scored, then selection ([`KeywordIndex::search_exhaustive`]).
    Exhaustive,
    /// The same with a map for the sums ([`KeywordIndex::search_exhaustive_sparse`]), for
    /// indexes of more than [`DENSE_ACCUMULATOR_MAX_SLOTS`] document slots.
    ExhaustiveSparse,
    /// Every document in scope scored from its own terms ([`KeywordIndex::search_scope`]);
    /// MaxScore when the scope has no namespace list (it spans every namespace).
    ScopeScan,
    /// Only the scope's stretches of each list scored ([`KeywordIndex::search_runs`]);
    /// MaxScore when the scope has no namespace list.
    ScopeRuns,
}

/// Drops `postings`' entries of removed documents and tightens its bounds.
fn compact_postings(postings: &mut Postings, docs: &[Option<Doc>]) {
    postings.entries.retain(|posting| docs[posting.doc as usize].is_some());
    recompute_bounds(postings);
}

/// Sets a posting list's bounds and block bounds from its entries.
fn recompute_bounds(postings: &mut Postings) {
    postings.max_tf = postings.entries.iter().map(|p| p.tf).max().unwrap_or(0);
    postings.min_length = postings.entries.iter().map(|p| p.length).min().unwrap_or(0);
    postings.blocks = postings
        .entries
        .chunks(BLOCK)
        .map(|block| BlockBounds {
            max_tf: block.iter().map(|p| p.tf).max().unwrap_or(0),
            min_length: block.iter().map(|p| p.length).min().unwrap_or(0),
        })
        .collect();
}

/// A query term's walk through its posting list.
struct Cursor<'a> {
    /// The term's slot in `postings`.
    term: u32,
    entries: &'a [Posting],
    blocks: &'a [BlockBounds],
    position: usize,
    idf: f64,
    /// No document scores more than this for the term.
    bound: f64,
    /// The term's position in the query.
    order: usize,
    /// The end of the block whose bound is `block_bound` (0: none yet).
    block_end: usize,
    /// No document of the block before `block_end` scores more than this for the term.
    block_bound: f64,
}

impl Cursor<'_> {
    fn current(&self) -> Option<u32> {
        self.entries.get(self.position).map(|p| p.doc)
    }

    /// Moves to the first entry at or after `slot`.
    fn seek(&mut self, slot: u32) {
        self.position += self.entries[self.position..].partition_point(|p| p.doc < slot);
    }

    /// Makes `block_end` and `block_bound` those of the block holding `position` (which must
    /// be an entry).
    fn enter_block(&mut self, average_length: f64) {
        if self.position < self.block_end {
            return;
        }
        let block = self.position / BLOCK;
        self.block_end = ((block + 1) * BLOCK).min(self.entries.len());
        let bounds = self.blocks[block];
        self.block_bound = keyword::term_score(self.idf, bounds.max_tf, bounds.min_length, average_length);
    }
}

/// Which namespaces (by number) a search covers.
enum ScopeCheck {
    All,
    One([u32; 1]),
    /// The namespaces of a prefix, ascending, and the same as a bit set.
    Namespaces {
        namespaces: Vec<u32>,
        bits: Vec<u64>,
    },
}

impl ScopeCheck {
    /// `None` when no namespace held can be in scope.
    fn new(index: &KeywordIndex, scope: &Scope) -> Option<ScopeCheck> {
        match scope {
            Scope::Namespace(namespace) => {
                index.namespace_ids.get(namespace.encoded().as_str()).map(|&id| ScopeCheck::One([id]))
            }
            Scope::Prefix(prefix) => {
                let Some((low, high)) = prefix.encoded_range() else { return Some(ScopeCheck::All) };
                let (low, high) = (low.into_boxed_str(), high.into_boxed_str());
                let first = index.namespace_ids.first_key_value().map(|(name, _)| name);
                let last = index.namespace_ids.last_key_value().map(|(name, _)| name);
                if first.is_some_and(|first| *first >= low) && last.is_some_and(|last| *last < high) {
                    return Some(ScopeCheck::All);
                }
                let mut namespaces = index.namespaces_in(&low, &high);
                if namespaces.is_empty() {
                    return None;
                }
                namespaces.sort_unstable();
                let mut bits = vec![0u64; index.namespaces.len().div_ceil(64)];
                for &id in &namespaces {
                    bits[id as usize / 64] |= 1 << (id % 64);
                }
                Some(ScopeCheck::Namespaces { namespaces, bits })
            }
        }
    }

    fn contains(&self, namespace: u32) -> bool {
        match self {
            ScopeCheck::All => true,
            ScopeCheck::One([id]) => *id == namespace,
            ScopeCheck::Namespaces { bits, .. } => bits[namespace as usize / 64] & (1 << (namespace % 64)) != 0,
        }
    }

    /// The namespaces in scope, unless it spans every one.
    fn namespaces(&self) -> Option<&[u32]> {
        match self {
            ScopeCheck::All => None,
            ScopeCheck::One(id) => Some(id),
            ScopeCheck::Namespaces { namespaces, .. } => Some(namespaces),
        }
    }
}

/// The best `want` of `page`, in [`Ranked`]'s order, with their reported scores; whether
/// the page is full.
fn reported(mut page: Vec<Ranked<'_>>, want: usize) -> (Vec<KeywordHit>, bool) {
    page.sort_unstable();
    page.truncate(want);
    let truncated = page.len() == want;
    (
        page.into_iter().map(|ranked| KeywordHit { id: ranked.id, score: keyword::normalize(ranked.score) }).collect(),
        truncated,
    )
}

/// A result being ranked: smaller is better, so a max-heap keeps the worst on top.
///
/// The order is the one every backend reports keyword hits in: by reported score (the
/// normalized sum, [`keyword::normalize`]), then recency (`updated_at` descending), then
/// address. Sums a rounding apart can report the same score; they are then in recency
/// order, as on every backend, so hybrid search fuses the same keyword ranking everywhere.
struct Ranked<'a> {
    /// The BM25 sum.
    score: f64,
    updated_at: f64,
    namespace: &'a str,
    key: &'a str,
    id: i64,
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        keyword::normalize(other.score)
            .total_cmp(&keyword::normalize(self.score))
            .then_with(|| other.updated_at.total_cmp(&self.updated_at))
            .then_with(|| self.namespace.cmp(other.namespace))
            .then_with(|| self.key.cmp(other.key))
    }
}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked<'_> {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::store::{Namespace, NamespacePrefix};

    fn meta(namespace: &str, key: &str, updated_at: f64, expires_at: Option<f64>) -> RowMeta {
        RowMeta { namespace: namespace.to_owned(), key: key.to_owned(), updated_at, expires_at }
    }

    /// Every match scored and sorted: what the index must equal.
    fn brute_force(
        docs: &[(i64, String, RowMeta)],
        terms: &[String],
        scope: &Scope,
        now: f64,
        want: usize,
    ) -> Vec<KeywordHit> {
        let total = docs.len() as u64;
        let lengths: Vec<u32> = docs.iter().map(|(_, text, _)| keyword::tokenize(text).count() as u32).collect();
        let average = lengths.iter().map(|&l| u64::from(l)).sum::<u64>() as f64 / total as f64;
        let idfs: Vec<Option<f64>> = terms
            .iter()
            .map(|term| {
                let n = docs.iter().filter(|(_, text, _)| keyword::tokenize(text).any(|t| t == *term)).count() as u64;
                (n > 0).then(|| keyword::idf(total, n))
            })
            .collect();
        let mut scored: Vec<(f64, &RowMeta, i64)> = Vec::new();
        for ((id, text, meta), &length) in docs.iter().zip(&lengths) {
            let namespace = Namespace::decode(&meta.namespace).unwrap();
            if meta.expires_at.is_some_and(|at| now >= at) || !scope.contains(&namespace) {
                continue;
            }
            let mut score = 0.0;
            let mut hit = false;
            for (term, idf) in terms.iter().zip(&idfs) {
                let tf = keyword::tokenize(text).filter(|t| t == term).count() as u32;
                if let (true, Some(idf)) = (tf > 0, idf) {
                    hit = true;
                    score += keyword::term_score(*idf, tf, length, average);
                }
            }
            if hit {
                scored.push((score, meta, *id));
            }
        }
        scored.sort_by(|a, b| {
            keyword::normalize(b.0)
                .total_cmp(&keyword::normalize(a.0))
                .then_with(|| b.1.updated_at.total_cmp(&a.1.updated_at))
                .then_with(|| a.1.namespace.cmp(&b.1.namespace))
                .then_with(|| a.1.key.cmp(&b.1.key))
        });
        scored
            .into_iter()
            .take(want)
            .map(|(score, _, id)| KeywordHit { id, score: keyword::normalize(score) })
            .collect()
    }

    const WORDS: [&str; 8] = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "the"];

    fn namespaces() -> [String; 3] {
        [
            Namespace::new(["users", "a"]).unwrap().encoded(),
            Namespace::new(["users", "b"]).unwrap().encoded(),
            Namespace::new(["other"]).unwrap().encoded(),
        ]
    }

    #[test]
    fn scores_are_fts5_bm25_over_every_document() {
        let ns = &namespaces()[0];
        let mut index = KeywordIndex::new();
        index.upsert(1, "apple banana", meta(ns, "ab", 1.0, None));
        index.upsert(2, "apple", meta(ns, "a", 1.0, None));
        // Expired documents still count in N, n and the average length.
        index.upsert(3, "cherry apple pie", meta(ns, "c", 1.0, Some(5.0)));
        let scope = Scope::Prefix(NamespacePrefix::root());
        let (hits, truncated) = index.search(&["banana".into(), "apple".into()], &scope, 10.0, 10);
        assert!(!truncated);
        let average = 6.0 / 3.0;
        let ab = keyword::term_score(keyword::idf(3, 1), 1, 2, average)
            + keyword::term_score(keyword::idf(3, 3), 1, 2, average);
        let a = keyword::term_score(keyword::idf(3, 3), 1, 1, average);
        assert_eq!(
            hits,
            [KeywordHit { id: 1, score: keyword::normalize(ab) }, KeywordHit { id: 2, score: keyword::normalize(a) }]
        );
        let (hits, truncated) = index.search(&["banana".into(), "apple".into()], &scope, 10.0, 1);
        assert_eq!((hits.len(), hits[0].id, truncated), (1, 1, true));
        index.remove(3);
        assert_eq!(index.len(), 2);
        let (hits, _) = index.search(&["pie".into()], &scope, 0.0, 10);
        assert!(hits.is_empty());
    }

    #[test]
    fn ties_go_to_the_most_recent_then_namespace_then_key() {
        let [a, b, _] = namespaces();
        let mut index = KeywordIndex::new();
        index.upsert(1, "fig", meta(&b, "k", 1.0, None));
        index.upsert(2, "fig", meta(&a, "z", 1.0, None));
        index.upsert(3, "fig", meta(&a, "y", 1.0, None));
        index.upsert(4, "fig", meta(&b, "old", 0.5, None));
        index.upsert(5, "fig", meta(&b, "new", 2.0, None));
        let scope = Scope::Prefix(NamespacePrefix::root());
        let (hits, _) = index.search(&["fig".into()], &scope, 0.0, 10);
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [5, 3, 2, 1, 4]);
        let (hits, _) = index.search(&["fig".into()], &scope, 0.0, 2);
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [5, 3]);
    }

    #[test]
    fn holds_compares_metadata_and_text() {
        let ns = &namespaces()[0];
        let mut index = KeywordIndex::new();
        index.upsert(7, "apple pie", meta(ns, "k", 1.0, Some(9.0)));
        assert!(index.holds(7, &meta(ns, "k", 1.0, Some(9.0)), text_hash("apple pie")));
        assert!(!index.holds(7, &meta(ns, "k", 1.0, Some(9.0)), text_hash("apple tart")));
        assert!(!index.holds(7, &meta(ns, "k", 1.0, None), text_hash("apple pie")));
        assert!(!index.holds(8, &meta(ns, "k", 1.0, Some(9.0)), text_hash("apple pie")));
        index.set_expiry(7, None);
        assert!(index.holds(7, &meta(ns, "k", 1.0, None), text_hash("apple pie")));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put { id: i64, words: Vec<usize>, namespace: usize, updated_at: u8, expires_at: Option<u8> },
        Remove { id: i64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0i64..40, prop::collection::vec(0usize..WORDS.len(), 0..7), 0usize..3, 0u8..4, prop::option::of(0u8..8))
                .prop_map(|(id, words, namespace, updated_at, expires_at)| Op::Put { id, words, namespace, updated_at, expires_at }),
            1 => (0i64..40).prop_map(|id| Op::Remove { id }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// After any sequence of writes, every search equals scoring and sorting every match.
        #[test]
        fn search_equals_a_full_sort(
            ops in prop::collection::vec(op(), 1..120),
            queries in prop::collection::vec((prop::collection::vec(0usize..WORDS.len(), 1..4), 0usize..4, 1usize..12, 0u8..8), 1..8),
        ) {
            let names = namespaces();
            let mut index = KeywordIndex::new();
            let mut docs: Vec<(i64, String, RowMeta)> = Vec::new();
            for op in ops {
                match op {
                    Op::Put { id, words, namespace, updated_at, expires_at } => {
                        let text = words.iter().map(|&w| WORDS[w]).collect::<Vec<_>>().join(" ");
                        let key = format!("k{id}");
                        let meta = meta(&names[namespace], &key, f64::from(updated_at), expires_at.map(f64::from));
                        index.upsert(id, &text, meta.clone());
                        docs.retain(|(d, ..)| *d != id);
                        docs.push((id, text, meta));
                    }
                    Op::Remove { id } => {
                        index.remove(id);
                        docs.retain(|(d, ..)| *d != id);
                    }
                }
            }
            prop_assert_eq!(index.len(), docs.len());
            for (words, scope, want, now) in queries {
                let mut terms: Vec<String> = Vec::new();
                for w in words {
                    if !terms.iter().any(|t| t == WORDS[w]) {
                        terms.push(WORDS[w].to_owned());
                    }
                }
                let scope = match scope {
                    0 => Scope::Prefix(NamespacePrefix::root()),
                    1 => Scope::Prefix(NamespacePrefix::new(["users"]).unwrap()),
                    2 => Scope::Namespace(Namespace::new(["users", "b"]).unwrap()),
                    _ => Scope::Namespace(Namespace::new(["nowhere"]).unwrap()),
                };
                let now = f64::from(now);
                let expected = if docs.is_empty() { Vec::new() } else { brute_force(&docs, &terms, &scope, now, want) };
                for method in [TopK::MaxScore, TopK::Exhaustive, TopK::ExhaustiveSparse, TopK::ScopeScan, TopK::ScopeRuns] {
                    let (hits, truncated) = index.search_with(&terms, &scope, now, want, Some(method));
                    prop_assert_eq!(&hits, &expected, "{:?}: terms {:?} scope {:?} want {}", method, terms, scope, want);
                    prop_assert_eq!(truncated, hits.len() == want);
                }
            }
        }
    }

    #[test]
    fn sums_that_report_the_same_score_are_in_recency_order() {
        // Two sums an ulp apart that normalize to the same reported score.
        let lower = 10.0_f64;
        let higher = lower.next_up();
        assert_eq!(keyword::normalize(lower), keyword::normalize(higher));
        let ranked = |score, updated_at, key, id| Ranked { score, updated_at, namespace: "ns", key, id };
        let page = vec![ranked(higher, 1.0, "old", 1), ranked(lower, 2.0, "new", 2), ranked(9.0, 3.0, "low", 3)];
        let (hits, full) = reported(page, 2);
        assert_eq!(hits.iter().map(|hit| hit.id).collect::<Vec<_>>(), [2, 1], "the more recent first");
        assert!(full);
        assert_eq!(hits[0].score, hits[1].score);
    }

    #[test]
    fn renumbering_lays_each_namespace_out_together() {
        let names = namespaces();
        let mut index = KeywordIndex::new();
        // Three namespaces written in turn, as many users' conversations arrive.
        for id in 0..30 {
            let text = format!("word{} shared", id % 7);
            index.upsert(id, &text, meta(&names[id as usize % 3], &format!("k{id}"), id as f64, None));
        }
        index.renumber();
        assert_eq!((index.layout.pending(), index.docs.len()), (0, 30), "every slot laid out");
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(index.namespaces.iter().map(|name| name.to_string()).collect::<Vec<_>>(), sorted);
        let mut next_slot = 0;
        let mut next_term = 0;
        for (number, slots) in index.namespace_docs.iter().enumerate() {
            assert_eq!(*slots, (next_slot..next_slot + 10).collect::<Vec<u32>>(), "namespace {number}");
            for &slot in slots {
                let doc = index.docs[slot as usize].as_ref().expect("live");
                assert_eq!(doc.namespace as usize, number);
                assert_eq!(doc.terms.0, next_term, "terms in slot order");
                next_term += doc.terms.1 as usize;
            }
            next_slot += 10;
        }
        assert_eq!(index.doc_terms.len(), next_term);
        let shared = &index.postings[index.terms["shared"] as usize];
        assert!(shared.entries.windows(2).all(|pair| pair[0].doc < pair[1].doc), "lists sorted by slot");
        let scope = Scope::Prefix(NamespacePrefix::new(["users"]).unwrap());
        let (hits, _) = index.search_with(&["word3".into()], &scope, 0.0, 10, Some(TopK::ScopeScan));
        // word3: ids 3, 10, 17, 24; "other" holds 17 (17 % 3 == 2), the rest are users'.
        assert_eq!(hits.iter().map(|hit| hit.id).collect::<Vec<_>>(), [24, 10, 3]);
    }

    #[test]
    fn a_laid_out_scope_is_searched_by_its_runs_of_slots() {
        let names = namespaces();
        let mut index = KeywordIndex::new();
        let mut docs = Vec::new();
        let mut put = |index: &mut KeywordIndex, id: i64| {
            let text = format!("word{} shared w{}", id % 7, id % 5);
            let meta = meta(&names[id as usize % 3], &format!("k{id}"), (id % 13) as f64, None);
            index.upsert(id, &text, meta.clone());
            docs.push((id, text, meta));
        };
        // Three namespaces interleaved, laid out, then more of them appended.
        for id in 0..600 {
            put(&mut index, id);
        }
        index.renumber();
        for id in 600..620 {
            put(&mut index, id);
        }
        let users = NamespacePrefix::new(["users"]).unwrap();
        let ScopeCheck::Namespaces { namespaces, .. } = ScopeCheck::new(&index, &Scope::Prefix(users.clone())).unwrap()
        else {
            panic!("two of the three namespaces are users'")
        };
        let runs = index.scope_runs(&namespaces, usize::MAX).unwrap();
        // The two users' namespaces laid out side by side after the other one (slots 200 to
        // 599), then their appended documents: two of every three, the first two adjacent.
        assert_eq!(runs[0], (200, 602), "{runs:?}");
        assert_eq!(runs[1..], [(603, 605), (606, 608), (609, 611), (612, 614), (615, 617), (618, 620)]);
        assert!(runs.windows(2).all(|pair| pair[0].1 < pair[1].0), "ascending, apart: {runs:?}");
        assert!(runs.len() <= 414 / SCOPE_DOCS_PER_RUN, "few enough for a search to choose them");
        for scope in [Scope::Prefix(users), Scope::Namespace(Namespace::new(["users", "b"]).unwrap())] {
            for terms in [vec!["word3".to_owned()], vec!["shared".to_owned(), "w2".to_owned(), "word1".to_owned()]] {
                let expected = brute_force(&docs, &terms, &scope, 0.0, 25);
                assert_eq!(index.search(&terms, &scope, 0.0, 25).0, expected, "{terms:?} in {scope:?}");
            }
        }
    }

    #[test]
    fn a_prefix_finds_its_namespaces_whether_they_arrived_in_order_or_not() {
        let mut index = KeywordIndex::new();
        let expected = |index: &KeywordIndex, low: &str, high: &str| {
            let mut found = index.namespaces_in(low, high);
            found.sort_unstable();
            let mut walked: Vec<u32> = index
                .namespace_ids
                .range::<str, _>((Bound::Included(low), Bound::Excluded(high)))
                .map(|(_, &id)| id)
                .collect();
            walked.sort_unstable();
            assert_eq!(
                found,
                walked,
                "[{low}, {high}) with {} of {} in order",
                index.ordered_namespaces,
                index.namespaces.len()
            );
        };
        let mut next = 7u64;
        let mut id = 0;
        // In order (a sorted load), then out of order, then past the appended maximum, then
        // renumbered.
        for phase in 0..4 {
            let count = if phase == 2 { APPENDED_NAMESPACES_TESTED_MAX + 50 } else { 120 };
            for n in 0..count {
                next = next.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let user = if phase == 0 { n / 10 } else { (next >> 33) as usize % 40 };
                let name = format!("users\u{1f}u{user:03}\u{1f}s{phase}-{n:04}");
                index.upsert(id, "some words", meta(&name, "k", 0.0, None));
                id += 1;
            }
            if phase == 0 {
                assert_eq!(index.ordered_namespaces, 120, "added in name order");
            }
            if phase == 3 {
                index.renumber();
                assert_eq!(index.ordered_namespaces, index.namespaces.len());
            }
            for user in [0, 3, 11, 39, 40] {
                let low = format!("users\u{1f}u{user:03}\u{1f}");
                let high = format!("users\u{1f}u{user:03}\u{20}");
                expected(&index, &low, &high);
            }
            expected(&index, "users", "users\u{1f}u020");
            expected(&index, "a", "z");
        }
    }

    #[test]
    fn a_scope_scan_of_more_than_64_query_terms_equals_a_full_sort() {
        let names = namespaces();
        let mut index = KeywordIndex::new();
        let mut docs = Vec::new();
        for id in 0..200i64 {
            let text = (0..5).map(|j| format!("t{}", (id * 7 + j * 13) % 90)).collect::<Vec<_>>().join(" ");
            let meta = meta(&names[id as usize % 3], &format!("k{id}"), (id % 11) as f64, None);
            index.upsert(id, &text, meta.clone());
            docs.push((id, text, meta));
        }
        let scope = Scope::Prefix(NamespacePrefix::new(["users"]).unwrap());
        for count in [3, 64, 65, 90] {
            let terms: Vec<String> = (0..count).map(|t| format!("t{t}")).collect();
            let expected = brute_force(&docs, &terms, &scope, 0.0, 15);
            let (hits, _) = index.search_with(&terms, &scope, 0.0, 15, Some(TopK::ScopeScan));
            assert_eq!(hits, expected, "{count} terms");
        }
    }

    #[test]
    fn renumbering_keeps_every_document() {
        let ns = &namespaces()[0];
        let mut index = KeywordIndex::new();
        for round in 0..3 {
            for id in 0..5000 {
                let text = if id % 2 == 0 { "even apple" } else { "odd banana" };
                index.upsert(id, text, meta(ns, &format!("k{id}"), f64::from(round), None));
            }
        }
        assert!(index.docs.len() < 3 * 5000, "dead slots were dropped: {}", index.docs.len());
        let scope = Scope::Prefix(NamespacePrefix::root());
        let (hits, truncated) = index.search(&["banana".into()], &scope, 0.0, usize::MAX);
        assert_eq!((hits.len(), truncated), (2500, false));
        index.retain(|id| id < 10);
        assert_eq!(index.len(), 10);
        let (hits, _) = index.search(&["apple".into()], &scope, 0.0, 100);
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
    }

    #[test]
    fn scoped_searches_survive_renumbered_namespaces() {
        // Namespace "a" gets number 0 and "b" number 1; once every "a" document is gone,
        // renumbering makes "b" number 0, in the documents and in their postings.
        let [a, b, _] = namespaces();
        let mut index = KeywordIndex::new();
        for id in 0..5000 {
            index.upsert(id, "apple pie", meta(&a, &format!("a{id}"), 1.0, None));
        }
        for id in 5000..5010 {
            index.upsert(id, "apple tart", meta(&b, &format!("b{id}"), 1.0, None));
        }
        index.retain(|id| id >= 5000);
        // Enough dead slots after the last "a" document went to renumber once more.
        for id in 10_000..15_000 {
            index.upsert(id, "pear", meta(&b, &format!("p{id}"), 1.0, None));
        }
        index.retain(|id| id < 10_000);
        assert_eq!(index.len(), 10);
        assert_eq!(index.namespaces.len(), 1, "renumbered");
        let in_b = Scope::Namespace(Namespace::new(["users", "b"]).unwrap());
        for method in [TopK::MaxScore, TopK::Exhaustive, TopK::ExhaustiveSparse, TopK::ScopeScan] {
            let (hits, _) = index.search_with(&["apple".into()], &in_b, 0.0, 100, Some(method));
            assert_eq!(hits.len(), 10, "{method:?}");
        }
    }
}
