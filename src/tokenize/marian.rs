//! The tokenizer of Marian (OPUS-MT) models, matching transformers' slow `MarianTokenizer`
//! (transformers 5.x) id for id and character for character.
//!
//! Encoding: split the text on special/added tokens (leftmost-longest, honouring their
//! `lstrip`/`rstrip`), strip a leading `>>xx<<` language code from every other chunk and keep
//! it as one token, segment the rest with the source (or target) SentencePiece model, map
//! pieces through `vocab.json` (unknown -> `<unk>`), append `</s>`.
//! Decoding: drop special ids, map ids to pieces, join them with SentencePiece decoding
//! (the *source* model for shared vocabularies, as transformers does), `▁` -> space, strip.
//!
//! Never panics on input text; a broken model folder is reported at load time.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::config::{read_vocab, TokenSpec, TokenizerConfig, MARIAN_SPECIAL_DEFAULTS};
use super::spm::SentencePiece;
use super::spm_norm::SPACE_SYMBOL;
use super::{py_isspace, py_strip, SpecialTokens, TextTokenizer};
use crate::error::{Error, Result};

/// A token that is never split (special tokens and `added_tokens_decoder` entries).
#[derive(Clone, Debug)]
struct Added {
    spec: TokenSpec,
    id: u32,
}

/// Which side of the model a text is encoded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Source,
    Target,
}

/// Tokenizer for a Marian (OPUS-MT) model folder.
#[derive(Debug)]
pub struct MarianTokenizer {
    source_spm: SentencePiece,
    target_spm: SentencePiece,
    encoder: HashMap<String, u32>,
    target_encoder: Option<HashMap<String, u32>>,
    /// Target ids -> pieces (`target_vocab.json`, or `vocab.json` when shared).
    decoder: HashMap<u32, String>,
    added: Vec<Added>,
    added_ids: HashMap<String, u32>,
    added_by_id: HashMap<u32, String>,
    special_strings: HashSet<String>,
    skip_ids: HashSet<u32>,
    unk_token: String,
    clean_up_tokenization_spaces: bool,
    special: SpecialTokens,
}

fn require(dir: &Path, name: &str) -> Result<std::path::PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingFile {
            file: name.to_string(),
            location: dir.display().to_string(),
            hint: "a Marian model folder needs source.spm, target.spm and vocab.json \
                   (plus target_vocab.json when tokenizer_config.json sets separate_vocabs), \
                   or a tokenizer.json; download the complete model snapshot"
                .into(),
        })
    }
}

fn to_map(pairs: &[(String, u32)]) -> HashMap<String, u32> {
    // Later duplicates win, as with Python's json.load.
    pairs.iter().cloned().collect()
}

