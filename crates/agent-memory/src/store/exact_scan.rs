//! Exact nearest-neighbour scans that read a quarter of the bytes: an 8-bit copy of every
//! row bounds each row's cosine, and only the rows whose bound can reach the page are
//! scored from their `f32` vectors.
//!
//! Each row `x` is kept as 8-bit codes `q` (scaled so that its largest component is ±127,
//! then rounded), their scale, the norm of the decoded row `x̂ = q · scale` and the error
//! `δ = ‖x − x̂‖`. A query `y` is coded twice over (`ŷ = r₁/t + r₂/(254·t)`, the second
//! code rounding what the first left), so `‖y − ŷ‖ = φ` is tiny. Then, with two integer dot
//! products per row (numkong's SIMD kernels),
//!
//! ```text
//! x·y = x̂·ŷ + x̂·(y − ŷ) + (x − x̂)·y,   so   |x·y − x̂·ŷ| ≤ ‖x̂‖·φ + δ·‖y‖
//! ```
//!
//! which bounds the cosine from both sides (widened by [`rounding_slack`] for the `f32`
//! arithmetic of the exact score). With `want` rows wanted, let `τ` be the `want`-th largest
//! lower bound: at least `want` rows score at least `τ`, so a row whose upper bound is
//! below `τ` cannot make the page, whatever the tie order. The others are scored exactly in
//! decreasing order of upper bound, until the next upper bound is below the `want`-th best
//! score already met (the same argument, with exact scores). The page therefore equals a
//! brute-force scan's, score for score.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Rows up to which a scan scores every row (bounding costs more than it saves).
const MIN_ROWS: usize = 64;

/// An exact score, ordered by [`f32::total_cmp`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f32);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The 8-bit copy of a set's rows, in the set's row order.
#[derive(Debug, Default)]
pub(super) struct RowCodes {
    dims: usize,
    codes: Vec<i8>,
    rows: Vec<RowCode>,
}

/// What bounds one row's dot products besides its codes.
#[derive(Debug, Clone, Copy)]
struct RowCode {
    /// Decoded component = code × this.
    scale: f64,
    /// `‖x̂‖`, the norm of the decoded row.
    decoded_norm: f64,
    /// `‖x − x̂‖`, rounded up.
    error: f64,
}

impl RowCodes {
    /// Appends `vector`'s codes as the last row (every row has the first row's length).
    pub(super) fn push(&mut self, vector: &[f32]) {
        if self.rows.is_empty() {
            self.dims = vector.len();
        }
        let largest = vector.iter().fold(0.0f64, |largest, &x| largest.max(f64::from(x).abs()));
        let scale = if largest > 0.0 && largest.is_finite() { largest / 127.0 } else { 0.0 };
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let start = self.codes.len();
        self.codes.extend(vector.iter().map(|&x| nearest_code(f64::from(x) * inverse)));
        let (mut decoded_norm, mut error) = (0.0f64, 0.0f64);
        for (&x, &code) in vector.iter().zip(&self.codes[start..]) {
            // The bounds hold for whatever code a component got: they use its decoded value.
            let decoded = f64::from(code) * scale;
            decoded_norm += decoded * decoded;
            error += (f64::from(x) - decoded) * (f64::from(x) - decoded);
        }
        // NaN or infinite rows get an infinite error (every search scores them exactly).
        let error = if error.is_finite() { error.sqrt() * (1.0 + 1e-12) } else { f64::INFINITY };
        self.rows.push(RowCode { scale, decoded_norm: decoded_norm.sqrt(), error });
    }

    /// Puts the rows in `order` (`order[i]` is the row that becomes row `i`).
    pub(super) fn reorder(&mut self, order: &[usize]) {
        let mut codes = Vec::with_capacity(self.codes.len());
        for &row in order {
            codes.extend_from_slice(self.codes_of(row));
        }
        self.codes = codes;
        self.rows = order.iter().map(|&row| self.rows[row]).collect();
    }

    /// Removes `row`, moving the last row into its place.
    pub(super) fn swap_remove(&mut self, row: usize) {
        let last = self.rows.len() - 1;
        if row != last {
            let dims = self.dims;
            self.codes.copy_within(last * dims..(last + 1) * dims, row * dims);
        }
        self.codes.truncate(last * self.dims);
        self.rows.swap_remove(row);
    }

