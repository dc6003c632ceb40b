//! CPU matrix products against weights packed once, at load: `y = x Wᵀ + b` with `x: [m, k]`
//! row-major and `W: [n, k]` as checkpoints store it (one row per output).
//!
//! At load `W` is rearranged into panels of [`NR`] output columns: panel `p` holds, for each
//! input index `i`, the sixteen values `W[16p + c][i]` side by side in one 64-byte line. A product
//! walks the panels (split among the rayon threads) and, for each block of depth, multiplies the
//! panel's lines into tiles of up to [`MR`] rows × 16 columns that live in registers: the shape
//! of a GEMM micro-kernel, without the repacking of the weights that a general GEMM does at every
//! call (at 32 rows against opus-mt-sized matrices that repacking was ~18% of a decoder step).
//! Each line is read from memory once per chunk of rows, so one row (greedy decoding of one
//! sentence) streams the weights like a matrix-vector product, and many rows reuse each line
//! from L1 across the whole tile.
//!
//! int8 weights (GGML Q8_0: one f32 scale per 32 values of a row) stay int8 in memory, a
//! quarter of f32's traffic; each panel's block of depth is widened to f32 into a per-thread
//! buffer just before its tiles run, and the arithmetic is the f32 kernel's (weight-only
//! quantization: activations stay f32).
//!
//! Every output element is summed in the same order whatever `m` is and wherever its row falls
//! in a tile, so a sentence's results do not depend on what else is in its batch. AVX2+FMA code
//! is chosen at run time; other CPUs take a portable loop over the same layout.

use rayon::prelude::*;

/// Output columns per panel (two AVX registers).
pub const NR: usize = 16;
/// Rows per register tile: 6 × 2 accumulators, 2 panel values and a broadcast row value fit
/// the sixteen AVX registers.
const MR: usize = 6;
/// Depth per pass: a panel's block (256 lines, 16 KiB) stays in L1 while every row tile uses it.
const KC: usize = 256;
/// Bytes of `x` a chunk of rows may take, so the rows stay in L2 while the panels stream past.
const ROWS_BYTES: usize = 256 << 10;
/// Values per int8 scale (GGML Q8_0).
pub const Q8_BLOCK: usize = 32;
/// Up to this many rows an int8 block is widened inside the tile, line by line; above it the
/// block is widened once into a buffer that every tile then reads (the widening is paid once
/// instead of once per tile). Both give the same f32 values.
const FUSED_INT8_MAX_ROWS: usize = 6;

/// One line of a panel: 16 values for 16 output columns, cache-line aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; NR]);

const ZERO_LINE: Line = Line([0.0; NR]);

#[derive(Clone)]
enum Panels {
    /// `panels × k` lines.
    F32(Vec<Line>),
    /// `panels × k` lines of int8, and `panels × k/32` lines of scales.
    Int8 {
        values: Vec<[i8; NR]>,
        scales: Vec<Line>,
    },
}

/// An elementwise function the kernel applies to each output after the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `x / (1 + e^−x)` (SiLU, swish).
    Silu,
    /// `max(x, 0)`.
    Relu,
}

impl Act {
    fn apply(self, x: f32) -> f32 {
        match self {
            Self::Silu => x / (1.0 + (-x).exp()),
            Self::Relu => x.max(0.0),
        }
    }
}

/// A `[n, k]` weight matrix packed for [`PackedMatrix::matmul`], with an optional bias `[n]`
/// and activation.
#[derive(Clone)]
pub struct PackedMatrix {
    panels: Panels,
    /// `panels × 16` values, zero past `n`.
    bias: Option<Vec<f32>>,
    act: Option<Act>,
    n: usize,
    k: usize,
}

