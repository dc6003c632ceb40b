//! Attention of decoding steps on the CPU: a few queries per row against cached keys and values,
//! in one pass per row and head, with no layout copies.
//!
//! During decoding each row brings one query per head (self-attention), or the beams of one
//! sentence bring one each against their shared encoder memory (grouped cross-attention). As
//! tensor operations that is a transpose copy of the queries, two batched products of a
//! handful of rows each (whose general GEMM packs its operands at every call), a softmax, a
//! bias addition and another transpose copy. Here the queries are read where the projection
//! wrote them, `[rows, queries, heads, head_dim]`, and the result is written in the same layout,
//! ready for the output projection.
//!
//! The arithmetic is the usual one in f32: scores `(q · scale) · k + bias`, a softmax that
//! subtracts the row's maximum, then the probability-weighted sum of the values. Each query's
//! result depends only on its own row, whatever else is in the batch, and keys masked off at
//! the end (padding to the batch's longest sentence) add exact zeros. The encoder's
//! self-attention takes this path too, whatever the sentence length: a GEMM would sum in an
//! order that depends on the padded length, so a sentence would translate differently next to
//! a longer one (what `tolk serve`, batching unrelated requests, must not do).

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use super::kv_cache::Blocks;

/// `softmax((q · scale) kᵀ + bias) v` for `q: [b, g, h, d]` (`g` queries per row and head),
/// `k`, `v`: `[b, h, s, d]` and `bias` broadcastable to `[b, h, g, s]`; returns `[b, g, h, d]`.
///
/// `None` when this path does not apply (not the CPU, not f32, empty heads or mismatched
/// shapes); the caller then uses tensor operations.
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    scale: f32,
) -> Option<candle_core::Result<Tensor>> {
    if !matches!(q.device(), Device::Cpu)
        || [q, k, v]
            .iter()
            .any(|t| t.dtype() != DType::F32 || t.rank() != 4)
    {
        return None;
    }
    let (b, g, h, d) = q.dims4().ok()?;
    let (kb, kh, s, kd) = k.dims4().ok()?;
    if d == 0 || (kb, kh, kd) != (b, h, d) || v.dims() != k.dims() {
        return None;
    }
    let bias = match bias {
        Some(bias) if bias.dtype() == DType::F32 => Some(bias.broadcast_as((b, h, g, s)).ok()?),
        Some(_) => return None,
        None => None,
    };
    Some(run(q, k, v, bias.as_ref(), scale, (b, g, h, s, d)))
}

/// The f32 values of a contiguous CPU tensor.
fn slice<'a>(st: &'a candle_core::Storage, l: &candle_core::Layout) -> Option<&'a [f32]> {
    let (a, z) = l.contiguous_offsets()?;
    match st {
        candle_core::Storage::Cpu(candle_core::CpuStorage::F32(x)) => Some(&x[a..z]),
        _ => None,
    }
}

fn run(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    scale: f32,
    dims: (usize, usize, usize, usize, usize),
) -> candle_core::Result<Tensor> {
    let (b, g, h, s, d) = dims;
    let (qs, ql) = q.storage_and_layout();
    let (ks, kl) = k.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let (Some(qv), Some(kv), Some(vv)) = (slice(&qs, ql), slice(&ks, kl), slice(&vs, vl)) else {
        // Strided inputs: copy them once and try again.
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        if q.is_contiguous() && k.is_contiguous() && v.is_contiguous() {
            return run(&q, &k, &v, bias, scale, dims);
        }
        candle_core::bail!("cached attention: inputs are not contiguous");
    };
    let bias_guard = bias.map(|t| t.storage_and_layout());
    let bias_view = bias_view(&bias_guard)?;
    // One task per row and head (a single long sentence still uses every thread), written
    // `[b, h, g, d]`, then laid out `[b, g, h, d]`.
    let mut by_head = vec![0f32; b * h * g * d];
    let row_len = g * h * d;
    by_head
        .par_chunks_mut((g * d).max(1))
        .enumerate()
        .for_each_init(
            || (vec![0f32; d], vec![0f32; s]),
            |(qbuf, probs), (rh, out)| {
                let (r, head) = (rh / h, rh % h);
                let at = (r * h + head) * s * d;
                let (keys, values) = (&kv[at..][..s * d], &vv[at..][..s * d]);
                for (j, out) in out.chunks_mut(d).enumerate() {
                    let from = r * row_len + (j * h + head) * d;
                    for (x, &y) in qbuf.iter_mut().zip(&qv[from..][..d]) {
                        *x = y * scale;
                    }
                    let query = Query {
                        q: qbuf,
                        keys: Rows::Flat(keys),
                        values: Rows::Flat(values),
                        bias: bias_view.map(|(x, off, st)| {
                            (x, off + r * st[0] + head * st[1] + j * st[2], st[3])
                        }),
                    };
                    one_query(&query, probs, out);
                }
            },
        );
    if h == 1 || g == 1 {
        // [b, h, g, d] and [b, g, h, d] are the same layout.
        return Tensor::from_vec(by_head, (b, g, h, d), &Device::Cpu);
    }
    let mut out = vec![0f32; b * g * h * d];
    for (rh, block) in by_head.chunks(g * d).enumerate() {
        let (r, head) = (rh / h, rh % h);
        for (j, x) in block.chunks(d).enumerate() {
            let to = r * row_len + (j * h + head) * d;
            out[to..to + d].copy_from_slice(x);
        }
    }
    Tensor::from_vec(out, (b, g, h, d), &Device::Cpu)
}

