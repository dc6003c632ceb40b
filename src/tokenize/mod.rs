//! Text to token ids and back, for the encoder-decoder models tolk runs.
//!
//! Two kinds of tokenizer sit behind the [`TextTokenizer`] trait:
//! - [`MarianTokenizer`]: OPUS-MT folders with `source.spm`, `target.spm`, `vocab.json`
//!   (and `target_vocab.json` when `tokenizer_config.json` says `"separate_vocabs": true`).
//!   It reproduces transformers' slow `MarianTokenizer` exactly, with SentencePiece
//!   segmentation reimplemented in Rust (no Python conversion step).
//! - [`HfTokenizer`]: any folder with a `tokenizer.json`, run by the `tokenizers` crate.
//! - [`Ct2Tokenizer`]: CTranslate2 / Argos Translate models (`sentencepiece.model` plus the
//!   CT2 vocabulary lists).
//! - [`T5Tokenizer`]: T5-family folders with only `spiece.model` (T5 id conventions, sentinels).
//!
//! - [`GgufTokenizer`]: the tokenizer a GGUF chat model describes in its metadata, with its
//!   [`ChatTemplate`].
//!
//! [`load`] picks `tokenizer.json` when present, else `spiece.model`, else the Marian files.
//! This module never touches the network or tensors, and never panics on user text.

pub mod chat_template;
mod config;
mod ct2;
pub mod gguf;
mod hf;
mod marian;
mod spm;
mod spm_norm;
mod spm_proto;
#[cfg(test)]
mod spm_roundtrip;
mod t5;

use std::path::Path;

use crate::error::{Error, Result};

pub use chat_template::{ChatMessage, ChatTemplate};
pub use ct2::{Ct2TokenConfig, Ct2Tokenizer};
pub use gguf::GgufTokenizer;
pub use hf::HfTokenizer;
pub use marian::MarianTokenizer;
pub use t5::T5Tokenizer;

/// Ids of the special tokens a seq2seq pipeline needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// End of sequence, appended to every encoded source text.
    pub eos: u32,
    /// Padding (Marian models also start decoding from it).
    pub pad: u32,
    /// Unknown piece.
    pub unk: u32,
    /// End of sequence in the target (decoder) vocabulary; equals `eos` for shared vocabs.
    pub target_eos: u32,
    /// Padding in the target vocabulary; equals `pad` for shared vocabs.
    pub target_pad: u32,
    /// Unknown in the target vocabulary; equals `unk` for shared vocabs.
    pub target_unk: u32,
    /// Number of entries in the target (decoder) vocabulary.
    pub decoder_vocab_size: usize,
}

/// A tokenizer for an encoder-decoder translation model.
pub trait TextTokenizer: Send + Sync {
    /// Source-side ids for one text, with the end-of-sequence id appended.
    fn encode(&self, text: &str) -> Result<Vec<u32>>;

    /// [`TextTokenizer::encode`] for several texts.
    fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|t| self.encode(t)).collect()
    }

    /// Number of source ids [`TextTokenizer::encode`] would return (end of sequence included);
    /// used to batch sentences by token budget.
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.encode(text)?.len())
    }

    /// Target-side ids -> text, skipping special tokens.
    fn decode(&self, ids: &[u32]) -> Result<String>;

    /// The special token ids.
    fn special(&self) -> &SpecialTokens;

    /// The id of one whole token (e.g. a language tag such as `<2en>`), if the vocabulary has
    /// it as a single entry; `None` when unknown or when the tokenizer cannot tell.
    fn token_to_id(&self, _token: &str) -> Option<u32> {
        None
    }
}

/// Load the tokenizer of the model in `dir`: `tokenizer.json` when present, else T5's
/// `spiece.model`, else Marian's files.
pub fn load(dir: &Path) -> Result<Box<dyn TextTokenizer>> {
    if !dir.is_dir() {
        return Err(Error::MissingFile {
            file: "tokenizer files".into(),
            location: dir.display().to_string(),
            hint: "the model folder does not exist; check the path or download the model".into(),
        });
    }
    if dir.join("tokenizer.json").is_file() {
        Ok(Box::new(HfTokenizer::load(dir)?))
    } else if dir.join("spiece.model").is_file() {
        Ok(Box::new(T5Tokenizer::load(dir)?))
    } else {
        Ok(Box::new(load_marian(dir)?))
    }
}

/// Load a Marian (OPUS-MT) tokenizer from the SentencePiece files in `dir`.
pub fn load_marian(dir: &Path) -> Result<MarianTokenizer> {
    MarianTokenizer::load(dir)
}

/// Python's `str.isspace()` for one character (it also counts U+001C..U+001F).
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}
