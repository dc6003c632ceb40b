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

use candle_core::{DType, Device, Tensor};

use super::marian::MarianConfig;
use super::weights::Weights;
use crate::error::{Error, Result};

mod files;
mod map;
mod quant;

pub use files::{Ct2Config, Ct2Vocab};

/// Oldest and newest `model.bin` binary versions this reader understands.
pub const BINARY_VERSIONS: std::ops::RangeInclusive<u32> = 2..=6;

/// Storage type of one variable (CT2's `DataType` ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ct2DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl Ct2DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }

    /// CT2's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F16 => "float16",
            Self::BF16 => "bfloat16",
        }
    }
}

/// One stored variable: its shape, type and raw little-endian bytes (a range of the file).
#[derive(Clone, Debug)]
pub struct Ct2Variable {
    pub shape: Vec<usize>,
    pub dtype: Ct2DType,
    range: std::ops::Range<usize>,
}

/// The parsed contents of a `model.bin`.
#[derive(Debug)]
pub struct Ct2Binary {
    pub path: PathBuf,
    pub binary_version: u32,
    pub spec: String,
    pub revision: u32,
    bytes: Vec<u8>,
    variables: HashMap<String, Ct2Variable>,
    /// Variable names in file order.
    order: Vec<String>,
    /// alias -> target, as stored.
    aliases: Vec<(String, String)>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<std::ops::Range<usize>> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::CorruptModel {
                path: self.path.to_path_buf(),
                reason: format!(
                    "the file is truncated: {what} needs {n} bytes at offset {} but the file has {} \
                     bytes; download or convert the model again",
                    self.pos,
                    self.bytes.len()
                ),
            });
        };
        let r = self.pos..end;
        self.pos = end;
        Ok(r)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        let r = self.take(1, what)?;
        Ok(self.bytes[r.start])
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        let r = self.take(2, what)?;
        Ok(u16::from_le_bytes([
            self.bytes[r.start],
            self.bytes[r.start + 1],
        ]))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let r = self.take(4, what)?;
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.bytes[r]);
        Ok(u32::from_le_bytes(b))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u16(what)? as usize;
        let r = self.take(n, what)?;
        let raw = &self.bytes[r];
        // C++ reads up to the first NUL.
        let raw = raw.split(|&b| b == 0).next().unwrap_or(raw);
        String::from_utf8(raw.to_vec()).map_err(|_| Error::CorruptModel {
            path: self.path.to_path_buf(),
            reason: format!("{what} at offset {} is not UTF-8", self.pos - n),
        })
    }
}

