//! CPU matrix products for few rows: `y = x Wᵀ` with `x: [m, k]` and `W: [n, k]` stored as the
//! checkpoint stores it (one row per output), for `m` up to [`SKINNY_MAX_ROWS`].
//!
//! Decoding multiplies a handful of rows (a batch of sentences, their beams) by large matrices
//! at every step; that work is bound by reading the weights, not by arithmetic. General GEMM
//! routines tile for the opposite case and re-read their output. Here every weight row is read
//! from memory once, kept in L1, and dotted with all `m` input rows; output columns are split
//! across the rayon pool. Weights may be f32, or int8 with one f32 scale per block of a row
//! (a whole row, as CTranslate2 stores int8, or 32 values, as GGML's Q8_0 does). This is
//! weight-only quantization: activations stay f32, so results stay close to the float model.
//!
//! AVX2+FMA code is chosen at run time; other CPUs take a portable loop. Nothing here allocates
//! per row or panics on shapes the callers check.

use rayon::prelude::*;

/// Largest row count the kernels here are used for; more rows go to the general GEMM (at 32
/// rows the GEMM was faster on the opus-mt-da-en shapes, even with its packing).
pub const SKINNY_MAX_ROWS: usize = 16;

/// Output columns one task computes: enough work to amortize scheduling, small enough to share
/// the lm-head (tens of thousands of columns) among threads.
const COLUMNS_PER_TASK: usize = 256;

/// Input rows the f32 kernel takes at a time (a multiple of 4, so rows are grouped as in one
/// pass and results do not depend on the row count).
const ROW_CHUNK: usize = 8;

/// Weights of a skinny product: rows of `k` values, f32, or int8 where value `i` of row `j`
/// stands for `values[j·k + i] · scales[j·(k/block) + i/block]`.
#[derive(Clone, Copy)]
pub enum RowsRef<'a> {
    F32(&'a [f32]),
    Int8 {
        values: &'a [i8],
        scales: &'a [f32],
        /// Values per scale: a multiple of 8 that divides `k` (`k` itself: one scale per row).
        block: usize,
    },
}

/// `out[r][j] = Σ_i x[r][i] · w[j][i]` for `r < m`, `j < n`; `x` is `m×k`, `out` is `m×n`,
/// both row-major.
pub fn skinny_matmul(x: &[f32], m: usize, k: usize, w: RowsRef<'_>, n: usize, out: &mut [f32]) {
    assert_eq!(x.len(), m * k, "x is not m×k");
    assert_eq!(out.len(), m * n, "out is not m×n");
    match w {
        RowsRef::F32(v) => assert_eq!(v.len(), n * k, "w is not n×k"),
        RowsRef::Int8 {
            values,
            scales,
            block,
        } => {
            assert_eq!(values.len(), n * k, "w is not n×k");
            assert!(
                block > 0 && k.is_multiple_of(block),
                "blocks must tile the rows"
            );
            assert_eq!(scales.len(), n * (k / block), "one scale per block");
        }
    }
    // Each task fills a block of columns into its own buffer (column-major within the block),
    // then the blocks are scattered into `out`.
    let blocks: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(COLUMNS_PER_TASK))
        .into_par_iter()
        .map(|b| {
            let start = b * COLUMNS_PER_TASK;
            let end = (start + COLUMNS_PER_TASK).min(n);
            let mut buf = vec![0f32; (end - start) * m];
            let mut j = start;
            #[cfg(target_arch = "x86_64")]
            if let (RowsRef::F32(v), true) = (w, avx2()) {
                // Two weight rows at a time, input rows in chunks that stay in L1 while this
                // task's weight rows are read from L2 after the first chunk.
                let pairs = (end - start) / 2;
                for r0 in (0..m).step_by(ROW_CHUNK) {
                    let rows = ROW_CHUNK.min(m - r0);
                    let xc = &x[r0 * k..(r0 + rows) * k];
                    for p in 0..pairs {
                        let jj = start + 2 * p;
                        let (c0, c1) = buf[2 * p * m..(2 * p + 2) * m].split_at_mut(m);
                        // SAFETY: AVX2 and FMA are present (checked); rows jj, jj+1 < end ≤ n.
                        unsafe {
                            avx2::dot2_f32(
                                xc,
                                rows,
                                k,
                                [&v[jj * k..(jj + 1) * k], &v[(jj + 1) * k..(jj + 2) * k]],
                                &mut c0[r0..r0 + rows],
                                &mut c1[r0..r0 + rows],
                            )
                        };
                    }
                }
                j += 2 * pairs;
            }
            for (j, col) in (j..end).zip(buf[(j - start) * m..].chunks_exact_mut(m)) {
                dot_rows(x, m, k, w, j, col);
            }
            (start, buf)
        })
        .collect();
    for (start, buf) in blocks {
        let width = buf.len() / m.max(1);
        for (jj, col) in buf.chunks_exact(m).enumerate() {
            for (r, &v) in col.iter().enumerate() {
                out[r * n + start + jj] = v;
            }
        }
        debug_assert!(start + width <= n);
    }
}

