//! int8 × int8 products for weights stored as int8 rows with one scale per output row
//! (CTranslate2's int8 layout): `y = (q_x · q_w) · s_x · s_w + b`.
//!
//! Each row of `x` is quantized when the product runs, as CTranslate2 does: `s_x = max|x| / 127`,
//! `q_x = round(x / s_x)` (ties to even). The sums are exact in 32-bit integers (`k ≤ 2¹⁷`), so a
//! row's result depends only on that row, never on what else is in the batch.
//!
//! Weights are packed in panels of 16 output columns; a panel's "quad" `q` is 64 bytes: for each
//! column `c`, its four values at inputs `4q..4q+4`. On AVX2 one quad is two registers (8
//! columns × 4 inputs each) multiplied by four activation bytes broadcast to every lane with
//! `vpmaddubsw` (which takes one unsigned operand: the activation's magnitude, and the weight
//! with the activation's sign, so no pair sum can saturate 16 bits), then `vpmaddwd` into 32-bit
//! sums: about 2.5× the multiply-adds per instruction of the f32 kernel.
//!
//! Where the CPU has AVX-512 VNNI, one quad is one 512-bit register and `vpdpbusd` multiplies
//! it by a row's four activation bytes in a single instruction, summing straight into 32 bits.
//! That instruction takes unsigned activations, so they are offset by 128 (`q + 128` in 1..=255)
//! and `128 · Σ w` per column, summed once per matrix, is taken off again: the same exact
//! integer sums, so the same results, as the AVX2 and portable tiles (see [`super::vnni`]).

use rayon::prelude::*;
use std::sync::OnceLock;

use super::{Act, OutPtr, NR};
use crate::arch::mapped::{Buf, Pod};

/// Inputs per quad.
pub(super) const QUAD: usize = 4;
/// Rows per register tile of the AVX2 and portable kernels: 4 × 2 accumulators and 7 working
/// registers fill the sixteen.
const MR: usize = 4;
/// Rows per register tile of the VNNI kernel: one 512-bit accumulator per row (12 and 16
/// measured no faster on the Argos zh→en decoder; at 16 the compiler spills accumulators).
pub(super) const MR_VNNI: usize = 8;

/// Which instructions run the int8 × int8 tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernel {
    /// Plain Rust over the same layout.
    Portable,
    /// AVX2 `vpmaddubsw` with the sign trick.
    Avx2,
    /// AVX-512 VNNI `vpdpbusd` on offset activations.
    Vnni,
}

impl Kernel {
    /// The fastest kernel this CPU runs, given whether AVX2+FMA may be used at all.
    pub(super) fn best(simd: bool) -> Self {
        #[cfg(target_arch = "x86_64")]
        if simd && super::vnni::available() {
            return Self::Vnni;
        }
        if simd {
            Self::Avx2
        } else {
            Self::Portable
        }
    }

    fn rows(self) -> usize {
        match self {
            Self::Vnni => MR_VNNI,
            Self::Portable | Self::Avx2 => MR,
        }
    }
}

/// One quad of a panel: 16 columns × 4 inputs, column-major, cache-line aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Quad(pub(super) [i8; NR * QUAD]);

// SAFETY: repr(C) array of i8.
unsafe impl Pod for Quad {}

/// int8 weight panels with a scale per output column.
#[derive(Clone)]
pub(super) struct RowPanels {
    /// `panels × k.div_ceil(4)` quads; values past `n` or `k` are zero.
    pub(super) quads: Buf<Quad>,
    /// `panels × 16` scales (`w = q · s`), zero past `n`.
    pub(super) scales: Buf<f32>,
    /// `panels × 16` sums of each column's values, made the first time the VNNI kernel needs
    /// them.
    pub(super) col_sums: OnceLock<Vec<i32>>,
}

impl RowPanels {
    /// Pack `values` (`n` rows of `k`, clamped to ±127) with one scale per row.
    pub(super) fn pack(values: &[i8], scales: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(values.len(), n * k, "values are not n×k");
        assert_eq!(scales.len(), n, "one scale per row");
        let quads_per_panel = k.div_ceil(QUAD);
        let panels = n.div_ceil(NR);
        let mut quads = vec![Quad([0; NR * QUAD]); panels * quads_per_panel];
        if quads_per_panel > 0 {
            quads
                .par_chunks_mut(quads_per_panel)
                .enumerate()
                .for_each(|(p, panel)| {
                    for c in 0..NR.min(n - p * NR) {
                        let row = &values[(p * NR + c) * k..(p * NR + c + 1) * k];
                        for (quad, chunk) in panel.iter_mut().zip(row.chunks(QUAD)) {
                            for (i, &v) in chunk.iter().enumerate() {
                                // −128 has no positive counterpart for the sign trick.
                                quad.0[c * QUAD + i] = v.max(-127);
                            }
                        }
                    }
                });
        }
        let mut padded = scales.to_vec();
        padded.resize(panels * NR, 0.0);
        Self {
            quads: quads.into(),
            scales: padded.into(),
            col_sums: OnceLock::new(),
        }
    }