impl MarianTokenizer {
    /// Load from a model folder (see the module docs for the files read).
    pub fn load(dir: &Path) -> Result<Self> {
        let config = TokenizerConfig::load(dir, MARIAN_SPECIAL_DEFAULTS)?;
        let source_path = require(dir, "source.spm")?;
        let target_path = require(dir, "target.spm")?;
        let vocab_path = require(dir, "vocab.json")?;
        let target_vocab_path = if config.separate_vocabs {
            Some(require(dir, "target_vocab.json")?)
        } else {
            None
        };
        let source_spm = SentencePiece::load(&source_path)?;
        let target_spm = SentencePiece::load(&target_path)?;
        let vocab = read_vocab(&vocab_path)?;
        let encoder = to_map(&vocab);
        let (target_encoder, decoder) = match &target_vocab_path {
            Some(p) => {
                let t = read_vocab(p)?;
                (
                    Some(to_map(&t)),
                    t.into_iter().map(|(k, v)| (v, k)).collect(),
                )
            }
            None => (None, vocab.iter().map(|(k, v)| (*v, k.clone())).collect()),
        };

        let named = |n: &str| config.named(n).map(|s| s.content.clone());
        let unk_token = named("unk_token").unwrap_or_else(|| "<unk>".into());
        if !encoder.contains_key(&unk_token) {
            return Err(Error::CorruptModel {
                path: vocab_path,
                reason: format!("the unknown token `{unk_token}` is not in the vocabulary"),
            });
        }
        if let (Some(t), Some(p)) = (&target_encoder, &target_vocab_path) {
            if !t.contains_key(&unk_token) {
                return Err(Error::CorruptModel {
                    path: p.clone(),
                    reason: format!("the unknown token `{unk_token}` is not in the vocabulary"),
                });
            }
        }

        // Added tokens: explicit ids first, then special tokens by their vocab id, or new
        // ids past the vocabulary (as transformers' `add_tokens` assigns them).
        let mut added: Vec<Added> = config
            .added
            .iter()
            .map(|(id, spec)| Added {
                spec: spec.clone(),
                id: *id,
            })
            .collect();
        let specials: Vec<TokenSpec> = config
            .named
            .iter()
            .filter_map(|(_, s)| s.clone())
            .chain(config.extra.iter().cloned())
            .collect();
        for spec in &specials {
            if added.iter().any(|a| a.spec.content == spec.content) {
                continue;
            }
            let id = match encoder.get(&spec.content) {
                Some(id) => *id,
                None => {
                    let known: HashSet<&str> = encoder
                        .keys()
                        .map(String::as_str)
                        .chain(added.iter().map(|a| a.spec.content.as_str()))
                        .collect();
                    known.len() as u32
                }
            };
            added.push(Added {
                spec: spec.clone(),
                id,
            });
        }
        let added_ids: HashMap<String, u32> = added
            .iter()
            .map(|a| (a.spec.content.clone(), a.id))
            .collect();
        let added_by_id: HashMap<u32, String> = added
            .iter()
            .map(|a| (a.id, a.spec.content.clone()))
            .collect();
        let special_strings: HashSet<String> = specials.iter().map(|s| s.content.clone()).collect();
        let skip_ids: HashSet<u32> = special_strings
            .iter()
            .filter_map(|s| added_ids.get(s).copied())
            .collect();

        let id_of = |name: &str, default: u32| {
            named(name)
                .and_then(|c| added_ids.get(&c).copied())
                .unwrap_or(default)
        };
        let unk = added_ids[&unk_token];
        let eos = id_of("eos_token", unk);
        let pad = id_of("pad_token", unk);
        let target_id = |name: &str, source: u32| match (&target_encoder, named(name)) {
            (Some(t), Some(c)) => t.get(&c).copied().unwrap_or(source),
            _ => source,
        };
        let special = SpecialTokens {
            eos,
            pad,
            unk,
            target_eos: target_id("eos_token", eos),
            target_pad: target_id("pad_token", pad),
            target_unk: target_id("unk_token", unk),
            decoder_vocab_size: target_encoder.as_ref().unwrap_or(&encoder).len(),
        };
        Ok(MarianTokenizer {
            source_spm,
            target_spm,
            encoder,
            target_encoder,
            decoder,
            added,
            added_ids,
            added_by_id,
            special_strings,
            skip_ids,
            unk_token,
            clean_up_tokenization_spaces: config.clean_up_tokenization_spaces,
            special,
        })
    }

    /// Whether source and target use different vocabularies.
    pub fn separate_vocabs(&self) -> bool {
        self.target_encoder.is_some()
    }