/// Dot weight row `j` with every row of `x`, writing `col[r]`.
fn dot_rows(x: &[f32], m: usize, k: usize, w: RowsRef<'_>, j: usize, col: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2() {
            // SAFETY: the CPU supports AVX2 and FMA (checked above); slices are in bounds (checked
            // by the caller's shape asserts).
            unsafe {
                match w {
                    RowsRef::F32(v) => avx2::dot_f32(x, m, k, &v[j * k..(j + 1) * k], col),
                    RowsRef::Int8 {
                        values,
                        scales,
                        block,
                    } if block % 8 == 0 => {
                        let per_row = k / block;
                        avx2::dot_i8(
                            x,
                            m,
                            k,
                            &values[j * k..(j + 1) * k],
                            &scales[j * per_row..(j + 1) * per_row],
                            block,
                            col,
                        )
                    }
                    RowsRef::Int8 { .. } => portable_rows(x, m, k, w, j, col),
                }
            }
            return;
        }
    }
    portable_rows(x, m, k, w, j, col);
}

/// [`dot_rows`] without vector instructions.
fn portable_rows(x: &[f32], m: usize, k: usize, w: RowsRef<'_>, j: usize, col: &mut [f32]) {
    for (r, c) in col.iter_mut().enumerate().take(m) {
        let xr = &x[r * k..(r + 1) * k];
        *c = match w {
            RowsRef::F32(v) => portable_dot(xr, v[j * k..(j + 1) * k].iter().copied()),
            RowsRef::Int8 {
                values,
                scales,
                block,
            } => {
                let per_row = k / block;
                (0..per_row)
                    .map(|b| {
                        let span = j * k + b * block..j * k + (b + 1) * block;
                        portable_dot(
                            &xr[b * block..(b + 1) * block],
                            values[span].iter().map(|&q| f32::from(q)),
                        ) * scales[j * per_row + b]
                    })
                    .sum()
            }
        };
    }
}

