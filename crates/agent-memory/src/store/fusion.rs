//! Reciprocal-rank fusion (RRF) of ranked lists, for hybrid search.
//!
//! An item at 1-based rank `r` in a list of weight `w` earns `w / (k + r)`; an item's fused
//! score is the sum over the lists it appears in, divided by `Σ w / (k + 1)`, so a score of
//! 1 means "first in every list" and scores stay in `(0, 1]` whatever the weights.
//!
//! ```
//! use agent_memory::store::fusion::reciprocal_rank_fusion;
//!
//! let semantic = ["a", "b", "c"];
//! let keyword = ["b", "a"];
//! let fused = reciprocal_rank_fusion(&[(1.0, &semantic[..]), (1.0, &keyword[..])], 60.0);
//! assert_eq!(fused.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["a", "b", "c"]);
//! assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 62.0) / (2.0 / 61.0)).abs() < 1e-12);
//! ```

use std::collections::HashMap;
use std::hash::Hash;

/// The customary RRF constant.
pub const DEFAULT_K: f64 = 60.0;

/// Fuses `lists` (each a weight and keys, best first) into `(key, score)` pairs, best first.
/// Ties keep the order in which keys were first seen (earlier lists first). Lists with a
/// non-positive weight are ignored.
pub fn reciprocal_rank_fusion<K: Clone + Eq + Hash>(lists: &[(f64, &[K])], k: f64) -> Vec<(K, f64)> {
    let norm: f64 = lists.iter().filter(|(w, _)| *w > 0.0).map(|(w, _)| w / (k + 1.0)).sum();
    let mut scores: HashMap<K, (usize, f64)> = HashMap::new();
    let mut order = 0;
    for (weight, keys) in lists.iter().filter(|(w, _)| *w > 0.0) {
        for (rank, key) in keys.iter().enumerate() {
            let entry = scores.entry(key.clone()).or_insert_with(|| {
                order += 1;
                (order, 0.0)
            });
            entry.1 += weight / (k + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(K, usize, f64)> = scores.into_iter().map(|(key, (seen, s))| (key, seen, s / norm)).collect();
    fused.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
    fused.into_iter().map(|(key, _, score)| (key, score)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_shift_the_order() {
        let semantic = ["a", "b"];
        let keyword = ["b", "a"];
        let fused = reciprocal_rank_fusion(&[(1.0, &semantic[..]), (3.0, &keyword[..])], 60.0);
        assert_eq!(fused[0].0, "b");
        let only_semantic = reciprocal_rank_fusion(&[(1.0, &semantic[..]), (0.0, &keyword[..])], 60.0);
        assert_eq!(only_semantic.len(), 2);
        assert_eq!(only_semantic[0], ("a", 1.0));
        assert_eq!(only_semantic[1].0, "b");
        assert!((only_semantic[1].1 - 61.0 / 62.0).abs() < 1e-12);
    }

    #[test]
    fn empty_lists_fuse_to_nothing() {
        let none: [&str; 0] = [];
        assert!(reciprocal_rank_fusion(&[(1.0, &none[..])], 60.0).is_empty());
    }
}