    fn codes_of(&self, row: usize) -> &[i8] {
        &self.codes[row * self.dims..(row + 1) * self.dims]
    }

    /// Rows among `rows` that may be among the `want` best by `score` (the cosine of a row
    /// and `query`, from the norms `query_norm` and `norms`), each with its exact score: every row of the
    /// best `want` is there, whatever the order of ties. Scores every row when bounding
    /// cannot pay or cannot be trusted (few rows; a query without direction, or whose `f32`
    /// norm under- or overflows).
    pub(super) fn candidates(
        &self,
        rows: Vec<u32>,
        query: &[f32],
        query_norm: f32,
        norms: &[f32],
        want: usize,
        score: impl Fn(usize) -> f32,
    ) -> Vec<(f32, u32)> {
        let exact = |rows: &mut dyn Iterator<Item = u32>| rows.map(|row| (score(row as usize), row)).collect();
        let want = want.max(1);
        if rows.len() <= want.saturating_mul(2).max(MIN_ROWS) || query.len() != self.dims {
            return exact(&mut rows.into_iter());
        }
        // The exact score divides by `f32` norms: bound only where they are plainly accurate.
        let Some(coded) = QueryCode::of(query).filter(|_| is_ordinary_norm(query_norm)) else {
            return exact(&mut rows.into_iter());
        };
        let slack = rounding_slack(self.dims);
        let mut bounded: Vec<(f64, f64, u32)> = rows
            .into_iter()
            .map(|row| {
                let (low, high) = self.cosine_bounds(row as usize, f64::from(norms[row as usize]), &coded, slack);
                (low, high, row)
            })
            .collect();
        // At least `want` rows score at least the `want`-th best lower bound.
        let (_, &mut (floor, _, _), _) = bounded.select_nth_unstable_by(want - 1, |a, b| b.0.total_cmp(&a.0));
        bounded.retain(|&(_, high, _)| high >= floor);
        // Score in order of upper bound until it falls below the `want`-th best score met.
        bounded.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let mut best: BinaryHeap<Reverse<Score>> = BinaryHeap::with_capacity(want + 1);
        let mut scored = Vec::with_capacity(want * 2);
        for (_, high, row) in bounded {
            if best.len() == want && best.peek().is_some_and(|Reverse(Score(kth))| high < f64::from(*kth)) {
                break;
            }
            let score = score(row as usize);
            scored.push((score, row));
            best.push(Reverse(Score(score)));
            if best.len() > want {
                best.pop();
            }
        }
        #[cfg(test)]
        tests::SCORED.with(|count| count.set(count.get() + scored.len()));
        scored
    }

    /// Lower and upper bounds on [`cosine`](super::vector::cosine) of `row` (norm `norm`) and the query.
    fn cosine_bounds(&self, row: usize, norm: f64, query: &QueryCode, slack: f64) -> (f64, f64) {
        if norm == 0.0 {
            // `vector::cosine` answers exactly 0.
            return (0.0, 0.0);
        }
        if !is_ordinary_norm(norm as f32) {
            // Its `f32` norm may be far from the real one: always score it.
            return (f64::NEG_INFINITY, f64::INFINITY);
        }
        let code = self.rows[row];
        let codes = self.codes_of(row);
        let coarse = f64::from(dot_i8(codes, &query.coarse));
        let fine = f64::from(dot_i8(codes, &query.fine));
        let approximate = code.scale * (coarse * query.coarse_scale + fine * query.fine_scale);
        let reach = code.decoded_norm * query.residual + code.error * query.norm;
        let scale = norm * query.norm;
        let (low, high) = ((approximate - reach) / scale - slack, (approximate + reach) / scale + slack);
        if low.is_finite() && high.is_finite() { (low, high) } else { (f64::NEG_INFINITY, f64::INFINITY) }
    }
}

/// A query coded for [`RowCodes::cosine_bounds`].
struct QueryCode {
    coarse: Vec<i8>,
    fine: Vec<i8>,
    coarse_scale: f64,
    fine_scale: f64,
    /// `‖y − ŷ‖`, rounded up.
    residual: f64,
    /// `‖y‖`.
    norm: f64,
}

