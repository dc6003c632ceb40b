//! One model type for the pipeline: [`Seq2SeqModel`] holds any architecture tolk runs and
//! implements [`Seq2Seq`] by delegating to it, with [`Seq2SeqState`] as the matching state.
//!
//! Adding an architecture means one variant here and one arm per method; nothing else in the
//! pipeline changes. This module never sees text or files.

use candle_core::{Device, Tensor};

use super::marian::{Marian, MarianState};
use super::t5::{T5State, T5};
use crate::decode::Seq2Seq;
use crate::error::{Error, Result};

/// A loaded encoder-decoder of any supported architecture.
pub enum Seq2SeqModel {
    Marian(Marian),
    T5(T5),
}

/// The decoder state of a [`Seq2SeqModel`].
pub enum Seq2SeqState {
    Marian(MarianState),
    T5(T5State),
}

impl From<Marian> for Seq2SeqModel {
    fn from(m: Marian) -> Self {
        Self::Marian(m)
    }
}

impl From<T5> for Seq2SeqModel {
    fn from(m: T5) -> Self {
        Self::T5(m)
    }
}

fn mismatch() -> Error {
    Error::InvalidArgument("decoder state belongs to a different architecture".into())
}

impl Seq2SeqModel {
    /// Short architecture name: `marian` or `t5`.
    pub fn architecture(&self) -> &'static str {
        match self {
            Self::Marian(_) => "marian",
            Self::T5(_) => "t5",
        }
    }

    /// Size of the encoder (source) vocabulary.
    pub fn source_vocab_size(&self) -> usize {
        match self {
            Self::Marian(m) => m.config().vocab_size,
            Self::T5(m) => m.config().vocab_size,
        }
    }

    /// Size of the decoder (target) vocabulary.
    pub fn target_vocab_size(&self) -> usize {
        match self {
            Self::Marian(m) => m.config().target_vocab_size(),
            Self::T5(m) => m.config().vocab_size,
        }
    }

    /// Longest source (in tokens, end-of-sequence included) the pipeline gives the encoder.
    pub fn max_source_len(&self) -> usize {
        match self {
            Self::Marian(m) => m.max_source_len(),
            Self::T5(m) => m.max_source_len(),
        }
    }

    /// The Marian model, if that is what this is.
    pub fn as_marian(&self) -> Option<&Marian> {
        match self {
            Self::Marian(m) => Some(m),
            Self::T5(_) => None,
        }
    }

    /// The T5 model, if that is what this is.
    pub fn as_t5(&self) -> Option<&T5> {
        match self {
            Self::T5(m) => Some(m),
            Self::Marian(_) => None,
        }
    }
}

impl Seq2Seq for Seq2SeqModel {
    type State = Seq2SeqState;

    fn encode(&self, ids: &Tensor, mask: &Tensor) -> Result<Seq2SeqState> {
        Ok(match self {
            Self::Marian(m) => Seq2SeqState::Marian(m.encode(ids, mask)?),
            Self::T5(m) => Seq2SeqState::T5(m.encode(ids, mask)?),
        })
    }

    fn step(&self, state: &mut Seq2SeqState, tokens: &Tensor) -> Result<Tensor> {
        match (self, state) {
            (Self::Marian(m), Seq2SeqState::Marian(s)) => m.step(s, tokens),
            (Self::T5(m), Seq2SeqState::T5(s)) => m.step(s, tokens),
            _ => Err(mismatch()),
        }
    }

    fn select(&self, state: &mut Seq2SeqState, rows: &[u32]) -> Result<()> {
        match (self, state) {
            (Self::Marian(m), Seq2SeqState::Marian(s)) => m.select(s, rows),
            (Self::T5(m), Seq2SeqState::T5(s)) => m.select(s, rows),
            _ => Err(mismatch()),
        }
    }

    fn device(&self) -> &Device {
        match self {
            Self::Marian(m) => Seq2Seq::device(m),
            Self::T5(m) => Seq2Seq::device(m),
        }
    }

    fn vocab_size(&self) -> usize {
        match self {
            Self::Marian(m) => Seq2Seq::vocab_size(m),
            Self::T5(m) => Seq2Seq::vocab_size(m),
        }
    }

    fn pad_id(&self) -> u32 {
        match self {
            Self::Marian(m) => Seq2Seq::pad_id(m),
            Self::T5(m) => Seq2Seq::pad_id(m),
        }
    }

    fn max_source_len(&self) -> usize {
        Seq2SeqModel::max_source_len(self)
    }

    fn max_target_len(&self) -> usize {
        match self {
            Self::Marian(m) => Seq2Seq::max_target_len(m),
            Self::T5(m) => Seq2Seq::max_target_len(m),
        }
    }
}
