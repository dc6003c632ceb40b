//! Summaries from an encoder-decoder (the T5 family: flan-T5, T5): the article, behind a task
//! prefix such as `summarize: `, goes through the same encoder and decoding loop as translation.
//!
//! The length bound is held by capping generated tokens (see [`Bound::token_cap`]) and by
//! cutting the answer afterwards; the input budget is the encoder's window minus the prefix.

use std::cell::RefCell;

use super::{Bound, DecodeOverrides, Generated, SummaryModel};
use crate::error::{Error, Result};
use crate::pipeline::translate::{BatchOptions, Translator};

/// The task prefix T5-family models were trained with for summaries.
pub const SUMMARIZE_PREFIX: &str = "summarize: ";

/// A seq2seq model used as a summarizer.
pub struct Seq2SeqSummarizer {
    translator: RefCell<Translator>,
    prefix: String,
    overrides: DecodeOverrides,
    budget: usize,
}

impl Seq2SeqSummarizer {
    /// Wrap a loaded model; `prefix` goes before every text (usually [`SUMMARIZE_PREFIX`]).
    pub fn new(translator: Translator, prefix: &str, overrides: DecodeOverrides) -> Result<Self> {
        let translator = translator.with_source_prefix(Some(prefix.to_string()));
        let window = translator.model().max_source_len();
        // The prefix's tokens (its end-of-sequence id is the text's own) and a margin of two
        // tokens for pieces that merge across the join.
        let prefix_tokens = translator
            .tokenizer()
            .count_tokens(prefix.trim_end())?
            .saturating_sub(1);
        let budget = window.saturating_sub(prefix_tokens + 2);
        if budget < 16 {
            return Err(Error::Unsupported(format!(
                "the model's input window of {window} tokens leaves no room for an article"
            )));
        }
        Ok(Self {
            translator: RefCell::new(translator),
            prefix: prefix.to_string(),
            overrides,
            budget,
        })
    }
}

impl SummaryModel for Seq2SeqSummarizer {
    fn describe(&self) -> String {
        self.translator.borrow().description().to_string()
    }

    fn input_budget(&self) -> usize {
        self.budget
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.translator.borrow().tokenizer().count_tokens(text)
    }

    fn summarize(&self, text: &str, bound: Bound) -> Result<Generated> {
        let mut translator = self.translator.borrow_mut();
        let input = text.trim();
        let window = translator.model().max_source_len();
        let tokens = translator
            .tokenizer()
            .count_tokens(&format!("{}{input}", self.prefix))?;
        if tokens > window {
            return Err(Error::InvalidArgument(format!(
                "a chunk of {tokens} tokens is over the summarizer's {window}-token window"
            )));
        }
        let generation = translator.generation_mut();
        generation.max_new_tokens =
            Some(self.overrides.max_new_tokens.unwrap_or(bound.token_cap()));
        if let Some(n) = self.overrides.min_new_tokens {
            generation.min_new_tokens = n;
        }
        if let Some(b) = self.overrides.beams {
            generation.num_beams = b;
        }
        // One "sentence" per call: the whole text, which fits the window, so it is never split
        // (the translator puts the task prefix before it).
        let (mut out, counts) = translator.translate_counted(
            &[input],
            BatchOptions {
                max_batch_tokens: usize::MAX,
            },
            &mut |_| {},
        )?;
        Ok(Generated {
            text: out.pop().unwrap_or_default(),
            counts,
        })
    }
}
