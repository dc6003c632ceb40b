//! Beam search with transformers' bookkeeping: `2 × num_beams` candidates per step, finished
//! hypotheses kept in `num_beams` slots ranked by length-penalised score, and the same
//! early-stopping rules (`false` heuristic, `true`, `"never"`). Sentences whose result can no
//! longer change are dropped from the model's state, so they stop costing compute.

use super::{
    device_bans, device_pick, last_tokens, log_softmax_in_place, logsoftmax,
    logsoftmax::Normalizer, processors, row_ids, with_host_rows, EarlyStopping, GenerationConfig,
    Hypothesis, Seq2Seq,
};
use rayon::prelude::*;
use std::cmp::Ordering;

use crate::error::Result;

/// The score transformers gives impossible or unused beams.
const DEAD: f32 = -1.0e9;

#[derive(Clone)]
struct Beam {
    tokens: Vec<u32>,
    score: f32,
}

#[derive(Clone)]
struct Slot {
    beam: Beam,
    finished: bool,
}

/// One source sentence's search.
struct Search {
    running: Vec<Beam>,
    slots: Vec<Slot>,
    /// transformers' `is_early_stop_heuristic_unsatisfied`.
    open: bool,
    done: bool,
}

/// Decode `batch` sentences of an already-encoded `state` with beam search.
pub(super) fn search<M: Seq2Seq>(
    model: &M,
    mut state: M::State,
    batch: usize,
    cfg: &GenerationConfig,
) -> Result<Vec<Hypothesis>> {
    let nb = cfg.num_beams;
    let device = model.device();
    let vocab = model.vocab_size();
    let max_length = cfg.effective_max_length();
    let keep_k = (1 + cfg.eos_token_ids.len()).max(2) * nb;
    let start = Beam {
        tokens: vec![cfg.decoder_start_token_id],
        score: 0.0,
    };
    let mut searches: Vec<Search> = (0..batch)
        .map(|_| Search {
            running: (0..nb)
                .map(|b| Beam {
                    score: if b == 0 { 0.0 } else { DEAD },
                    ..start.clone()
                })
                .collect(),
            slots: vec![
                Slot {
                    beam: Beam {
                        tokens: Vec::new(),
                        score: DEAD
                    },
                    finished: false
                };
                nb
            ],
            open: true,
            done: false,
        })
        .collect();
    // `active[p]` is the sentence whose beams occupy state rows p*width .. (p+1)*width. The
    // first step runs one row per sentence (its beams are still identical: the same start
    // token on the same state) and its logits are repeated for the `nb` beams; the state grows
    // to `nb` rows per sentence with the first reordering.
    let mut active: Vec<usize> = (0..batch).collect();
    let mut width = 1;
    let mut cur_len = 1;
    while !active.is_empty() && cur_len < max_length {
        let histories = active
            .iter()
            .flat_map(|&s| searches[s].running.iter().map(|b| &b.tokens));
        let tokens = last_tokens(
            active
                .iter()
                .flat_map(|&s| searches[s].running.iter().take(width).map(|b| &b.tokens)),
            device,
        )?;
        let logits = model.step(&mut state, &tokens)?;
        let logits = if width < nb {
            repeat_rows(&logits, nb)?
        } else {
            logits
        };
        let on_device = device_pick::enabled(device)
            .then(|| device_bans(cfg, histories, vocab))
            .flatten();
        // Per active sentence, its `keep_k` best candidates (beam · vocab + token, score).
        let tops: Vec<Vec<(usize, f32)>> = match on_device {
            Some(bans) => {
                let scores: Vec<f32> = active
                    .iter()
                    .flat_map(|&s| searches[s].running.iter().map(|b| b.score))
                    .collect();
                device_pick::beam_top_k(&logits, &bans, &scores, nb, keep_k)?
            }
            None => with_host_rows(&logits, |flat| {
                let bans: Option<Vec<Vec<u32>>> = active
                    .iter()
                    .flat_map(|&s| searches[s].running.iter())
                    .map(|b| processors::sparse_bans(cfg, &b.tokens))
                    .collect();
                let fast = bans.and_then(|bans| {
                    let scores: Vec<f32> = active
                        .iter()
                        .flat_map(|&s| searches[s].running.iter().map(|b| b.score))
                        .collect();
                    bans_only_top(flat, vocab, &bans, &scores, nb, keep_k)
                });
                match fast {
                    Some(tops) => tops,
                    None => {
                        // Rows are independent: normalise them on all cores.
                        let mut rows: Vec<Vec<f32>> =
                            flat.chunks(vocab.max(1)).map(<[f32]>::to_vec).collect();
                        rows.par_iter_mut()
                            .for_each(|row| log_softmax_in_place(row));
                        active
                            .iter()
                            .zip(rows.chunks_mut(nb))
                            .map(|(&s, rows)| host_top(&searches[s], rows, cfg, keep_k))
                            .collect()
                    }
                }
            })?,
        };
        let mut next_rows = Vec::with_capacity(active.len() * nb);
        let mut still_active = Vec::with_capacity(active.len());
        for (pos, (&s, top)) in active.iter().zip(tops).enumerate() {
            let search = &mut searches[s];
            let parents = step_sentence(search, &top, cfg, cur_len, vocab);
            cur_len_check(search, cfg, cur_len + 1, max_length);
            if !search.done {
                still_active.push(s);
                // While one row stands for all of a sentence's beams, every parent is that row.
                next_rows.extend(parents.iter().map(|&b| pos * width + b % width));
            }
        }
        cur_len += 1;
        active = still_active;
        if !active.is_empty() && cur_len < max_length {
            model.select(&mut state, &row_ids(&next_rows))?;
            width = nb;
        }
    }
    Ok(searches
        .into_iter()
        .map(|s| {
            let best = s.slots.into_iter().next().expect("num_beams >= 1").beam;
            Hypothesis {
                tokens: best.tokens.get(1..).unwrap_or_default().to_vec(),
                score: best.score,
            }
        })
        .collect())
}

