//! Model architectures on candle. Each file is one architecture configured from its
//! `config.json`; shared building blocks live in [`attention`], checkpoint reading in [`weights`].
//!
//! Nothing here sees text, tokenizers or the hub: ids in, logits out.

pub mod attention;
pub mod ct2;
pub mod gguf;
pub mod marian;
pub mod weights;

pub use marian::{Marian, MarianConfig};
pub use weights::Weights;
