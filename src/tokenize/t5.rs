//! The tokenizer of T5-family folders that ship only `spiece.model` (original T5, some T5 v1.1 and
//! MADLAD-400 snapshots), matching transformers' `T5Tokenizer` id for id on tolk's test text.
//!
//! T5 conventions: ids are the SentencePiece piece ids (`<pad>` 0, `</s>` 1, `<unk>` 2), then
//! `extra_ids` sentinels (`<extra_id_0>` is the *last* id, `<extra_id_{n-1}>` the first after the
//! pieces). Encoding: split the text on special tokens, sentinels and user-defined pieces (such
//! as MADLAD's `<2en>`), leftmost-longest; segment the rest with our own SentencePiece
//! ([`super::spm`]); append `</s>`. Decoding: drop special ids (pad, eos, unk, sentinels, control
//! pieces, ids past the vocabulary), then join pieces as transformers' Metaspace decoder does:
//! `▁` becomes a space, except in the first piece where it is dropped.
//!
//! Never panics on input text; a broken folder is reported at load time.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::config::TokenizerConfig;
use super::spm::SentencePiece;
use super::spm_norm::SPACE_SYMBOL;
use super::{SpecialTokens, TextTokenizer};
use crate::error::{Error, Result};

/// transformers' `T5Tokenizer` special-token defaults.
const T5_SPECIAL_DEFAULTS: &[(&str, &str)] = &[
    ("eos_token", "</s>"),
    ("unk_token", "<unk>"),
    ("pad_token", "<pad>"),
];

/// Sentinels transformers adds when the folder says nothing.
const DEFAULT_EXTRA_IDS: usize = 100;

/// Tokenizer for a T5 folder with `spiece.model`.
#[derive(Debug)]
pub struct T5Tokenizer {
    spm: SentencePiece,
    /// Tokens matched in text before segmentation, grouped by first character.
    added: HashMap<char, Vec<(String, u32)>>,
    added_ids: HashMap<String, u32>,
    skip: HashSet<u32>,
    pieces: usize,
    extra_ids: usize,
    special: SpecialTokens,
}

/// `extra_ids` from tokenizer_config.json, else the number of `<extra_id_N>` tokens it lists.
fn extra_id_count(dir: &Path, config: &TokenizerConfig) -> Result<usize> {
    let path = dir.join("tokenizer_config.json");
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            reason: format!("not valid JSON ({e}); re-download the file"),
        })?;
        if let Some(n) = value.get("extra_ids").and_then(serde_json::Value::as_u64) {
            return Ok(n as usize);
        }
    }
    let listed = config
        .extra
        .iter()
        .filter(|t| t.content.starts_with("<extra_id_"))
        .count();
    Ok(if listed > 0 {
        listed
    } else {
        DEFAULT_EXTRA_IDS
    })
}

impl T5Tokenizer {
    /// Load `dir/spiece.model` (and the optional `tokenizer_config.json` /
    /// `special_tokens_map.json` beside it).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("spiece.model");
        if !path.is_file() {
            return Err(Error::MissingFile {
                file: "spiece.model".into(),
                location: dir.display().to_string(),
                hint: "a T5 model folder needs spiece.model or tokenizer.json; \
                       download the complete model snapshot"
                    .into(),
            });
        }
        let spm = SentencePiece::load(&path)?;
        let config = TokenizerConfig::load(dir, T5_SPECIAL_DEFAULTS)?;
        let pieces = spm.piece_count();
        let extra_ids = extra_id_count(dir, &config)?;
        let id = |name: &str| -> Result<u32> {
            let content = config
                .named(name)
                .map(|s| s.content.clone())
                .unwrap_or_default();
            spm.piece_to_id(&content)
                .ok_or_else(|| Error::CorruptModel {
                    path: path.clone(),
                    reason: format!("it has no {name} piece `{content}`"),
                })
        };
        let (eos, pad, unk) = (id("eos_token")?, id("pad_token")?, id("unk_token")?);
        let mut added_ids: HashMap<String, u32> = HashMap::new();
        let mut skip: HashSet<u32> = [eos, pad, unk].into_iter().collect();
        for name in ["eos_token", "pad_token", "unk_token"] {
            if let Some(spec) = config.named(name) {
                if let Some(i) = spm.piece_to_id(&spec.content) {
                    added_ids.insert(spec.content.clone(), i);
                }
            }
        }
        for i in 0..extra_ids {
            let id = (pieces + extra_ids - 1 - i) as u32;
            added_ids.insert(format!("<extra_id_{i}>"), id);
            skip.insert(id);
        }
        for (text, id) in spm.user_defined() {
            added_ids.entry(text).or_insert(id);
        }
        skip.extend((0..pieces as u32).filter(|&i| spm.is_control(i)));
        let mut added: HashMap<char, Vec<(String, u32)>> = HashMap::new();
        for (text, &id) in &added_ids {
            if let Some(c) = text.chars().next() {
                added.entry(c).or_default().push((text.clone(), id));
            }
        }
        let special = SpecialTokens {
            eos,
            pad,
            unk,
            target_eos: eos,
            target_pad: pad,
            target_unk: unk,
            decoder_vocab_size: pieces + extra_ids,
        };
        Ok(Self {
            spm,
            added,
            added_ids,
            skip,
            pieces,
            extra_ids,
            special,
        })
    }

    /// Number of sentinel (`<extra_id_N>`) tokens after the SentencePiece pieces.
    pub fn extra_ids(&self) -> usize {
        self.extra_ids
    }

    /// The longest added token starting at the beginning of `text`.
    fn added_at(&self, text: &str) -> Option<(usize, u32)> {
        let first = text.chars().next()?;
        self.added
            .get(&first)?
            .iter()
            .filter(|(t, _)| text.starts_with(t.as_str()))
            .map(|(t, id)| (t.len(), *id))
            .max_by_key(|(len, _)| *len)
    }
}

