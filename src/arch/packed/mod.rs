//! CPU matrix products against weights packed once, at load: `y = x Wᵀ + b` with `x: [m, k]`
//! row-major and `W: [n, k]` as checkpoints store it (one row per output).
//!
//! At load `W` is rearranged into panels of [`NR`] output columns: panel `p` holds, for each
//! input index `i`, the sixteen values `W[16p + c][i]` side by side in one 64-byte line. A product
//! walks the panels (split among the rayon threads) and, for each block of depth, multiplies the
//! panel's lines into tiles of up to [`MR`] rows × 16 columns that live in registers: the shape
//! of a GEMM micro-kernel, without the repacking of the weights that a general GEMM does at every
//! call (at 32 rows against opus-mt-sized matrices that repacking was ~18% of a decoder step).
//! Each line is read from memory once per product, so one row (greedy decoding of one
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

use super::mapped::{Buf, Pod};

/// Output columns per panel (two AVX registers).
pub const NR: usize = 16;
/// Rows per register tile: 6 × 2 accumulators, 2 panel values and a broadcast row value fit
/// the sixteen AVX registers.
const MR: usize = 6;
/// Depth per pass: a panel's block (256 lines, 16 KiB) stays in L1 while every row tile uses it.
const KC: usize = 256;
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

// SAFETY: repr(C) array of f32.
unsafe impl Pod for Line {}

#[derive(Clone)]
enum Panels {
    /// `panels × k` lines.
    F32(Buf<Line>),
    /// `panels × k` lines of int8, and `panels × k/32` lines of scales.
    Int8 {
        values: Buf<[i8; NR]>,
        scales: Buf<Line>,
    },
    /// int8 with one scale per output row, multiplied by int8-quantized activations.
    RowInt8(int8::RowPanels),
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
            panels: Panels::F32(lines.into()),
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
                values: packed.into(),
                scales: packed_scales.into(),
            },
            bias: None,
            act: None,
            n,
            k,
        }
    }

    /// Pack int8 `values` (`n` rows of `k`) with one scale per row (`w = q · scales[row]`)
    /// for int8 × int8 products: each row of `x` is quantized to int8 when the product runs
    /// (see [`int8`]).
    pub fn from_i8_rows(values: &[i8], scales: &[f32], n: usize, k: usize) -> Self {
        Self {
            panels: Panels::RowInt8(int8::RowPanels::pack(values, scales, n, k)),
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
            Panels::F32(lines) => lines.make_mut(),
            Panels::Int8 { scales, .. } => scales.make_mut(),
            Panels::RowInt8(w) => {
                for (s, &f) in w.scales.make_mut().iter_mut().zip(factors) {
                    *s *= f;
                }
                return self;
            }
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
        matches!(self.panels, Panels::Int8 { .. } | Panels::RowInt8(_))
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
            Panels::RowInt8(w) => (0..k).map(|i| w.value(k, j, i)).collect(),
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
        let simd = simd();
        let dst = OutPtr(out.as_mut_ptr().cast::<f32>());
        if let Panels::RowInt8(w) = &self.panels {
            int8::matmul(
                w,
                self.bias.as_deref(),
                self.act,
                n,
                k,
                x,
                m,
                dst,
                int8::Kernel::best(simd),
            );
            // SAFETY: as below: the tiles wrote all m × n values.
            return unsafe { assume_init(out) };
        }
        let panels = n.div_ceil(NR);
        // A few tasks per thread, each a run of whole panels.
        let group = panels
            .div_ceil(4 * rayon::current_num_threads().max(1))
            .max(1);
        // Each panel block is read (and, for int8, widened) once per call, and every row tile
        // uses it while it is in L1.
        (0..panels.div_ceil(group)).into_par_iter().for_each(|g| {
            let mut widened = Vec::new();
            for p in g * group..((g + 1) * group).min(panels) {
                let cols = NR.min(n - p * NR);
                let bias = self.bias.as_ref().map(|b| &b[p * NR..(p + 1) * NR]);
                for kc in (0..k).step_by(KC) {
                    let depth = KC.min(k - kc);
                    let b = match &self.panels {
                        Panels::F32(lines) => Block::F32(&lines[p * k + kc..p * k + kc + depth]),
                        Panels::RowInt8(_) => unreachable!("handled above"),
                        Panels::Int8 { values, scales } => {
                            let per_row = k / Q8_BLOCK;
                            let values = &values[p * k + kc..p * k + kc + depth];
                            let scales = &scales[p * per_row + kc / Q8_BLOCK..];
                            if simd && m <= FUSED_INT8_MAX_ROWS {
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
                    for t0 in (0..m).step_by(MR) {
                        let tile = Tile {
                            a: &x[t0 * k + kc..],
                            lda: k,
                            depth,
                            b,
                            // SAFETY: row t0.. and columns p·16.. are in `out` and no other task
                            // writes this panel's columns.
                            c: unsafe { dst.at(t0 * n + p * NR) },
                            ldc: n,
                            cols,
                            first: kc == 0,
                            bias,
                            act,
                        };
                        tile.run(MR.min(m - t0), simd);
                    }
                }
            }
        });
        // SAFETY: the tiles wrote all m × n values (every panel, every row tile, block 0 first).
        unsafe { assume_init(out) }
    }
}

/// The buffer as f32 values.
///
/// # Safety
/// Every element must have been written. (MaybeUninit<f32> and f32 have the same layout.)
unsafe fn assume_init(out: Vec<std::mem::MaybeUninit<f32>>) -> Vec<f32> {
    let mut out = std::mem::ManuallyDrop::new(out);
    Vec::from_raw_parts(out.as_mut_ptr().cast::<f32>(), out.len(), out.capacity())
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
mod avx2;
mod int8;
mod stored;
#[cfg(target_arch = "x86_64")]
mod vnni;

pub use stored::Kind as StoredKind;

#[cfg(test)]
mod tests;
