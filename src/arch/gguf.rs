//! Decoder-only chat models stored as GGUF files (llama.cpp's container), run by candle's
//! quantized model implementations: `general.architecture = "llama"` (Llama, SmolLM, Mistral
//! and other llama-shaped models) through `candle_transformers::models::quantized_llama`, and
//! `"qwen2"` through `quantized_qwen2`.
//!
//! Those models keep their key/value cache inside themselves, so [`GgufModel::forward`] takes
//! `&mut self`; feeding a chunk at position 0 starts a new sequence (the layers drop their old
//! cache when `index_pos == 0`). Only the last position's logits come back.
//!
//! This module reads the file header and tensors only; it never sees text, never touches the
//! network, and never panics on a bad file (a truncated or foreign file is an error naming it).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};

use crate::decode::causal::CausalLm;
use crate::error::{Error, Result};

/// The architectures tolk can run from a GGUF file.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2"];

/// A GGUF file's header: metadata and tensor directory (no tensor data yet).
#[derive(Debug)]
pub struct GgufHeader {
    path: PathBuf,
    content: Content,
}

impl GgufHeader {
    /// Read the header of `path`. A missing file is [`Error::MissingFile`]; a file that is not
    /// GGUF, or is cut short, is [`Error::CorruptModel`].
    pub fn read(path: &Path) -> Result<Self> {
        let file = open(path)?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| corrupt(path, e))?;
        Ok(GgufHeader {
            path: path.to_path_buf(),
            content,
        })
    }

    /// The file this header came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All metadata key/values.
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// `general.architecture`, e.g. `llama` or `qwen2`.
    pub fn architecture(&self) -> Result<&str> {
        self.string("general.architecture")
    }

    /// `general.architecture` when tolk can run it, else [`Error::Unsupported`] naming it.
    pub fn supported_architecture(&self) -> Result<&str> {
        let arch = self.architecture()?;
        if SUPPORTED_ARCHITECTURES.contains(&arch) {
            Ok(arch)
        } else {
            Err(Error::Unsupported(format!(
                "GGUF architecture `{arch}` in {} (tolk runs: {})",
                self.path.display(),
                SUPPORTED_ARCHITECTURES.join(", ")
            )))
        }
    }

    /// A string metadata value, or a [`Error::CorruptModel`] naming the key.
    pub fn string(&self, key: &str) -> Result<&str> {
        match self.content.metadata.get(key) {
            Some(v) => v
                .to_string()
                .map(String::as_str)
                .map_err(|_| self.bad(format!("metadata `{key}` is not a string"))),
            None => Err(self.bad(format!("metadata `{key}` is missing"))),
        }
    }

    /// The context length the file declares (`{arch}.context_length`).
    pub fn declared_context_length(&self) -> Result<usize> {
        let arch = self.architecture()?;
        let key = format!("{arch}.context_length");
        match self.content.metadata.get(&key).map(value_to_usize) {
            Some(Some(n)) if n > 0 => Ok(n),
            Some(_) => Err(self.bad(format!("metadata `{key}` is not a positive integer"))),
            None => Err(self.bad(format!("metadata `{key}` is missing"))),
        }
    }

    /// Number of tensors in the file.
    pub fn tensor_count(&self) -> usize {
        self.content.tensor_infos.len()
    }

    fn bad(&self, reason: String) -> Error {
        Error::CorruptModel {
            path: self.path.clone(),
            reason,
        }
    }
}

/// Integer metadata of any width as `usize` (`None` for negatives and non-integers).
pub fn value_to_usize(v: &Value) -> Option<usize> {
    match v {
        Value::U8(x) => Some(*x as usize),
        Value::U16(x) => Some(*x as usize),
        Value::U32(x) => Some(*x as usize),
        Value::U64(x) => usize::try_from(*x).ok(),
        Value::I8(x) => usize::try_from(*x).ok(),
        Value::I16(x) => usize::try_from(*x).ok(),
        Value::I32(x) => usize::try_from(*x).ok(),
        Value::I64(x) => usize::try_from(*x).ok(),
        _ => None,
    }
}

