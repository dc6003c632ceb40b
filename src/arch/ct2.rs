//! CTranslate2 (CT2) model folders: `model.bin`, `config.json` and the vocabularies, read into
//! tolk's own [`Marian`](super::Marian) architecture (no second model implementation).
//!
//! `model.bin` (written by `ctranslate2/specs/model_spec.py::_serialize`, read by CT2's
//! `src/models/model.cc`), all integers little-endian:
//! `u32 binary_version` (2..=6 here), then (version >= 2) the spec name as a string (`u16`
//! length including a trailing NUL, the bytes, the NUL) and `u32 spec_revision`; `u32` variable
//! count; per variable: name, `u8 rank`, `rank × u32` dims, `u8` dtype id (0 f32, 1 int8,
//! 2 int16, 3 int32, 4 f16, 5 bf16; before version 4 an item size 4/2/1 meaning f32/int16/int8),
//! `u32` byte count (before version 4: element count), the data; then (version >= 3) `u32`
//! alias count and `(alias, target)` name pairs. An alias also aliases `target + "_scale"`.
//!
//! Quantized weights carry a `<name>_scale` companion: int8 per output row
//! (`q = round(w * 127 / max|row|)`, so `w = q / scale`), int16 one scalar (`w = q / scale`).
//! Scalars (flags, enums, head counts) are rank-0 variables.
//!
//! The TransformerSpec → Marian mapping is in [`Ct2Model::to_marian`]; anything the Marian code
//! cannot represent (pre-norm, relative positions, alibi, extra source embeddings, …) is an
//! [`Error::Unsupported`] naming the spec field. This module never sees text or the hub, and
//! never panics on a malformed file.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device};

use super::marian::MarianConfig;
use super::weights::Weights;
use crate::error::{Error, Result};

mod binary;
mod files;
mod map;
mod quant;
mod take;

use quant::Kept;

pub use binary::{Ct2Binary, Ct2DType, Ct2Variable, BINARY_VERSIONS};
pub use files::{Ct2Config, Ct2Vocab};

/// A CT2 model folder: `model.bin`, `config.json`, vocabularies.
#[derive(Debug)]
pub struct Ct2Model {
    dir: PathBuf,
    binary: Ct2Binary,
    config: Ct2Config,
    /// One shared value when the model has one vocabulary for both sides.
    source_vocab: Arc<Ct2Vocab>,
    target_vocab: Arc<Ct2Vocab>,
    shared_vocab: bool,
}

/// What `tolk info` shows about a CT2 model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ct2Summary {
    pub spec: String,
    pub revision: u32,
    pub binary_version: u32,
    /// e.g. `int8 ×96, float32 ×172, int16 ×6`.
    pub dtypes: String,
    pub variables: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub source_vocab: usize,
    pub target_vocab: usize,
    pub file_bytes: u64,
}

impl Ct2Model {
    /// Whether `dir` looks like a CT2 model folder (has `model.bin`).
    pub fn is_ct2_dir(dir: &Path) -> bool {
        dir.join("model.bin").is_file()
    }

    /// Load a CT2 model folder.
    pub fn load(dir: &Path) -> Result<Self> {
        let bin = dir.join("model.bin");
        if !bin.is_file() {
            return Err(Error::MissingFile {
                file: "model.bin".into(),
                location: dir.display().to_string(),
                hint: "a CTranslate2 model folder holds model.bin, config.json and its \
                       vocabulary files"
                    .into(),
            });
        }
        let config_path = dir.join("config.json");
        let config: Ct2Config = if config_path.is_file() {
            let text = std::fs::read_to_string(&config_path)
                .map_err(|e| Error::io(format!("reading {}", config_path.display()), e))?;
            serde_json::from_str(&text).map_err(|e| Error::Config {
                path: config_path.clone(),
                reason: format!("{e} (is this a CTranslate2 config.json?)"),
            })?
        } else {
            Ct2Config::default()
        };
        let binary = Ct2Binary::load(&bin)?;
        let unk = config.unk_token.clone();
        let shared = Ct2Vocab::load(dir, "shared_vocabulary", &unk)?;
        let (source_vocab, target_vocab, shared_vocab) = match shared {
            Some(v) => {
                let v = Arc::new(v);
                (v.clone(), v, true)
            }
            None => {
                let missing = |f: &str| Error::MissingFile {
                    file: format!("{f}.json (or .txt)"),
                    location: dir.display().to_string(),
                    hint: "a CTranslate2 model needs shared_vocabulary.json, or \
                           source_vocabulary.json and target_vocabulary.json"
                        .into(),
                };
                let s = Ct2Vocab::load(dir, "source_vocabulary", &unk)?
                    .ok_or_else(|| missing("source_vocabulary"))?;
                let t = Ct2Vocab::load(dir, "target_vocabulary", &unk)?
                    .ok_or_else(|| missing("target_vocabulary"))?;
                (Arc::new(s), Arc::new(t), false)
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            binary,
            config,
            source_vocab,
            target_vocab,
            shared_vocab,
        })
    }