impl QueryCode {
    /// `None` for a zero or non-finite query.
    fn of(query: &[f32]) -> Option<QueryCode> {
        let largest = query.iter().fold(0.0f64, |largest, &y| largest.max(f64::from(y).abs()));
        if !(largest > 0.0 && largest.is_finite()) {
            return None;
        }
        let coarse_scale = largest / 127.0;
        // The coarse code's error is at most half a step: 254 fine steps span it.
        let fine_scale = coarse_scale / 254.0;
        let mut code = QueryCode {
            coarse: Vec::with_capacity(query.len()),
            fine: Vec::with_capacity(query.len()),
            coarse_scale,
            fine_scale,
            residual: 0.0,
            norm: 0.0,
        };
        for &y in query {
            let y = f64::from(y);
            let coarse = nearest_code(y / coarse_scale);
            let left = y - f64::from(coarse) * coarse_scale;
            let fine = nearest_code(left / fine_scale);
            let residual = left - f64::from(fine) * fine_scale;
            code.coarse.push(coarse);
            code.fine.push(fine);
            code.residual += residual * residual;
            code.norm += y * y;
        }
        code.residual = code.residual.sqrt() * (1.0 + 1e-12);
        code.norm = code.norm.sqrt();
        Some(code)
    }
}

/// Whether `f32` arithmetic on a vector of this norm stays accurate (its squares neither
/// underflow nor overflow), so that [`rounding_slack`] covers it.
fn is_ordinary_norm(norm: f32) -> bool {
    (1e-15..=1e15).contains(&norm)
}

/// The code nearest to `scaled` (at most 127 in magnitude), halves away from zero, by the
/// CPU's conversion (`f64::round` is a library call on baseline x86-64); NaN gives 0.
fn nearest_code(scaled: f64) -> i8 {
    // `as` saturates.
    (scaled + 0.5f64.copysign(scaled)) as i8
}

/// How far [`cosine`](super::vector::cosine)'s `f32` arithmetic (a dot product, two norms, a division)
/// may land from the real cosine of `dims`-dimensional vectors, with a wide margin: the
/// dot product's rounding error is at most about `dims` units of `f32` rounding (2⁻²⁴)
/// relative to `‖x‖‖y‖`, and the norms' far less.
fn rounding_slack(dims: usize) -> f64 {
    1e-6 + dims as f64 * 2f64.powi(-22)
}