/// Each row of `logits: [rows, vocab]` repeated `n` times in place: `[rows * n, vocab]`.
fn repeat_rows(logits: &candle_core::Tensor, n: usize) -> Result<candle_core::Tensor> {
    let rows = logits.dim(0)?;
    let idx: Vec<u32> = (0..rows as u32)
        .flat_map(|r| std::iter::repeat_n(r, n))
        .collect();
    let idx = candle_core::Tensor::from_vec(idx, rows * n, logits.device())?;
    Ok(logits.index_select(&idx, 0)?)
}

/// [`host_top`] for steps whose processors only ban tokens, without writing log-probabilities:
/// each row keeps its `keep_k` best values (banned tokens skipped), and only those are
/// normalized and scored, with the same arithmetic as on the whole row. `None` when some row
/// has fewer than `keep_k` candidates (the full path then decides, as it always would). One
/// difference: where two different values of a row round to the same log-probability at the
/// k-th place, the larger value is kept (the full path keeps the lower index).
fn bans_only_top(
    flat: &[f32],
    vocab: usize,
    bans: &[Vec<u32>],
    scores: &[f32],
    nb: usize,
    keep_k: usize,
) -> Option<Vec<Vec<(usize, f32)>>> {
    let rows: Vec<Vec<(usize, f32)>> = flat
        .par_chunks(vocab.max(1))
        .zip(bans.par_iter())
        .zip(scores.par_iter())
        .map(|((row, bans), &score)| row_top(row, bans, score, keep_k))
        .collect();
    if rows.iter().any(|r| r.len() < keep_k) {
        return None;
    }
    Some(
        rows.chunks(nb)
            .map(|beams| {
                // Candidates in index order, so that ties go to the lower index as on full rows.
                let mut candidates: Vec<(usize, f32)> = beams
                    .iter()
                    .enumerate()
                    .flat_map(|(b, r)| r.iter().map(move |&(t, v)| (b * vocab + t, v)))
                    .collect();
                candidates.sort_unstable_by_key(|&(i, _)| i);
                top_k(candidates.iter().map(|&(_, v)| v), keep_k)
                    .into_iter()
                    .map(|(at, v)| (candidates[at].0, v))
                    .collect()
            })
            .collect(),
    )
}