    /// Source-side tokens (pieces, language codes and special tokens) before id mapping,
    /// as transformers' `tokenize` returns them.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        self.tokens(text, Side::Source)
    }

    /// Target-side tokens, as transformers' `tokenize` in target mode returns them.
    pub fn tokenize_target(&self, text: &str) -> Vec<String> {
        self.tokens(text, Side::Target)
    }

    /// Target-side ids with the end-of-sequence id appended (`tokenizer(text_target=...)`).
    pub fn encode_target(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.ids(text, Side::Target))
    }

    fn ids(&self, text: &str, side: Side) -> Vec<u32> {
        let encoder = match (side, &self.target_encoder) {
            (Side::Target, Some(t)) => t,
            _ => &self.encoder,
        };
        // Checked at load time: both vocabularies contain the unknown token.
        let unk = encoder
            .get(&self.unk_token)
            .copied()
            .unwrap_or(self.special.unk);
        let mut ids: Vec<u32> = self
            .tokens(text, side)
            .iter()
            .map(|t| {
                self.added_ids
                    .get(t)
                    .or_else(|| encoder.get(t))
                    .copied()
                    .unwrap_or(unk)
            })
            .collect();
        ids.push(self.special.eos);
        ids
    }

    fn tokens(&self, text: &str, side: Side) -> Vec<String> {
        let spm = match side {
            Side::Source => &self.source_spm,
            Side::Target => &self.target_spm,
        };
        let mut out = Vec::new();
        for (chunk, is_added) in self.split_added(text) {
            if chunk.is_empty() {
                continue;
            }
            if is_added {
                out.push(chunk);
                continue;
            }
            let mut rest = chunk.as_str();
            if rest.starts_with(">>") {
                if let Some(end) = rest.find("<<") {
                    out.push(rest[..end + 2].to_string());
                    rest = &rest[end + 2..];
                }
            }
            out.extend(spm.encode(rest));
        }
        out
    }

    /// Split on added tokens, leftmost-longest, then apply their `lstrip`/`rstrip`.
    fn split_added(&self, text: &str) -> Vec<(String, bool)> {
        let mut parts: Vec<(String, bool)> = Vec::new();
        let mut last = 0usize;
        let mut pos = 0usize;
        while pos < text.len() {
            let found = self
                .added
                .iter()
                .filter(|a| !a.spec.content.is_empty() && text[pos..].starts_with(&a.spec.content))
                .map(|a| a.spec.content.len())
                .max();
            match found {
                Some(len) => {
                    parts.push((text[last..pos].to_string(), false));
                    parts.push((text[pos..pos + len].to_string(), true));
                    pos += len;
                    last = pos;
                }
                None => pos += text[pos..].chars().next().map_or(1, char::len_utf8),
            }
        }
        parts.push((text[last..].to_string(), false));
        parts.retain(|(s, is_added)| *is_added || !s.is_empty());
        for i in 0..parts.len() {
            if !parts[i].1 {
                continue;
            }
            let Some(a) = self.added.iter().find(|a| a.spec.content == parts[i].0) else {
                continue;
            };
            let (lstrip, rstrip) = (a.spec.lstrip, a.spec.rstrip);
            if rstrip && i + 1 < parts.len() && !parts[i + 1].0.is_empty() {
                parts[i + 1].0 = parts[i + 1].0.trim_start_matches(py_isspace).to_string();
            }
            if lstrip && i > 0 && !parts[i - 1].0.is_empty() {
                parts[i - 1].0 = parts[i - 1].0.trim_end_matches(py_isspace).to_string();
            }
        }
        parts
    }

    fn decode_impl(&self, ids: &[u32]) -> Result<String> {
        let spm = if self.separate_vocabs() {
            &self.target_spm
        } else {
            &self.source_spm
        };
        let mut tokens: Vec<&str> = Vec::with_capacity(ids.len());
        for &id in ids {
            if self.skip_ids.contains(&id) {
                continue;
            }
            let token = self
                .added_by_id
                .get(&id)
                .or_else(|| self.decoder.get(&id))
                .map(String::as_str)
                .or_else(|| spm.id_to_piece(id))
                .ok_or_else(|| {
                    Error::Tokenizer(format!(
                        "id {id} is not in the target vocabulary ({} entries); \
                         the ids do not come from this model",
                        self.special.decoder_vocab_size
                    ))
                })?;
            tokens.push(token);
        }
        let mut out = String::new();
        let mut current: Vec<&str> = Vec::new();
        for token in tokens {
            if self.special_strings.contains(token) {
                out.push_str(&spm.decode_pieces(&current));
                out.push_str(token);
                out.push(' ');
                current.clear();
            } else {
                current.push(token);
            }
        }
        out.push_str(&spm.decode_pieces(&current));
        let out = out.replace(SPACE_SYMBOL, " ");
        let mut text = py_strip(&out).to_string();
        if self.clean_up_tokenization_spaces {
            for (from, to) in [
                (" .", "."),
                (" ?", "?"),
                (" !", "!"),
                (" ,", ","),
                (" ' ", "'"),
                (" n't", "n't"),
                (" 'm", "'m"),
                (" 's", "'s"),
                (" 've", "'ve"),
                (" 're", "'re"),
            ] {
                text = text.replace(from, to);
            }
        }
        Ok(text)
    }
}