/// How to load the weights.
#[derive(Debug, Clone, Default)]
pub struct GgufLoadOptions {
    /// Dequantize every quantized tensor to f32 before building the model, so matrix products
    /// run in f32 (as transformers does with a GGUF) instead of candle's quantized kernels,
    /// which also quantize the activations (to 8 bits). Costs about 4 bytes per parameter.
    pub dequantize: bool,
}

enum Inner {
    Llama(Box<quantized_llama::ModelWeights>),
    Qwen2(Box<quantized_qwen2::ModelWeights>),
}

/// A loaded GGUF decoder-only model.
pub struct GgufModel {
    inner: Inner,
    architecture: String,
    context_length: usize,
    device: Device,
}

impl std::fmt::Debug for GgufModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufModel")
            .field("architecture", &self.architecture)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl GgufModel {
    /// Build the model described by `header`, reading its tensors onto `device`.
    /// An architecture other than [`SUPPORTED_ARCHITECTURES`] is [`Error::Unsupported`].
    pub fn load(header: GgufHeader, device: &Device, opts: &GgufLoadOptions) -> Result<Self> {
        let architecture = header.supported_architecture()?.to_string();
        let declared = header.declared_context_length()?;
        // quantized_llama precomputes rotary tables for MAX_SEQ_LEN positions only.
        let context_length = match architecture.as_str() {
            "llama" => declared.min(quantized_llama::MAX_SEQ_LEN),
            _ => declared,
        };
        let path = header.path.clone();
        let mut reader = BufReader::new(open(&path)?);
        let inner = if opts.dequantize {
            let (content, bytes) = dequantized_copy(header.content, &mut reader, &path)?;
            build(
                &architecture,
                content,
                &mut Cursor::new(bytes),
                device,
                &path,
            )?
        } else {
            build(&architecture, header.content, &mut reader, device, &path)?
        };
        Ok(GgufModel {
            inner,
            architecture,
            context_length,
            device: device.clone(),
        })
    }

    /// `general.architecture` of the file.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// Where the weights live.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl CausalLm for GgufModel {
    fn forward(&mut self, ids: &[u32], index_pos: usize) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Err(Error::InvalidArgument("no tokens to feed the model".into()));
        }
        if index_pos + ids.len() > self.context_length {
            return Err(Error::InvalidArgument(format!(
                "{} tokens at position {index_pos} exceed the model's context of {} tokens",
                ids.len(),
                self.context_length
            )));
        }
        let x = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let logits = match &mut self.inner {
            Inner::Llama(m) => m.forward(&x, index_pos)?,
            Inner::Qwen2(m) => m.forward(&x, index_pos)?,
        };
        Ok(logits
            .squeeze(0)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1()?)
    }

    fn reset(&mut self) {
        match &mut self.inner {
            Inner::Llama(m) => m.clear_kv_cache(),
            Inner::Qwen2(m) => m.clear_kv_cache(),
        }
    }

    fn context_length(&self) -> usize {
        self.context_length
    }
}

fn build<R: std::io::Read + std::io::Seek>(
    architecture: &str,
    content: Content,
    reader: &mut R,
    device: &Device,
    path: &Path,
) -> Result<Inner> {
    let fail = |e: candle_core::Error| corrupt(path, e);
    Ok(match architecture {
        "llama" => Inner::Llama(Box::new(
            quantized_llama::ModelWeights::from_gguf(content, reader, device).map_err(fail)?,
        )),
        _ => Inner::Qwen2(Box::new(
            quantized_qwen2::ModelWeights::from_gguf(content, reader, device).map_err(fail)?,
        )),
    })
}