    /// The folder the model was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spec name (`TransformerSpec`, …).
    pub fn spec(&self) -> &str {
        &self.binary.spec
    }

    /// The parsed `model.bin`.
    pub fn binary(&self) -> &Ct2Binary {
        &self.binary
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &Ct2Config {
        &self.config
    }

    /// Source vocabulary.
    pub fn source_vocab(&self) -> &Arc<Ct2Vocab> {
        &self.source_vocab
    }

    /// Target vocabulary.
    pub fn target_vocab(&self) -> &Arc<Ct2Vocab> {
        &self.target_vocab
    }

    /// Whether one vocabulary serves both sides.
    pub fn shared_vocab(&self) -> bool {
        self.shared_vocab
    }

    /// Map the TransformerSpec onto tolk's Marian: its config and f32 weights under the
    /// transformers Marian names (int8 dequantized), converted to `dtype` on `device` when the
    /// model is built.
    pub fn to_marian(&self, dtype: DType, device: &Device) -> Result<(MarianConfig, Weights)> {
        self.to_marian_with(dtype, device, false)
    }

    /// Like [`Ct2Model::to_marian`]; with `int8`, the int8 matrices of linear layers and of the
    /// output projection stay int8 ([`Weights::quantized`], candle Q8_0 blocks, exact per-row
    /// scales); embeddings and everything else are f32 as before.
    pub fn to_marian_with(
        &self,
        dtype: DType,
        device: &Device,
        int8: bool,
    ) -> Result<(MarianConfig, Weights)> {
        let (cfg, tensors, kept) = map::to_marian(self, int8.then_some(device))?;
        let source = self.binary.path.clone();
        let (mut blocks, mut rows, mut deferred) = (HashMap::new(), HashMap::new(), HashMap::new());
        for (name, k) in kept {
            match k {
                Kept::Blocks(q) => drop(blocks.insert(name, q)),
                Kept::Rows(r) => drop(rows.insert(name, r)),
                Kept::Deferred(r) => drop(deferred.insert(name, r)),
            }
        }
        let weights = Weights::from_tensors(tensors, source, dtype, device)
            .with_quantized(blocks)
            .with_int8_rows(rows)
            .with_deferred(deferred);
        Ok((cfg, weights))
    }

    /// Architecture facts for `tolk info`.
    pub fn summary(&self) -> Result<Ct2Summary> {
        let dims = map::dims(self)?;
        let dtypes = self
            .binary
            .dtype_counts()
            .iter()
            .map(|(d, n)| format!("{} ×{n}", d.name()))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Ct2Summary {
            spec: self.binary.spec.clone(),
            revision: self.binary.revision,
            binary_version: self.binary.binary_version,
            dtypes,
            variables: self.binary.variable_count(),
            encoder_layers: dims.encoder_layers,
            decoder_layers: dims.decoder_layers,
            d_model: dims.d_model,
            heads: dims.heads,
            ffn_dim: dims.ffn_dim,
            source_vocab: self.source_vocab.len(),
            target_vocab: self.target_vocab.len(),
            file_bytes: self.binary.file_size(),
        })
    }
}

/// Layer indices `N` of `<scope>/layer_N/...` variables, checked to be `0..count`.
fn layer_count(names: &[String], scope: &str, path: &Path) -> Result<usize> {
    let prefix = format!("{scope}/layer_");
    let found: BTreeSet<usize> = names
        .iter()
        .filter_map(|n| n.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('/').next())
        .filter_map(|i| i.parse().ok())
        .collect();
    let count = found.len();
    if found.iter().copied().ne(0..count) {
        return Err(Error::CorruptModel {
            path: path.to_path_buf(),
            reason: format!("the {scope} layers are numbered {found:?}, not 0..{count}"),
        });
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_bin_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Ct2Model::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("model.bin"), "{err}");
    }
}
