//! Greedy generation for decoder-only (causal) language models, over the [`CausalLm`] trait.
//!
//! The prompt is fed in one chunk at position 0 (which also starts a fresh key/value cache),
//! then one token per step. Scores are processed as transformers' `generate` does for a
//! decoder-only model: the repetition penalty looks at every id so far, prompt included; the
//! end tokens are banned until `min_new_tokens` tokens exist. Generation stops at any end
//! token (it is kept in the output), at `max_new_tokens`, or when the context is full.
//!
//! This module never sees text; it never lets a prompt run past the model's context (that is
//! an error before any compute).

use std::time::{Duration, Instant};

use super::processors::repetition_penalty;
use crate::error::{Error, Result};

/// What a decoder-only model offers the generation loop.
pub trait CausalLm {
    /// Feed `ids` at positions `index_pos..index_pos + ids.len()` (position 0 starts a new
    /// sequence) and return the next-token logits after the last one, in f32.
    fn forward(&mut self, ids: &[u32], index_pos: usize) -> Result<Vec<f32>>;
    /// Forget the cached keys/values.
    fn reset(&mut self);
    /// Most positions (prompt plus generated tokens) the model can attend over.
    fn context_length(&self) -> usize;
}

/// Options for [`generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct CausalConfig {
    /// Most tokens to generate (end token included).
    pub max_new_tokens: usize,
    /// End tokens are banned until this many tokens were generated.
    pub min_new_tokens: usize,
    /// transformers' repetition penalty (1.0 = off): positive logits of every id seen so far are
    /// divided by it, negative ones multiplied.
    pub repetition_penalty: f32,
    /// Ids that end generation (the model's end-of-sequence and end-of-turn tokens).
    pub end_ids: Vec<u32>,
}

impl CausalConfig {
    /// `max_new_tokens` with the given end ids and no processors.
    pub fn new(max_new_tokens: usize, end_ids: Vec<u32>) -> Self {
        CausalConfig {
            max_new_tokens,
            min_new_tokens: 0,
            repetition_penalty: 1.0,
            end_ids,
        }
    }

    fn validate(&self) -> Result<()> {
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "repetition_penalty must be a positive number, got {}",
                self.repetition_penalty
            )));
        }
        if self.min_new_tokens > self.max_new_tokens {
            return Err(Error::InvalidArgument(format!(
                "min_new_tokens ({}) exceeds max_new_tokens ({})",
                self.min_new_tokens, self.max_new_tokens
            )));
        }
        Ok(())
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end token was generated.
    EndToken,
    /// `max_new_tokens` were generated.
    MaxNewTokens,
    /// The context window is full.
    ContextFull,
}

/// The result of [`generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct CausalOutput {
    /// Generated ids (an end token, when produced, is the last one).
    pub tokens: Vec<u32>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Time to run the prompt (first token's logits).
    pub prefill: Duration,
    /// Time for all later steps.
    pub decode: Duration,
}

