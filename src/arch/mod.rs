//! Model architectures on candle. Each file is one architecture configured from its
//! `config.json`; shared building blocks live in [`attention`], checkpoint reading in [`weights`].
//!
//! Nothing here sees text, tokenizers or the hub: ids in, logits out.

pub mod any;
pub mod attention;
mod cached_attention;
pub mod ct2;
pub mod dense;
pub mod embedding;
pub mod gguf;
pub mod guard;
pub mod kv_cache;
pub mod mapped;
pub mod marian;
pub mod pack_cache;
pub mod packed;
pub mod state;
pub mod t5;
pub mod weights;

pub use any::{Seq2SeqModel, Seq2SeqState};
pub use marian::{Marian, MarianConfig};
pub use t5::{T5Config, T5};
pub use weights::Weights;

/// Read a `config.json` into `T` and check it with `validate`; errors name the file and say
/// which kind of config was expected (`what`).
pub(crate) fn read_config<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
    validate: impl FnOnce(&T) -> std::result::Result<(), String>,
) -> crate::error::Result<T> {
    use crate::error::Error;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let cfg: T = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: format!("{e} (is this a {what} config.json?)"),
    })?;
    validate(&cfg).map_err(|reason| Error::Config {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(cfg)
}