    /// Each output column's sum of values (`panels × 16`; zero past `n`).
    pub(super) fn col_sums(&self, k: usize) -> &[i32] {
        self.col_sums.get_or_init(|| {
            let quads_per_panel = k.div_ceil(QUAD);
            let mut sums = vec![0i32; self.scales.len()];
            if quads_per_panel > 0 {
                sums.par_chunks_mut(NR)
                    .zip(self.quads.par_chunks(quads_per_panel))
                    .for_each(|(sums, panel)| {
                        for quad in panel {
                            for (c, s) in sums.iter_mut().enumerate() {
                                *s += quad.0[c * QUAD..(c + 1) * QUAD]
                                    .iter()
                                    .map(|&v| i32::from(v))
                                    .sum::<i32>();
                            }
                        }
                    });
            }
            sums
        })
    }

    /// Value `i` of row `j`, dequantized.
    pub(super) fn value(&self, k: usize, j: usize, i: usize) -> f32 {
        let (p, c) = (j / NR, j % NR);
        let quad = &self.quads[p * k.div_ceil(QUAD) + i / QUAD];
        f32::from(quad.0[c * QUAD + i % QUAD]) * self.scales[j]
    }
}

/// `x` (`m` rows of `k`) quantized per row: values padded to whole quads, and each row's scale.
pub(super) struct QuantizedRows {
    pub(super) values: Vec<i8>,
    /// What the kernel reads beside `values`: `|values|` for AVX2 (so that a tile reads the
    /// magnitudes instead of computing them per panel), `values + 128` for VNNI, nothing for
    /// the portable kernel.
    pub(super) aux: Vec<u8>,
    pub(super) scales: Vec<f32>,
    /// Values per row (`k` rounded up to a quad).
    pub(super) stride: usize,
}

/// Quantize each row of `x` to int8 with its own scale `max|row| / 127`.
pub(super) fn quantize_rows(x: &[f32], m: usize, k: usize, kernel: Kernel) -> QuantizedRows {
    match kernel {
        Kernel::Portable => quantize_rows_with(x, m, k, None::<fn(i8) -> u8>),
        Kernel::Avx2 => quantize_rows_with(x, m, k, Some(|q: i8| q.unsigned_abs())),
        Kernel::Vnni => quantize_rows_with(x, m, k, Some(|q: i8| (q as u8) ^ 0x80)),
    }
}

/// [`quantize_rows`] with `aux[i] = aux_of(values[i])` (padding past `k` included), or no
/// `aux` at all.
fn quantize_rows_with<F: Fn(i8) -> u8 + Sync>(
    x: &[f32],
    m: usize,
    k: usize,
    aux_of: Option<F>,
) -> QuantizedRows {
    let stride = k.div_ceil(QUAD) * QUAD;
    let mut values = vec![0i8; m * stride];
    let mut scales = vec![0f32; m];
    values
        .par_chunks_mut(stride.max(1))
        .zip(scales.par_iter_mut())
        .zip(x.par_chunks(k.max(1)))
        .with_min_len(8)
        .for_each(|((q, s), row)| {
            let amax = row.iter().fold(0f32, |a, &v| a.max(v.abs()));
            if amax > 0.0 && amax.is_finite() {
                let inv = 127.0 / amax;
                for (q, &v) in q.iter_mut().zip(row) {
                    *q = (v * inv).round_ties_even() as i8;
                }
                *s = amax / 127.0;
            }
        });
    let aux = match aux_of {
        None => Vec::new(),
        Some(f) => values.iter().map(|&q| f(q)).collect(),
    };
    QuantizedRows {
        values,
        aux,
        scales,
        stride,
    }
}

/// What the last step of a tile adds and applies.
#[derive(Clone, Copy)]
pub(super) struct Epilogue<'a> {
    /// 16 column scales.
    pub(super) col_scales: &'a [f32],
    /// 16 bias values.
    pub(super) bias: Option<&'a [f32]>,
    pub(super) act: Option<Act>,
}

/// One register tile: `rows` quantized rows (`a`, stride `lda`, scales `row_scales`) times one
/// panel's `quads`, into `c` (stride `ldc`, `cols` valid columns).
pub(super) struct Tile<'a> {
    pub(super) a: &'a [i8],
    /// [`QuantizedRows::aux`] of the same rows.
    pub(super) a_aux: &'a [u8],
    pub(super) lda: usize,
    pub(super) row_scales: &'a [f32],
    pub(super) quads: &'a [Quad],
    /// The panel's 16 column sums (VNNI only).
    pub(super) col_sums: &'a [i32],
    pub(super) c: *mut f32,
    pub(super) ldc: usize,
    pub(super) cols: usize,
    pub(super) epilogue: Epilogue<'a>,
}

