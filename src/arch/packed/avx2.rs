//! The AVX2+FMA tiles and widening of [`super`]: register tiles of up to 6 rows × 16 columns.

use super::{Act, Line, Tile, NR, Q8_BLOCK};
use crate::simd::avx2::silu8;
use std::arch::x86_64::*;

/// [`Tile`] for `R` rows: `R × 2` accumulators in registers, one pass over the block.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile<const R: usize>(t: &Tile<'_>, b: &[Line]) {
    let mut acc = start::<R>(t);
    let a = t.a.as_ptr();
    let b = b.as_ptr() as *const f32;
    for i in 0..t.depth {
        let b0 = _mm256_load_ps(b.add(i * NR));
        let b1 = _mm256_load_ps(b.add(i * NR + 8));
        step::<R>(&mut acc, a, t.lda, i, b0, b1);
    }
    finish::<R>(t, &mut acc);
}

/// [`tile`] on int8 lines, each widened and scaled in registers just before use (the same
/// f32 values, and so the same results, as widening the block first).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile_i8<const R: usize>(t: &Tile<'_>, values: &[[i8; NR]], scales: &[Line]) {
    let mut acc = start::<R>(t);
    let a = t.a.as_ptr();
    let q = values.as_ptr() as *const i8;
    let mut i = 0;
    for s in scales {
        let s0 = _mm256_load_ps(s.0.as_ptr());
        let s1 = _mm256_load_ps(s.0.as_ptr().add(8));
        let end = (i + Q8_BLOCK).min(t.depth);
        while i < end {
            let lo = _mm_loadl_epi64(q.add(i * NR) as *const __m128i);
            let hi = _mm_loadl_epi64(q.add(i * NR + 8) as *const __m128i);
            let b0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), s0);
            let b1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), s1);
            step::<R>(&mut acc, a, t.lda, i, b0, b1);
            i += 1;
        }
        if i == t.depth {
            break;
        }
    }
    finish::<R>(t, &mut acc);
}

/// Accumulators for `R` rows: zero, or the partial sums already in the output.
#[inline(always)]
unsafe fn start<const R: usize>(t: &Tile<'_>) -> [[__m256; 2]; R] {
    let full = t.cols == NR;
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    if !t.first {
        for (r, acc) in acc.iter_mut().enumerate() {
            *acc = load_row(t.c.add(r * t.ldc), t.cols, full);
        }
    }
    acc
}

/// One line `(b0, b1)` times column `i` of the `R` rows.
#[inline(always)]
unsafe fn step<const R: usize>(
    acc: &mut [[__m256; 2]; R],
    a: *const f32,
    lda: usize,
    i: usize,
    b0: __m256,
    b1: __m256,
) {
    for (r, acc) in acc.iter_mut().enumerate() {
        let av = _mm256_broadcast_ss(&*a.add(r * lda + i));
        acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
        acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
    }
}