impl PackedMatrix {
    /// Pack f32 `w` (`n` rows of `k`).
    pub fn from_f32(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "w is not n×k");
        let mut lines = vec![ZERO_LINE; n.div_ceil(NR) * k];
        if k > 0 {
            lines.par_chunks_mut(k).enumerate().for_each(|(p, panel)| {
                for c in 0..NR.min(n - p * NR) {
                    let row = &w[(p * NR + c) * k..(p * NR + c + 1) * k];
                    for (line, &v) in panel.iter_mut().zip(row) {
                        line.0[c] = v;
                    }
                }
            });
        }
        Self {
            panels: Panels::F32(lines),
            bias: None,
            act: None,
            n,
            k,
        }
    }

    /// Pack int8 `values` (`n` rows of `k`) with one scale per [`Q8_BLOCK`] values of a row
    /// (`scales`: `n` rows of `k / 32`). `k` must be a multiple of 32.
    pub fn from_q8(values: &[i8], scales: &[f32], n: usize, k: usize) -> Self {
        assert!(k.is_multiple_of(Q8_BLOCK), "k is not a multiple of 32");
        assert_eq!(values.len(), n * k, "values are not n×k");
        let per_row = k / Q8_BLOCK;
        assert_eq!(scales.len(), n * per_row, "one scale per 32 values");
        let panels = n.div_ceil(NR);
        let mut packed = vec![[0i8; NR]; panels * k];
        let mut packed_scales = vec![ZERO_LINE; panels * per_row];
        if k > 0 {
            packed
                .par_chunks_mut(k)
                .zip(packed_scales.par_chunks_mut(per_row))
                .enumerate()
                .for_each(|(p, (panel, panel_scales))| {
                    for c in 0..NR.min(n - p * NR) {
                        let j = p * NR + c;
                        for (line, &v) in panel.iter_mut().zip(&values[j * k..(j + 1) * k]) {
                            line[c] = v;
                        }
                        for (line, &s) in panel_scales
                            .iter_mut()
                            .zip(&scales[j * per_row..(j + 1) * per_row])
                        {
                            line.0[c] = s;
                        }
                    }
                });
        }
        Self {
            panels: Panels::Int8 {
                values: packed,
                scales: packed_scales,
            },
            bias: None,
            act: None,
            n,
            k,
        }
    }

    /// Add `bias` (`n` values) to every product, inside the kernel.
    pub fn with_bias(mut self, bias: &[f32]) -> Self {
        self.set_bias(bias);
        self
    }

    /// [`PackedMatrix::with_bias`] in place.
    pub fn set_bias(&mut self, bias: &[f32]) {
        assert_eq!(bias.len(), self.n, "bias is not n long");
        let mut padded = bias.to_vec();
        padded.resize(self.n.div_ceil(NR) * NR, 0.0);
        self.bias = Some(padded);
    }

    /// Apply `act` to every output, after the bias, inside the kernel.
    pub fn with_activation(mut self, act: Act) -> Self {
        self.set_activation(act);
        self
    }

    /// [`PackedMatrix::with_activation`] in place.
    pub fn set_activation(&mut self, act: Act) {
        self.act = Some(act);
    }

    /// Multiply row `j` of `W` by `factors[j]` (a per-output correction some checkpoints keep
    /// apart from their int8 scales).
    pub fn scale_rows(mut self, factors: &[f32]) -> Self {
        assert_eq!(factors.len(), self.n, "one factor per row");
        let lines = match &mut self.panels {
            Panels::F32(lines) => lines,
            Panels::Int8 { scales, .. } => scales,
        };
        let per_panel = lines.len() / self.n.div_ceil(NR).max(1);
        for (p, panel) in lines.chunks_mut(per_panel.max(1)).enumerate() {
            for line in panel {
                for (c, v) in line.0.iter_mut().enumerate() {
                    *v *= factors.get(p * NR + c).copied().unwrap_or(0.0);
                }
            }
        }
        self
    }

    /// Whether a bias is added.
    pub fn has_bias(&self) -> bool {
        self.bias.is_some()
    }

    /// Output columns.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input columns.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Whether the weights are int8.
    pub fn is_int8(&self) -> bool {
        matches!(self.panels, Panels::Int8 { .. })
    }

    /// Row `j` of `W` (dequantized for int8), as it was packed.
    pub fn row(&self, j: usize) -> Vec<f32> {
        assert!(j < self.n, "row {j} of {}", self.n);
        let (p, c, k) = (j / NR, j % NR, self.k);
        match &self.panels {
            Panels::F32(lines) => lines[p * k..(p + 1) * k].iter().map(|l| l.0[c]).collect(),
            Panels::Int8 { values, scales } => {
                let per_row = k / Q8_BLOCK;
                (0..k)
                    .map(|i| {
                        f32::from(values[p * k + i][c]) * scales[p * per_row + i / Q8_BLOCK].0[c]
                    })
                    .collect()
            }
        }
    }

    /// `x Wᵀ (+ b)` for `x`, `m` rows of `k`: `m` rows of `n`, row-major.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let (n, k) = (self.n, self.k);
        assert_eq!(x.len(), m * k, "x is not m×k");
        if m == 0 || n == 0 || k == 0 {
            // No products: the bias (and activation) alone.
            let row: Vec<f32> = (0..n)
                .map(|j| {
                    let v = self.bias.as_ref().map_or(0.0, |b| b[j]);
                    self.act.map_or(v, |a| a.apply(v))
                })
                .collect();
            return row.repeat(m);
        }
        // Every element is written by the first block of depth before it is read, so the
        // buffer starts uninitialized (zeroing 7.5 MB of logits per step showed in profiles).
        let mut out: Vec<std::mem::MaybeUninit<f32>> = Vec::with_capacity(m * n);
        // SAFETY: MaybeUninit needs no initialization.
        unsafe { out.set_len(m * n) };
        let panels = n.div_ceil(NR);
        // A few tasks per thread, each a run of whole panels.
        let group = panels
            .div_ceil(4 * rayon::current_num_threads().max(1))
            .max(1);
        let chunk_rows = (ROWS_BYTES / (4 * k.max(1))).max(2 * MR) / MR * MR;
        let simd = simd();
        let dst = OutPtr(out.as_mut_ptr().cast::<f32>());
        for r0 in (0..m).step_by(chunk_rows) {
            let rows = chunk_rows.min(m - r0);
            let xc = &x[r0 * k..(r0 + rows) * k];
            (0..panels.div_ceil(group)).into_par_iter().for_each(|g| {
                let mut widened = Vec::new();
                for p in g * group..((g + 1) * group).min(panels) {
                    let cols = NR.min(n - p * NR);
                    let bias = self.bias.as_ref().map(|b| &b[p * NR..(p + 1) * NR]);
                    for kc in (0..k).step_by(KC) {
                        let depth = KC.min(k - kc);
                        let b = match &self.panels {
                            Panels::F32(lines) => {
                                Block::F32(&lines[p * k + kc..p * k + kc + depth])
                            }
                            Panels::Int8 { values, scales } => {
                                let per_row = k / Q8_BLOCK;
                                let values = &values[p * k + kc..p * k + kc + depth];
                                let scales = &scales[p * per_row + kc / Q8_BLOCK..];
                                if simd && rows <= FUSED_INT8_MAX_ROWS {
                                    Block::Int8 { values, scales }
                                } else {
                                    widened.resize(depth, ZERO_LINE);
                                    widen(values, scales, &mut widened, simd);
                                    Block::F32(&widened)
                                }
                            }
                        };
                        let last = kc + depth == k;
                        let (bias, act) = if last { (bias, self.act) } else { (None, None) };
                        for t0 in (0..rows).step_by(MR) {
                            let tile = Tile {
                                a: &xc[t0 * k + kc..],
                                lda: k,
                                depth,
                                b,
                                // SAFETY: rows r0+t0.. and columns p·16.. are in `out` and no
                                // other task writes this panel's columns.
                                c: unsafe { dst.at((r0 + t0) * n + p * NR) },
                                ldc: n,
                                cols,
                                first: kc == 0,
                                bias,
                                act,
                            };
                            tile.run(MR.min(rows - t0), simd);
                        }
                    }
                }
            });
        }
        // SAFETY: the tiles wrote all m × n values (every panel, every row chunk, block 0 first);
        // MaybeUninit<f32> and f32 have the same layout.
        unsafe {
            let mut out = std::mem::ManuallyDrop::new(out);
            Vec::from_raw_parts(out.as_mut_ptr().cast::<f32>(), out.len(), out.capacity())
        }
    }
}

