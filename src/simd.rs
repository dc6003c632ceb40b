//! Vector math shared by the CPU kernels: run-time detection of AVX2+FMA, and `exp` eight
//! lanes at a time (Cephes' range reduction and polynomial, within 2 ulp of the exact value).

/// Whether the AVX2+FMA code paths can run on this CPU (checked once).
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use std::arch::x86_64::*;

    /// `exp` of eight values: below −87.3 (and −∞) gives 0, above 88.3 saturates at e^88.3.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA ([`super::avx2_fma`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp8(x: __m256) -> __m256 {
        let tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3), _CMP_LT_OQ);
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(-87.3)),
            _mm256_set1_ps(88.3),
        );
        // n = round(x / ln 2), r = x − n ln 2 (ln 2 in two parts for precision).
        let n = _mm256_round_ps(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            0.166_666_65,
            0.5,
        ] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let p = _mm256_fmadd_ps(
            _mm256_mul_ps(p, r),
            r,
            _mm256_add_ps(r, _mm256_set1_ps(1.0)),
        );
        // 2ⁿ from its exponent bits.
        let two_n = _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
            23,
        ));
        _mm256_andnot_ps(tiny, _mm256_mul_ps(p, two_n))
    }

    /// `x / (1 + e^−x)` (SiLU, also called swish) of eight values.
    ///
    /// # Safety
    /// As [`exp8`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn silu8(x: __m256) -> __m256 {
        let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0), e))
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use std::arch::x86_64::*;

    fn exp8_of(v: [f32; 8]) -> [f32; 8] {
        let mut out = [0f32; 8];
        // SAFETY: guarded by the feature check in each test.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), avx2::exp8(_mm256_loadu_ps(v.as_ptr()))) };
        out
    }

    #[test]
    fn exp_is_within_a_few_ulp_over_its_range() {
        if !avx2_fma() {
            return;
        }
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = exp8_of([x; 8])[0] as f64;
            let want = (x as f64).exp();
            worst = worst.max((got - want).abs() / want);
            x += 0.173;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        let edge = exp8_of([f32::NEG_INFINITY, -100.0, 0.0, 100.0, 1.0, -1.0, 2.0, -2.0]);
        assert_eq!(&edge[..3], &[0.0, 0.0, 1.0]);
        assert!(edge[3].is_finite() && edge[3] > 1e38);
    }
}
