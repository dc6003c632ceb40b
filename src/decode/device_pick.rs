//! Choosing tokens where the logits are: on a GPU, copying every `[rows, vocab]` logits matrix to
//! the host and normalising it there costs more than the decoder step itself (58k values a row).
//! Here the log-softmax, the processors' bans and the top-k run as tensor ops on the model's
//! device, and only the chosen ids and their scores come back.
//!
//! The host path (greedy.rs, beam.rs) stays the reference and is what the CPU uses: its results
//! are bit-identical to transformers' arithmetic order. This path agrees with it up to the
//! rounding of the device's reductions. A step whose processors are not sparse bans (a
//! repetition penalty, or a forced token) takes the host path; see
//! [`processors::sparse_bans`](super::processors::sparse_bans).
//!
//! `TOLK_DEVICE_PICK=1` sends CPU decoding through this path too (tests run it that way).

use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor, D};

use crate::error::Result;

/// Whether token choice runs on the device for a model on `device`.
pub(super) fn enabled(device: &Device) -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    !device.is_cpu()
        || *FORCED.get_or_init(|| {
            std::env::var("TOLK_DEVICE_PICK").is_ok_and(|v| !v.is_empty() && v != "0")
        })
}

/// Set `(row, token)` entries of `x: [rows, cols]` (contiguous, f32) to −∞, in place.
fn ban(x: &Tensor, bans: &[(usize, u32)]) -> Result<()> {
    if bans.is_empty() {
        return Ok(());
    }
    let cols = x.dim(1)?;
    let flat = x.flatten_all()?;
    let idx: Vec<u32> = bans
        .iter()
        .map(|&(r, t)| (r * cols + t as usize) as u32)
        .collect();
    let n = idx.len();
    let idx = Tensor::from_vec(idx, n, x.device())?;
    let src = Tensor::full(f32::NEG_INFINITY, n, x.device())?;
    flat.scatter_set(&idx, &src, 0)?;
    Ok(())
}

/// Whether flat indices of a `[rows, cols]` matrix fit the u32 index tensors used here.
pub(super) fn fits(rows: usize, cols: usize) -> bool {
    rows.checked_mul(cols)
        .is_some_and(|n| n <= u32::MAX as usize)
}

/// Greedy: after the bans, each row's arg-max and its log-probability.
pub(super) fn greedy(logits: &Tensor, bans: &[(usize, u32)]) -> Result<Vec<(usize, f32)>> {
    // A copy: the bans below write into it, and `logits` may share storage with the model's output.
    let x = logits.to_dtype(DType::F32)?.contiguous()?.copy()?;
    ban(&x, bans)?;
    let best = x.argmax_keepdim(D::Minus1)?;
    let logp = candle_nn::ops::log_softmax(&x, D::Minus1)?.gather(&best, D::Minus1)?;
    let best: Vec<u32> = best.flatten_all()?.to_vec1()?;
    let logp: Vec<f32> = logp.flatten_all()?.to_vec1()?;
    Ok(best.into_iter().map(|b| b as usize).zip(logp).collect())
}

/// Beam search: log-softmax of each row, bans, plus each row's beam score; then, per group of
/// `beams` rows (one sentence), the `k` best `(beam · vocab + token, score)` in descending order.
pub(super) fn beam_top_k(
    logits: &Tensor,
    bans: &[(usize, u32)],
    beam_scores: &[f32],
    beams: usize,
    k: usize,
) -> Result<Vec<Vec<(usize, f32)>>> {
    #[cfg(feature = "cuda")]
    if let Some(top) = super::top_k_cuda::beam_top_k(logits, bans, beam_scores, beams, k)? {
        return Ok(top);
    }
    let (rows, vocab) = logits.dims2()?;
    // A fresh tensor: the bans below write into it.
    let logp =
        candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?.contiguous()?;
    ban(&logp, bans)?;
    let scores = Tensor::from_vec(beam_scores.to_vec(), (rows, 1), logits.device())?;
    let cand = logp
        .broadcast_add(&scores)?
        .reshape((rows / beams, beams * vocab))?
        .contiguous()?;
    let sentences = rows / beams;
    let dead = Tensor::full(f32::NEG_INFINITY, (sentences, 1), logits.device())?;
    // k rounds of arg-max, each winner knocked out in place: k is 2 × beams, a handful.
    let mut ids = Vec::with_capacity(k);
    let mut vals = Vec::with_capacity(k);
    for _ in 0..k {
        let i = cand.argmax_keepdim(D::Minus1)?;
        vals.push(cand.gather(&i, D::Minus1)?);
        cand.scatter_set(&i, &dead, D::Minus1)?;
        ids.push(i);
    }
    let ids: Vec<Vec<u32>> = Tensor::cat(&ids, 1)?.to_vec2()?;
    let vals: Vec<Vec<f32>> = Tensor::cat(&vals, 1)?.to_vec2()?;
    Ok(ids
        .into_iter()
        .zip(vals)
        .map(|(i, v)| i.into_iter().map(|i| i as usize).zip(v).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_bans_then_picks_the_maximum() {
        let d = Device::Cpu;
        let x = Tensor::new(&[[0.0f32, 3.0, 1.0], [2.0, 1.0, 0.5]], &d).unwrap();
        let got = greedy(&x, &[(0, 1)]).unwrap();
        assert_eq!(got[0].0, 2);
        assert_eq!(got[1].0, 0);
        // log-softmax of [0, -inf, 1] at 2 = 1 - ln(1 + e)
        assert!((got[0].1 - (1.0 - (1.0f32 + 1f32.exp()).ln())).abs() < 1e-6);
        // the input is untouched
        assert_eq!(x.to_vec2::<f32>().unwrap()[0][1], 3.0);
    }

    #[test]
    fn beam_top_k_ranks_candidates_across_a_sentences_beams() {
        let d = Device::Cpu;
        // two sentences × two beams, vocab 3
        let x = Tensor::new(
            &[
                [0.0f32, 2.0, 1.0],
                [5.0, 0.0, 0.0],
                [1.0, 1.5, 0.0],
                [0.0, 0.0, 0.0],
            ],
            &d,
        )
        .unwrap();
        let scores = [0.0, -100.0, 0.0, -1.0];
        let got = beam_top_k(&x, &[(2, 1)], &scores, 2, 3).unwrap();
        let ls = |row: &[f32], i: usize| {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let s: f32 = row.iter().map(|v| (v - m).exp()).sum();
            row[i] - m - s.ln()
        };
        // sentence 0: beam 0 tokens 1, 2, 0 beat anything of the dead beam 1
        let ids0: Vec<usize> = got[0].iter().map(|p| p.0).collect();
        assert_eq!(ids0, vec![1, 2, 0]);
        assert!((got[0][0].1 - ls(&[0.0, 2.0, 1.0], 1)).abs() < 1e-6);
        // sentence 1: token 1 of beam 0 is banned, so beam 0 token 0 comes first
        assert_eq!(got[1][0].0, 0);
        assert!(got[1].iter().all(|p| p.0 != 1));
    }
}