/// The output pointer, shared by the tasks (each writes its own panels' columns).
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint columns of the buffer, which outlives them.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer `offset` values in (a method, so closures capture the whole wrapper).
    ///
    /// # Safety
    /// `offset` must be within the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// A panel's block of depth as a tile reads it.
#[derive(Clone, Copy)]
enum Block<'a> {
    F32(&'a [Line]),
    /// int8 lines and their scales (line `i` takes `scales[i / 32]`), widened in registers.
    Int8 {
        values: &'a [[i8; NR]],
        scales: &'a [Line],
    },
}

/// One register tile's work: `depth` columns of rows of `a` (stride `lda`) times the panel
/// block `b`, into `c` (stride `ldc`, `cols` valid columns).
struct Tile<'a> {
    a: &'a [f32],
    lda: usize,
    depth: usize,
    b: Block<'a>,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    /// The first block of depth: start from zero instead of `c`.
    first: bool,
    /// The last block of depth: add these 16 values.
    bias: Option<&'a [f32]>,
    /// The last block of depth: then apply this.
    act: Option<Act>,
}

impl Tile<'_> {
    fn run(&self, rows: usize, simd: bool) {
        debug_assert!((1..=MR).contains(&rows));
        debug_assert!(self.a.len() >= (rows - 1) * self.lda + self.depth);
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: AVX2 and FMA are present (checked by `simd()`); the bounds are the
            // caller's and checked above in debug builds.
            unsafe {
                match (self.b, rows) {
                    (Block::F32(b), 1) => avx2::tile::<1>(self, b),
                    (Block::F32(b), 2) => avx2::tile::<2>(self, b),
                    (Block::F32(b), 3) => avx2::tile::<3>(self, b),
                    (Block::F32(b), 4) => avx2::tile::<4>(self, b),
                    (Block::F32(b), 5) => avx2::tile::<5>(self, b),
                    (Block::F32(b), _) => avx2::tile::<6>(self, b),
                    (Block::Int8 { values, scales }, 1) => avx2::tile_i8::<1>(self, values, scales),
                    (Block::Int8 { values, scales }, 2) => avx2::tile_i8::<2>(self, values, scales),
                    (Block::Int8 { values, scales }, 3) => avx2::tile_i8::<3>(self, values, scales),
                    (Block::Int8 { values, scales }, 4) => avx2::tile_i8::<4>(self, values, scales),
                    (Block::Int8 { values, scales }, 5) => avx2::tile_i8::<5>(self, values, scales),
                    (Block::Int8 { values, scales }, _) => avx2::tile_i8::<6>(self, values, scales),
                }
            }
            return;
        }
        let _ = simd;
        let Block::F32(b) = self.b else {
            unreachable!("int8 blocks are widened before the portable tile");
        };
        self.portable(rows, b);
    }

    /// The tile without vector instructions (same order of sums per element).
    fn portable(&self, rows: usize, b: &[Line]) {
        let mut acc = [[0f32; NR]; MR];
        for (r, acc) in acc.iter_mut().enumerate().take(rows) {
            if !self.first {
                // SAFETY: `cols` values of row `r` are in the output (caller's bounds).
                let c = unsafe { std::slice::from_raw_parts(self.c.add(r * self.ldc), self.cols) };
                acc[..self.cols].copy_from_slice(c);
            }
            let a = &self.a[r * self.lda..r * self.lda + self.depth];
            for (&av, line) in a.iter().zip(b) {
                for (s, &w) in acc.iter_mut().zip(&line.0) {
                    *s += av * w;
                }
            }
            if let Some(bias) = self.bias {
                for (s, &b) in acc.iter_mut().zip(bias) {
                    *s += b;
                }
            }
            if let Some(act) = self.act {
                for s in acc.iter_mut() {
                    *s = act.apply(*s);
                }
            }
            // SAFETY: as above.
            let c = unsafe { std::slice::from_raw_parts_mut(self.c.add(r * self.ldc), self.cols) };
            c.copy_from_slice(&acc[..self.cols]);
        }
    }
}

