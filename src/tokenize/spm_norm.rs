//! SentencePiece's text normalizer, byte for byte as upstream's `Normalizer::Normalize`.
//!
//! A precompiled charsmap is a darts-clone double-array trie over UTF-8 byte strings whose
//! values point into a blob of NUL-terminated replacement strings. Upstream takes, at every
//! position, the *longest* rule that matches the bytes there (with no regard to grapheme
//! clusters), then drops leading whitespace, squeezes runs of spaces, drops trailing
//! whitespace, adds the dummy prefix and escapes spaces as `▁`.
//!
//! The `tokenizers` crate's `Precompiled` normalizer does not do this: it cuts the text into
//! grapheme clusters and replaces a whole cluster by the rule of its *shortest* matching
//! prefix, so it can disagree with sentencepiece on combining sequences and emoji. That is why
//! this module walks the charsmap itself. It never panics on a broken charsmap: every array
//! access is checked and a broken rule is simply not applied.

use std::path::Path;

use super::spm_proto::NormSpec;
use crate::error::{Error, Result};

/// The whitespace marker sentencepiece uses inside pieces.
pub(crate) const SPACE_SYMBOL: &str = "\u{2581}";

/// Upstream reads at most this many charsmap matches per position.
const MAX_TRIE_RESULTS: usize = 32;

/// A parsed precompiled charsmap.
#[derive(Clone, Debug)]
struct CharsMap {
    units: Vec<u32>,
    normalized: Vec<u8>,
}

impl CharsMap {
    fn parse(blob: &[u8], path: &Path) -> Result<Self> {
        let corrupt = |reason: &str| Error::CorruptModel {
            path: path.to_path_buf(),
            reason: format!("precompiled_charsmap: {reason}"),
        };
        if blob.len() <= 4 {
            return Err(corrupt("blob too short"));
        }
        let trie_size = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if trie_size >= blob.len() {
            return Err(corrupt("trie size exceeds the blob"));
        }
        let trie = blob
            .get(4..4 + trie_size)
            .ok_or_else(|| corrupt("trie size exceeds the blob"))?;
        let units = trie
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(CharsMap {
            units,
            normalized: blob[4 + trie_size..].to_vec(),
        })
    }

    /// Longest rule matching a prefix of `input`: (bytes consumed, replacement).
    fn longest_match(&self, input: &[u8]) -> Option<(usize, &str)> {
        // darts-clone unit layout: label in bits 0..8 (bit 31 marks a leaf value),
        // has_leaf in bit 8, offset in bits 10.. scaled by bit 9.
        let offset = |u: u32| ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize;
        let mut node = offset(*self.units.first()?);
        let mut found = 0usize;
        let mut best: Option<(usize, usize)> = None;
        for (i, &byte) in input.iter().enumerate() {
            node ^= byte as usize;
            let unit = *self.units.get(node)?;
            if unit & ((1 << 31) | 0xFF) != byte as u32 {
                break;
            }
            node ^= offset(unit);
            if (unit >> 8) & 1 == 1 {
                if found < MAX_TRIE_RESULTS {
                    let value = (*self.units.get(node)? & ((1 << 31) - 1)) as usize;
                    // Results come shortest first, so a later one is always longer.
                    best = Some((i + 1, value));
                }
                found += 1;
            }
        }
        let (len, value) = best?;
        let tail = self.normalized.get(value..)?;
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let text = std::str::from_utf8(&tail[..end]).ok()?;
        Some((len, text))
    }
}

/// A SentencePiece normalizer (one `NormalizerSpec` plus the user-defined symbols).
#[derive(Clone, Debug)]
pub(crate) struct Normalizer {
    map: Option<CharsMap>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    /// User-defined symbols: matched before the charsmap and never normalized.
    user_defined: Vec<String>,
}

impl Normalizer {
    pub(crate) fn new(spec: &NormSpec, user_defined: Vec<String>, path: &Path) -> Result<Self> {
        let map = if spec.charsmap.is_empty() {
            None
        } else {
            Some(CharsMap::parse(&spec.charsmap, path)?)
        };
        Ok(Normalizer {
            map,
            add_dummy_prefix: spec.add_dummy_prefix,
            remove_extra_whitespaces: spec.remove_extra_whitespaces,
            escape_whitespaces: spec.escape_whitespaces,
            user_defined,
        })
    }

