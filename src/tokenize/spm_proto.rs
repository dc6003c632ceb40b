//! The few fields of SentencePiece's `ModelProto` (a `.spm` / `.model` file) that tolk reads.
//!
//! The messages are declared by hand with `prost` derives instead of generated from
//! `sentencepiece_model.proto`: only the fields below are decoded and every other field is
//! skipped by protobuf's wire rules, so later additions to the upstream schema cannot break
//! loading. Field numbers and proto2 defaults follow the upstream schema.
//!
//! This module only parses bytes; it must never interpret the pieces (see `spm`).

use std::path::Path;

use prost::Message;

use crate::error::{Error, Result};

/// `ModelProto.SentencePiece.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_wire(value: Option<i32>) -> Option<Self> {
        // proto2 default is NORMAL (1).
        Some(match value.unwrap_or(1) {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

#[derive(Clone, PartialEq, Message)]
struct RawModel {
    #[prost(message, repeated, tag = "1")]
    pieces: Vec<RawPiece>,
    #[prost(message, optional, tag = "2")]
    trainer_spec: Option<RawTrainerSpec>,
    #[prost(message, optional, tag = "3")]
    normalizer_spec: Option<RawNormalizerSpec>,
    #[prost(message, optional, tag = "5")]
    denormalizer_spec: Option<RawNormalizerSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct RawPiece {
    #[prost(string, optional, tag = "1")]
    piece: Option<String>,
    #[prost(float, optional, tag = "2")]
    score: Option<f32>,
    #[prost(int32, optional, tag = "3")]
    kind: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
struct RawTrainerSpec {
    #[prost(int32, optional, tag = "3")]
    model_type: Option<i32>,
    #[prost(bool, optional, tag = "24")]
    treat_whitespace_as_suffix: Option<bool>,
    #[prost(bool, optional, tag = "35")]
    byte_fallback: Option<bool>,
    #[prost(string, optional, tag = "44")]
    unk_surface: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct RawNormalizerSpec {
    #[prost(bytes = "vec", optional, tag = "2")]
    precompiled_charsmap: Option<Vec<u8>>,
    #[prost(bool, optional, tag = "3")]
    add_dummy_prefix: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    remove_extra_whitespaces: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    escape_whitespaces: Option<bool>,
}

/// One vocabulary entry of a SentencePiece model.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    pub text: String,
    pub score: f32,
    pub kind: PieceType,
}

/// Normalization settings (`NormalizerSpec`), with proto2 defaults applied.
#[derive(Clone, Debug, Default)]
pub(crate) struct NormSpec {
    pub charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl NormSpec {
    fn from_raw(raw: Option<RawNormalizerSpec>) -> Self {
        let raw = raw.unwrap_or_default();
        NormSpec {
            charsmap: raw.precompiled_charsmap.unwrap_or_default(),
            add_dummy_prefix: raw.add_dummy_prefix.unwrap_or(true),
            remove_extra_whitespaces: raw.remove_extra_whitespaces.unwrap_or(true),
            escape_whitespaces: raw.escape_whitespaces.unwrap_or(true),
        }
    }
}

/// The decoded parts of a SentencePiece model file.
#[derive(Clone, Debug)]
pub(crate) struct ModelFile {
    pub pieces: Vec<Piece>,
    pub normalizer: NormSpec,
    /// Present only when the file carries a non-empty denormalization charsmap.
    pub denormalizer: Option<NormSpec>,
    pub byte_fallback: bool,
    pub unk_surface: String,
}

/// What upstream prints for an unknown piece when the model does not say otherwise.
const DEFAULT_UNK_SURFACE: &str = " \u{2047} ";

/// Parse a SentencePiece model from its bytes; `path` only names the file in errors.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<ModelFile> {
    let corrupt = |reason: String| Error::CorruptModel {
        path: path.to_path_buf(),
        reason,
    };
    let raw = RawModel::decode(bytes).map_err(|e| {
        corrupt(format!(
            "not a SentencePiece model protobuf ({e}); re-download the file"
        ))
    })?;
    let trainer = raw.trainer_spec.unwrap_or_default();
    match trainer.model_type.unwrap_or(1) {
        1 => {}
        other => {
            return Err(Error::Unsupported(format!(
                "{}: SentencePiece model type {other} (only unigram, type 1, is supported)",
                path.display()
            )))
        }
    }
    if trainer.treat_whitespace_as_suffix.unwrap_or(false) {
        return Err(Error::Unsupported(format!(
            "{}: SentencePiece models with treat_whitespace_as_suffix are not supported",
            path.display()
        )));
    }
    if raw.pieces.is_empty() {
        return Err(corrupt("the model has no pieces".into()));
    }
    let mut pieces = Vec::with_capacity(raw.pieces.len());
    for (i, p) in raw.pieces.into_iter().enumerate() {
        let text = p.piece.unwrap_or_default();
        if text.is_empty() {
            return Err(corrupt(format!("piece {i} is empty")));
        }
        let kind = PieceType::from_wire(p.kind)
            .ok_or_else(|| corrupt(format!("piece {i} has an unknown type {:?}", p.kind)))?;
        pieces.push(Piece {
            text,
            score: p.score.unwrap_or(0.0),
            kind,
        });
    }
    let denormalizer = raw
        .denormalizer_spec
        .map(|d| NormSpec::from_raw(Some(d)))
        .filter(|d| !d.charsmap.is_empty());
    Ok(ModelFile {
        pieces,
        normalizer: NormSpec::from_raw(raw.normalizer_spec),
        denormalizer,
        byte_fallback: trainer.byte_fallback.unwrap_or(false),
        unk_surface: trainer
            .unk_surface
            .unwrap_or_else(|| DEFAULT_UNK_SURFACE.to_string()),
    })
}

/// Serialize a small model for tests: (piece, score, type number) triples, no charsmap.
#[cfg(test)]
pub(crate) fn build_model(pieces: &[(&str, f32, i32)], byte_fallback: bool) -> Vec<u8> {
    RawModel {
        pieces: pieces
            .iter()
            .map(|(p, s, t)| RawPiece {
                piece: Some((*p).to_string()),
                score: Some(*s),
                kind: Some(*t),
            })
            .collect(),
        trainer_spec: Some(RawTrainerSpec {
            model_type: Some(1),
            byte_fallback: Some(byte_fallback),
            ..Default::default()
        }),
        normalizer_spec: None,
        denormalizer_spec: None,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_proto2() {
        let bytes = build_model(&[("<unk>", 0.0, 2), ("a", -1.0, 1)], false);
        let m = parse(&bytes, Path::new("m.spm")).unwrap();
        assert!(m.normalizer.add_dummy_prefix);
        assert!(m.normalizer.remove_extra_whitespaces);
        assert!(m.normalizer.escape_whitespaces);
        assert!(m.denormalizer.is_none());
        assert_eq!(m.unk_surface, " \u{2047} ");
        assert_eq!(m.pieces[1].kind, PieceType::Normal);
        assert_eq!(m.pieces[0].kind, PieceType::Unknown);
    }

    #[test]
    fn garbage_is_corrupt_model_naming_the_path() {
        let err = parse(b"\xff\xff\xff not a protobuf", Path::new("/x/source.spm")).unwrap_err();
        match err {
            Error::CorruptModel { path, .. } => assert_eq!(path, Path::new("/x/source.spm")),
            other => panic!("expected CorruptModel, got {other}"),
        }
        let err = parse(&[], Path::new("/x/empty.spm")).unwrap_err();
        assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
    }

    #[test]
    fn bpe_models_are_refused() {
        let mut raw = RawModel::decode(&build_model(&[("<unk>", 0.0, 2)], false)[..]).unwrap();
        raw.trainer_spec.as_mut().unwrap().model_type = Some(2);
        let err = parse(&raw.encode_to_vec(), Path::new("bpe.spm")).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
    }
}
