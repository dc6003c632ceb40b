//! A beam-search step's choice on a CUDA device in one kernel: per sentence, the log-softmax
//! normalizer of each beam's row, the beam scores, the processors' bans and the `k` best
//! candidates, with only `k` ids and scores copied back.
//!
//! [`super::device_pick::beam_top_k`] does the same with tensor operations (a log-softmax, a
//! scatter of the bans, then `k` rounds of arg-max, gather and scatter): some forty kernel
//! launches per step, which on a GPU cost more than the arithmetic. Here one block of threads
//! serves one sentence. It reduces each beam's row to its maximum and sum of exponentials, then
//! every thread keeps a sorted list of the best `k` candidates among the values it reads, and
//! one thread merges the lists. Candidates compare by score, then by lower index, as on the
//! host; a banned token scores −∞ (it stays a candidate, last, as in the tensor version).
//!
//! The kernel is compiled with NVRTC the first time it is needed; where that fails, and with
//! `TOLK_TOPK_KERNEL=0` (for comparisons), the tensor version runs instead.

use std::sync::OnceLock;

use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use candle_core::{DType, Storage, Tensor};

use crate::error::Result;

/// Per sentence, its `k` best candidates (`beam · vocab + token`, score), best first.
type SentenceTops = Vec<Vec<(usize, f32)>>;

/// Largest `k` the kernel keeps per thread.
const MAX_K: usize = 32;
/// Largest beam count (the normalizers live in shared memory).
const MAX_BEAMS: usize = 64;

const SOURCE: &str = r#"
extern "C" __global__ void tolk_beam_top_k(
    const float* __restrict__ logits, const float* __restrict__ scores,
    const unsigned int* __restrict__ bans, int n_bans,
    int beams, int vocab, int k,
    unsigned int* __restrict__ out_ids, float* __restrict__ out_vals)
{
    const float NEG_INF = __int_as_float(0xff800000);
    const float POS_INF = __int_as_float(0x7f800000);
    extern __shared__ float smem[];
    float* sv = smem;                                          // [blockDim.x * k]
    unsigned int* si = (unsigned int*)(smem + blockDim.x * k); // [blockDim.x * k]
    __shared__ float red[256];
    __shared__ float row_max[64];
    __shared__ float row_log_sum[64];
    __shared__ int head[256];
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const int s = blockIdx.x;
    const unsigned int n = (unsigned int)beams * (unsigned int)vocab;
    const float* base = logits + (size_t)s * n;

    // Each beam's normalizer: its maximum (NaN ignored) and log of the sum of exponentials.
    for (int b = 0; b < beams; ++b) {
        const float* row = base + (size_t)b * vocab;
        float m = NEG_INF;
        for (int i = tid; i < vocab; i += nt) {
            float x = row[i];
            if (x > m) m = x;
        }
        red[tid] = m;
        __syncthreads();
        for (int w = nt >> 1; w > 0; w >>= 1) {
            if (tid < w && red[tid + w] > red[tid]) red[tid] = red[tid + w];
            __syncthreads();
        }
        m = red[0];
        __syncthreads();
        const bool finite = m > NEG_INF && m < POS_INF;
        float acc = 0.f;
        if (finite) {
            for (int i = tid; i < vocab; i += nt) acc += expf(row[i] - m);
        }
        red[tid] = acc;
        __syncthreads();
        for (int w = nt >> 1; w > 0; w >>= 1) {
            if (tid < w) red[tid] += red[tid + w];
            __syncthreads();
        }
        if (tid == 0) {
            // A row without a finite maximum is left as it is (as on the host).
            row_max[b] = finite ? m : 0.f;
            row_log_sum[b] = finite ? logf(red[0]) : 0.f;
        }
        __syncthreads();
    }

    // Each thread's best k of the candidates it reads, best first.
    float lv[32];
    unsigned int li[32];
    for (int j = 0; j < k; ++j) { lv[j] = NEG_INF; li[j] = 0xffffffffu; }
    for (int b = 0; b < beams; ++b) {
        const float* row = base + (size_t)b * vocab;
        const float mb = row_max[b], lb = row_log_sum[b], sb = scores[s * beams + b];
        for (int t = tid; t < vocab; t += nt) {
            float c = ((row[t] - mb) - lb) + sb;
            if (c != c) c = NEG_INF;
            const unsigned int i = (unsigned int)b * (unsigned int)vocab + (unsigned int)t;
            if (!(c > lv[k - 1] || (c == lv[k - 1] && i < li[k - 1]))) continue;
            if (n_bans > 0) {
                const unsigned int flat = (unsigned int)s * n + i;
                int lo = 0, hi = n_bans;
                while (lo < hi) {
                    int mid = (lo + hi) >> 1;
                    if (bans[mid] < flat) lo = mid + 1; else hi = mid;
                }
                if (lo < n_bans && bans[lo] == flat) {
                    c = NEG_INF;
                    if (!(c > lv[k - 1] || (c == lv[k - 1] && i < li[k - 1]))) continue;
                }
            }
            int j = k - 1;
            while (j > 0 && (c > lv[j - 1] || (c == lv[j - 1] && i < li[j - 1]))) {
                lv[j] = lv[j - 1];
                li[j] = li[j - 1];
                --j;
            }
            lv[j] = c;
            li[j] = i;
        }
    }

    // Merge the threads' lists.
    for (int j = 0; j < k; ++j) {
        sv[tid * k + j] = lv[j];
        si[tid * k + j] = li[j];
    }
    head[tid] = 0;
    __syncthreads();
    if (tid == 0) {
        for (int r = 0; r < k; ++r) {
            int best = -1;
            float bv = NEG_INF;
            unsigned int bi = 0xffffffffu;
            for (int t = 0; t < nt; ++t) {
                const int h = head[t];
                if (h >= k) continue;
                const float v = sv[t * k + h];
                const unsigned int ix = si[t * k + h];
                if (best < 0 || v > bv || (v == bv && ix < bi)) { best = t; bv = v; bi = ix; }
            }
            head[best] += 1;
            out_ids[s * k + r] = bi;
            out_vals[s * k + r] = bv;
        }
    }
}
"#;