/// A dot product with eight partial sums (the same association as the vector code).
fn portable_dot(x: &[f32], w: impl Iterator<Item = f32>) -> f32 {
    let mut acc = [0f32; 8];
    for (i, (a, b)) in x.iter().zip(w).enumerate() {
        acc[i % 8] += a * b;
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// Load 8 int8 weights as f32.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_i8(p: *const i8) -> __m256 {
        let bytes = _mm_loadl_epi64(p as *const __m128i);
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes))
    }

    /// The shared loop, expanded inside each `target_feature` function so every intrinsic is
    /// inlined: four input rows at a time against one weight row (each weight vector is loaded
    /// once for four products), eight lanes per step.
    macro_rules! dot_loop {
        ($x:expr, $m:expr, $k:expr, $col:expr, $scale:expr, |$i:ident| $wv:expr, |$t:ident| $ws:expr) => {{
            let (x, m, k, col, scale): (&[f32], usize, usize, &mut [f32], f32) =
                ($x, $m, $k, $col, $scale);
            let main = k - k % 8;
            let xp = x.as_ptr();
            let mut r = 0;
            while r + 4 <= m {
                let (x0, x1, x2, x3) = (
                    xp.add(r * k),
                    xp.add((r + 1) * k),
                    xp.add((r + 2) * k),
                    xp.add((r + 3) * k),
                );
                let mut a = [_mm256_setzero_ps(); 4];
                let mut $i = 0;
                while $i < main {
                    let w8 = $wv;
                    a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x0.add($i)), w8, a[0]);
                    a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(x1.add($i)), w8, a[1]);
                    a[2] = _mm256_fmadd_ps(_mm256_loadu_ps(x2.add($i)), w8, a[2]);
                    a[3] = _mm256_fmadd_ps(_mm256_loadu_ps(x3.add($i)), w8, a[3]);
                    $i += 8;
                }
                for (q, acc) in a.iter().enumerate() {
                    let mut s = hsum(*acc);
                    let xq = &x[(r + q) * k..(r + q + 1) * k];
                    for $t in main..k {
                        s += xq[$t] * $ws;
                    }
                    col[r + q] = s * scale;
                }
                r += 4;
            }
            while r < m {
                let x0 = xp.add(r * k);
                // Two accumulators hide the FMA latency for a lone row.
                let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                let mut $i = 0;
                while $i + 16 <= main {
                    let w8 = $wv;
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0.add($i)), w8, a0);
                    $i += 8;
                    let w8 = $wv;
                    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x0.add($i)), w8, a1);
                    $i += 8;
                }
                while $i < main {
                    let w8 = $wv;
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0.add($i)), w8, a0);
                    $i += 8;
                }
                let mut s = hsum(_mm256_add_ps(a0, a1));
                let xr = &x[r * k..(r + 1) * k];
                for $t in main..k {
                    s += xr[$t] * $ws;
                }
                col[r] = s * scale;
                r += 1;
            }
        }};
    }
    /// [`dot_f32`] for two weight rows at once: four input rows against two weight rows per
    /// step (six loads for eight FMAs instead of five for four), so more rows stay cheap.
    /// Every result is bit-identical to [`dot_f32`]'s: the same accumulator and order per
    /// product.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot2_f32(
        x: &[f32],
        m: usize,
        k: usize,
        w: [&[f32]; 2],
        col0: &mut [f32],
        col1: &mut [f32],
    ) {
        let main = k - k % 8;
        let xp = x.as_ptr();
        let (p0, p1) = (w[0].as_ptr(), w[1].as_ptr());
        let mut r = 0;
        while r + 4 <= m {
            let xs = [
                xp.add(r * k),
                xp.add((r + 1) * k),
                xp.add((r + 2) * k),
                xp.add((r + 3) * k),
            ];
            let mut a = [_mm256_setzero_ps(); 4];
            let mut b = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i < main {
                let u = _mm256_loadu_ps(p0.add(i));
                let v = _mm256_loadu_ps(p1.add(i));
                for q in 0..4 {
                    let xv = _mm256_loadu_ps(xs[q].add(i));
                    a[q] = _mm256_fmadd_ps(xv, u, a[q]);
                    b[q] = _mm256_fmadd_ps(xv, v, b[q]);
                }
                i += 8;
            }
            for q in 0..4 {
                let xq = &x[(r + q) * k..(r + q + 1) * k];
                let (mut s, mut t) = (hsum(a[q]), hsum(b[q]));
                for i in main..k {
                    s += xq[i] * w[0][i];
                    t += xq[i] * w[1][i];
                }
                col0[r + q] = s;
                col1[r + q] = t;
            }
            r += 4;
        }
        if r < m {
            dot_f32(&x[r * k..], m - r, k, w[0], &mut col0[r..]);
            dot_f32(&x[r * k..], m - r, k, w[1], &mut col1[r..]);
        }
    }

    /// `col[r] = x[r] · w` for all rows; weights in f32.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_f32(x: &[f32], m: usize, k: usize, w: &[f32], col: &mut [f32]) {
        let wp = w.as_ptr();
        dot_loop!(x, m, k, col, 1.0, |i| _mm256_loadu_ps(wp.add(i)), |i| w[i]);
    }

    /// `col[r] = Σ_b scales[b] · (x[r][block b] · w[block b])`; weights in int8, `block` a
    /// multiple of 8 dividing `k`. Four input rows share each converted weight vector.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_i8(
        x: &[f32],
        m: usize,
        k: usize,
        w: &[i8],
        scales: &[f32],
        block: usize,
        col: &mut [f32],
    ) {
        let mut r = 0;
        while r + 4 <= m {
            dot_i8_rows::<4>(x, r, k, w, scales, block, col);
            r += 4;
        }
        while r < m {
            dot_i8_rows::<1>(x, r, k, w, scales, block, col);
            r += 1;
        }
    }

    /// [`dot_i8`] for input rows `r..r + R`, accumulators in registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn dot_i8_rows<const R: usize>(
        x: &[f32],
        r: usize,
        k: usize,
        w: &[i8],
        scales: &[f32],
        block: usize,
        col: &mut [f32],
    ) {
        let wp = w.as_ptr();
        let xp = x.as_ptr().add(r * k);
        let mut total = [_mm256_setzero_ps(); R];
        for (b, &scale) in scales.iter().enumerate() {
            let mut acc = [_mm256_setzero_ps(); R];
            let mut i = b * block;
            let end = i + block;
            while i < end {
                let w8 = load_i8(wp.add(i));
                for (q, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(q * k + i)), w8, *a);
                }
                i += 8;
            }
            let sv = _mm256_set1_ps(scale);
            for (t, a) in total.iter_mut().zip(acc) {
                *t = _mm256_fmadd_ps(a, sv, *t);
            }
        }
        for (c, t) in col[r..r + R].iter_mut().zip(total) {
            *c = hsum(t);
        }
    }
}

