//! A SentencePiece unigram processor that reproduces `SentencePieceProcessor.encode(text,
//! out_type=str)` and `decode_pieces(pieces)` of the reference C++ library.
//!
//! Segmentation is upstream's optimized Viterbi: scores are summed in `f32` as upstream does
//! (the `tokenizers` crate sums in `f64`, which can break near-ties differently); control,
//! unknown and byte pieces are never matched in text; unused pieces are skipped; user-defined
//! pieces get upstream's `length * max_score - 0.1` bonus; the unknown penalty is computed
//! from NORMAL pieces only; consecutive unknown characters merge into one piece whose text is
//! the normalized surface (or, with byte fallback, become `<0xXX>` pieces).
//!
//! This module knows nothing about model vocabularies (`vocab.json`); it returns piece strings.
//! It must never panic on any input text or on a malformed model file.

use std::collections::HashMap;
use std::path::Path;

use super::spm_norm::{Normalizer, SPACE_SYMBOL};
use super::spm_proto::{self, PieceType};
use crate::error::{Error, Result};

/// Penalty below the lowest piece score given to an unknown character (upstream's value).
const UNK_PENALTY: f32 = 10.0;

/// A byte-level trie over the matchable pieces, mapping to piece indices, in compact form:
/// node `i`'s edges are `labels[first[i]..first[i + 1]]` (sorted) leading to `targets[..]`, and
/// `values[i]` is the piece ending there (`u32::MAX`: none). About 13 bytes a node, where a
/// vector of edges per node took over 60 (an Argos vocabulary has ~300,000 nodes).
#[derive(Clone, Debug)]
struct Trie {
    first: Vec<u32>,
    labels: Vec<u8>,
    targets: Vec<u32>,
    values: Vec<u32>,
}

const NO_PIECE: u32 = u32::MAX;

impl Trie {
    /// Build from `(key, value)` pairs; of duplicate keys the first given wins (as upstream
    /// keeps the first of duplicate pieces; the model loader rejects duplicates anyway).
    fn build(mut keys: Vec<(&[u8], u32)>) -> Self {
        // Stable: equal keys keep their order, so the first given comes first.
        keys.sort_by(|a, b| a.0.cmp(b.0));
        let mut t = Self {
            first: Vec::new(),
            labels: Vec::new(),
            targets: Vec::new(),
            values: Vec::new(),
        };
        // Breadth first: a node is a run of sorted keys sharing its `depth`-byte prefix, and
        // nodes are numbered in the order they are visited, so each node's edges are contiguous.
        let mut queue = std::collections::VecDeque::from([(0usize, keys.len(), 0usize)]);
        let mut next = 1u32;
        while let Some((mut lo, hi, depth)) = queue.pop_front() {
            let mut value = NO_PIECE;
            while lo < hi && keys[lo].0.len() == depth {
                if value == NO_PIECE {
                    value = keys[lo].1;
                }
                lo += 1;
            }
            t.values.push(value);
            t.first.push(t.labels.len() as u32);
            let mut i = lo;
            while i < hi {
                let b = keys[i].0[depth];
                let j = i + keys[i..hi].partition_point(|k| k.0[depth] == b);
                t.labels.push(b);
                t.targets.push(next);
                next += 1;
                queue.push_back((i, j, depth + 1));
                i = j;
            }
        }
        t.first.push(t.labels.len() as u32);
        t
    }

    /// Calls `f(length, value)` for every piece that is a prefix of `text`, shortest first.
    fn prefixes(&self, text: &[u8], mut f: impl FnMut(usize, u32)) {
        let mut node = 0usize;
        for (i, b) in text.iter().enumerate() {
            let (lo, hi) = (self.first[node] as usize, self.first[node + 1] as usize);
            match self.labels[lo..hi].binary_search(b) {
                Ok(j) => node = self.targets[lo + j] as usize,
                Err(_) => return,
            }
            if self.values[node] != NO_PIECE {
                f(i + 1, self.values[node]);
            }
        }
    }
}

