//! The AVX-512 VNNI int8 × int8 tile of [`super::int8`]: one 512-bit register holds a panel's
//! quad (16 columns × 4 inputs), and `vpdpbusd` multiplies it by four activation bytes
//! broadcast to every lane, adding the four products of each column into its 32-bit sum, in
//! one instruction per row and quad.
//!
//! `vpdpbusd` reads its activation operand as unsigned bytes, so the tile is given `q + 128`
//! (1..=255, see [`super::int8::quantize_rows`]); each column's sum is then
//! `Σ q·w + 128 · Σ w`, and subtracting `128 · Σ w` (the panel's column sums) gives back the
//! exact `Σ q·w` the other kernels compute. No intermediate can overflow: a sum of four products
//! is below 2¹⁷ and `k` is far below 2¹⁴ quads.

use super::int8::{Tile, MR_VNNI, QUAD};
use std::arch::x86_64::*;

/// Whether this CPU runs AVX-512 VNNI (with AVX-512 F/BW and AVX2+FMA for the epilogue);
/// checked once.
pub(super) fn available() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        crate::simd::avx2_fma()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    })
}

/// Run `t` for `rows` (1..=[`MR_VNNI`]) rows.
///
/// # Safety
/// [`available`] must be true; `t.a_aux` holds `rows` rows of `t.quads.len()` quads at stride
/// `t.lda`, and `t.c` has room for `rows` rows of `t.cols` values at stride `t.ldc`.
pub(super) unsafe fn tile(t: &Tile<'_>, rows: usize) {
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match rows {
                $($n => tile_rows::<$n>(t),)*
                _ => unreachable!("{rows} rows in a VNNI tile"),
            }
        };
    }
    const _: () = assert!(MR_VNNI == 8);
    dispatch!(1 2 3 4 5 6 7 8);
}

#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vnni")]
unsafe fn tile_rows<const R: usize>(t: &Tile<'_>) {
    let mut acc = [_mm512_setzero_si512(); R];
    let a = t.a_aux.as_ptr();
    let w = t.quads.as_ptr() as *const __m512i;
    for q in 0..t.quads.len() {
        let wq = _mm512_load_si512(w.add(q));
        for (r, acc) in acc.iter_mut().enumerate() {
            let at = r * t.lda + q * QUAD;
            let av = _mm512_set1_epi32((a.add(at) as *const i32).read_unaligned());
            *acc = _mm512_dpbusd_epi32(*acc, av, wq);
        }
    }
    let offset = _mm512_slli_epi32::<7>(_mm512_loadu_si512(t.col_sums.as_ptr() as *const _));
    for (r, acc) in acc.iter().enumerate() {
        let exact = _mm512_sub_epi32(*acc, offset);
        let halves = [
            _mm512_castsi512_si256(exact),
            _mm512_extracti64x4_epi64::<1>(exact),
        ];
        super::avx2::q8_finish_row(t, r, &halves);
    }
}
