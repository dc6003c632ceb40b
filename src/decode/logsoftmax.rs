//! Log-softmax of an output row on the host: `log p_i = x_i − max − ln Σ exp(x_j − max)`.
//!
//! A decoding step normalizes one 58k-way row per hypothesis. The sum of exponentials is the
//! cost: it runs eight lanes at a time, with a polynomial `exp` under AVX2 (within 2 ulp of the
//! exact value over the range used here, as in the Cephes library's `expf`) and the C library's
//! `expf` lane by lane elsewhere. Callers that need only some log-probabilities (the chosen
//! token, a beam's candidates) take a [`Normalizer`] and skip writing the row.

/// What turns a row's value into its log-probability.
#[derive(Clone, Copy, Debug)]
pub struct Normalizer {
    max: f32,
    log_sum: f32,
}

impl Normalizer {
    /// The normalizer of `row`; `None` when its maximum is not finite (an empty row, all −∞,
    /// or +∞/NaN), where rows are left as they are.
    pub fn of(row: &[f32]) -> Option<Self> {
        Self::with_max(row, max(row))
    }

    /// [`Normalizer::of`] for a caller that already has the row's maximum (NaNs ignored), as
    /// [`max`] gives it.
    pub fn with_max(row: &[f32], max: f32) -> Option<Self> {
        if !max.is_finite() {
            return None;
        }
        Some(Self {
            max,
            log_sum: sum_exp_shifted(row, max).ln(),
        })
    }

    /// The log-probability of a value of the row.
    #[inline]
    pub fn log_prob(&self, x: f32) -> f32 {
        x - self.max - self.log_sum
    }
}

/// Replace `row` by its log-softmax (unchanged when [`Normalizer::of`] is `None`).
pub fn log_softmax_in_place(row: &mut [f32]) {
    if let Some(n) = Normalizer::of(row) {
        for x in row.iter_mut() {
            *x = n.log_prob(*x);
        }
    }
}

/// `log_softmax(row)[i]` without writing the row (bit-identical to [`log_softmax_in_place`]).
pub fn log_prob_at(row: &[f32], i: usize) -> f32 {
    match Normalizer::of(row) {
        Some(n) => n.log_prob(row[i]),
        None => row[i],
    }
}

/// The largest value (NaNs ignored; −∞ for an empty row), eight lanes at a time.
pub fn max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (m, &x) in lanes.iter_mut().zip(c) {
            *m = m.max(x);
        }
    }
    tail.iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `Σ exp(x − max)` over the row.
fn sum_exp_shifted(row: &[f32], max: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2_fma() {
        // SAFETY: AVX2 and FMA are present (checked).
        return unsafe { avx2::sum_exp_shifted(row, max) };
    }
    let mut lanes = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&x| (x - max).exp()).sum();
    for c in chunks {
        for (s, &x) in lanes.iter_mut().zip(c) {
            *s += (x - max).exp();
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use crate::simd::avx2::exp8;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sum_exp_shifted(row: &[f32], max: f32) -> f32 {
        let m = _mm256_set1_ps(max);
        let mut acc = [_mm256_setzero_ps(); 4];
        let blocks = row.chunks_exact(32);
        let rest = blocks.remainder();
        for b in blocks {
            for (j, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(b.as_ptr().add(8 * j));
                *acc = _mm256_add_ps(*acc, exp8(_mm256_sub_ps(x, m)));
            }
        }
        let mut lanes = [0f32; 8];
        let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        _mm256_storeu_ps(lanes.as_mut_ptr(), total);
        let mut s: f32 = lanes.iter().sum();
        for c in rest.chunks(8) {
            let mut tail = [f32::NEG_INFINITY; 8];
            tail[..c.len()].copy_from_slice(c);
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(tail.as_ptr()), m));
            _mm256_storeu_ps(lanes.as_mut_ptr(), e);
            s += lanes.iter().sum::<f32>();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-softmax in f64.
    fn reference(row: &[f32]) -> Vec<f64> {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        row.iter().map(|&x| x as f64 - max - sum.ln()).collect()
    }

    #[test]
    fn matches_a_float64_reference() {
        let mut s = 7u32;
        for len in [1, 7, 8, 33, 100, 58_930] {
            let row: Vec<f32> = (0..len)
                .map(|i| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let v = (s >> 8) as f32 / (1 << 24) as f32 * 40.0 - 20.0;
                    if i % 97 == 5 {
                        f32::NEG_INFINITY
                    } else {
                        v
                    }
                })
                .collect();
            let want = reference(&row);
            let mut got = row.clone();
            log_softmax_in_place(&mut got);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                if w.is_infinite() {
                    assert_eq!(g, f32::NEG_INFINITY);
                } else {
                    assert!((g as f64 - w).abs() < 1e-4 * (1.0 + w.abs()), "{len}[{i}]");
                }
            }
            // log_prob_at normalizes the whole row per call: check a spread of indices.
            for i in (0..len).step_by(len / 50 + 1) {
                assert_eq!(
                    log_prob_at(&row, i).to_bits(),
                    got[i].to_bits(),
                    "{len}[{i}]"
                );
            }
        }
    }

    #[test]
    fn exp_is_accurate_where_it_matters() {
        // The shifted values run from 0 (the maximum) down to −∞.
        let row: Vec<f32> = (0..2000).map(|i| -(i as f32) * 0.05).collect();
        let sum = sum_exp_shifted(&row, 0.0) as f64;
        let want: f64 = row.iter().map(|&x| (x as f64).exp()).sum();
        assert!((sum - want).abs() / want < 1e-6, "{sum} vs {want}");
        assert_eq!(sum_exp_shifted(&[f32::NEG_INFINITY; 9], 0.0), 0.0);
        assert_eq!(sum_exp_shifted(&[-200.0; 3], 0.0), 0.0);
    }

    #[test]
    fn rows_without_a_finite_maximum_are_left_alone() {
        for row in [vec![f32::NEG_INFINITY; 3], vec![1.0, f32::INFINITY], vec![]] {
            let mut r = row.clone();
            log_softmax_in_place(&mut r);
            assert_eq!(r, row);
            assert!(Normalizer::of(&row).is_none());
        }
    }
}