/// Quantize `[n, k]` f32 rows to int8 with one scale per row (absolute maximum → 127), the
/// scheme CTranslate2 uses for its int8 weights.
pub fn quantize_rows(w: &[f32], n: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    let mut values = Vec::with_capacity(n * k);
    let mut scales = Vec::with_capacity(n);
    for row in w.chunks_exact(k).take(n) {
        let amax = row.iter().fold(0f32, |a, &v| a.max(v.abs()));
        let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        values.extend(
            row.iter()
                .map(|&v| (v / scale).round().clamp(-127.0, 127.0) as i8),
        );
        scales.push(scale);
    }
    (values, scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for j in 0..n {
                out[r * n + j] = (0..k)
                    .map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i]))
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    fn data(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn f32_matches_a_float64_reference_for_odd_shapes() {
        for &(m, k, n) in &[
            (1, 8, 3),
            (3, 21, 300),
            (4, 64, 257),
            (7, 512, 600),
            (16, 37, 5),
        ] {
            let x = data(m * k, 1);
            let w = data(n * k, 2);
            let mut out = vec![0f32; m * n];
            skinny_matmul(&x, m, k, RowsRef::F32(&w), n, &mut out);
            let want = reference(&x, m, k, &w, n);
            for (a, b) in out.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{m}x{k}x{n}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn f32_rows_do_not_depend_on_the_rows_around_them() {
        // Rows grouped by four give the same bits whatever follows them (batched decoding must
        // match one sentence at a time).
        let (k, n) = (96, 301);
        let x = data(16 * k, 4);
        let w = data(n * k, 5);
        let mut all = vec![0f32; 16 * n];
        skinny_matmul(&x, 16, k, RowsRef::F32(&w), n, &mut all);
        for m in [4, 8, 12] {
            let mut out = vec![0f32; m * n];
            skinny_matmul(&x[..m * k], m, k, RowsRef::F32(&w), n, &mut out);
            assert_eq!(out, all[..m * n], "{m} rows");
        }
    }

    #[test]
    fn int8_rows_match_their_dequantized_product() {
        let (m, k, n) = (5, 70, 33);
        let x = data(m * k, 3);
        let w = data(n * k, 4);
        let (q, s) = quantize_rows(&w, n, k);
        let deq: Vec<f32> = q
            .chunks_exact(k)
            .zip(&s)
            .flat_map(|(row, &sc)| row.iter().map(move |&v| f32::from(v) * sc))
            .collect();
        let mut out = vec![0f32; m * n];
        skinny_matmul(
            &x,
            m,
            k,
            RowsRef::Int8 {
                values: &q,
                scales: &s,
                block: k,
            },
            n,
            &mut out,
        );
        let want = reference(&x, m, k, &deq, n);
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // And int8 is close to the float product.
        let exact = reference(&x, m, k, &w, n);
        for (a, b) in out.iter().zip(&exact) {
            assert!((a - b).abs() < 0.05 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn int8_blocks_match_their_dequantized_product() {
        // Blocks of 32 and whole rows of 64 take the vector path; blocks of 12 the portable one.
        for &(m, k, n, block) in &[(6, 96, 40, 32), (9, 64, 17, 64), (3, 36, 5, 12)] {
            let x = data(m * k, 5);
            let q: Vec<i8> = data(n * k, 6).iter().map(|v| (v * 127.0) as i8).collect();
            let scales: Vec<f32> = data(n * k / block, 7)
                .iter()
                .map(|v| v.abs() + 0.01)
                .collect();
            let deq: Vec<f32> = q
                .iter()
                .enumerate()
                .map(|(i, &v)| f32::from(v) * scales[i / block])
                .collect();
            let mut out = vec![0f32; m * n];
            let w = RowsRef::Int8 {
                values: &q,
                scales: &scales,
                block,
            };
            skinny_matmul(&x, m, k, w, n, &mut out);
            let want = reference(&x, m, k, &deq, n);
            for (a, b) in out.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                    "block {block}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn quantized_rows_keep_the_largest_value_exact() {
        let (q, s) = quantize_rows(&[0.5, -1.0, 0.25, 0.0, 0.0, 0.0], 2, 3);
        assert_eq!(q[1], -127);
        assert!((s[0] - 1.0 / 127.0).abs() < 1e-9);
        assert_eq!(&q[3..], &[0, 0, 0]);
        assert_eq!(s[1], 1.0);
    }
}
