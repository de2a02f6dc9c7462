//! Fusion of ranked lists, for hybrid search: reciprocal rank (RRF, the default) or relative
//! score.
//!
//! **Reciprocal rank** ([`reciprocal_rank_fusion`]): an item at 1-based rank `r` in a list of
//! weight `w` earns `w / (k + r)`; an item's fused score is the sum over the lists it appears
//! in, divided by `Σ w / (k + 1)`, so a score of 1 means "first in every list" and scores stay
//! in `(0, 1]` whatever the weights.
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
//!
//! **Relative score** ([`relative_score_fusion`]): each list's scores are scaled onto `[0, 1]`
//! (min-max), and an item's fused score is the weighted mean of its scaled scores (0 for a
//! list it is not in). Unlike ranks, it keeps how far ahead of the others a result is, which
//! makes it the better fusion on conversations (`docs/recall-locomo.md`; Bruch, Gai and
//! Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 2023).
//!
//! ```
//! use agent_memory::store::fusion::relative_score_fusion;
//!
//! let keyword = [("a", 9.0), ("b", 1.0), ("c", 0.5)];
//! let semantic = [("c", 0.9), ("b", 0.8)];
//! let fused = relative_score_fusion(&[(1.0, &keyword[..]), (1.0, &semantic[..])]);
//! // a: (1 + 0) / 2; c: (0 + 1) / 2; b: (0.0588… + 0) / 2. Ties keep first appearance.
//! assert_eq!(fused.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["a", "c", "b"]);
//! assert_eq!(fused[0].1, 0.5);
//! ```

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// The customary RRF constant.
pub const DEFAULT_K: f64 = 60.0;

/// Fuses `lists` (each a weight and keys, best first) into `(key, score)` pairs, best first.
/// Ties keep the order in which keys were first seen (earlier lists first). Lists with a
/// non-positive weight are ignored.
pub fn reciprocal_rank_fusion<K: Clone + Eq + Hash>(lists: &[(f64, &[K])], k: f64) -> Vec<(K, f64)> {
    let lists: Vec<(f64, &[K])> = lists.iter().copied().filter(|(weight, _)| *weight > 0.0).collect();
    let norm: f64 = lists.iter().map(|(weight, _)| weight / (k + 1.0)).sum();
    let mut fused: Vec<(K, f64)> = Vec::with_capacity(lists.iter().map(|(_, keys)| keys.len()).sum());
    let mut position: FxHashMap<K, usize> = FxHashMap::with_capacity_and_hasher(fused.capacity(), Default::default());
    for (weight, keys) in lists {
        for (rank, key) in keys.iter().enumerate() {
            let share = weight / (k + rank as f64 + 1.0);
            match position.get(key) {
                Some(&at) => fused[at].1 += share,
                None => {
                    position.insert(key.clone(), fused.len());
                    fused.push((key.clone(), share));
                }
            }
        }
    }
    for (_, score) in &mut fused {
        *score /= norm;
    }
    // Stable: ties keep the order of first appearance.
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused
}

/// How hybrid search fuses its two rankings (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FusionMethod {
    /// Weighted reciprocal rank ([`reciprocal_rank_fusion`]), scores in `(0, 1]`.
    #[default]
    ReciprocalRank,
    /// Weighted mean of min-max scaled scores ([`relative_score_fusion`]), scores in `[0, 1]`;
    /// keyword scores are scaled as BM25 sums.
    RelativeScore,
}

/// Fuses `lists` (each a weight and `(key, score)` pairs, best first) by relative score:
/// each list's scores scaled onto `[0, 1]` (the lowest to 0, the highest to 1; all to 1 when
/// they are equal), then summed with the weights divided by their total (every fused score
/// is 0 when the weights sum to 0). Best first; ties keep the order in which keys were first
/// seen (earlier lists first). A key repeated within one list counts once per appearance.
pub fn relative_score_fusion<K: Clone + Eq + Hash>(lists: &[(f64, &[(K, f64)])]) -> Vec<(K, f64)> {
    let total: f64 = lists.iter().map(|(weight, _)| weight).sum();
    let mut fused: Vec<(K, f64)> = Vec::with_capacity(lists.iter().map(|(_, list)| list.len()).sum());
    let mut position: FxHashMap<K, usize> = FxHashMap::with_capacity_and_hasher(fused.capacity(), Default::default());
    for (weight, list) in lists {
        let scores: Vec<f64> = list.iter().map(|(_, score)| *score).collect();
        for ((key, _), scaled) in list.iter().zip(min_max(&scores)) {
            let share = if total > 0.0 { weight * scaled / total } else { 0.0 };
            match position.get(key) {
                Some(&at) => fused[at].1 += share,
                None => {
                    position.insert(key.clone(), fused.len());
                    fused.push((key.clone(), share));
                }
            }
        }
    }
    // Stable: ties keep the order of first appearance.
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused
}

/// Scales `scores` linearly onto `[0, 1]`, the lowest to 0 and the highest to 1 (all to 1
/// when they are equal, or when their span overflows).
fn min_max(scores: &[f64]) -> Vec<f64> {
    let low = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let high = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = high - low;
    scores.iter().map(|score| if span > 0.0 && span.is_finite() { (score - low) / span } else { 1.0 }).collect()
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
