//! Logits processors: the rules that reshape one row of next-token scores before a token is
//! chosen (repetition penalty, n-gram blocking, banned words, minimum and forced lengths).
//!
//! They run in transformers' order on host `f32` scores, with `history` being the row's decoder
//! tokens so far, start token included. Greedy search applies them to raw logits, beam search to
//! log-probabilities, as transformers does. This module never touches tensors or the model.

use super::config::GenerationConfig;

/// Apply every processor the config enables to one row of scores.
pub fn process(cfg: &GenerationConfig, scores: &mut [f32], history: &[u32]) {
    if cfg.repetition_penalty != 1.0 {
        repetition_penalty(scores, history, cfg.repetition_penalty);
    }
    for t in banned(cfg, history) {
        ban(scores, t);
    }
    if let Some(forced) = forced(cfg, history) {
        force(scores, &[forced]);
    }
}

/// What [`process`] would do to a row, as a list of tokens set to −∞, so that a device can apply
/// it without the row leaving it; `None` when the processors do more than ban tokens at this
/// step (a repetition penalty, or a forced token).
pub fn sparse_bans(cfg: &GenerationConfig, history: &[u32]) -> Option<Vec<u32>> {
    if cfg.repetition_penalty != 1.0 || forced(cfg, history).is_some() {
        return None;
    }
    let mut bans = banned(cfg, history);
    bans.sort_unstable();
    bans.dedup();
    Some(bans)
}

/// Tokens the processors ban at this step: n-gram blocking, bad words, and end of sequence
/// before the minimum length.
fn banned(cfg: &GenerationConfig, history: &[u32]) -> Vec<u32> {
    let cur_len = history.len();
    let mut bans = Vec::new();
    if cfg.no_repeat_ngram_size > 0 {
        bans.extend(banned_ngram_tokens(history, cfg.no_repeat_ngram_size));
    }
    for word in &cfg.bad_words_ids {
        // transformers never bans an end-of-sequence token through bad_words_ids.
        if word.len() == 1 && cfg.is_eos(word[0]) {
            continue;
        }
        if let Some((&last, prefix)) = word.split_last() {
            if history.ends_with(prefix) {
                bans.push(last);
            }
        }
    }
    let min_new = cfg.min_new_tokens > 0 && cur_len.saturating_sub(1) < cfg.min_new_tokens;
    if cur_len < cfg.min_length || min_new {
        bans.extend(&cfg.eos_token_ids);
    }
    bans
}

/// The token forced at this step, if any (forced BOS first, then forced EOS at the last position).
fn forced(cfg: &GenerationConfig, history: &[u32]) -> Option<u32> {
    let cur_len = history.len();
    let eos = cfg
        .forced_eos_token_id
        .filter(|_| cur_len + 1 == cfg.effective_max_length());
    let bos = cfg.forced_bos_token_id.filter(|_| cur_len == 1);
    // Both apply in that order when both hold, and the later force wins.
    eos.or(bos)
}

fn ban(scores: &mut [f32], id: u32) {
    if let Some(s) = scores.get_mut(id as usize) {
        *s = f32::NEG_INFINITY;
    }
}

fn force(scores: &mut [f32], ids: &[u32]) {
    scores.fill(f32::NEG_INFINITY);
    for &id in ids {
        if let Some(s) = scores.get_mut(id as usize) {
            *s = 0.0;
        }
    }
}

/// Divide positive and multiply negative scores of every token already in `history`.
pub(crate) fn repetition_penalty(scores: &mut [f32], history: &[u32], penalty: f32) {
    let mut seen = history.to_vec();
    seen.sort_unstable();
    seen.dedup();
    for id in seen {
        if let Some(s) = scores.get_mut(id as usize) {
            *s = if *s < 0.0 { *s * penalty } else { *s / penalty };
        }
    }
}

