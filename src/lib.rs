//! tolk: translate foreign-language news wire copy into English and write short briefings.
//!
//! The crate is laid out one concern per module:
//! - [`hub`]: where model files come from (local folders, the Hugging Face cache, downloads);
//! - [`tokenize`]: text to ids and back;
//! - [`arch`]: model architectures on candle (never sees text or the hub);
//! - [`decode`]: greedy and beam search over the [`decode::Seq2Seq`] trait (never sees text);
//! - [`pipeline`]: segmenting, batching, translating whole articles;
//! - [`device`]: device and dtype choice;
//! - [`simd`]: vector math shared by the CPU kernels;
//! - [`serve`]: `tolk serve`, the HTTP service (LibreTranslate's API and tolk's own);
//! - [`jobs`]: batch jobs over many documents (`tolk batch`);
//! - [`streams`]: the same jobs shared by many machines through Redis Streams (`tolk worker`);
//! - [`bench`]: throughput and memory measurements on fixed shapes (`tolk bench`).

pub mod arch;
pub mod bench;
pub mod decode;
#[cfg(feature = "detect")]
pub mod detect;
pub mod device;
pub mod error;
pub mod hub;
pub mod jobs;
pub mod pipeline;
pub mod registry;
pub mod serve;
pub mod simd;
pub mod streams;
pub mod tokenize;

pub use error::{Error, Result};