/// A loaded SentencePiece unigram model.
#[derive(Clone, Debug)]
pub(crate) struct SentencePiece {
    pieces: Vec<spm_proto::Piece>,
    /// Piece text -> index, for decoding (upstream's `PieceToId`).
    index: HashMap<String, u32>,
    trie: Trie,
    normalizer: Normalizer,
    denormalizer: Option<Normalizer>,
    unk_id: u32,
    min_score: f32,
    max_score: f32,
    byte_fallback: bool,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    unk_surface: String,
}

impl SentencePiece {
    /// Load a `.spm` / `.model` file.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(format!("reading SentencePiece model {}", path.display()), e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Build from the bytes of a model file; `path` only names it in errors.
    pub(crate) fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let file = spm_proto::parse(bytes, path)?;
        let corrupt = |reason: String| Error::CorruptModel {
            path: path.to_path_buf(),
            reason,
        };
        let mut index = HashMap::with_capacity(file.pieces.len());
        let mut keys: Vec<(&[u8], u32)> = Vec::with_capacity(file.pieces.len());
        let mut user_defined = Vec::new();
        let mut unk_id = None;
        let (mut min_score, mut max_score) = (f32::MAX, f32::MIN_POSITIVE);
        for (i, p) in file.pieces.iter().enumerate() {
            let id = i as u32;
            // Upstream keeps two maps (NORMAL/USER_DEFINED/UNUSED and the reserved kinds),
            // refuses a duplicate within one, and looks reserved pieces up first.
            let reserved = |k: PieceType| {
                matches!(k, PieceType::Control | PieceType::Unknown | PieceType::Byte)
            };
            if let Some(prev) = index.insert(p.text.clone(), id) {
                let prev_kind = file.pieces[prev as usize].kind;
                if reserved(prev_kind) == reserved(p.kind) {
                    return Err(corrupt(format!("piece `{}` is defined twice", p.text)));
                }
                if reserved(prev_kind) {
                    index.insert(p.text.clone(), prev);
                }
            }
            match p.kind {
                PieceType::Normal => {
                    min_score = min_score.min(p.score);
                    max_score = max_score.max(p.score);
                    keys.push((p.text.as_bytes(), id));
                }
                PieceType::UserDefined => {
                    user_defined.push(p.text.clone());
                    keys.push((p.text.as_bytes(), id));
                }
                PieceType::Unused => keys.push((p.text.as_bytes(), id)),
                PieceType::Unknown => {
                    if unk_id.replace(id).is_some() {
                        return Err(corrupt("more than one unknown piece".into()));
                    }
                }
                PieceType::Control | PieceType::Byte => {}
            }
        }
        let unk_id = unk_id.ok_or_else(|| corrupt("the model has no unknown piece".into()))?;
        let trie = Trie::build(keys);
        let normalizer = Normalizer::new(&file.normalizer, user_defined, path)?;
        let denormalizer = match &file.denormalizer {
            Some(spec) => Some(Normalizer::new(spec, Vec::new(), path)?),
            None => None,
        };
        Ok(SentencePiece {
            index,
            trie,
            normalizer,
            denormalizer,
            unk_id,
            min_score,
            max_score,
            byte_fallback: file.byte_fallback,
            add_dummy_prefix: file.normalizer.add_dummy_prefix,
            remove_extra_whitespaces: file.normalizer.remove_extra_whitespaces,
            unk_surface: file.unk_surface,
            pieces: file.pieces,
        })
    }

    /// The text of piece `id`, if it exists (upstream's `IdToPiece`).
    pub(crate) fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(|p| p.text.as_str())
    }

    fn kind(&self, id: u32) -> PieceType {
        self.pieces[id as usize].kind
    }

    /// `text` as the model's normalizer rewrites it (`normalize(text)` upstream).
    #[cfg(test)]
    pub(crate) fn normalize(&self, text: &str) -> String {
        self.normalizer.normalize(text)
    }

    /// Segment `text` into piece strings, as `encode(text, out_type=str)` does.
    pub(crate) fn encode(&self, text: &str) -> Vec<String> {
        let normalized = self.normalizer.normalize(text);
        let mut out = Vec::new();
        let mut prev_unk = false;
        for (start, end, id) in self.viterbi(&normalized) {
            let surface = &normalized[start..end];
            let is_unk = id == self.unk_id;
            if is_unk && self.byte_fallback {
                out.extend(surface.bytes().map(|b| format!("<0x{b:02X}>")));
            } else if is_unk && prev_unk {
                if let Some(last) = out.last_mut() {
                    last.push_str(surface);
                }
            } else {
                out.push(surface.to_string());
            }
            prev_unk = is_unk;
        }
        out
    }

    /// Segment `text` into piece ids: like [`SentencePiece::encode`], with a run of unknown
    /// characters as one unknown id (or, with byte fallback, the ids of its `<0xXX>` pieces).
    pub(crate) fn encode_ids(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalizer.normalize(text);
        let mut out = Vec::new();
        let mut prev_unk = false;
        for (start, end, id) in self.viterbi(&normalized) {
            let is_unk = id == self.unk_id;
            if is_unk && self.byte_fallback {
                for b in normalized[start..end].bytes() {
                    let piece = format!("<0x{b:02X}>");
                    out.push(self.index.get(&piece).copied().unwrap_or(self.unk_id));
                }
            } else if !(is_unk && prev_unk) {
                out.push(id);
            }
            prev_unk = is_unk;
        }
        out
    }

    /// Number of pieces (ids are `0..len`).
    pub(crate) fn piece_count(&self) -> usize {
        self.pieces.len()
    }

    /// The id of piece `text` (upstream's `PieceToId`, without the unknown fallback).
    pub(crate) fn piece_to_id(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    /// User-defined pieces and their ids (matched in text before segmentation).
    pub(crate) fn user_defined(&self) -> Vec<(String, u32)> {
        self.pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind == PieceType::UserDefined)
            .map(|(i, p)| (p.text.clone(), i as u32))
            .collect()
    }

    /// Whether piece `id` is a control piece (`<s>`, `</s>`, `<pad>`, ...).
    pub(crate) fn is_control(&self, id: u32) -> bool {
        self.pieces
            .get(id as usize)
            .is_some_and(|p| p.kind == PieceType::Control)
    }

    /// Best segmentation of normalized text as (start, end, piece id) byte spans.
    fn viterbi(&self, text: &str) -> Vec<(usize, usize, u32)> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f32,
            start: Option<usize>,
        }
        let size = text.len();
        if size == 0 {
            return Vec::new();
        }
        let unk_score = self.min_score - UNK_PENALTY;
        let empty = Best {
            id: self.unk_id,
            score: 0.0,
            start: None,
        };
        let mut best = vec![empty; size + 1];
        let bytes = text.as_bytes();
        let mut start = 0usize;
        while start < size {
            let here = best[start].score;
            let mblen = text[start..].chars().next().map_or(1, char::len_utf8);
            let mut has_single = false;
            self.trie.prefixes(&bytes[start..], |len, id| {
                let kind = self.kind(id);
                if kind == PieceType::Unused {
                    return;
                }
                let target = &mut best[start + len];
                if kind == PieceType::UserDefined {
                    // Upstream computes this bonus in double precision, then stores a float.
                    let score = f64::from(len as f32 * self.max_score) - 0.1;
                    let candidate = score + f64::from(here);
                    if target.start.is_none() || candidate > f64::from(target.score) {
                        *target = Best {
                            id,
                            score: candidate as f32,
                            start: Some(start),
                        };
                    }
                } else {
                    let candidate = self.pieces[id as usize].score + here;
                    if target.start.is_none() || candidate > target.score {
                        *target = Best {
                            id,
                            score: candidate,
                            start: Some(start),
                        };
                    }
                }
                has_single |= len == mblen;
            });
            if !has_single {
                let target = &mut best[start + mblen];
                let candidate = unk_score + here;
                if target.start.is_none() || candidate > target.score {
                    *target = Best {
                        id: self.unk_id,
                        score: candidate,
                        start: Some(start),
                    };
                }
            }
            start += mblen;
        }
        let mut spans = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = best[end];
            // Every position reached by `start += mblen` has a node; `None` cannot happen.
            let Some(s) = node.start else { break };
            spans.push((s, end, node.id));
            end = s;
        }
        spans.reverse();
        spans
    }

    /// Join pieces into text as upstream's `DecodePieces` does.
    pub(crate) fn decode_pieces<S: AsRef<str>>(&self, pieces: &[S]) -> String {
        let mut text = String::new();
        let mut is_bos_ws = true;
        let mut bos_ws_seen = false;
        let mut bytes: Vec<u8> = Vec::new();
        for piece in pieces {
            let piece = piece.as_ref();
            let id = self.index.get(piece).copied().unwrap_or(self.unk_id);
            let kind = self.kind(id);
            if kind == PieceType::Byte {
                match parse_byte_piece(piece) {
                    Some(b) => bytes.push(b),
                    None => flush_bytes(&mut bytes, &mut text),
                }
                continue;
            }
            flush_bytes(&mut bytes, &mut text);
            if bos_ws_seen || !text.is_empty() {
                is_bos_ws = false;
            }
            bos_ws_seen = false;
            match kind {
                PieceType::Control => {}
                PieceType::Unknown if piece == self.pieces[id as usize].text => {
                    text.push_str(&self.unk_surface)
                }
                PieceType::Unknown => text.push_str(piece),
                _ => {
                    let mut body = piece;
                    if is_bos_ws && (self.add_dummy_prefix || self.remove_extra_whitespaces) {
                        if let Some(rest) = body.strip_prefix(SPACE_SYMBOL) {
                            body = rest;
                            bos_ws_seen = !self.remove_extra_whitespaces;
                        }
                    }
                    text.push_str(&body.replace(SPACE_SYMBOL, " "));
                }
            }
        }
        flush_bytes(&mut bytes, &mut text);
        match &self.denormalizer {
            Some(d) => d.normalize(&text),
            None => text,
        }
    }
}