/// A bias as (values, offset, strides over `[b, h, g, s]`); broadcast dimensions have stride 0.
type BiasView<'a> = (&'a [f32], usize, [usize; 4]);

fn bias_view<'a, G: std::ops::Deref<Target = candle_core::Storage>>(
    guard: &'a Option<(G, &candle_core::Layout)>,
) -> candle_core::Result<Option<BiasView<'a>>> {
    Ok(match guard {
        Some((st, l)) => match &**st {
            candle_core::Storage::Cpu(candle_core::CpuStorage::F32(x)) => {
                let st = l.stride();
                Some((x.as_slice(), l.start_offset(), [st[0], st[1], st[2], st[3]]))
            }
            _ => candle_core::bail!("cached attention: the bias is not on the CPU"),
        },
        None => None,
    })
}

/// Self-attention of one new position per row against a block store: `q: [rows, 1, h, d]`
/// (the rows of the store's newest block) and `bias` broadcastable to `[rows, h, 1, s]`;
/// returns `[rows, 1, h, d]`. The same arithmetic as [`attend`] on the gathered cache.
pub(crate) fn attend_blocks(
    q: &Tensor,
    blocks: &Blocks,
    bias: Option<&Tensor>,
    scale: f32,
) -> candle_core::Result<Tensor> {
    let (b, g, h, d) = q.dims4()?;
    let s = blocks.len();
    if g != 1 || (h, d) != (blocks.heads, blocks.head_dim) || b != blocks.rows() || d == 0 {
        candle_core::bail!(
            "cached attention: queries {:?} do not fit {} rows of {} heads of {}",
            q.dims(),
            blocks.rows(),
            blocks.heads,
            blocks.head_dim
        );
    }
    let q = q.contiguous()?;
    let bias = match bias {
        Some(bias) => Some(bias.to_dtype(DType::F32)?.broadcast_as((b, h, g, s))?),
        None => None,
    };
    let (qs, ql) = q.storage_and_layout();
    let Some(qv) = slice(&qs, ql) else {
        candle_core::bail!("cached attention: the queries are not f32 on the CPU");
    };
    let bias_guard = bias.as_ref().map(|t| t.storage_and_layout());
    let bias_view = bias_view(&bias_guard)?;
    let mut out = vec![0f32; b * h * d];
    let row_len = h * d;
    out.par_chunks_mut(row_len).enumerate().for_each_init(
        || (vec![0f32; d], vec![0f32; s], Vec::new(), Vec::new()),
        |(qbuf, probs, history, at), (r, out)| {
            blocks.history(r, history);
            at.clear();
            at.extend(history.iter().map(|&slot| slot * row_len));
            for head in 0..h {
                let from = r * row_len + head * d;
                for (x, &y) in qbuf.iter_mut().zip(&qv[from..from + d]) {
                    *x = y * scale;
                }
                let rows = |blocks| Rows::Blocks {
                    blocks,
                    at,
                    offset: head * d,
                };
                let query = Query {
                    q: qbuf,
                    keys: rows(&blocks.keys),
                    values: rows(&blocks.values),
                    bias: bias_view.map(|(x, off, st)| (x, off + r * st[0] + head * st[1], st[3])),
                };
                one_query(&query, probs, &mut out[head * d..(head + 1) * d]);
            }
        },
    );
    Tensor::from_vec(out, (b, g, h, d), &Device::Cpu)
}