    /// Normalize one prefix of `input`: (replacement text, bytes consumed). `input` is non-empty.
    fn normalize_prefix<'a>(&'a self, input: &'a str) -> (&'a str, usize) {
        let user = self
            .user_defined
            .iter()
            .filter(|u| input.starts_with(u.as_str()))
            .map(|u| u.len())
            .max();
        if let Some(len) = user {
            return (&input[..len], len);
        }
        if let Some((len, text)) = self
            .map
            .as_ref()
            .and_then(|m| m.longest_match(input.as_bytes()))
        {
            // A rule ending inside a UTF-8 sequence would leave invalid text behind; upstream
            // charsmaps never contain one, so treat it as no match.
            if input.is_char_boundary(len) {
                return (text, len);
            }
        }
        let len = input.chars().next().map_or(1, char::len_utf8);
        (&input[..len], len)
    }

    /// Normalize `input` as sentencepiece does before segmentation.
    pub(crate) fn normalize(&self, input: &str) -> String {
        let mut input = input;
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (text, len) = self.normalize_prefix(input);
                if text != " " {
                    break;
                }
                input = &input[len..];
            }
        }
        if input.is_empty() {
            return String::new();
        }
        let space = if self.escape_whitespaces {
            SPACE_SYMBOL
        } else {
            " "
        };
        let mut out = String::with_capacity(input.len() * 3);
        if self.add_dummy_prefix {
            out.push_str(space);
        }
        let mut is_prev_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (text, len) = self.normalize_prefix(input);
            let mut text = text;
            if is_prev_space {
                text = text.trim_start_matches(' ');
            }
            if !text.is_empty() {
                if self.escape_whitespaces {
                    out.push_str(&text.replace(' ', SPACE_SYMBOL));
                } else {
                    out.push_str(text);
                }
                is_prev_space = text.ends_with(' ');
            }
            input = &input[len..];
            if !self.remove_extra_whitespaces {
                is_prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(add_dummy_prefix: bool, remove_extra_whitespaces: bool) -> Normalizer {
        let spec = NormSpec {
            charsmap: Vec::new(),
            add_dummy_prefix,
            remove_extra_whitespaces,
            escape_whitespaces: true,
        };
        Normalizer::new(&spec, Vec::new(), Path::new("t.spm")).unwrap()
    }

    #[test]
    fn whitespace_rules_without_charsmap() {
        let n = plain(true, true);
        assert_eq!(n.normalize("  a   b  "), "▁a▁b");
        assert_eq!(n.normalize("   "), "");
        assert_eq!(n.normalize(""), "");
        // Only a plain space counts when there is no charsmap to map tabs to spaces.
        assert_eq!(n.normalize("\ta"), "▁\ta");
        let keep = plain(false, false);
        assert_eq!(keep.normalize("  a  "), "▁▁a▁▁");
    }

    #[test]
    fn user_defined_symbols_are_not_normalized() {
        let spec = NormSpec {
            charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        };
        let n = Normalizer::new(&spec, vec!["a  b".into()], Path::new("t.spm")).unwrap();
        // Inside the symbol the double space is kept (and escaped); outside it is squeezed.
        assert_eq!(n.normalize("xa  b  c  d"), "▁xa▁▁b▁c▁d");
    }

    #[test]
    fn broken_charsmaps_are_corrupt_models() {
        for blob in [&[1u8, 0, 0][..], &[200, 0, 0, 0, 1, 2][..]] {
            let spec = NormSpec {
                charsmap: blob.to_vec(),
                ..Default::default()
            };
            let err = Normalizer::new(&spec, Vec::new(), Path::new("b.spm")).unwrap_err();
            assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
        }
    }

    #[test]
    fn nmt_nfkc_charsmap_matches_sentencepiece() {
        // The fixture model uses sentencepiece's default nmt_nfkc rules; expected values are
        // what Python sentencepiece 0.2.3 `normalize` returns for the same model.
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/marian/tiny-bin/source.spm");
        let bytes =
            std::fs::read(&path).expect("fixture tests/fixtures/marian/tiny-bin/source.spm");
        let file = super::super::spm_proto::parse(&bytes, &path).unwrap();
        let n = Normalizer::new(&file.normalizer, Vec::new(), &path).unwrap();
        assert_eq!(n.normalize("ﬁ ＡＢＣ"), "▁fi▁ABC");
        // Longest match over bytes, not per grapheme: g + two acute accents keeps one accent.
        assert_eq!(n.normalize("g\u{301}\u{301}"), "▁\u{1f5}\u{301}");
        // NEL is not mapped to a space, so it is not stripped as leading whitespace.
        assert_eq!(n.normalize("\u{85}x"), "▁\u{85}x");
        assert_eq!(n.normalize(" \t a \u{3000} b\u{200b} "), "▁a▁b");
        assert_eq!(n.normalize("\u{200b}"), "");
        assert_eq!(n.normalize("½"), "▁1\u{2044}2");
    }
}