/// The `k` best tokens of one row by value (ties to the lower index; `bans`, sorted, skipped),
/// with their scores `log p + beam_score`.
fn row_top(row: &[f32], bans: &[u32], beam_score: f32, k: usize) -> Vec<(usize, f32)> {
    // Blocks whose maximum cannot enter a full list are skipped whole (their maxima also give
    // the row's, for the normalizer): past the first blocks almost all are.
    const BLOCK: usize = 64;
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    let mut row_max = f32::NEG_INFINITY;
    for (b, block) in row.chunks(BLOCK).enumerate() {
        let block_max = logsoftmax::max(block);
        row_max = row_max.max(block_max);
        if best.len() == k && block_max.partial_cmp(&best[k - 1].1) != Some(Ordering::Greater) {
            continue;
        }
        for (j, &x) in block.iter().enumerate() {
            let i = b * BLOCK + j;
            if x.is_nan()
                || (best.len() == k && x.partial_cmp(&best[k - 1].1) != Some(Ordering::Greater))
                || bans.binary_search(&(i as u32)).is_ok()
            {
                continue;
            }
            let at = best.partition_point(|&(_, b)| b >= x);
            best.insert(at, (i, x));
            best.truncate(k);
        }
    }
    let norm = Normalizer::with_max(row, row_max);
    best.into_iter()
        .map(|(i, x)| (i, norm.map_or(x, |n| n.log_prob(x)) + beam_score))
        .collect()
}

/// One sentence's `keep_k` best candidates on the host: `rows` (its beams' rows) hold
/// log-probabilities; the processors edit them in place, and each candidate's score is its
/// beam's score plus its log-probability.
fn host_top(
    search: &Search,
    rows: &mut [Vec<f32>],
    cfg: &GenerationConfig,
    keep_k: usize,
) -> Vec<(usize, f32)> {
    for (beam, row) in search.running.iter().zip(rows.iter_mut()) {
        processors::process(cfg, row, &beam.tokens);
    }
    let scored = search
        .running
        .iter()
        .zip(rows.iter())
        .flat_map(|(beam, row)| row.iter().map(move |&x| x + beam.score));
    top_k(scored, keep_k)
}

/// Advance one sentence by one token, given its best candidates (`beam · vocab + token`,
/// score), best first. Returns, for each new running beam, its parent beam.
fn step_sentence(
    search: &mut Search,
    top: &[(usize, f32)],
    cfg: &GenerationConfig,
    cur_len: usize,
    vocab: usize,
) -> Vec<usize> {
    let nb = cfg.num_beams;
    let max_length = cfg.effective_max_length();
    let candidates: Vec<(usize, Beam, bool)> = top
        .iter()
        .map(|&(idx, score)| {
            let (parent, token) = (idx / vocab, (idx % vocab) as u32);
            let mut tokens = search.running[parent].tokens.clone();
            tokens.push(token);
            let hits = cfg.is_eos(token) || cur_len + 1 >= max_length;
            (parent, Beam { tokens, score }, hits)
        })
        .collect();

    // Next running beams: the best candidates that did not just stop.
    let run_scores = candidates
        .iter()
        .map(|(_, b, hit)| if *hit { b.score + DEAD } else { b.score });
    let chosen = top_k(run_scores, nb);
    let parents = chosen.iter().map(|&(k, _)| candidates[k].0).collect();
    let next_running = chosen
        .iter()
        .map(|&(k, score)| Beam {
            tokens: candidates[k].1.tokens.clone(),
            score,
        })
        .collect();

    // Finished hypotheses: only the top `nb` candidates may enter, length-penalised.
    let denom = (cur_len as f64).powf(f64::from(cfg.length_penalty)) as f32;
    let full =
        search.slots.iter().all(|s| s.finished) && cfg.early_stopping == EarlyStopping::Always;
    let mut merged: Vec<Slot> = std::mem::take(&mut search.slots);
    for (k, (_, beam, hit)) in candidates.into_iter().enumerate() {
        let just_finished = hit && k < nb;
        let mut score = beam.score / denom;
        if full {
            score += DEAD;
        }
        if !search.open {
            score += DEAD;
        }
        if !just_finished {
            score += DEAD;
        }
        merged.push(Slot {
            beam: Beam {
                tokens: beam.tokens,
                score,
            },
            finished: just_finished,
        });
    }
    let best = top_k(merged.iter().map(|s| s.beam.score), nb);
    search.slots = best.iter().map(|&(i, _)| merged[i].clone()).collect();
    search.running = next_running;
    parents
}