/// One query: `q: [d]` (scaled) against `s` keys and values, with an optional bias row
/// (values, offset, stride).
#[derive(Clone, Copy)]
struct Query<'a> {
    q: &'a [f32],
    keys: Rows<'a>,
    values: Rows<'a>,
    bias: Option<(&'a [f32], usize, usize)>,
}

/// Where the `d` values of each position are.
#[derive(Clone, Copy)]
enum Rows<'a> {
    /// One `[s, d]` slice.
    Flat(&'a [f32]),
    /// Position `i` at `blocks[i][at[i] + offset..]`.
    Blocks {
        blocks: &'a [Vec<f32>],
        at: &'a [usize],
        offset: usize,
    },
}

impl<'a> Rows<'a> {
    #[inline(always)]
    fn get(&self, i: usize, d: usize) -> &'a [f32] {
        match *self {
            Rows::Flat(x) => &x[i * d..(i + 1) * d],
            Rows::Blocks { blocks, at, offset } => &blocks[i][at[i] + offset..][..d],
        }
    }
}

/// Attend with one query; `probs` is scratch of `s` values, the result (`[d]`) goes to `out`.
fn one_query(query: &Query<'_>, probs: &mut [f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2_fma() && query.q.len().is_multiple_of(8) {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { one_query_avx2(query, probs, out) };
    }
    one_query_portable(query, probs, out)
}

/// [`one_query`] with AVX2 and FMA, for head sizes that are multiples of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn one_query_avx2(query: &Query<'_>, probs: &mut [f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (d, values) = (query.q.len(), query.values);
    // SAFETY (of the call): this function runs only where AVX2 and FMA are present.
    let max = scores(query, probs, |a, b| unsafe { dot_avx2(a, b) });
    // exp(x − max) eight at a time (the polynomial exp, within 2 ulp), the last partial chunk
    // padded with −∞. Key i always goes through the same exp and into lane i mod 8, so keys
    // masked off at the end (a shorter sentence padded to its batch's length) add exact zeros:
    // the sum, and so the sentence's result, does not depend on how long its batch is.
    let m = _mm256_set1_ps(max);
    let mut sums = _mm256_setzero_ps();
    for c in probs.chunks_mut(8) {
        let e = if c.len() == 8 {
            let e = crate::simd::avx2::exp8(_mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), m));
            _mm256_storeu_ps(c.as_mut_ptr(), e);
            e
        } else {
            let mut tail = [f32::NEG_INFINITY; 8];
            tail[..c.len()].copy_from_slice(c);
            let e = crate::simd::avx2::exp8(_mm256_sub_ps(_mm256_loadu_ps(tail.as_ptr()), m));
            _mm256_storeu_ps(tail.as_mut_ptr(), e);
            c.copy_from_slice(&tail[..c.len()]);
            e
        };
        sums = _mm256_add_ps(sums, e);
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sums);
    let sum: f32 = lanes.iter().sum();
    // The weighted sum of the values, 64 output lanes at a time kept in registers.
    for (c, out) in out.chunks_mut(64).enumerate() {
        let n = out.len() / 8;
        let mut acc = [_mm256_setzero_ps(); 8];
        for (i, &p) in probs.iter().enumerate() {
            let p = _mm256_set1_ps(p / sum);
            let v = values.get(i, d).as_ptr().add(c * 64);
            for (r, acc) in acc.iter_mut().enumerate().take(n) {
                *acc = _mm256_fmadd_ps(p, _mm256_loadu_ps(v.add(8 * r)), *acc);
            }
        }
        for (r, acc) in acc.iter().enumerate().take(n) {
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * r), *acc);
        }
    }
}

/// `a · b` for lengths that are multiples of 8: two chains of fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let d = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut j = 0;
    while j + 16 <= d {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(j)), _mm256_loadu_ps(pb.add(j)), a0);
        a1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(pa.add(j + 8)),
            _mm256_loadu_ps(pb.add(j + 8)),
            a1,
        );
        j += 16;
    }
    if j + 8 <= d {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(j)), _mm256_loadu_ps(pb.add(j)), a0);
    }
    let s = _mm256_add_ps(a0, a1);
    let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
}

