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