/// `<0xAB>` -> 0xAB.
fn parse_byte_piece(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Append pending byte pieces as UTF-8, one U+FFFD per invalid byte (as upstream does).
fn flush_bytes(bytes: &mut Vec<u8>, text: &mut String) {
    let mut rest: &[u8] = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                break;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                // The prefix up to `valid` was just checked.
                text.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                text.push('\u{FFFD}');
                rest = &rest[valid + 1..];
            }
        }
    }
    bytes.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_finds_every_prefix_piece_and_keeps_the_first_duplicate() {
        let keys: Vec<(&[u8], u32)> = vec![
            (b"ab", 1),
            (b"a", 0),
            (b"abc", 2),
            (b"b", 3),
            (b"ab", 9),
            (b"", 7),
        ];
        let t = Trie::build(keys);
        let mut found = Vec::new();
        t.prefixes(b"abcd", |len, v| found.push((len, v)));
        assert_eq!(found, vec![(1, 0), (2, 1), (3, 2)]);
        found.clear();
        t.prefixes(b"ba", |len, v| found.push((len, v)));
        assert_eq!(found, vec![(1, 3)]);
        found.clear();
        t.prefixes(b"x", |len, v| found.push((len, v)));
        assert!(found.is_empty());
        let empty = Trie::build(Vec::new());
        empty.prefixes(b"abc", |_, _| panic!("no pieces"));
    }
    use crate::tokenize::spm_proto::build_model;

    const NORMAL: i32 = 1;
    const UNKNOWN: i32 = 2;
    const CONTROL: i32 = 3;
    const USER: i32 = 4;
    const UNUSED: i32 = 5;
    const BYTE: i32 = 6;

    fn model(extra: &[(&str, f32, i32)], byte_fallback: bool) -> SentencePiece {
        let mut pieces = vec![
            ("<unk>", 0.0, UNKNOWN),
            ("<s>", 0.0, CONTROL),
            ("</s>", 0.0, CONTROL),
            ("▁", -2.0, NORMAL),
            ("a", -3.0, NORMAL),
            ("b", -3.0, NORMAL),
            ("▁ab", -4.0, NORMAL),
            ("<", -5.0, NORMAL),
            (">", -5.0, NORMAL),
            ("/", -5.0, NORMAL),
            ("s", -5.0, NORMAL),
        ];
        pieces.extend_from_slice(extra);
        SentencePiece::from_bytes(&build_model(&pieces, byte_fallback), Path::new("t.spm")).unwrap()
    }

    #[test]
    fn viterbi_prefers_the_best_total_score() {
        let m = model(&[], false);
        assert_eq!(m.encode("ab"), ["▁ab"]);
        assert_eq!(m.encode("ab ba"), ["▁ab", "▁", "b", "a"]);
        assert!(m.encode("").is_empty());
        assert!(m.encode("   ").is_empty());
    }

    #[test]
    fn control_pieces_are_never_matched_in_text() {
        let m = model(&[], false);
        assert_eq!(m.encode("</s>"), ["▁", "<", "/", "s", ">"]);
    }

    #[test]
    fn unknown_runs_merge_and_keep_their_text() {
        let m = model(&[], false);
        assert_eq!(m.encode("axyzb"), ["▁", "a", "xyz", "b"]);
        assert_eq!(m.encode("中国"), ["▁", "中国"]);
    }

    #[test]
    fn byte_fallback_spells_unknown_characters_as_bytes() {
        let bytes: Vec<(String, f32, i32)> = (0..=255u8)
            .map(|b| (format!("<0x{b:02X}>"), 0.0, BYTE))
            .collect();
        let extra: Vec<(&str, f32, i32)> =
            bytes.iter().map(|(p, s, t)| (p.as_str(), *s, *t)).collect();
        let m = model(&extra, true);
        assert_eq!(m.encode("aé"), ["▁", "a", "<0xC3>", "<0xA9>"]);
        assert_eq!(m.decode_pieces(&["▁", "a", "<0xC3>", "<0xA9>"]), "aé");
        // A lone continuation byte decodes to U+FFFD, as upstream does.
        assert_eq!(m.decode_pieces(&["a", "<0xA9>", "b"]), "a\u{FFFD}b");
    }

    #[test]
    fn user_defined_pieces_win_and_unused_are_skipped() {
        let m = model(&[("ba", -50.0, USER), ("ab", 10.0, UNUSED)], false);
        assert_eq!(m.encode("xbab"), ["▁", "x", "ba", "b"]);
    }

    #[test]
    fn scores_add_in_single_precision() {
        // "▁ccc": the paths c+cc and cc+c differ only by rounding. In f32 (upstream's arithmetic)
        // cc+c scores higher; in f64 they tie and the first path found (c+cc) would be kept.
        // Python sentencepiece 0.2.3 on this model gives ['▁', 'cc', 'c'].
        let (s1, s2) = (-2.286_779_2_f32, -1.793_743_7_f32);
        let x = -2.0f32;
        assert!((x + s2) + s1 > (x + s1) + s2);
        let (d1, d2, dx) = (f64::from(s1), f64::from(s2), f64::from(x));
        assert_eq!((dx + d1) + d2, (dx + d2) + d1);
        let m = model(&[("c", s1, NORMAL), ("cc", s2, NORMAL)], false);
        assert_eq!(m.encode("ccc"), ["▁", "cc", "c"]);
    }

    #[test]
    fn decode_pieces_follows_upstream() {
        let m = model(&[], false);
        assert_eq!(m.decode_pieces(&["▁ab", "▁", "b"]), "ab b");
        // Leading spaces are all consumed when remove_extra_whitespaces is on.
        assert_eq!(m.decode_pieces(&["▁", "▁ab"]), "ab");
        assert_eq!(
            m.decode_pieces(&["a", "</s>", "<unk>", "b"]),
            "a \u{2047} b"
        );
        // A piece the model does not know comes back as is.
        assert_eq!(m.decode_pieces(&["a", "zz▁q"]), "azz▁q");
        assert_eq!(m.decode_pieces::<&str>(&[]), "");
    }

    #[test]
    fn duplicate_pieces_are_corrupt() {
        let bytes = build_model(
            &[("<unk>", 0.0, UNKNOWN), ("a", -1.0, 1), ("a", -2.0, 1)],
            false,
        );
        let err = SentencePiece::from_bytes(&bytes, Path::new("d.spm")).unwrap_err();
        assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
        let no_unk = build_model(&[("a", -1.0, 1)], false);
        let err = SentencePiece::from_bytes(&no_unk, Path::new("d.spm")).unwrap_err();
        assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
    }
}
