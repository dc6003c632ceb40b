//! The small files of a CTranslate2 model folder: `config.json` and the vocabularies
//! (`*_vocabulary.json` lists or `.txt` files, one token a line), read as CT2's
//! `src/vocabulary.cc` reads them. Never panics on a malformed file.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The fields of a CT2 `config.json` tolk uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Ct2Config {
    #[serde(default)]
    pub add_source_bos: bool,
    #[serde(default)]
    pub add_source_eos: bool,
    #[serde(default = "bos")]
    pub bos_token: String,
    #[serde(default = "eos")]
    pub eos_token: String,
    #[serde(default = "unk")]
    pub unk_token: String,
    /// `None` in the file means "given by the user's target prefix"; tolk then uses `bos_token`.
    #[serde(default = "bos_opt")]
    pub decoder_start_token: Option<String>,
    /// `null`: CT2 uses 1e-5 for layer norms with a bias (1e-6 for RMS norms).
    #[serde(default)]
    pub layer_norm_epsilon: Option<f64>,
    #[serde(default)]
    pub multi_query_attention: bool,
}

fn bos() -> String {
    "<s>".into()
}
fn bos_opt() -> Option<String> {
    Some(bos())
}
fn eos() -> String {
    "</s>".into()
}
fn unk() -> String {
    "<unk>".into()
}

impl Default for Ct2Config {
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("defaults parse"))
    }
}

/// A CT2 vocabulary as CT2 builds it: the file's tokens, then the unknown token if absent.
///
/// Held compactly, since a vocabulary has tens of thousands of tokens and one serves the model
/// and the tokenizer alike: all token text in one string, and the ids sorted by token for
/// look-ups (a binary search; of duplicate tokens the first id wins, like CT2's `emplace`).
#[derive(Clone, Debug)]
pub struct Ct2Vocab {
    text: String,
    /// Token `i` is `text[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<u32>,
    /// Ids ordered by (token, id).
    sorted: Vec<u32>,
    unk: u32,
}

impl Ct2Vocab {
    /// Build from tokens (first occurrence wins, like CT2's `emplace`).
    pub fn new(mut tokens: Vec<String>, unk_token: &str) -> Self {
        if !tokens.iter().any(|t| t == unk_token) {
            tokens.push(unk_token.to_string());
        }
        let mut text = String::with_capacity(tokens.iter().map(String::len).sum());
        let mut ends = Vec::with_capacity(tokens.len());
        for t in &tokens {
            text.push_str(t);
            ends.push(text.len() as u32);
        }
        let mut sorted: Vec<u32> = (0..tokens.len() as u32).collect();
        // Stable: equal tokens keep id order, so the first id comes first.
        sorted.sort_by(|&a, &b| tokens[a as usize].cmp(&tokens[b as usize]));
        drop(tokens);
        let mut v = Self {
            text,
            ends,
            sorted,
            unk: 0,
        };
        v.unk = v
            .get(unk_token)
            .unwrap_or_else(|| unreachable!("the unknown token was added above"));
        v
    }

    /// Read `<stem>.json` (a JSON list) or `<stem>.txt` (one token a line) from `dir`.
    pub fn load(dir: &Path, stem: &str, unk_token: &str) -> Result<Option<Self>> {
        let json = dir.join(format!("{stem}.json"));
        let txt = dir.join(format!("{stem}.txt"));
        let tokens: Vec<String> = if json.is_file() {
            let text = std::fs::read_to_string(&json)
                .map_err(|e| Error::io(format!("reading {}", json.display()), e))?;
            serde_json::from_str(&text).map_err(|e| Error::CorruptModel {
                path: json.clone(),
                reason: format!("not a JSON list of tokens: {e}"),
            })?
        } else if txt.is_file() {
            let text = std::fs::read_to_string(&txt)
                .map_err(|e| Error::io(format!("reading {}", txt.display()), e))?;
            let lines: Vec<&str> = text.split('\n').collect();
            let lines = match lines.split_last() {
                Some((&"", rest)) => rest.to_vec(),
                _ => lines,
            };
            // CT2 strips a trailing carriage return only when every line has one.
            let all_cr = !lines.is_empty() && lines.iter().all(|l| l.ends_with('\r'));
            lines
                .iter()
                .map(|l| if all_cr { &l[..l.len() - 1] } else { l })
                .map(str::to_string)
                .collect()
        } else {
            return Ok(None);
        };
        Ok(Some(Self::new(tokens, unk_token)))
    }

    /// Number of tokens (the unknown token included).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// All tokens by id.
    pub fn tokens(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.text_of(i))
    }

    fn text_of(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The id of `token`, if it is in the vocabulary (the first, of duplicates).
    pub fn get(&self, token: &str) -> Option<u32> {
        let at = self
            .sorted
            .partition_point(|&i| self.text_of(i as usize) < token);
        let &id = self.sorted.get(at)?;
        (self.text_of(id as usize) == token).then_some(id)
    }

    /// The id of `token`, or the unknown id (CT2's `to_id` with `allow_unk`).
    pub fn id(&self, token: &str) -> u32 {
        self.get(token).unwrap_or(self.unk)
    }

    /// Whether `token` is in the vocabulary.
    pub fn contains(&self, token: &str) -> bool {
        self.get(token).is_some()
    }

    /// The token of `id`.
    pub fn token(&self, id: u32) -> Option<&str> {
        ((id as usize) < self.len()).then(|| self.text_of(id as usize))
    }

    /// The unknown token's id.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_load_like_ct2() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("source_vocabulary.txt"), "a\r\nb\r\n").unwrap();
        let v = Ct2Vocab::load(dir.path(), "source_vocabulary", "<unk>")
            .unwrap()
            .unwrap();
        // Carriage returns stripped (every line had one); the unknown token appended.
        assert_eq!(v.tokens().collect::<Vec<_>>(), ["a", "b", "<unk>"]);
        assert_eq!(
            (v.token(2), v.token(3), v.get("zzz")),
            (Some("<unk>"), None, None)
        );
        assert_eq!((v.id("b"), v.id("zzz"), v.unk_id()), (1, 2, 2));
        std::fs::write(dir.path().join("t.json"), r#"["<unk>", "x", "", "x", "a"]"#).unwrap();
        let v = Ct2Vocab::load(dir.path(), "t", "<unk>").unwrap().unwrap();
        assert_eq!((v.len(), v.id("x"), v.id(""), v.id("a")), (5, 1, 2, 4));
        assert_eq!((v.token(2), v.token(3)), (Some(""), Some("x")));
        assert!(Ct2Vocab::load(dir.path(), "none", "<unk>")
            .unwrap()
            .is_none());
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        assert!(Ct2Vocab::load(dir.path(), "bad", "<unk>").is_err());
    }
}
