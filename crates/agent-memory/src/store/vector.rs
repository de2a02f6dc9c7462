//! Vector kernels for exact search. The dot product is dispatched at run time to the best
//! SIMD level the CPU has (`pulp`: AVX-512, AVX2 + FMA, SSE, NEON or scalar), with four
//! independent accumulators, so one build runs well on every x86_64.

use std::sync::LazyLock;

use pulp::{Arch, Simd, WithSimd};

/// The CPU's SIMD level, detected once.
static ARCH: LazyLock<Arch> = LazyLock::new(Arch::new);

/// The dot product of two vectors of equal length (extra elements of the longer are ignored).
///
/// ```
/// use agent_memory::store::vector::{cosine, dot, norm};
///
/// assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
/// assert_eq!(norm(&[3.0, 4.0]), 5.0);
/// assert_eq!(cosine(&[1.0, 0.0], 1.0, &[0.0, 2.0], 2.0), 0.0);
/// ```
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    ARCH.dispatch(Dot(&a[..len], &b[..len]))
}

/// [`dot`] at one SIMD level.
struct Dot<'a>(&'a [f32], &'a [f32]);

impl WithSimd for Dot<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        let (a, a_tail) = S::as_simd_f32s(self.0);
        let (b, b_tail) = S::as_simd_f32s(self.1);
        let (a4, a_rest) = a.as_chunks::<4>();
        let (b4, b_rest) = b.as_chunks::<4>();
        let zero = simd.splat_f32s(0.0);
        let mut lanes = [zero; 4];
        for (x, y) in a4.iter().zip(b4) {
            for lane in 0..4 {
                lanes[lane] = simd.mul_add_e_f32s(x[lane], y[lane], lanes[lane]);
            }
        }
        for (x, y) in a_rest.iter().zip(b_rest) {
            lanes[0] = simd.mul_add_e_f32s(*x, *y, lanes[0]);
        }
        let sum = simd.add_f32s(simd.add_f32s(lanes[0], lanes[1]), simd.add_f32s(lanes[2], lanes[3]));
        let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
        simd.reduce_sum_f32s(sum) + tail
    }
}

/// The Euclidean norm.
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Cosine similarity from the vectors and their norms; 0 when either norm is 0.
pub fn cosine(a: &[f32], norm_a: f32, b: &[f32], norm_b: f32) -> f32 {
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    dot(a, b) / (norm_a * norm_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_scalar_definition() {
        let a: Vec<f32> = (0..389).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
        let b: Vec<f32> = (0..389).map(|i| ((i * 53 % 89) as f32 - 44.0) / 13.0).collect();
        let expected: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
        assert!((f64::from(dot(&a, &b)) - expected).abs() < 1e-3 * expected.abs().max(1.0));
        let scalar = crate::embed::cosine_similarity(&a, &b);
        assert!((cosine(&a, norm(&a), &b, norm(&b)) - scalar).abs() < 1e-6);
        assert_eq!(cosine(&a, 0.0, &b, 1.0), 0.0);
    }
}