/// The kernel's PTX, compiled once per process (`Err`: NVRTC's message).
fn ptx() -> std::result::Result<&'static str, String> {
    static PTX: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    PTX.get_or_init(|| {
        candle_core::cuda_backend::cudarc::nvrtc::compile_ptx(SOURCE)
            .map(|p| p.to_src())
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map(String::as_str)
    .map_err(Clone::clone)
}

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| !matches!(std::env::var("TOLK_TOPK_KERNEL").as_deref(), Ok("0")))
}

/// [`super::device_pick::beam_top_k`] in one kernel: `None` when it does not apply (not CUDA,
/// not f32, `k` or the beam count too large, or turned off), and the caller then uses tensor
/// operations.
pub(super) fn beam_top_k(
    logits: &Tensor,
    bans: &[(usize, u32)],
    beam_scores: &[f32],
    beams: usize,
    k: usize,
) -> Result<Option<SentenceTops>> {
    let (rows, vocab) = logits.dims2()?;
    if !enabled()
        || !logits.device().is_cuda()
        || logits.dtype() != DType::F32
        || k == 0
        || k > MAX_K
        || beams == 0
        || beams > MAX_BEAMS
        || !rows.is_multiple_of(beams)
        || beams * vocab < k
        || beam_scores.len() != rows
        || !super::device_pick::fits(rows, vocab)
    {
        return Ok(None);
    }
    // Without NVRTC the tensor version still gives the same answer, only slower.
    let Ok(ptx) = ptx() else {
        return Ok(None);
    };
    let logits = logits.contiguous()?;
    let (storage, layout) = logits.storage_and_layout();
    let Storage::Cuda(cs) = &*storage else {
        return Ok(None);
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        return Ok(None);
    };
    let dev = &cs.device;
    let input = cs.as_cuda_slice::<f32>()?.slice(start..end);
    let func = dev.get_or_load_custom_func("tolk_beam_top_k", "tolk_beam_top_k", ptx)?;

    let mut flat: Vec<u32> = bans
        .iter()
        .filter(|&&(r, t)| r < rows && (t as usize) < vocab)
        .map(|&(r, t)| (r * vocab + t as usize) as u32)
        .collect();
    flat.sort_unstable();
    flat.dedup();
    let n_bans = flat.len() as i32;
    if flat.is_empty() {
        flat.push(0); // a valid pointer; n_bans = 0 reads nothing
    }
    let bans_d = dev.clone_htod(flat.as_slice())?;
    let scores_d = dev.clone_htod(beam_scores)?;
    let sentences = rows / beams;
    let mut ids = dev.alloc_zeros::<u32>(sentences * k)?;
    let mut vals = dev.alloc_zeros::<f32>(sentences * k)?;
    let threads: u32 = if k <= 16 { 256 } else { 128 };
    let cfg = LaunchConfig {
        grid_dim: (sentences as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: threads * k as u32 * 8,
    };
    let (beams_i, vocab_i, k_i) = (beams as i32, vocab as i32, k as i32);
    let mut launch = func.builder();
    launch
        .arg(&input)
        .arg(&scores_d)
        .arg(&bans_d)
        .arg(&n_bans)
        .arg(&beams_i)
        .arg(&vocab_i)
        .arg(&k_i)
        .arg(&mut ids)
        .arg(&mut vals);
    // SAFETY: the argument list matches the kernel's signature; `input` holds `rows × vocab`
    // f32 values, `scores_d` `rows`, `bans_d` at least `n_bans`, and the outputs
    // `sentences × k`, which is what the grid of `sentences` blocks reads and writes.
    unsafe { launch.launch(cfg) }.w()?;
    let ids = dev.clone_dtoh(&ids)?;
    let vals = dev.clone_dtoh(&vals)?;
    Ok(Some(
        ids.chunks(k)
            .zip(vals.chunks(k))
            .map(|(i, v)| {
                i.iter()
                    .map(|&i| i as usize)
                    .zip(v.iter().copied())
                    .collect()
            })
            .collect(),
    ))
}