impl TextTokenizer for T5Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut last = 0usize;
        let mut pos = 0usize;
        while pos < text.len() {
            match self.added_at(&text[pos..]) {
                Some((len, id)) => {
                    ids.extend(self.spm.encode_ids(&text[last..pos]));
                    ids.push(id);
                    pos += len;
                    last = pos;
                }
                None => pos += text[pos..].chars().next().map_or(1, char::len_utf8),
            }
        }
        ids.extend(self.spm.encode_ids(&text[last..]));
        ids.push(self.special.eos);
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut out = String::new();
        let mut first = true;
        for &id in ids {
            if self.skip.contains(&id) || id as usize >= self.pieces {
                continue;
            }
            let Some(piece) = self.spm.id_to_piece(id) else {
                continue;
            };
            if first {
                out.push_str(&piece.replace(SPACE_SYMBOL, ""));
            } else {
                out.push_str(&piece.replace(SPACE_SYMBOL, " "));
            }
            first = false;
        }
        Ok(out)
    }

    fn special(&self) -> &SpecialTokens {
        &self.special
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added_ids
            .get(token)
            .copied()
            .or_else(|| self.spm.piece_to_id(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::spm_proto::build_model;

    const NORMAL: i32 = 1;
    const UNKNOWN: i32 = 2;
    const CONTROL: i32 = 3;
    const USER: i32 = 4;

    fn folder(extra_ids: Option<usize>) -> tempfile::TempDir {
        let pieces = [
            ("<pad>", 0.0, CONTROL),
            ("</s>", 0.0, CONTROL),
            ("<unk>", 0.0, UNKNOWN),
            ("<2en>", 0.0, USER),
            ("▁", -2.0, NORMAL),
            ("a", -3.0, NORMAL),
            ("b", -3.0, NORMAL),
            ("▁ab", -4.0, NORMAL),
        ];
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("spiece.model"), build_model(&pieces, false)).unwrap();
        if let Some(n) = extra_ids {
            std::fs::write(
                tmp.path().join("tokenizer_config.json"),
                format!(r#"{{"extra_ids": {n}}}"#),
            )
            .unwrap();
        }
        tmp
    }

    #[test]
    fn t5_ids_sentinels_and_eos() {
        let dir = folder(None);
        let tok = T5Tokenizer::load(dir.path()).unwrap();
        let s = tok.special();
        assert_eq!((s.pad, s.eos, s.unk), (0, 1, 2));
        assert_eq!(s.decoder_vocab_size, 8 + 100);
        assert_eq!(tok.token_to_id("<extra_id_0>"), Some(107));
        assert_eq!(tok.token_to_id("<extra_id_99>"), Some(8));
        assert_eq!(tok.token_to_id("<2en>"), Some(3));
        assert_eq!(tok.token_to_id("<2xx>"), None);
        assert_eq!(tok.encode("ab").unwrap(), vec![7, 1]);
        assert_eq!(tok.encode("").unwrap(), vec![1]);
        // Special text is split off first; each side is segmented on its own.
        assert_eq!(tok.encode("<2en> ab</s>").unwrap(), vec![3, 7, 1, 1]);
        assert_eq!(
            tok.encode("a<extra_id_0>b").unwrap(),
            vec![4, 5, 107, 4, 6, 1]
        );
        assert_eq!(tok.encode("zz").unwrap(), vec![4, 2, 1]);
    }

    #[test]
    fn decode_skips_specials_like_metaspace() {
        let dir = folder(Some(3));
        let tok = T5Tokenizer::load(dir.path()).unwrap();
        assert_eq!(tok.special().decoder_vocab_size, 11);
        // pad, unk, a sentinel and ids past the vocabulary vanish; the first piece loses its ▁.
        assert_eq!(tok.decode(&[0, 7, 2, 4, 6, 10, 1, 500]).unwrap(), "ab b");
        assert_eq!(tok.decode(&[4, 4, 5]).unwrap(), " a");
        assert_eq!(tok.decode(&[3, 4, 5]).unwrap(), "<2en> a");
        assert_eq!(tok.decode(&[]).unwrap(), "");
    }

    #[test]
    fn missing_spiece_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        match T5Tokenizer::load(tmp.path()).unwrap_err() {
            Error::MissingFile { file, .. } => assert_eq!(file, "spiece.model"),
            other => panic!("expected MissingFile, got {other}"),
        }
    }
}
