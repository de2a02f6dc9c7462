//! Vector kernels for exact search, written so the compiler vectorizes them: eight
//! independent accumulators instead of one dependent chain.

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
    let (a, b) = (&a[..len], &b[..len]);
    let (a_chunks, a_tail) = a.as_chunks::<8>();
    let (b_chunks, b_tail) = b.as_chunks::<8>();
    let mut lanes = [0.0f32; 8];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
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