/// After a step (the output now `cur_len` long): can this sentence's result still change?
fn cur_len_check(search: &mut Search, cfg: &GenerationConfig, cur_len: usize, max_length: usize) {
    let lp = f64::from(cfg.length_penalty);
    let best_len = if cfg.early_stopping == EarlyStopping::Never && lp > 0.0 {
        max_length - 1
    } else {
        cur_len - 1
    };
    let best_possible = search.running[0].score / (best_len as f64).powf(lp) as f32;
    let worst = search
        .slots
        .iter()
        .map(|s| s.beam.score)
        .fold(f32::INFINITY, f32::min);
    let improvable = search
        .slots
        .iter()
        .any(|s| best_possible > if s.finished { worst } else { DEAD });
    search.open &= improvable;
    let all_finished = search.slots.iter().all(|s| s.finished);
    search.done = !search.open
        || (all_finished && cfg.early_stopping == EarlyStopping::Always)
        || cur_len >= max_length;
}

/// The `k` largest values with their positions, largest first; ties keep the lower position first.
fn top_k(values: impl Iterator<Item = f32>, k: usize) -> Vec<(usize, f32)> {
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (i, v) in values.enumerate() {
        // NaN and values not above the current k-th best never enter.
        if v.is_nan()
            || (best.len() == k
                && v.partial_cmp(&best[k - 1].1) != Some(std::cmp::Ordering::Greater))
        {
            continue;
        }
        let at = best.partition_point(|&(_, b)| b >= v);
        best.insert(at, (i, v));
        best.truncate(k);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_only_top_matches_the_full_path() {
        let (vocab, nb, keep_k) = (300, 3, 6);
        let mut cfg = GenerationConfig::new(0, 1, 1);
        cfg.num_beams = nb;
        cfg.no_repeat_ngram_size = 2;
        cfg.min_length = 4;
        let mut s = 12345u32;
        let flat: Vec<f32> = (0..2 * nb * vocab)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 24) as f32 * 16.0 - 8.0
            })
            .collect();
        // Histories that ban tokens by n-gram repeats and by the minimum length.
        let histories = [
            vec![0, 7, 9, 7],
            vec![0, 5],
            vec![0, 9, 9],
            vec![0, 1, 2, 3, 1],
        ];
        let searches: Vec<Search> = (0..2)
            .map(|i| Search {
                running: (0..nb)
                    .map(|b| Beam {
                        tokens: histories[(i + b) % histories.len()].clone(),
                        score: -(b as f32) * 0.75 - i as f32,
                    })
                    .collect(),
                slots: Vec::new(),
                open: true,
                done: false,
            })
            .collect();
        let beams = searches.iter().flat_map(|s| s.running.iter());
        let bans: Vec<Vec<u32>> = beams
            .clone()
            .map(|b| processors::sparse_bans(&cfg, &b.tokens).unwrap())
            .collect();
        assert!(
            bans.iter().any(|b| !b.is_empty()),
            "the case must ban something"
        );
        let scores: Vec<f32> = beams.map(|b| b.score).collect();
        let fast = bans_only_top(&flat, vocab, &bans, &scores, nb, keep_k).unwrap();
        let mut rows: Vec<Vec<f32>> = flat.chunks(vocab).map(<[f32]>::to_vec).collect();
        rows.iter_mut().for_each(|r| log_softmax_in_place(r));
        for (i, (search, rows)) in searches.iter().zip(rows.chunks_mut(nb)).enumerate() {
            let full = host_top(search, rows, &cfg, keep_k);
            assert_eq!(fast[i], full, "sentence {i}");
        }
    }

    #[test]
    fn top_k_orders_by_value_then_position() {
        let v = [1.0, 5.0, 3.0, 5.0, f32::NEG_INFINITY, 4.0];
        assert_eq!(top_k(v.into_iter(), 3), vec![(1, 5.0), (3, 5.0), (5, 4.0)]);
        let v = [f32::NEG_INFINITY, f32::NEG_INFINITY, 0.0];
        assert_eq!(
            top_k(v.into_iter(), 3),
            vec![(2, 0.0), (0, f32::NEG_INFINITY), (1, f32::NEG_INFINITY)]
        );
    }
}