/// Greedy decoding of `prompt` with `model`.
pub fn generate<M: CausalLm + ?Sized>(
    model: &mut M,
    prompt: &[u32],
    cfg: &CausalConfig,
) -> Result<CausalOutput> {
    cfg.validate()?;
    let ctx = model.context_length();
    if prompt.is_empty() {
        return Err(Error::InvalidArgument("the prompt has no tokens".into()));
    }
    if prompt.len() >= ctx {
        return Err(Error::InvalidArgument(format!(
            "the prompt has {} tokens but the model's context holds {ctx} (with room for at least one new token); shorten the input",
            prompt.len()
        )));
    }
    let mut history = prompt.to_vec();
    let mut tokens = Vec::new();
    let start = Instant::now();
    model.reset();
    let mut logits = model.forward(prompt, 0)?;
    let prefill = start.elapsed();
    let start = Instant::now();
    let stop = loop {
        if tokens.len() >= cfg.max_new_tokens {
            break StopReason::MaxNewTokens;
        }
        if cfg.repetition_penalty != 1.0 {
            repetition_penalty(&mut logits, &history, cfg.repetition_penalty);
        }
        if tokens.len() < cfg.min_new_tokens {
            for &e in &cfg.end_ids {
                if let Some(s) = logits.get_mut(e as usize) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
        let next = argmax(&logits).ok_or_else(|| {
            Error::InvalidArgument("the model returned no scores (empty vocabulary?)".into())
        })?;
        tokens.push(next);
        history.push(next);
        if cfg.end_ids.contains(&next) {
            break StopReason::EndToken;
        }
        if tokens.len() >= cfg.max_new_tokens {
            break StopReason::MaxNewTokens;
        }
        if history.len() >= ctx {
            break StopReason::ContextFull;
        }
        logits = model.forward(&[next], history.len() - 1)?;
    };
    Ok(CausalOutput {
        tokens,
        stop,
        prefill,
        decode: start.elapsed(),
    })
}

/// Index of the largest score (the first one on ties, as `torch.argmax`); `None` when empty.
fn argmax(scores: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &s) in scores.iter().enumerate() {
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy model: the next token is (last + 1) % vocab, with a fixed bias for one id.
    struct Counter {
        vocab: usize,
        ctx: usize,
        fed: Vec<(usize, usize)>,
        favour: Option<(u32, f32)>,
    }

    impl CausalLm for Counter {
        fn forward(&mut self, ids: &[u32], index_pos: usize) -> Result<Vec<f32>> {
            self.fed.push((index_pos, ids.len()));
            let last = *ids.last().unwrap() as usize;
            let mut v = vec![0.0; self.vocab];
            v[(last + 1) % self.vocab] = 2.0;
            if let Some((id, s)) = self.favour {
                v[id as usize] = s;
            }
            Ok(v)
        }
        fn reset(&mut self) {}
        fn context_length(&self) -> usize {
            self.ctx
        }
    }

    fn model() -> Counter {
        Counter {
            vocab: 10,
            ctx: 16,
            fed: Vec::new(),
            favour: None,
        }
    }

    #[test]
    fn stops_at_an_end_token_and_feeds_positions_in_order() {
        let mut m = model();
        let out = generate(&mut m, &[3, 4], &CausalConfig::new(20, vec![7])).unwrap();
        assert_eq!(out.tokens, vec![5, 6, 7]);
        assert_eq!(out.stop, StopReason::EndToken);
        assert_eq!(m.fed, vec![(0, 2), (2, 1), (3, 1)]);
    }

    #[test]
    fn min_new_tokens_bans_end_tokens_and_max_caps() {
        let mut m = model();
        let mut cfg = CausalConfig::new(3, vec![5]);
        cfg.min_new_tokens = 1;
        let out = generate(&mut m, &[4], &cfg).unwrap();
        // 5 is banned at the first step: ties at 0.0 go to the lowest id.
        assert_eq!(out.tokens, vec![0, 1, 2]);
        assert_eq!(out.stop, StopReason::MaxNewTokens);
    }

    #[test]
    fn context_is_never_exceeded() {
        let mut m = model();
        let out = generate(&mut m, &[0; 14], &CausalConfig::new(20, vec![])).unwrap();
        assert_eq!(out.tokens.len(), 2);
        assert_eq!(out.stop, StopReason::ContextFull);
        let err = generate(&mut m, &[0; 16], &CausalConfig::new(5, vec![])).unwrap_err();
        assert!(err.to_string().contains("16 tokens"), "{err}");
    }

    #[test]
    fn repetition_penalty_counts_the_prompt() {
        let mut m = model();
        m.favour = Some((9, 3.0));
        let mut cfg = CausalConfig::new(1, vec![]);
        assert_eq!(generate(&mut m, &[9], &cfg).unwrap().tokens, vec![9]);
        cfg.repetition_penalty = 2.0; // 3.0 / 2 < 2.0 of the counter's pick
        assert_eq!(generate(&mut m, &[9], &cfg).unwrap().tokens, vec![0]);
        cfg.repetition_penalty = 0.0;
        assert!(generate(&mut m, &[9], &cfg).is_err());
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
        assert_eq!(argmax(&[]), None);
    }
}
