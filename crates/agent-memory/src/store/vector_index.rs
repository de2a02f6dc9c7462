//! An in-process exact vector index that a backend keeps beside its storage.
//!
//! Per (model id, dimension), one contiguous `f32` matrix (row-major) with each row's norm,
//! row id and the metadata that scoping and ordering need (encoded namespace, key,
//! `updated_at`, `expires_at`), so a search reads no storage until it has its winners.
//! Scores are exactly those of [`vector::cosine`] on the stored vectors, and ties are broken
//! in the store's recency order, so results equal a brute-force scan's.
//!
//! The owner applies every write to it ([`VectorIndex::upsert`], [`VectorIndex::remove`],
//! [`VectorIndex::set_expiry`]); value filters are the owner's job (it checks candidates in
//! score order until it has enough).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::backend::Scope;
use super::vector;

/// What a row carries besides its vector.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RowMeta {
    /// [`super::Namespace::encoded`].
    pub(super) namespace: String,
    pub(super) key: String,
    pub(super) updated_at: f64,
    pub(super) expires_at: Option<f64>,
}

#[derive(Debug, Default)]
struct VectorSet {
    dims: usize,
    data: Vec<f32>,
    norms: Vec<f32>,
    ids: Vec<i64>,
    meta: Vec<RowMeta>,
    position: HashMap<i64, usize>,
}

impl VectorSet {
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
        self.meta.swap_remove(row);
    }
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
    sets: HashMap<(String, usize), VectorSet>,
    /// Which set each id is in.
    location: HashMap<i64, (String, usize)>,
}

impl VectorIndex {
    /// Inserts or replaces row `id`; a row without vector is removed.
    pub(super) fn upsert(&mut self, id: i64, vector: Option<(&str, &[f32])>, meta: RowMeta) {
        self.remove(id);
        let Some((model, vector)) = vector else { return };
        let set_key = (model.to_owned(), vector.len());
        let set = self
            .sets
            .entry(set_key.clone())
            .or_insert_with(|| VectorSet { dims: vector.len(), ..VectorSet::default() });
        set.position.insert(id, set.ids.len());
        set.data.extend_from_slice(vector);
        set.norms.push(vector::norm(vector));
        set.ids.push(id);
        set.meta.push(meta);
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

    /// How many rows (all models).
    pub(super) fn len(&self) -> usize {
        self.location.len()
    }

    /// The best `want` live rows in scope whose vector comes from `model` with the query's
    /// dimension, best first (score descending, then recency order), and whether rows were
    /// left out because of `want`.
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
        let encoded;
        let (exact, range) = match scope {
            Scope::Namespace(namespace) => {
                encoded = namespace.encoded();
                (Some(encoded.as_str()), None)
            }
            Scope::Prefix(prefix) => (None, prefix.encoded_range()),
        };
        let in_scope = |meta: &RowMeta| match (exact, &range) {
            (Some(namespace), _) => meta.namespace == namespace,
            (None, Some((low, high))) => {
                meta.namespace.as_str() >= low.as_str() && meta.namespace.as_str() < high.as_str()
            }
            (None, None) => true,
        };
        let query_norm = vector::norm(query);
        let mut scored: Vec<(f32, u32)> = Vec::new();
        for (row, (chunk, meta)) in set.data.chunks_exact(set.dims).zip(&set.meta).enumerate() {
            if meta.expires_at.is_some_and(|at| now >= at) || !in_scope(meta) {
                continue;
            }
            let score = vector::cosine(chunk, set.norms[row], query, query_norm);
            scored.push((score, row as u32));
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
        (candidates, truncated)
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
}