/// Widen int8 lines to f32 with their block scales (`scales[i / 32]` for line `i`).
fn widen(values: &[[i8; NR]], scales: &[Line], out: &mut [Line], simd: bool) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: AVX2 is present (checked by `simd()`).
        unsafe { avx2::widen(values, scales, out) };
        return;
    }
    let _ = simd;
    widen_portable(values, scales, out);
}

#[inline(always)]
fn widen_portable(values: &[[i8; NR]], scales: &[Line], out: &mut [Line]) {
    for (blk, (vals, outs)) in values
        .chunks(Q8_BLOCK)
        .zip(out.chunks_mut(Q8_BLOCK))
        .enumerate()
    {
        let s = &scales[blk].0;
        for (v, o) in vals.iter().zip(outs) {
            for c in 0..NR {
                o.0[c] = f32::from(v[c]) * s[c];
            }
        }
    }
}

/// Whether the AVX2+FMA code can run here.
fn simd() -> bool {
    crate::simd::avx2_fma()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
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
    pub(super) unsafe fn tile_i8<const R: usize>(
        t: &Tile<'_>,
        values: &[[i8; NR]],
        scales: &[Line],
    ) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// `x Wᵀ + b` in f64.
    fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize, b: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i]))
                    .sum();
                out[r * n + j] = (s + f64::from(b[j])) as f32;
            }
        }
        out
    }

    fn assert_close(got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol, "element {i}: {g} vs {w}");
        }
    }

    #[test]
    fn f32_matches_a_float64_reference_for_odd_shapes() {
        // Rows across tiles and chunks, columns not a multiple of 16, depth across blocks.
        for &(m, k, n) in &[
            (1, 8, 1),
            (5, 40, 17),
            (7, 300, 33),
            (13, 520, 50),
            (150, 600, 40),
        ] {
            let (x, w, b) = (data(m * k, 1), data(n * k, 2), data(n, 3));
            let packed = PackedMatrix::from_f32(&w, n, k).with_bias(&b);
            let want = reference(&x, m, k, &w, n, &b);
            assert_close(&packed.matmul(&x, m), &want, 1e-3);
            let plain = PackedMatrix::from_f32(&w, n, k).matmul(&x, m);
            assert_close(&plain, &reference(&x, m, k, &w, n, &vec![0.0; n]), 1e-3);
        }
    }

    #[test]
    fn rows_do_not_depend_on_the_rows_around_them() {
        let (m, k, n) = (23, 520, 37);
        let (x, w) = (data(m * k, 4), data(n * k, 5));
        let packed = PackedMatrix::from_f32(&w, n, k);
        let all = packed.matmul(&x, m);
        for r in 0..m {
            let one = packed.matmul(&x[r * k..(r + 1) * k], 1);
            assert_eq!(one, all[r * n..(r + 1) * n], "row {r}");
        }
    }

    #[test]
    fn portable_and_vector_tiles_agree() {
        let (m, k, n) = (9, 300, 21);
        let (x, w, b) = (data(m * k, 6), data(n * k, 7), data(n, 8));
        let packed = PackedMatrix::from_f32(&w, n, k).with_bias(&b);
        let Panels::F32(lines) = &packed.panels else {
            unreachable!()
        };
        let mut tiled = vec![0f32; m * n];
        for simd_on in [false, simd()] {
            for p in 0..n.div_ceil(NR) {
                for kc in (0..k).step_by(KC) {
                    let depth = KC.min(k - kc);
                    Tile {
                        a: &x[kc..],
                        lda: k,
                        depth,
                        b: Block::F32(&lines[p * k + kc..p * k + kc + depth]),
                        c: tiled[p * NR..].as_mut_ptr(),
                        ldc: n,
                        cols: NR.min(n - p * NR),
                        first: kc == 0,
                        bias: (kc + depth == k).then(|| &packed.bias.as_ref().unwrap()[p * NR..]),
                        act: None,
                    }
                    .run(6, simd_on);
                }
            }
            let want = reference(&x[..6 * k], 6, k, &w, n, &b);
            assert_close(&tiled[..6 * n], &want, 1e-3);
        }
    }

    #[test]
    fn int8_matches_its_dequantized_rows() {
        let (m, k, n) = (11, 320, 19);
        let x = data(m * k, 9);
        let values: Vec<i8> = data(n * k, 10).iter().map(|v| (v * 127.0) as i8).collect();
        let scales: Vec<f32> = data(n * k / Q8_BLOCK, 11)
            .iter()
            .map(|v| v.abs() / 100.0 + 1e-3)
            .collect();
        let packed = PackedMatrix::from_q8(&values, &scales, n, k);
        assert!(packed.is_int8());
        let dense: Vec<f32> = (0..n).flat_map(|j| packed.row(j)).collect();
        for (i, (&d, &v)) in dense.iter().zip(&values).enumerate() {
            assert_eq!(d, f32::from(v) * scales[i / Q8_BLOCK]);
        }
        let want = reference(&x, m, k, &dense, n, &vec![0.0; n]);
        assert_close(&packed.matmul(&x, m), &want, 1e-3);
        // And exactly the f32 kernel on the widened values, whether a row is widened in the
        // tile (few rows) or with its block (many).
        let all = packed.matmul(&x, m);
        assert_eq!(all, PackedMatrix::from_f32(&dense, n, k).matmul(&x, m));
        for r in 0..m {
            let one = packed.matmul(&x[r * k..(r + 1) * k], 1);
            assert_eq!(one, all[r * n..(r + 1) * n], "row {r}");
        }
    }

    #[test]
    fn activations_follow_the_bias() {
        let (m, k, n) = (7, 64, 20);
        let (x, w, b) = (data(m * k, 13), data(n * k, 14), data(n, 15));
        let plain = reference(&x, m, k, &w, n, &b);
        for act in [Act::Silu, Act::Relu] {
            let packed = PackedMatrix::from_f32(&w, n, k)
                .with_bias(&b)
                .with_activation(act);
            let want: Vec<f32> = plain.iter().map(|&v| act.apply(v)).collect();
            assert_close(&packed.matmul(&x, m), &want, 1e-3);
        }
    }

    #[test]
    fn row_returns_what_was_packed() {
        let (n, k) = (35, 24);
        let w = data(n * k, 12);
        let packed = PackedMatrix::from_f32(&w, n, k);
        for j in [0, 15, 16, 34] {
            assert_eq!(packed.row(j), w[j * k..(j + 1) * k]);
        }
    }

    #[test]
    fn empty_shapes_give_empty_or_bias_free_results() {
        let packed = PackedMatrix::from_f32(&[], 0, 8);
        assert!(packed.matmul(&data(16, 1), 2).is_empty());
        let packed = PackedMatrix::from_f32(&data(24, 1), 3, 8);
        assert!(packed.matmul(&[], 0).is_empty());
    }
}