impl TextTokenizer for MarianTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.ids(text, Side::Source))
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.decode_impl(ids)
    }

    fn special(&self) -> &SpecialTokens {
        &self.special
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: [&str; 5] = [
        "source.spm",
        "target.spm",
        "vocab.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ];

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/marian")
            .join(name)
    }

    /// A temporary copy of the tiny-bin fixture's tokenizer files.
    fn copy_of_tiny_bin() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for f in FILES {
            std::fs::copy(fixture("tiny-bin").join(f), tmp.path().join(f)).unwrap();
        }
        tmp
    }

    #[test]
    fn empty_and_blank_texts_are_just_eos() {
        let tok = MarianTokenizer::load(&fixture("tiny-bin")).unwrap();
        let eos = tok.special().eos;
        for text in ["", " ", "   \t  ", "\u{3000}", "\u{200b}"] {
            assert_eq!(tok.encode(text).unwrap(), vec![eos], "{text:?}");
            assert_eq!(tok.encode_target(text).unwrap(), vec![eos], "{text:?}");
            assert_eq!(tok.count_tokens(text).unwrap(), 1);
        }
        assert_eq!(tok.decode(&[]).unwrap(), "");
        assert_eq!(tok.decode(&[eos, tok.special().pad]).unwrap(), "");
    }

    #[test]
    fn special_token_text_and_language_codes() {
        let tok = MarianTokenizer::load(&fixture("tiny-bin")).unwrap();
        let s = tok.special().clone();
        // Literal special tokens become their ids; the text around them is segmented alone.
        let ids = tok.encode("</s>").unwrap();
        assert_eq!(ids, vec![s.eos, s.eos]);
        let toks = tok.tokenize("a<unk>b<pad>");
        assert_eq!(toks[toks.len() - 1], "<pad>");
        assert!(toks.contains(&"<unk>".to_string()));
        // A leading >>xx<< is one token (unknown here, so it maps to <unk>) and is cut from
        // the text before SentencePiece; elsewhere it is ordinary text.
        let toks = tok.tokenize(">>fr<< a");
        assert_eq!(toks[0], ">>fr<<");
        assert_eq!(tok.tokenize(">>fr<< a")[1..], tok.tokenize(" a")[..]);
        assert_eq!(tok.encode(">>fr<<").unwrap(), vec![s.unk, s.eos]);
        assert_ne!(tok.tokenize("x >>fr<<")[1], ">>fr<<");
    }

    #[test]
    fn decode_rejects_ids_outside_every_vocabulary() {
        let tok = MarianTokenizer::load(&fixture("tiny-bin")).unwrap();
        let err = tok.decode(&[u32::MAX]).unwrap_err();
        assert!(matches!(err, Error::Tokenizer(_)), "{err}");
    }

    #[test]
    fn each_missing_file_is_named() {
        for missing in ["source.spm", "target.spm", "vocab.json"] {
            let tmp = copy_of_tiny_bin();
            std::fs::remove_file(tmp.path().join(missing)).unwrap();
            match MarianTokenizer::load(tmp.path()).unwrap_err() {
                Error::MissingFile {
                    file,
                    location,
                    hint,
                } => {
                    assert_eq!(file, missing);
                    assert_eq!(location, tmp.path().display().to_string());
                    assert!(hint.contains("download"), "{hint}");
                }
                other => panic!("{missing}: expected MissingFile, got {other}"),
            }
        }
        // separate_vocabs without target_vocab.json.
        let tmp = copy_of_tiny_bin();
        std::fs::write(
            tmp.path().join("tokenizer_config.json"),
            r#"{"separate_vocabs": true}"#,
        )
        .unwrap();
        match MarianTokenizer::load(tmp.path()).unwrap_err() {
            Error::MissingFile { file, .. } => assert_eq!(file, "target_vocab.json"),
            other => panic!("expected MissingFile, got {other}"),
        }
    }

    #[test]
    fn corrupt_files_name_their_path() {
        let cases: [(&str, &[u8]); 5] = [
            ("vocab.json", b"{not json"),
            ("vocab.json", b"[1, 2, 3]"),
            ("vocab.json", br#"{"a": -1}"#),
            ("vocab.json", br#"{"a": 0}"#),
            ("source.spm", b"\xff\xfe garbage"),
        ];
        for (file, content) in cases {
            let tmp = copy_of_tiny_bin();
            std::fs::write(tmp.path().join(file), content).unwrap();
            match MarianTokenizer::load(tmp.path()).unwrap_err() {
                Error::CorruptModel { path, reason } => {
                    assert_eq!(path, tmp.path().join(file), "{reason}");
                }
                other => panic!("{file} {content:?}: expected CorruptModel, got {other}"),
            }
        }
    }

    #[test]
    fn broken_tokenizer_config_is_a_config_error() {
        let tmp = copy_of_tiny_bin();
        std::fs::write(tmp.path().join("tokenizer_config.json"), "{oops").unwrap();
        let err = MarianTokenizer::load(tmp.path()).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
    }
}