/// Each key's score `dot(q, key) + bias` into `probs`; returns the largest.
#[inline(always)]
fn scores(query: &Query<'_>, probs: &mut [f32], dot: impl Fn(&[f32], &[f32]) -> f32) -> f32 {
    let d = query.q.len();
    let mut max = f32::NEG_INFINITY;
    for (i, p) in probs.iter_mut().enumerate() {
        let mut x = dot(query.q, query.keys.get(i, d));
        if let Some((b, off, st)) = query.bias {
            x += b[off + i * st];
        }
        *p = x;
        max = max.max(x);
    }
    max
}

/// The arithmetic of [`one_query`] without vector instructions of its own (eight independent
/// partial sums per dot product, which the compiler can vectorise); the AVX2 version computes
/// the same with fused multiply-adds.
fn one_query_portable(query: &Query<'_>, probs: &mut [f32], out: &mut [f32]) {
    let d = query.q.len();
    let max = scores(query, probs, dot);
    let mut sum = 0f32;
    for p in probs.iter_mut() {
        *p = (*p - max).exp();
        sum += *p;
    }
    out.fill(0.0);
    for (i, &p) in probs.iter().enumerate() {
        let p = p / sum;
        for (o, &x) in out.iter_mut().zip(query.values.get(i, d)) {
            *o += p * x;
        }
    }
}

