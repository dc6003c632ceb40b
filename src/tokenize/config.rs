//! Reading the JSON side files of a tokenizer folder: `tokenizer_config.json`,
//! `special_tokens_map.json` and `vocab.json`-style `{piece: id}` maps.
//!
//! Only reads and validates; it must never guess values that a file contradicts.

use std::fmt;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::{Error, Result};

/// One special or added token as transformers describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenSpec {
    pub content: String,
    pub lstrip: bool,
    pub rstrip: bool,
    pub special: bool,
}

impl TokenSpec {
    /// A plain string or an `AddedToken` object (`{"content": ..., "lstrip": ...}`).
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(TokenSpec {
                content: s.clone(),
                lstrip: false,
                rstrip: false,
                special: true,
            }),
            Value::Object(o) => Some(TokenSpec {
                content: o.get("content")?.as_str()?.to_string(),
                lstrip: o.get("lstrip").and_then(Value::as_bool).unwrap_or(false),
                rstrip: o.get("rstrip").and_then(Value::as_bool).unwrap_or(false),
                special: o.get("special").and_then(Value::as_bool).unwrap_or(true),
            }),
            _ => None,
        }
    }
}

/// What tolk reads from `tokenizer_config.json` and `special_tokens_map.json`.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenizerConfig {
    pub separate_vocabs: bool,
    pub clean_up_tokenization_spaces: bool,
    /// Named special tokens in transformers' order (bos, eos, unk, sep, pad, cls, mask),
    /// each with its name; `None` where neither file sets it.
    pub named: Vec<(&'static str, Option<TokenSpec>)>,
    /// `additional_special_tokens` / `extra_special_tokens`.
    pub extra: Vec<TokenSpec>,
    /// `added_tokens_decoder` entries: (id, token).
    pub added: Vec<(u32, TokenSpec)>,
}

const NAMED: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

fn read_json_object(path: &Path) -> Result<Option<serde_json::Map<String, Value>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => Ok(Some(o)),
        Ok(_) => Err(Error::Config {
            path: path.to_path_buf(),
            reason: "expected a JSON object".into(),
        }),
        Err(e) => Err(Error::Config {
            path: path.to_path_buf(),
            reason: format!("not valid JSON ({e}); re-download the file"),
        }),
    }
}

/// transformers' `MarianTokenizer` special-token defaults, used when the config names none.
pub(crate) const MARIAN_SPECIAL_DEFAULTS: &[(&str, &str)] = &[
    ("eos_token", "</s>"),
    ("unk_token", "<unk>"),
    ("pad_token", "<pad>"),
];

impl TokenizerConfig {
    /// Read both optional files of `dir`; `defaults` fills named tokens neither file sets.
    pub(crate) fn load(dir: &Path, defaults: &[(&str, &str)]) -> Result<Self> {
        let config = read_json_object(&dir.join("tokenizer_config.json"))?.unwrap_or_default();
        let map = read_json_object(&dir.join("special_tokens_map.json"))?.unwrap_or_default();
        let mut out = TokenizerConfig {
            separate_vocabs: config
                .get("separate_vocabs")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            clean_up_tokenization_spaces: config
                .get("clean_up_tokenization_spaces")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ..Default::default()
        };
        // transformers reads special_tokens_map.json only when tokenizer_config.json has no
        // `added_tokens_decoder`, and then lets the map override the config.
        let map = if config.contains_key("added_tokens_decoder") {
            serde_json::Map::new()
        } else {
            map
        };
        for name in NAMED {
            let spec = map
                .get(name)
                .and_then(TokenSpec::from_value)
                .or_else(|| config.get(name).and_then(TokenSpec::from_value))
                .or_else(|| {
                    defaults
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| TokenSpec::from_value(&Value::String((*v).into())))?
                });
            out.named.push((name, spec));
        }
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            for source in [&config, &map] {
                if let Some(Value::Array(items)) = source.get(key) {
                    for spec in items.iter().filter_map(TokenSpec::from_value) {
                        if !out.extra.iter().any(|e| e.content == spec.content) {
                            out.extra.push(spec);
                        }
                    }
                }
            }
        }
        if let Some(Value::Object(added)) = config.get("added_tokens_decoder") {
            for (id, v) in added {
                if let (Ok(id), Some(spec)) = (id.parse::<u32>(), TokenSpec::from_value(v)) {
                    out.added.push((id, spec));
                }
            }
        }
        Ok(out)
    }

    /// The content of a named special token (`"eos_token"`, ...), if set.
    pub(crate) fn named(&self, name: &str) -> Option<&TokenSpec> {
        self.named
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, s)| s.as_ref())
    }
}

/// A `{piece: id}` map in file order, as Python's `json.load` sees it.
pub(crate) struct OrderedVocab(pub Vec<(String, u32)>);

impl<'de> serde::Deserialize<'de> for OrderedVocab {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedVocab;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping pieces to non-negative integer ids")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<OrderedVocab, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some((k, v)) = m.next_entry::<String, u32>()? {
                    out.push((k, v));
                }
                Ok(OrderedVocab(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Read a `vocab.json`-style file; a file that is not such a map is `CorruptModel`.
pub(crate) fn read_vocab(path: &Path) -> Result<Vec<(String, u32)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::CorruptModel {
        path: path.to_path_buf(),
        reason: format!("cannot read it as UTF-8 text ({e}); re-download the file"),
    })?;
    let vocab: OrderedVocab = serde_json::from_str(&text).map_err(|e| Error::CorruptModel {
        path: path.to_path_buf(),
        reason: format!("not a JSON object of piece -> id ({e}); re-download the file"),
    })?;
    if vocab.0.is_empty() {
        return Err(Error::CorruptModel {
            path: path.to_path_buf(),
            reason: "the vocabulary is empty; re-download the file".into(),
        });
    }
    Ok(vocab.0)
}
