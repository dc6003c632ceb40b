//! Greedy search: the arg-max token at every step, rows dropped from the model as they finish.

use rayon::prelude::*;

use super::logsoftmax::Normalizer;
use super::{
    device_bans, device_pick, last_tokens, processors, row_ids, GenerationConfig, Hypothesis,
    Seq2Seq,
};
use crate::error::Result;

/// Decode `batch` rows of an already-encoded `state` greedily.
pub(super) fn search<M: Seq2Seq>(
    model: &M,
    mut state: M::State,
    batch: usize,
    cfg: &GenerationConfig,
) -> Result<Vec<Hypothesis>> {
    let device = model.device();
    let mut histories: Vec<Vec<u32>> = vec![vec![cfg.decoder_start_token_id]; batch];
    let mut scores = vec![0f32; batch];
    // `active[i]` is the batch row that the model's state row i belongs to.
    let mut active: Vec<usize> = (0..batch).collect();
    let max_length = cfg.effective_max_length();
    let mut cur_len = 1;
    while !active.is_empty() && cur_len < max_length {
        let tokens = last_tokens(active.iter().map(|&r| &histories[r]), device)?;
        let logits = model.step(&mut state, &tokens)?;
        let on_device = device_pick::enabled(device)
            .then(|| {
                device_bans(
                    cfg,
                    active.iter().map(|&r| &histories[r]),
                    model.vocab_size(),
                )
            })
            .flatten();
        let picks: Vec<(usize, f32)> = match on_device {
            Some(bans) => device_pick::greedy(&logits, &bans)?,
            // Rows are independent: process them on all cores (a 58k-way row costs ~0.1 ms).
            None => super::with_host_rows(&logits, |flat| {
                flat.par_chunks(logits.dim(1).unwrap_or(1).max(1))
                    .zip(active.par_iter())
                    .map(|(row, &r)| {
                        // Nothing to ban (most steps): choose from the row as it is, no copy.
                        if processors::sparse_bans(cfg, &histories[r]).is_some_and(|b| b.is_empty())
                        {
                            let best = argmax(row);
                            if let Some(n) = Normalizer::with_max(row, row[best]) {
                                return (best, n.log_prob(row[best]));
                            }
                        }
                        let mut row_scores = row.to_vec();
                        processors::process(cfg, &mut row_scores, &histories[r]);
                        let best = argmax(&row_scores);
                        (best, super::log_prob_at(&row_scores, best))
                    })
                    .collect()
            })?,
        };
        let mut keep = Vec::with_capacity(active.len());
        for (i, (&row, (best, logp))) in active.iter().zip(picks).enumerate() {
            scores[row] += logp;
            histories[row].push(best as u32);
            if !cfg.is_eos(best as u32) {
                keep.push(i);
            }
        }
        cur_len += 1;
        if keep.len() != active.len() {
            active = keep.iter().map(|&i| active[i]).collect();
            if !active.is_empty() && cur_len < max_length {
                model.select(&mut state, &row_ids(&keep))?;
            }
        }
    }
    Ok(histories
        .into_iter()
        .zip(scores)
        .map(|(mut h, score)| {
            h.remove(0);
            Hypothesis { tokens: h, score }
        })
        .collect())
}

/// Index of the first maximum (as `torch.argmax` picks it).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > best_v || (i == 0 && v.is_nan()) {
            best = i;
            best_v = v;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(super::argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(super::argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
    }
}