/// An in-memory GGUF with the same tensors stored as f32 (metadata cut down to the model's own
/// keys: candle's builders need no tokenizer entries), and its freshly read header.
fn dequantized_copy<R: std::io::Read + std::io::Seek>(
    content: Content,
    reader: &mut R,
    path: &Path,
) -> Result<(Content, Vec<u8>)> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let q = content
            .tensor(reader, name, &Device::Cpu)
            .map_err(|e| corrupt(path, e))?;
        let q = match q.dtype() {
            GgmlDType::F32 => q,
            _ => QTensor::quantize(&q.dequantize(&Device::Cpu)?, GgmlDType::F32)?,
        };
        tensors.push((name.as_str(), q));
    }
    let metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| !k.starts_with("tokenizer."))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &refs)?;
    let bytes = out.into_inner();
    let copy = Content::read(&mut Cursor::new(&bytes))?;
    Ok((copy, bytes))
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile {
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string()),
                location: path
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| ".".into()),
                hint: "check the path to the .gguf file".into(),
            }
        } else {
            Error::io(format!("opening {}", path.display()), e)
        }
    })
}

fn corrupt(path: &Path, e: candle_core::Error) -> Error {
    Error::CorruptModel {
        path: path.to_path_buf(),
        reason: format!("not a readable GGUF model ({e}); re-download it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_gguf(dir: &Path, arch: &str) -> PathBuf {
        let path = dir.join(format!("{arch}.gguf"));
        let mut f = File::create(&path).unwrap();
        let a = Value::String(arch.into());
        let ctx = Value::U32(128);
        let key = format!("{arch}.context_length");
        let t = QTensor::quantize(
            &Tensor::zeros((2, 32), candle_core::DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap();
        gguf_file::write(
            &mut f,
            &[("general.architecture", &a), (key.as_str(), &ctx)],
            &[("token_embd.weight", &t)],
        )
        .unwrap();
        path
    }

    #[test]
    fn header_reads_architecture_and_context() {
        let tmp = tempfile::tempdir().unwrap();
        let h = GgufHeader::read(&write_gguf(tmp.path(), "mamba")).unwrap();
        assert_eq!(h.architecture().unwrap(), "mamba");
        assert_eq!(h.declared_context_length().unwrap(), 128);
        assert_eq!(h.tensor_count(), 1);
        assert!(matches!(h.string("nope"), Err(Error::CorruptModel { .. })));
    }

    #[test]
    fn unsupported_architecture_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let h = GgufHeader::read(&write_gguf(tmp.path(), "mamba")).unwrap();
        let err = GgufModel::load(h, &Device::Cpu, &GgufLoadOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Unsupported(m) if m.contains("`mamba`")),
            "{err}"
        );
    }

    #[test]
    fn missing_and_foreign_files() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = GgufHeader::read(&tmp.path().join("none.gguf")).unwrap_err();
        assert!(matches!(missing, Error::MissingFile { .. }), "{missing}");
        let junk = tmp.path().join("junk.gguf");
        std::fs::write(&junk, b"definitely not a gguf file").unwrap();
        let err = GgufHeader::read(&junk).unwrap_err();
        assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
    }

    /// A tiny random-weight model of `arch` (1 block, 32 wide, 16 tokens), weights in `dtype`.
    fn write_tiny_model(dir: &Path, arch: &str, dtype: GgmlDType) -> PathBuf {
        let (embd, heads, kv, ffn, vocab) = (32usize, 2usize, 1usize, 64usize, 16usize);
        let hd = embd / heads;
        let mut seed = 0.0f32;
        let mut tensor = |dims: &[usize], dtype: GgmlDType| {
            let n: usize = dims.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|i| ((i as f32 + seed) * 0.37).sin() * 0.3)
                .collect();
            seed += 11.0;
            let t = Tensor::from_vec(v, dims, &Device::Cpu).unwrap();
            QTensor::quantize(&t, dtype).unwrap()
        };
        let mut tensors = vec![
            (
                "token_embd.weight".to_string(),
                tensor(&[vocab, embd], dtype),
            ),
            (
                "output_norm.weight".to_string(),
                tensor(&[embd], GgmlDType::F32),
            ),
            (
                "blk.0.attn_q.weight".to_string(),
                tensor(&[embd, embd], dtype),
            ),
            (
                "blk.0.attn_k.weight".to_string(),
                tensor(&[kv * hd, embd], dtype),
            ),
            (
                "blk.0.attn_v.weight".to_string(),
                tensor(&[kv * hd, embd], dtype),
            ),
            (
                "blk.0.attn_output.weight".to_string(),
                tensor(&[embd, embd], dtype),
            ),
            (
                "blk.0.ffn_gate.weight".to_string(),
                tensor(&[ffn, embd], dtype),
            ),
            (
                "blk.0.ffn_up.weight".to_string(),
                tensor(&[ffn, embd], dtype),
            ),
            (
                "blk.0.ffn_down.weight".to_string(),
                tensor(&[embd, ffn], dtype),
            ),
            (
                "blk.0.attn_norm.weight".to_string(),
                tensor(&[embd], GgmlDType::F32),
            ),
            (
                "blk.0.ffn_norm.weight".to_string(),
                tensor(&[embd], GgmlDType::F32),
            ),
        ];
        if arch == "qwen2" {
            tensors.push(("blk.0.attn_q.bias".into(), tensor(&[embd], GgmlDType::F32)));
            tensors.push((
                "blk.0.attn_k.bias".into(),
                tensor(&[kv * hd], GgmlDType::F32),
            ));
            tensors.push((
                "blk.0.attn_v.bias".into(),
                tensor(&[kv * hd], GgmlDType::F32),
            ));
        }
        let u = |x: usize| Value::U32(x as u32);
        let md: Vec<(String, Value)> = vec![
            ("general.architecture".into(), Value::String(arch.into())),
            (format!("{arch}.context_length"), u(32)),
            (format!("{arch}.embedding_length"), u(embd)),
            (format!("{arch}.block_count"), u(1)),
            (format!("{arch}.attention.head_count"), u(heads)),
            (format!("{arch}.attention.head_count_kv"), u(kv)),
            (format!("{arch}.rope.dimension_count"), u(hd)),
            (
                format!("{arch}.attention.layer_norm_rms_epsilon"),
                Value::F32(1e-5),
            ),
        ];
        let path = dir.join(format!("tiny-{arch}.gguf"));
        let mut f = File::create(&path).unwrap();
        let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
        path
    }

    fn load(path: &Path, dequantize: bool) -> GgufModel {
        let h = GgufHeader::read(path).unwrap();
        GgufModel::load(h, &Device::Cpu, &GgufLoadOptions { dequantize }).unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn cached_steps_equal_a_full_recompute_and_position_zero_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        for arch in SUPPORTED_ARCHITECTURES {
            let mut m = load(&write_tiny_model(tmp.path(), arch, GgmlDType::F32), false);
            assert_eq!(m.context_length(), 32);
            let first = m.forward(&[1, 2, 3], 0).unwrap();
            assert_eq!(first.len(), 16);
            let step = m.forward(&[4], 3).unwrap();
            // Position 0 drops the old cache: a fresh full pass gives the same logits.
            let full = m.forward(&[1, 2, 3, 4], 0).unwrap();
            assert!(
                max_diff(&step, &full) < 1e-4,
                "{arch}: {step:?} vs {full:?}"
            );
            let again = m.forward(&[1, 2, 3], 0).unwrap();
            assert!(max_diff(&first, &again) < 1e-5, "{arch}");
            assert!(m.forward(&[1; 30], 3).is_err(), "{arch}: past the context");
            assert!(m.forward(&[], 0).is_err());
        }
    }

    #[test]
    fn dequantized_weights_run_in_f32() {
        let tmp = tempfile::tempdir().unwrap();
        let path = write_tiny_model(tmp.path(), "llama", GgmlDType::Q8_0);
        let q = load(&path, false).forward(&[5, 6, 7], 0).unwrap();
        let f = load(&path, true).forward(&[5, 6, 7], 0).unwrap();
        // Same Q8_0 weights; only the activations' 8-bit rounding differs.
        let d = max_diff(&q, &f);
        assert!(d > 0.0 && d < 0.05, "max difference {d}");
    }

    #[test]
    fn integer_metadata_of_any_width() {
        assert_eq!(value_to_usize(&Value::U64(7)), Some(7));
        assert_eq!(value_to_usize(&Value::I32(-1)), None);
        assert_eq!(value_to_usize(&Value::F32(1.0)), None);
    }
}