impl Tile<'_> {
    fn run(&self, rows: usize, kernel: Kernel) {
        debug_assert!((1..=kernel.rows()).contains(&rows));
        debug_assert!(self.a.len() >= (rows - 1) * self.lda + self.quads.len() * QUAD);
        #[cfg(target_arch = "x86_64")]
        match kernel {
            // SAFETY: AVX2 is present (checked by the caller); bounds are checked above in
            // debug builds and guaranteed by `matmul`.
            Kernel::Avx2 => unsafe {
                debug_assert!(self.a_aux.len() >= (rows - 1) * self.lda + self.quads.len() * QUAD);
                match rows {
                    1 => super::avx2::tile_q8q8::<1>(self),
                    2 => super::avx2::tile_q8q8::<2>(self),
                    3 => super::avx2::tile_q8q8::<3>(self),
                    _ => super::avx2::tile_q8q8::<4>(self),
                }
                return;
            },
            // SAFETY: AVX-512 VNNI is present (`Kernel::best`); bounds as above.
            Kernel::Vnni => unsafe {
                debug_assert!(self.a_aux.len() >= (rows - 1) * self.lda + self.quads.len() * QUAD);
                super::vnni::tile(self, rows);
                return;
            },
            Kernel::Portable => {}
        }
        let mut sums = [[0i32; NR]; MR];
        for (r, sums) in sums.iter_mut().enumerate().take(rows) {
            let a = &self.a[r * self.lda..];
            for (q, quad) in self.quads.iter().enumerate() {
                for (c, s) in sums.iter_mut().enumerate() {
                    for i in 0..QUAD {
                        *s += i32::from(a[q * QUAD + i]) * i32::from(quad.0[c * QUAD + i]);
                    }
                }
            }
        }
        let mut out = [[0f32; NR]; MR];
        for r in 0..rows {
            for c in 0..NR {
                out[r][c] = self.epilogue.apply(sums[r][c], self.row_scales[r], c);
            }
            // SAFETY: `cols` values of row `r` are in the output (caller's bounds).
            let dst =
                unsafe { std::slice::from_raw_parts_mut(self.c.add(r * self.ldc), self.cols) };
            dst.copy_from_slice(&out[r][..self.cols]);
        }
    }
}

impl Epilogue<'_> {
    /// The f32 output of column `c` from its integer sum.
    #[inline]
    pub(super) fn apply(&self, sum: i32, row_scale: f32, c: usize) -> f32 {
        let v = sum as f32 * row_scale * self.col_scales[c];
        let v = v + self.bias.map_or(0.0, |b| b[c]);
        self.act.map_or(v, |a| a.apply(v))
    }
}

/// `x Wᵀ (+ b)` for `x`, `m` rows of `k`, into `out` (`m × n`, every element written).
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    w: &RowPanels,
    bias: Option<&[f32]>,
    act: Option<Act>,
    n: usize,
    k: usize,
    x: &[f32],
    m: usize,
    out: OutPtr,
    kernel: Kernel,
) {
    let q = quantize_rows(x, m, k, kernel);
    let col_sums = match kernel {
        Kernel::Vnni => w.col_sums(k),
        Kernel::Portable | Kernel::Avx2 => &[],
    };
    let quads_per_panel = k.div_ceil(QUAD);
    let panels = n.div_ceil(NR);
    let group = panels
        .div_ceil(4 * rayon::current_num_threads().max(1))
        .max(1);
    (0..panels.div_ceil(group)).into_par_iter().for_each(|g| {
        for p in g * group..((g + 1) * group).min(panels) {
            let epilogue = Epilogue {
                col_scales: &w.scales[p * NR..(p + 1) * NR],
                bias: bias.map(|b| &b[p * NR..(p + 1) * NR]),
                act,
            };
            let quads = &w.quads[p * quads_per_panel..(p + 1) * quads_per_panel];
            let rows = kernel.rows();
            for t0 in (0..m).step_by(rows) {
                Tile {
                    a: &q.values[t0 * q.stride..],
                    a_aux: q.aux.get(t0 * q.stride..).unwrap_or_default(),
                    lda: q.stride,
                    row_scales: &q.scales[t0..],
                    quads,
                    col_sums: col_sums.get(p * NR..(p + 1) * NR).unwrap_or_default(),
                    // SAFETY: rows t0.. and columns p·16.. are in `out`; no other task writes
                    // this panel's columns.
                    c: unsafe { out.at(t0 * n + p * NR) },
                    ldc: n,
                    cols: NR.min(n - p * NR),
                    epilogue,
                }
                .run(rows.min(m - t0), kernel);
            }
        }
    });
}