/// The exact integer dot product of two 8-bit vectors of equal length.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    <i8 as numkong::Dot>::dot(a, b).unwrap_or_else(|| a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::store::vector;

    /// The score [`RowCodes::candidates`] bounds.
    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        vector::cosine(a, vector::norm(a), b, vector::norm(b))
    }

    thread_local! {
        /// Rows that [`RowCodes::candidates`] scored exactly after bounding, on this thread.
        pub(super) static SCORED: Cell<usize> = const { Cell::new(0) };
    }

    /// A deterministic pseudo-random stream (xorshift), in [-1, 1).
    fn stream(seed: u64) -> impl FnMut() -> f32 {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    /// `n` vectors around `centres` cluster centres (near-ties), some repeated exactly, one
    /// zero vector, with a few large and tiny components.
    fn rows(n: usize, dims: usize, centres: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut next = stream(seed);
        let centre: Vec<Vec<f32>> = (0..centres).map(|_| (0..dims).map(|_| next()).collect()).collect();
        let mut rows: Vec<Vec<f32>> =
            (0..n).map(|i| centre[i % centres].iter().map(|c| c + 0.05 * next()).collect()).collect();
        rows[3] = vec![0.0; dims];
        rows[5] = rows[4].clone();
        rows[7][0] = 40.0;
        rows[8].iter_mut().for_each(|x| *x *= 1e-6);
        // Norms whose `f32` squares underflow or overflow.
        rows[9].iter_mut().for_each(|x| *x *= 1e-25);
        rows[10].iter_mut().for_each(|x| *x *= 1e25);
        rows
    }

    /// The best `want` of `rows` by score, ties by row: what a full scan keeps.
    fn best(scored: &mut Vec<(f32, u32)>, want: usize) -> Vec<(f32, u32)> {
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(want);
        scored.clone()
    }

    #[test]
    fn candidates_hold_every_row_of_the_exact_page_and_skip_most_others() {
        for (dims, centres, seed) in [(384, 4, 1), (64, 1, 2), (7, 20, 3), (384, 200, 4)] {
            let vectors = rows(2_000, dims, centres, seed);
            let mut codes = RowCodes::default();
            vectors.iter().for_each(|row| codes.push(row));
            let norms: Vec<f32> = vectors.iter().map(|row| vector::norm(row)).collect();
            let mut next = stream(seed + 100);
            for query_number in 0..10 {
                let query: Vec<f32> = match query_number {
                    0 => vectors[4].clone(),
                    1 => vectors[7].clone(),
                    2 => vectors[9].clone(),
                    _ => vectors[query_number * 37].iter().map(|x| x + 0.1 * next()).collect(),
                };
                // Every third row is out of scope.
                let in_scope: Vec<u32> = (0..vectors.len() as u32).filter(|row| row % 3 != 0).collect();
                let score = |row: usize| cosine(&vectors[row], &query);
                for want in [1, 10, 100] {
                    SCORED.with(|scored| scored.set(0));
                    let mut found =
                        codes.candidates(in_scope.clone(), &query, vector::norm(&query), &norms, want, score);
                    let scored = SCORED.with(Cell::get);
                    if query_number == 2 {
                        // A query too small for an accurate `f32` norm: every row scored.
                        assert_eq!((scored, found.len()), (0, in_scope.len()));
                    } else {
                        assert!(scored >= want && scored == found.len(), "{scored} scored, {} found", found.len());
                    }
                    let mut all: Vec<(f32, u32)> = in_scope.iter().map(|&row| (score(row as usize), row)).collect();
                    assert_eq!(
                        best(&mut found, want),
                        best(&mut all, want),
                        "dims {dims}, query {query_number}, want {want}"
                    );
                    if centres > 1 && query_number != 2 {
                        assert!(scored < in_scope.len() / 2, "{scored} of {} scored exactly", in_scope.len());
                    }
                }
            }
        }
    }

    #[test]
    fn bounds_hold_the_exact_cosine() {
        let dims = 384;
        let vectors = rows(500, dims, 3, 9);
        let mut codes = RowCodes::default();
        vectors.iter().for_each(|row| codes.push(row));
        let query: Vec<f32> = vectors[11].iter().rev().copied().collect();
        let coded = QueryCode::of(&query).expect("a query with direction");
        for (row, vector) in vectors.iter().enumerate() {
            let exact = f64::from(cosine(vector, &query));
            let (low, high) = codes.cosine_bounds(row, f64::from(vector::norm(vector)), &coded, rounding_slack(dims));
            assert!(low <= exact && exact <= high, "row {row}: {low} ≤ {exact} ≤ {high}");
            // Row 3 is zero (bounds 0..0), row 7 has one huge component (coarse codes), rows 9
            // and 10 are too small or large for `f32` norms (always scored).
            if ![3, 7, 9, 10].contains(&row) {
                assert!(high - low < 0.05, "row {row}: bounds {low}..{high} too loose to prune");
            }
        }
    }

    #[test]
    fn reordering_and_removal_keep_each_rows_codes() {
        let vectors = rows(100, 16, 5, 12);
        let mut moved = RowCodes::default();
        vectors.iter().for_each(|row| moved.push(row));
        let order: Vec<usize> = (0..100).rev().collect();
        moved.reorder(&order);
        moved.swap_remove(10);
        // Row 10 (vector 89) is gone and the last row (vector 0) took its place.
        let mut expected: Vec<usize> = order.clone();
        expected.swap_remove(10);
        let mut fresh = RowCodes::default();
        expected.iter().for_each(|&i| fresh.push(&vectors[i]));
        assert_eq!(moved.codes, fresh.codes);
        assert_eq!(moved.rows.len(), fresh.rows.len());
        for (a, b) in moved.rows.iter().zip(&fresh.rows) {
            assert_eq!((a.scale, a.decoded_norm, a.error), (b.scale, b.decoded_norm, b.error));
        }
    }

    #[test]
    fn a_zero_query_scores_every_row() {
        let vectors = rows(300, 8, 2, 5);
        let mut codes = RowCodes::default();
        vectors.iter().for_each(|row| codes.push(row));
        let norms: Vec<f32> = vectors.iter().map(|row| vector::norm(row)).collect();
        let found = codes.candidates((0..300).collect(), &[0.0; 8], 0.0, &norms, 5, |_| 0.0);
        assert_eq!(found.len(), 300);
    }
}
