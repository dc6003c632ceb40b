//! The tokenizer of CTranslate2 models packaged by Argos Translate: one SentencePiece model
//! (`sentencepiece.model`) and the CT2 vocabularies (token lists, ids = positions).
//!
//! Encoding, as Argos does it: `sp.encode(text, out_type=str)`, then each piece → its id in the
//! source vocabulary (unknown pieces → the unknown id, CT2's `to_id`), `bos` prepended and `eos`
//! appended when `config.json` sets `add_source_bos` / `add_source_eos`.
//! Decoding: target ids → pieces (the end token and a real start token dropped), joined with
//! SentencePiece decoding, then `▁` → space and leading whitespace removed (Argos's
//! `decode(...).replace("▁", " ").lstrip()`: the package's model is the source side's and keeps
//! the target's unknown pieces verbatim).
//!
//! Never panics on input text; bad files are reported at load time.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::spm::SentencePiece;
use super::spm_norm::SPACE_SYMBOL;
use super::{py_isspace, SpecialTokens, TextTokenizer};
use crate::arch::ct2::Ct2Vocab;
use crate::error::{Error, Result};

/// Special token strings and source-side flags from a CT2 `config.json`.
#[derive(Clone, Debug)]
pub struct Ct2TokenConfig {
    pub bos_token: String,
    pub eos_token: String,
    pub unk_token: String,
    /// The decoder start token (`None`: the bos token).
    pub decoder_start_token: Option<String>,
    pub add_source_bos: bool,
    pub add_source_eos: bool,
}

impl From<&crate::arch::ct2::Ct2Config> for Ct2TokenConfig {
    fn from(c: &crate::arch::ct2::Ct2Config) -> Self {
        Self {
            bos_token: c.bos_token.clone(),
            eos_token: c.eos_token.clone(),
            unk_token: c.unk_token.clone(),
            decoder_start_token: c.decoder_start_token.clone(),
            add_source_bos: c.add_source_bos,
            add_source_eos: c.add_source_eos,
        }
    }
}

/// Tokenizer for a CT2 / Argos model (see the module docs).
#[derive(Debug)]
pub struct Ct2Tokenizer {
    spm: SentencePiece,
    /// The model's own vocabularies (one, when shared), not copies.
    source: Arc<Ct2Vocab>,
    target: Arc<Ct2Vocab>,
    prefix: Option<u32>,
    suffix: Option<u32>,
    skip: HashSet<u32>,
    special: SpecialTokens,
}

impl Ct2Tokenizer {
    /// Build from the SentencePiece model file and the model's vocabularies (the unknown token
    /// already appended where the file lacked it, as CT2 does).
    pub fn new(
        spm_path: &Path,
        source: Arc<Ct2Vocab>,
        target: Arc<Ct2Vocab>,
        cfg: &Ct2TokenConfig,
    ) -> Result<Self> {
        let spm = SentencePiece::load(spm_path)?;
        let unk_of = |v: &Ct2Vocab, side: &str| {
            v.get(&cfg.unk_token).ok_or_else(|| {
                Error::Tokenizer(format!(
                    "the unknown token `{}` is not in the {side} vocabulary",
                    cfg.unk_token
                ))
            })
        };
        let source_unk = unk_of(&source, "source")?;
        let target_unk = unk_of(&target, "target")?;
        let lookup = |v: &Ct2Vocab, t: &str, unk: u32| v.get(t).unwrap_or(unk);
        let target_eos = target.get(&cfg.eos_token).ok_or_else(|| {
            Error::Tokenizer(format!(
                "the end token `{}` is not in the target vocabulary",
                cfg.eos_token
            ))
        })?;
        let source_eos = lookup(&source, &cfg.eos_token, source_unk);
        let mut skip = HashSet::from([target_eos]);
        let start = cfg.decoder_start_token.as_ref().unwrap_or(&cfg.bos_token);
        if let Some(id) = target.get(start) {
            skip.insert(id);
        }
        let special = SpecialTokens {
            eos: source_eos,
            pad: lookup(&source, "<pad>", source_unk),
            unk: source_unk,
            target_eos,
            target_pad: lookup(&target, "<pad>", target_unk),
            target_unk,
            decoder_vocab_size: target.len(),
        };
        Ok(Self {
            spm,
            prefix: cfg
                .add_source_bos
                .then(|| lookup(&source, &cfg.bos_token, source_unk)),
            suffix: cfg.add_source_eos.then_some(source_eos),
            source,
            target,
            skip,
            special,
        })
    }

    /// SentencePiece pieces of `text` (what Argos hands to CTranslate2).
    pub fn pieces(&self, text: &str) -> Vec<String> {
        self.spm.encode(text)
    }

    /// Target pieces of `ids`, special tokens kept; an id outside the vocabulary is an error.
    pub fn target_pieces(&self, ids: &[u32]) -> Result<Vec<&str>> {
        ids.iter()
            .map(|&id| {
                self.target.token(id).ok_or_else(|| {
                    Error::Tokenizer(format!(
                        "id {id} is outside the target vocabulary of {} tokens",
                        self.target.len()
                    ))
                })
            })
            .collect()
    }
}

impl TextTokenizer for Ct2Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let pieces = self.pieces(text);
        let mut ids = Vec::with_capacity(pieces.len() + 2);
        ids.extend(self.prefix);
        ids.extend(
            pieces
                .iter()
                .map(|p| self.source.get(p).unwrap_or(self.special.unk)),
        );
        ids.extend(self.suffix);
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let kept: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !self.skip.contains(id))
            .collect();
        let pieces = self.target_pieces(&kept)?;
        let text = self.spm.decode_pieces(&pieces).replace(SPACE_SYMBOL, " ");
        Ok(text.trim_start_matches(py_isspace).to_string())
    }

    fn special(&self) -> &SpecialTokens {
        &self.special
    }
}