/// `a · b` with eight interleaved partial sums.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, at) = a.split_at(a.len() / 8 * 8);
    let (bc, bt) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for ((acc, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *acc += x * y;
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in at.iter().zip(bt) {
        sum += x * y;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(shape: (usize, usize, usize, usize), seed: u32) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let mut s = seed;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 24) as f32 * 4.0 - 2.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// The same attention with tensor operations.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>, scale: f64) -> Tensor {
        let q = (q.transpose(1, 2).unwrap().contiguous().unwrap() * scale).unwrap();
        let mut scores = q.matmul(&k.t().unwrap()).unwrap();
        if let Some(bias) = bias {
            scores = scores.broadcast_add(bias).unwrap();
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
        probs.matmul(v).unwrap().transpose(1, 2).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn matches_tensor_attention_with_and_without_bias() {
        // 20 is not a multiple of 8 (the portable code), 24 and 72 leave tails after 16 and 64.
        for d in [20, 24, 64, 72] {
            check_head_size(d);
        }
    }

    fn check_head_size(d: usize) {
        let (b, g, h, s) = (3, 4, 2, 7);
        let q = noise((b, g, h, d), 1);
        let k = noise((b, h, s, d), 2);
        let v = noise((b, h, s, d), 3);
        // Padding bias per row, [b, 1, 1, s]: the last two positions of row 1 masked.
        let mut mask = vec![0f32; b * s];
        mask[s + s - 1] = -1e30;
        mask[s + s - 2] = -1e30;
        let pad = Tensor::from_vec(mask, (b, 1, 1, s), &Device::Cpu).unwrap();
        // Position bias per head and query, [1, h, g, s].
        let pos = noise((1, h, g, s), 4);
        for bias in [None, Some(&pad), Some(&pos)] {
            let got = attend(&q, &k, &v, bias, 0.125).unwrap().unwrap();
            assert_eq!(got.dims(), &[b, g, h, d]);
            let want = reference(&q, &k, &v, bias, 0.125);
            assert!(
                max_diff(&got, &want) < 1e-5,
                "bias {:?}",
                bias.map(|t| t.dims().to_vec())
            );
        }
        // Masked positions get no weight: changing their values changes nothing.
        let mut values: Vec<f32> = v.flatten_all().unwrap().to_vec1().unwrap();
        for head in 0..h {
            let at = ((h + head) * s + s - 1) * d; // row 1, position s - 1
            values[at..at + d].iter_mut().for_each(|x| *x += 100.0);
        }
        let v2 = Tensor::from_vec(values, (b, h, s, d), &Device::Cpu).unwrap();
        let before = attend(&q, &k, &v, Some(&pad), 0.125).unwrap().unwrap();
        let after = attend(&q, &k, &v2, Some(&pad), 0.125).unwrap().unwrap();
        assert_eq!(max_diff(&before, &after), 0.0);
        assert!(max_diff(&attend(&q, &k, &v2, None, 0.125).unwrap().unwrap(), &before) > 1.0);
    }

    #[test]
    fn rows_do_not_depend_on_their_batch() {
        let (b, g, h, s, d) = (4, 1, 3, 5, 64);
        let q = noise((b, g, h, d), 5);
        let k = noise((b, h, s, d), 6);
        let v = noise((b, h, s, d), 7);
        let all = attend(&q, &k, &v, None, 0.5).unwrap().unwrap();
        let one = |t: &Tensor| t.narrow(0, 2, 1).unwrap().contiguous().unwrap();
        let alone = attend(&one(&q), &one(&k), &one(&v), None, 0.5)
            .unwrap()
            .unwrap();
        assert_eq!(max_diff(&all.narrow(0, 2, 1).unwrap(), &alone), 0.0);
    }

    /// A sentence padded to a longer batch (keys masked off at the end) gets bit-for-bit the
    /// result it gets alone, whatever the lengths' remainders modulo the vector width.
    #[test]
    fn masked_keys_at_the_end_change_nothing() {
        // 4 queries (the beams of a decoding step), 40 (an encoder's self-attention).
        for (g, s) in [
            (4, 1),
            (4, 5),
            (4, 8),
            (4, 11),
            (4, 16),
            (4, 21),
            (40, 40),
            (40, 37),
        ] {
            let (h, d) = (2, 64);
            let q = noise((1, g, h, d), 8);
            let alone = attend(
                &q,
                &noise((1, h, s, d), 9),
                &noise((1, h, s, d), 10),
                None,
                0.125,
            )
            .unwrap()
            .unwrap();
            for padded in [s + 1, s + 3, s + 8, s + 13] {
                // The first s keys and values as alone, then noise the mask hides.
                let widen = |seed: u32, other: u32| {
                    let head = noise((1, h, s, d), seed);
                    let tail = noise((1, h, padded - s, d), other);
                    Tensor::cat(&[&head, &tail], 2)
                        .unwrap()
                        .contiguous()
                        .unwrap()
                };
                let mut mask = vec![0f32; padded];
                mask[s..].iter_mut().for_each(|m| *m = -f32::MAX);
                let pad = Tensor::from_vec(mask, (1, 1, 1, padded), &Device::Cpu).unwrap();
                let got = attend(&q, &widen(9, 11), &widen(10, 12), Some(&pad), 0.125)
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    max_diff(&got, &alone),
                    0.0,
                    "{g} queries, {s} keys padded to {padded}"
                );
            }
        }
    }

    /// Self-attention over the block store equals [`attend`] over the same cache gathered into
    /// tensors, after beam-style reorders, with and without a per-head position bias.
    #[test]
    fn blocks_attend_as_the_gathered_cache() {
        use crate::arch::kv_cache::KvCache;
        for d in [20, 64] {
            let h = 3;
            let mut cache = KvCache::default();
            let steps: [(usize, Option<&[u32]>); 4] = [
                (2, None),
                (4, Some(&[0, 0, 1, 1])),
                (4, Some(&[1, 1, 3, 2])),
                (3, Some(&[0, 2, 3])),
            ];
            for (i, (rows, sel)) in steps.iter().enumerate() {
                if let Some(sel) = sel {
                    cache.select(sel);
                }
                let k = noise((*rows, 1, h, d), 10 + i as u32);
                let v = noise((*rows, 1, h, d), 20 + i as u32);
                let blocks = cache.push_block(&k, &v).unwrap().clone();
                let q = noise((*rows, 1, h, d), 30 + i as u32);
                let (gk, gv) = blocks.to_tensors(&Device::Cpu).unwrap();
                let pos = noise((1, h, 1, i + 1), 40 + i as u32);
                for bias in [None, Some(&pos)] {
                    let got = attend_blocks(&q, &blocks, bias, 0.125).unwrap();
                    let want = attend(&q, &gk, &gv, bias, 0.125).unwrap().unwrap();
                    assert_eq!(max_diff(&got, &want), 0.0, "d {d} step {i}");
                }
            }
        }
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        let q = noise((1, 4, 1, 8), 1);
        let k = noise((2, 1, 3, 8), 2);
        assert!(attend(&q, &k, &k, None, 1.0).is_none(), "rows differ");
        let k = noise((1, 1, 3, 8), 2);
        let q16 = noise((1, 1, 1, 8), 1).to_dtype(DType::F16).unwrap();
        assert!(attend(&q16, &k, &k, None, 1.0).is_none());
    }
}
