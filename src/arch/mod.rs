//! Model architectures on candle. Each file is one architecture configured from its
//! `config.json`; shared building blocks live in [`attention`], checkpoint reading in [`weights`].
//!
//! Nothing here sees text, tokenizers or the hub: ids in, logits out.

pub mod any;
pub mod attention;
pub mod ct2;
pub mod gguf;
pub mod kernels;
pub mod marian;
pub mod state;
pub mod t5;
pub mod weights;

pub use any::{Seq2SeqModel, Seq2SeqState};
pub use marian::{Marian, MarianConfig};
pub use t5::{T5Config, T5};
pub use weights::Weights;