impl Ct2Binary {
    /// Read and index a `model.bin`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Self::from_bytes(bytes, path)
    }

    /// Parse the bytes of a `model.bin`; `path` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
            path,
        };
        let binary_version = r.u32("the binary version")?;
        if !BINARY_VERSIONS.contains(&binary_version) {
            return Err(Error::Unsupported(format!(
                "{} has CTranslate2 binary version {binary_version}; tolk reads versions {}..={} \
                 (convert the model with a CTranslate2 release from 2.0 to 4.x)",
                path.display(),
                BINARY_VERSIONS.start(),
                BINARY_VERSIONS.end()
            )));
        }
        let spec = r.string("the spec name")?;
        let revision = r.u32("the spec revision")?;
        let count = r.u32("the variable count")? as usize;
        let mut variables = HashMap::with_capacity(count.min(1 << 16));
        let mut order = Vec::with_capacity(count.min(1 << 16));
        for i in 0..count {
            let what = format!("variable {i} of {count}");
            let name = r.string(&what)?;
            let rank = r.u8(&what)? as usize;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(r.u32(&what)? as usize);
            }
            let tag = r.u8(&what)?;
            let dtype = if binary_version >= 4 {
                Ct2DType::from_id(tag)
            } else {
                match tag {
                    4 => Some(Ct2DType::F32),
                    2 => Some(Ct2DType::I16),
                    1 => Some(Ct2DType::I8),
                    _ => None,
                }
            };
            let dtype = dtype.ok_or_else(|| Error::CorruptModel {
                path: path.to_path_buf(),
                reason: format!("variable `{name}` has unknown data type id {tag}"),
            })?;
            let stored = r.u32(&what)? as usize;
            let num_bytes = if binary_version >= 4 {
                stored
            } else {
                stored.saturating_mul(dtype.size())
            };
            let elements: usize = shape.iter().product();
            if elements.checked_mul(dtype.size()) != Some(num_bytes) {
                return Err(Error::CorruptModel {
                    path: path.to_path_buf(),
                    reason: format!(
                        "variable `{name}` has shape {shape:?} of {} but {num_bytes} bytes of data",
                        dtype.name()
                    ),
                });
            }
            let range = r.take(num_bytes, &format!("the data of `{name}`"))?;
            order.push(name.clone());
            variables.insert(
                name,
                Ct2Variable {
                    shape,
                    dtype,
                    range,
                },
            );
        }
        let mut aliases = Vec::new();
        if binary_version >= 3 {
            let n = r.u32("the alias count")?;
            for _ in 0..n {
                let alias = r.string("an alias name")?;
                let target = r.string("an alias target")?;
                aliases.push((alias, target));
            }
        }
        if r.pos != bytes.len() {
            return Err(Error::CorruptModel {
                path: path.to_path_buf(),
                reason: format!(
                    "{} unexpected bytes after the last alias; the file is damaged",
                    bytes.len() - r.pos
                ),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            binary_version,
            spec,
            revision,
            bytes,
            variables,
            order,
            aliases,
        })
    }

    /// Number of stored variables (aliases not counted).
    pub fn variable_count(&self) -> usize {
        self.order.len()
    }

    /// Stored variable names, in file order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// `(alias, target)` pairs as stored.
    pub fn aliases(&self) -> &[(String, String)] {
        &self.aliases
    }

    /// The stored name `name` refers to, following aliases (CT2 also aliases `<alias>_scale`).
    pub fn resolve<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        if let Some((k, _)) = self.variables.get_key_value(name) {
            return Some(k.as_str());
        }
        for (alias, target) in &self.aliases {
            if alias == name {
                return self
                    .variables
                    .get_key_value(target)
                    .map(|(k, _)| k.as_str());
            }
            if let Some(base) = name.strip_suffix("_scale") {
                if alias == base {
                    let scale = format!("{target}_scale");
                    return self
                        .variables
                        .get_key_value(&scale)
                        .map(|(k, _)| k.as_str());
                }
            }
        }
        None
    }

    /// The variable `name` (aliases followed).
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        self.resolve(name).and_then(|n| self.variables.get(n))
    }

    /// Raw little-endian bytes of a variable (for a later int8 path: int8 data + its scale).
    pub fn raw(&self, v: &Ct2Variable) -> &[u8] {
        &self.bytes[v.range.clone()]
    }

    /// The dtypes of all stored variables, with counts.
    pub fn dtype_counts(&self) -> Vec<(Ct2DType, usize)> {
        let mut counts: Vec<(Ct2DType, usize)> = Vec::new();
        for v in self.variables.values() {
            match counts.iter_mut().find(|(d, _)| *d == v.dtype) {
                Some((_, n)) => *n += 1,
                None => counts.push((v.dtype, 1)),
            }
        }
        counts.sort_by_key(|(d, _)| d.name());
        counts
    }

    /// A scalar as an integer (flags, enums, head counts), following aliases.
    pub fn scalar_i64(&self, name: &str) -> Option<i64> {
        let v = self.get(name)?;
        let b = self.raw(v);
        if v.shape.iter().product::<usize>() != 1 {
            return None;
        }
        Some(match v.dtype {
            Ct2DType::I8 => i64::from(b[0] as i8),
            Ct2DType::I16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            Ct2DType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Ct2DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            Ct2DType::F16 | Ct2DType::BF16 => return None,
        })
    }

    /// A scalar as a float.
    pub fn scalar_f32(&self, name: &str) -> Option<f32> {
        let v = self.get(name)?;
        let b = self.raw(v);
        match v.dtype {
            Ct2DType::F32 if b.len() == 4 => Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => self.scalar_i64(name).map(|i| i as f32),
        }
    }

    /// The variable `name` as f32 on the CPU: floats converted, int8/int16 dequantized with
    /// their `<name>_scale` (`w = q / scale`, per row for int8 matrices).
    pub fn dequantized(&self, name: &str) -> Result<Tensor> {
        let corrupt = |reason: String| Error::CorruptModel {
            path: self.path.clone(),
            reason,
        };
        let v = self
            .get(name)
            .ok_or_else(|| corrupt(format!("variable `{name}` is missing")))?;
        let b = self.raw(v);
        let n: usize = v.shape.iter().product();
        let values: Vec<f32> = match v.dtype {
            Ct2DType::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Ct2DType::F16 | Ct2DType::BF16 => {
                let dt = if v.dtype == Ct2DType::F16 {
                    DType::F16
                } else {
                    DType::BF16
                };
                let t = Tensor::from_raw_buffer(b, dt, &v.shape, &Device::Cpu)?;
                return Ok(t.to_dtype(DType::F32)?);
            }
            Ct2DType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            Ct2DType::I8 | Ct2DType::I16 => {
                let scale_name = format!("{name}_scale");
                let scale = self
                    .get(&scale_name)
                    .ok_or_else(|| corrupt(format!("quantized `{name}` has no `{scale_name}`")))?;
                let scales: Vec<f32> = self
                    .raw(scale)
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let q: Vec<f32> = if v.dtype == Ct2DType::I8 {
                    b.iter().map(|&x| f32::from(x as i8)).collect()
                } else {
                    b.chunks_exact(2)
                        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])))
                        .collect()
                };
                let rows = v.shape.first().copied().unwrap_or(1).max(1);
                let per_row = scales.len() == rows && v.shape.len() >= 2;
                if scale.dtype != Ct2DType::F32 || !(per_row || scales.len() == 1) {
                    return Err(corrupt(format!(
                        "`{scale_name}` has {} {} values; expected 1 or one per row of `{name}` ({rows})",
                        scales.len(),
                        scale.dtype.name()
                    )));
                }
                let cols = n / rows;
                q.iter()
                    .enumerate()
                    .map(|(i, &x)| x / if per_row { scales[i / cols] } else { scales[0] })
                    .collect()
            }
        };
        Ok(Tensor::from_vec(values, v.shape.as_slice(), &Device::Cpu)?)
    }
}

/// A CT2 model folder: `model.bin`, `config.json`, vocabularies.
#[derive(Debug)]
pub struct Ct2Model {
    dir: PathBuf,
    binary: Ct2Binary,
    config: Ct2Config,
    source_vocab: Ct2Vocab,
    target_vocab: Ct2Vocab,
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
            Some(v) => (v.clone(), v, true),
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
                (s, t, false)
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

    /// The target vocabulary (the decoder's output ids).
    pub fn vocabulary(&self) -> &[String] {
        self.target_vocab.tokens()
    }

    /// Source vocabulary.
    pub fn source_vocab(&self) -> &Ct2Vocab {
        &self.source_vocab
    }

    /// Target vocabulary.
    pub fn target_vocab(&self) -> &Ct2Vocab {
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
        let (cfg, tensors, quantized) = map::to_marian(self, int8.then_some(device))?;
        let source = self.binary.path.clone();
        let weights =
            Weights::from_tensors(tensors, source, dtype, device).with_quantized(quantized);
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
            file_bytes: self.binary.bytes.len() as u64,
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