/// Add the bias (last block of depth) and write the rows back.
#[inline(always)]
unsafe fn finish<const R: usize>(t: &Tile<'_>, acc: &mut [[__m256; 2]; R]) {
    let full = t.cols == NR;
    if let Some(bias) = t.bias {
        let (b0, b1) = (
            _mm256_loadu_ps(bias.as_ptr()),
            _mm256_loadu_ps(bias.as_ptr().add(8)),
        );
        for acc in acc.iter_mut() {
            acc[0] = _mm256_add_ps(acc[0], b0);
            acc[1] = _mm256_add_ps(acc[1], b1);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        store_row(t.c.add(r * t.ldc), t.cols, full, acc);
    }
    if let Some(act) = t.act {
        activate(t, R, act);
    }
}

/// Apply `act` to the tile's outputs, written by [`finish`] (kept out of the tile's loop so
/// that its accumulators stay in registers).
#[inline(never)]
#[target_feature(enable = "avx2,fma")]
unsafe fn activate(t: &Tile<'_>, rows: usize, act: Act) {
    for r in 0..rows {
        let c = t.c.add(r * t.ldc);
        let mut v = load_row(c, t.cols, t.cols == NR);
        for v in &mut v {
            *v = match act {
                Act::Silu => silu8(*v),
                Act::Relu => _mm256_max_ps(*v, _mm256_setzero_ps()),
            };
        }
        store_row(c, t.cols, t.cols == NR, &v);
    }
}

#[inline(always)]
unsafe fn load_row(c: *const f32, cols: usize, full: bool) -> [__m256; 2] {
    if full {
        [_mm256_loadu_ps(c), _mm256_loadu_ps(c.add(8))]
    } else {
        let mut tmp = [0f32; NR];
        std::ptr::copy_nonoverlapping(c, tmp.as_mut_ptr(), cols);
        [
            _mm256_loadu_ps(tmp.as_ptr()),
            _mm256_loadu_ps(tmp.as_ptr().add(8)),
        ]
    }
}

#[inline(always)]
unsafe fn store_row(c: *mut f32, cols: usize, full: bool, v: &[__m256; 2]) {
    if full {
        _mm256_storeu_ps(c, v[0]);
        _mm256_storeu_ps(c.add(8), v[1]);
    } else {
        let mut tmp = [0f32; NR];
        _mm256_storeu_ps(tmp.as_mut_ptr(), v[0]);
        _mm256_storeu_ps(tmp.as_mut_ptr().add(8), v[1]);
        std::ptr::copy_nonoverlapping(tmp.as_ptr(), c, cols);
    }
}

/// [`super::widen_portable`] with AVX2: the same products, eight lanes at a time.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn widen(values: &[[i8; NR]], scales: &[Line], out: &mut [Line]) {
    debug_assert!(out.len() >= values.len() && scales.len() * Q8_BLOCK >= values.len());
    let q = values.as_ptr() as *const i8;
    let o = out.as_mut_ptr() as *mut f32;
    let mut i = 0;
    for s in scales {
        let s0 = _mm256_load_ps(s.0.as_ptr());
        let s1 = _mm256_load_ps(s.0.as_ptr().add(8));
        let end = (i + Q8_BLOCK).min(values.len());
        while i < end {
            let lo = _mm_loadl_epi64(q.add(i * NR) as *const __m128i);
            let hi = _mm_loadl_epi64(q.add(i * NR + 8) as *const __m128i);
            _mm256_store_ps(
                o.add(i * NR),
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), s0),
            );
            _mm256_store_ps(
                o.add(i * NR + 8),
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), s1),
            );
            i += 1;
        }
        if i == values.len() {
            break;
        }
    }
}

/// [`super::int8::Tile`] for `R ≤ 4` rows: 32-bit sums of int8 products, `vpmaddubsw` on each
/// activation's magnitude and the weights carrying its sign, then `vpmaddwd` by ones.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile_q8q8<const R: usize>(t: &super::int8::Tile<'_>) {
    use super::int8::QUAD;
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_si256(); 2]; R];
    let (a, a_abs) = (t.a.as_ptr(), t.a_aux.as_ptr());
    let w = t.quads.as_ptr() as *const __m256i;
    for q in 0..t.quads.len() {
        let w0 = _mm256_load_si256(w.add(2 * q));
        let w1 = _mm256_load_si256(w.add(2 * q + 1));
        for (r, acc) in acc.iter_mut().enumerate() {
            let at = r * t.lda + q * QUAD;
            let av = _mm256_set1_epi32((a.add(at) as *const i32).read_unaligned());
            let au = _mm256_set1_epi32((a_abs.add(at) as *const i32).read_unaligned());
            let p0 = _mm256_maddubs_epi16(au, _mm256_sign_epi8(w0, av));
            let p1 = _mm256_maddubs_epi16(au, _mm256_sign_epi8(w1, av));
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(p0, ones));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(p1, ones));
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        q8_finish_row(t, r, acc);
    }
}

/// Row `r` of an int8 × int8 tile from its exact 32-bit sums (`acc`: columns 0..8, 8..16):
/// scaled, biased, activated and stored. Shared by the AVX2 and VNNI tiles so that equal sums
/// give equal bits.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn q8_finish_row(t: &super::int8::Tile<'_>, r: usize, acc: &[__m256i; 2]) {
    let e = &t.epilogue;
    let s0 = _mm256_loadu_ps(e.col_scales.as_ptr());
    let s1 = _mm256_loadu_ps(e.col_scales.as_ptr().add(8));
    let rs = _mm256_set1_ps(t.row_scales[r]);
    let mut v = [
        _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[0]), rs), s0),
        _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[1]), rs), s1),
    ];
    if let Some(b) = e.bias {
        v[0] = _mm256_add_ps(v[0], _mm256_loadu_ps(b.as_ptr()));
        v[1] = _mm256_add_ps(v[1], _mm256_loadu_ps(b.as_ptr().add(8)));
    }
    if let Some(act) = e.act {
        for v in &mut v {
            *v = match act {
                Act::Silu => silu8(*v),
                Act::Relu => _mm256_max_ps(*v, _mm256_setzero_ps()),
            };
        }
    }
    store_row(t.c.add(r * t.ldc), t.cols, t.cols == NR, &v);
}