/// Tokens that would complete an n-gram already present in `history`.
fn banned_ngram_tokens(history: &[u32], n: usize) -> Vec<u32> {
    let len = history.len();
    if len + 1 < n {
        return Vec::new();
    }
    let prefix = &history[len + 1 - n..];
    history
        .windows(n)
        .filter(|w| &w[..n - 1] == prefix)
        .map(|w| w[n - 1])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GenerationConfig {
        GenerationConfig::new(0, 5, 5)
    }

    #[test]
    fn sparse_bans_do_what_process_does() {
        let vocab = 12;
        let mut checked = 0;
        for variant in 0..6 {
            let mut c = GenerationConfig::new(0, 11, 11);
            c.max_length = 9;
            match variant {
                1 => c.no_repeat_ngram_size = 2,
                2 => c.bad_words_ids = vec![vec![11], vec![3, 4], vec![0]],
                3 => c.min_length = 5,
                4 => {
                    c.min_new_tokens = 3;
                    c.forced_eos_token_id = Some(0);
                }
                5 => c.repetition_penalty = 1.2,
                _ => {}
            }
            for history in [
                vec![11],
                vec![11, 3],
                vec![11, 3, 4, 3],
                vec![11, 1, 2, 1, 2, 1],
                vec![11, 5, 6, 7, 8, 9, 3],
                vec![11, 5, 6, 7, 8, 9, 3, 4],
            ] {
                let mut want: Vec<f32> = (0..vocab).map(|i| i as f32 * 0.5 - 2.0).collect();
                let before = want.clone();
                process(&c, &mut want, &history);
                match sparse_bans(&c, &history) {
                    Some(bans) => {
                        let mut got = before;
                        for t in bans {
                            ban(&mut got, t);
                        }
                        assert_eq!(got, want, "variant {variant}, history {history:?}");
                        checked += 1;
                    }
                    None => assert!(variant == 5 || (variant == 4 && history.len() + 1 == 9)),
                }
            }
        }
        assert_eq!(checked, 29);
    }

    #[test]
    fn ngram_blocking_bans_the_completing_token() {
        assert_eq!(banned_ngram_tokens(&[5, 1, 2, 1], 2), vec![2]);
        assert_eq!(banned_ngram_tokens(&[5, 1, 2, 3, 1, 2], 3), vec![3]);
        assert!(banned_ngram_tokens(&[5], 3).is_empty());
        // With n = 1 every token seen is banned.
        assert_eq!(banned_ngram_tokens(&[5, 1], 1), vec![5, 1]);
    }

    #[test]
    fn repetition_penalty_pushes_seen_tokens_down() {
        let mut s = vec![2.0, -2.0, 2.0, 0.5];
        repetition_penalty(&mut s, &[0, 1, 1], 2.0);
        assert_eq!(s, vec![1.0, -4.0, 2.0, 0.5]);
    }

    #[test]
    fn min_length_and_forced_eos() {
        let mut c = cfg();
        c.min_length = 3;
        let mut s = vec![1.0; 6];
        process(&c, &mut s, &[5, 1]);
        assert_eq!(s[0], f32::NEG_INFINITY);
        let mut s = vec![1.0; 6];
        process(&c, &mut s, &[5, 1, 2]);
        assert_eq!(s[0], 1.0);

        c.min_length = 0;
        c.max_length = 4;
        c.forced_eos_token_id = Some(0);
        let mut s = vec![1.0; 6];
        process(&c, &mut s, &[5, 1, 2]);
        assert_eq!(
            s,
            vec![
                0.0,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY
            ]
        );
    }

    #[test]
    fn bad_words_single_and_sequence_but_never_eos() {
        let mut c = cfg();
        c.bad_words_ids = vec![vec![5], vec![0], vec![1, 2]];
        let mut s = vec![1.0; 6];
        process(&c, &mut s, &[5, 1]);
        assert_eq!(
            s,
            vec![1.0, 1.0, f32::NEG_INFINITY, 1.0, 1.0, f32::NEG_INFINITY]
        );
    }

    #[test]
    fn min_new_tokens_counts_after_the_start_token() {
        let mut c = cfg();
        c.min_new_tokens = 2;
        let mut s = vec![1.0; 6];
        process(&c, &mut s, &[5, 1]);
        assert_eq!(s[0], f32::NEG_INFINITY);
        let mut s = vec![1.0; 6];
        process(&c, &mut s, &[5, 1, 1]);
        assert_eq!(s[0], 1.0);
    }
}
