//! A tokenizer backed by a Hugging Face `tokenizer.json`, run by the `tokenizers` crate.
//!
//! Special token names come from `tokenizer_config.json` / `special_tokens_map.json` when
//! present (defaults `</s>`, `<pad>`, `<unk>`). Encoding applies the file's own post-processor;
//! if that does not end the sequence with end-of-sequence, it is appended, so every model
//! input ends with it. Never panics on input text.

use std::path::Path;

use tokenizers::Tokenizer;

use super::config::{TokenizerConfig, MARIAN_SPECIAL_DEFAULTS};
use super::{SpecialTokens, TextTokenizer};
use crate::error::{Error, Result};

/// Tokenizer loaded from `tokenizer.json`.
pub struct HfTokenizer {
    inner: Tokenizer,
    special: SpecialTokens,
}

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("special", &self.special)
            .finish_non_exhaustive()
    }
}

impl HfTokenizer {
    /// Load `dir/tokenizer.json` (and the optional config files beside it).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(Error::MissingFile {
                file: "tokenizer.json".into(),
                location: dir.display().to_string(),
                hint: "download the complete model snapshot".into(),
            });
        }
        let inner = Tokenizer::from_file(&path).map_err(|e| Error::CorruptModel {
            path: path.clone(),
            reason: format!("not a valid tokenizers file ({e}); re-download it"),
        })?;
        let config = TokenizerConfig::load(dir, MARIAN_SPECIAL_DEFAULTS)?;
        let id = |name: &str| -> Result<u32> {
            let content = config
                .named(name)
                .map(|s| s.content.clone())
                .unwrap_or_default();
            inner
                .token_to_id(&content)
                .ok_or_else(|| Error::CorruptModel {
                    path: path.clone(),
                    reason: format!("its vocabulary has no {name} `{content}`"),
                })
        };
        let eos = id("eos_token")?;
        let pad = id("pad_token")?;
        let unk = id("unk_token").unwrap_or(pad);
        let special = SpecialTokens {
            eos,
            pad,
            unk,
            target_eos: eos,
            target_pad: pad,
            target_unk: unk,
            decoder_vocab_size: inner.get_vocab_size(true),
        };
        Ok(HfTokenizer { inner, special })
    }
}

impl TextTokenizer for HfTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(format!("encoding failed: {e}")))?;
        let mut ids = enc.get_ids().to_vec();
        if ids.last() != Some(&self.special.eos) {
            ids.push(self.special.eos);
        }
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| Error::Tokenizer(format!("decoding failed: {e}")))
    }

    fn special(&self) -> &SpecialTokens {
        &self.special
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
    use tokenizers::AddedToken;

    fn write_tokenizer_json(dir: &Path) {
        let vocab: HashMap<String, u32> = [
            ("</s>", 0),
            ("<unk>", 1),
            ("<pad>", 2),
            ("hej", 3),
            ("du", 4),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let model = WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token("<unk>".into())
            .build()
            .unwrap();
        let mut tok = Tokenizer::new(model);
        tok.with_pre_tokenizer(Some(WhitespaceSplit));
        let _added = tok.add_special_tokens(vec![
            AddedToken::from("</s>", true),
            AddedToken::from("<pad>", true),
            AddedToken::from("<unk>", true),
        ]);
        tok.save(dir.join("tokenizer.json"), false).unwrap();
    }

    #[test]
    fn tokenizer_json_is_preferred_and_eos_appended() {
        let tmp = tempfile::tempdir().unwrap();
        write_tokenizer_json(tmp.path());
        let tok = crate::tokenize::load(tmp.path()).unwrap();
        assert_eq!(tok.special().eos, 0);
        assert_eq!(tok.special().pad, 2);
        assert_eq!(tok.encode("hej du").unwrap(), vec![3, 4, 0]);
        assert_eq!(tok.encode("hej zzz").unwrap(), vec![3, 1, 0]);
        assert_eq!(tok.encode("").unwrap(), vec![0]);
        assert_eq!(tok.decode(&[2, 3, 4, 0]).unwrap(), "hej du");
        assert_eq!(tok.count_tokens("hej du du").unwrap(), 4);
    }

    #[test]
    fn broken_tokenizer_json_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("tokenizer.json"), "{}").unwrap();
        let err = HfTokenizer::load(tmp.path()).unwrap_err();
        match err {
            Error::CorruptModel { path, .. } => assert_eq!(path, tmp.path().join("tokenizer.json")),
            other => panic!("expected CorruptModel, got {other}"),
        }
    }
}
