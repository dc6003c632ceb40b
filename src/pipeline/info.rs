//! What a model is, without building it: languages, architecture, stored dtypes, sizes and
//! where its files live (for `tolk info`).
//!
//! Sources of each fact:
//! - languages: an Argos package's `metadata.json`; for transformers repos
//!   `tokenizer_config.json` (`source_lang` / `target_lang`), else the repo or folder name
//!   (`opus-mt-xx-yy`, `opus-mt-tc-big-xx-yy`);
//! - dims: Marian `config.json`, or the CT2 `model.bin` variables ([`Ct2Model::summary`]);
//! - dtypes and parameter counts: the safetensors header, the PyTorch pickle's tensor table
//!   (no tensor data is read), or the CT2 variable table.
//!
//! This module never builds tensors, never converts or dequantizes weights, never writes into a
//! model folder, and only touches the network where [`ModelSource`] would for translation
//! (online Hub repos; `HF_HUB_OFFLINE=1` reads the cache only).

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::arch::ct2::Ct2Model;
use crate::arch::MarianConfig;
use crate::error::{Error, Result};
use crate::hub::{argos_cache_dir, Ct2Layout, Ct2Package, HubOptions, ModelRef, ModelSource};

/// Largest safetensors JSON header tolk reads (the format itself caps it at 100 MB).
const MAX_SAFETENSORS_HEADER: u64 = 100 << 20;

/// Everything `tolk info` reports about a model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// The reference as given.
    pub reference: String,
    /// Where the files come from ([`ModelSource::describe`] / [`Ct2Package::describe`]).
    pub location: String,
    /// `transformers` or `ctranslate2`.
    pub format: String,
    /// Source language code, when known.
    pub source_lang: Option<String>,
    /// Target language code, when known.
    pub target_lang: Option<String>,
    /// Where the languages were read: `metadata.json`, `tokenizer_config.json` or `model name`.
    pub languages_from: Option<String>,
    /// The network tolk runs it as (always `marian` today).
    pub architecture: String,
    /// The CTranslate2 spec, for CT2 models.
    pub ct2: Option<Ct2SpecInfo>,
    /// Stored tensor dtypes and how many tensors have each, sorted by name.
    pub dtypes: Vec<DTypeCount>,
    /// Elements of the stored weight tensors (shared storage counted once; CT2 `_scale`
    /// companions and scalars not counted).
    pub parameters: u64,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_heads: usize,
    pub decoder_heads: usize,
    pub ffn_dim: usize,
    pub source_vocab: usize,
    pub target_vocab: usize,
    /// The weights file (`model.safetensors`, `pytorch_model.bin` or `model.bin`).
    pub weights_file: PathBuf,
    pub weights_bytes: u64,
    /// All files of the model folder (or package), links followed.
    pub total_bytes: u64,
    /// The `.argosmodel` file, when the model was given as one.
    pub archive_bytes: Option<u64>,
}

/// The CTranslate2 spec a `model.bin` declares.
#[derive(Clone, Debug, Serialize)]
pub struct Ct2SpecInfo {
    pub spec: String,
    pub revision: u32,
    pub binary_version: u32,
}

/// One stored dtype and the number of tensors stored in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DTypeCount {
    pub dtype: String,
    pub tensors: usize,
}

/// Describe `reference` (as `tolk translate --model` takes it) without building the model.
pub fn inspect(reference: &str, hub: &HubOptions) -> Result<ModelInfo> {
    let path = Path::new(reference);
    if Ct2Layout::detect(path).is_some() {
        let pkg = Ct2Package::open(path, &argos_cache_dir())?;
        return inspect_ct2(reference, &pkg);
    }
    let model_ref: ModelRef = reference.parse()?;
    let source = ModelSource::open(&model_ref, hub)?;
    inspect_transformers(reference, &model_ref, &source)
}

/// Describe a CT2 model (Argos package or bare folder) from its variable table and small files.
pub fn inspect_ct2(reference: &str, pkg: &Ct2Package) -> Result<ModelInfo> {
    let model = Ct2Model::load(&pkg.model_dir)?;
    let s = model.summary()?;
    let binary = model.binary();
    let mut dtypes: BTreeMap<String, usize> = BTreeMap::new();
    for (d, n) in binary.dtype_counts() {
        *dtypes.entry(d.name().to_string()).or_default() += n;
    }
    let parameters = binary
        .names()
        .iter()
        .filter(|n| !n.ends_with("_scale"))
        .filter_map(|n| binary.get(n))
        .filter(|v| !v.shape.is_empty())
        .map(|v| v.shape.iter().product::<usize>() as u64)
        .sum();
    let meta = pkg.metadata.as_ref();
    let (source_lang, target_lang) = (
        meta.and_then(|m| m.from_code.clone()),
        meta.and_then(|m| m.to_code.clone()),
    );
    let languages_from =
        (source_lang.is_some() || target_lang.is_some()).then(|| "metadata.json".to_string());
    let weights_file = pkg.model_dir.join("model.bin");
    Ok(ModelInfo {
        reference: reference.to_string(),
        location: pkg.describe(),
        format: "ctranslate2".into(),
        source_lang,
        target_lang,
        languages_from,
        architecture: "marian".into(),
        ct2: Some(Ct2SpecInfo {
            spec: s.spec,
            revision: s.revision,
            binary_version: s.binary_version,
        }),
        dtypes: counts(dtypes),
        parameters,
        d_model: s.d_model,
        encoder_layers: s.encoder_layers,
        decoder_layers: s.decoder_layers,
        encoder_heads: s.heads,
        decoder_heads: s.heads,
        ffn_dim: s.ffn_dim,
        source_vocab: s.source_vocab,
        target_vocab: s.target_vocab,
        weights_bytes: s.file_bytes,
        weights_file,
        total_bytes: dir_bytes(&pkg.root)?,
        archive_bytes: match &pkg.archive {
            Some(a) => Some(file_bytes(a)?),
            None => None,
        },
    })
}

/// Describe a transformers Marian repo (Hub or folder) from `config.json`, the tokenizer config
/// and the weights file's tensor table.
pub fn inspect_transformers(
    reference: &str,
    model_ref: &ModelRef,
    source: &ModelSource,
) -> Result<ModelInfo> {
    let config_path = source.file("config.json")?;
    let cfg = MarianConfig::from_file(&config_path)?;
    let mut langs = None;
    if let Some(p) = source.optional_file("tokenizer_config.json")? {
        let (s, t) = tokenizer_config_langs(&p)?;
        if s.is_some() || t.is_some() {
            langs = Some((s, t, "tokenizer_config.json"));
        }
    }
    if langs.is_none() {
        let name = match model_ref {
            ModelRef::Hub { repo, .. } => repo.clone(),
            ModelRef::Local(p) => p
                .canonicalize()
                .unwrap_or_else(|_| p.clone())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if let Some((s, t)) = opus_mt_langs(&name) {
            langs = Some((Some(s), Some(t), "model name"));
        }
    }
    let (source_lang, target_lang, languages_from) = match langs {
        Some((s, t, from)) => (s, t, Some(from.to_string())),
        None => (None, None, None),
    };
    let weights = source.weights()?;
    // One table over all shards.
    let mut table = TensorTable {
        dtypes: BTreeMap::new(),
        parameters: 0,
    };
    let mut weights_bytes = 0;
    for file in &weights.files {
        let part = if file.extension().is_some_and(|e| e == "safetensors") {
            safetensors_table(file)?
        } else {
            pytorch_table(file)?
        };
        for (dtype, n) in part.dtypes {
            *table.dtypes.entry(dtype).or_default() += n;
        }
        table.parameters += part.parameters;
        weights_bytes += file_bytes(file)?;
    }
    let weights_file = weights.main().to_path_buf();
    let folder = weights_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(ModelInfo {
        reference: reference.to_string(),
        location: source.describe(),
        format: "transformers".into(),
        source_lang,
        target_lang,
        languages_from,
        architecture: cfg.model_type.clone().unwrap_or_else(|| "marian".into()),
        ct2: None,
        dtypes: counts(table.dtypes),
        parameters: table.parameters,
        d_model: cfg.d_model,
        encoder_layers: cfg.encoder_layers,
        decoder_layers: cfg.decoder_layers,
        encoder_heads: cfg.encoder_attention_heads,
        decoder_heads: cfg.decoder_attention_heads,
        ffn_dim: cfg.encoder_ffn_dim,
        source_vocab: cfg.vocab_size,
        target_vocab: cfg.target_vocab_size(),
        weights_bytes,
        weights_file,
        total_bytes: dir_bytes(&folder)?,
        archive_bytes: None,
    })
}

/// `source_lang` / `target_lang` of a Marian `tokenizer_config.json`.
fn tokenizer_config_langs(path: &Path) -> Result<(Option<String>, Option<String>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: format!("{e} (is this a tokenizer_config.json?)"),
    })?;
    let get = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok((get("source_lang"), get("target_lang")))
}

/// Languages from an OPUS-MT model name: `…opus-mt-de-en`, `…opus-mt-tc-big-fr-en`,
/// `…opus-mt-en-ROMANCE`. `None` when the name does not follow the pattern.
pub fn opus_mt_langs(name: &str) -> Option<(String, String)> {
    let name = name.rsplit('/').next().unwrap_or(name);
    let lower = name.to_ascii_lowercase();
    let at = lower.find("opus-mt-")?;
    let rest = &name[at + "opus-mt-".len()..];
    let mut parts = rest.split('-').skip_while(|p| {
        ["tc", "big", "base", "tiny", "small"].contains(&p.to_ascii_lowercase().as_str())
    });
    let looks_like_code = |p: &&str| {
        (2..=16).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
    };
    let src = parts.next().filter(looks_like_code)?;
    let tgt = parts.next().filter(looks_like_code)?;
    Some((src.to_string(), tgt.to_string()))
}

/// dtype → tensor count, and the stored elements of one weights file.
#[derive(Debug)]
struct TensorTable {
    dtypes: BTreeMap<String, usize>,
    parameters: u64,
}

/// Read the JSON header of a safetensors file (the tensor data is not read).
fn safetensors_table(path: &Path) -> Result<TensorTable> {
    let corrupt = |reason: String| Error::CorruptModel {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        .len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| corrupt("shorter than a safetensors header; download it again".into()))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_SAFETENSORS_HEADER || n > len.saturating_sub(8) {
        return Err(corrupt(format!(
            "its header claims {n} bytes but the file has {len}; download it again"
        )));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| corrupt(format!("its header is not JSON: {e}; download it again")))?;
    let mut table = TensorTable {
        dtypes: BTreeMap::new(),
        parameters: 0,
    };
    for (name, entry) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let dtype = entry.get("dtype").and_then(|d| d.as_str());
        let shape: Option<Vec<u64>> = entry
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect());
        let (Some(dtype), Some(shape)) = (dtype, shape) else {
            return Err(corrupt(format!(
                "header entry `{name}` has no dtype or shape; download it again"
            )));
        };
        *table.dtypes.entry(safetensors_dtype(dtype)).or_default() += 1;
        table.parameters += shape.iter().product::<u64>();
    }
    Ok(table)
}

/// Read the tensor table of a PyTorch zip checkpoint (the pickle only, not the storages).
fn pytorch_table(path: &Path) -> Result<TensorTable> {
    let infos = crate::arch::guard::catch_panic(|| {
        candle_core::pickle::read_pth_tensor_info(path, false, None)
    })
    .unwrap_or_else(|panic| Err(candle_core::Error::Msg(format!("unreadable ({panic})"))))
    .map_err(|e| Error::CorruptModel {
        path: path.to_path_buf(),
        reason: format!("{e}; delete it and download the model again"),
    })?;
    let mut table = TensorTable {
        dtypes: BTreeMap::new(),
        parameters: 0,
    };
    // Tied weights are several names over one storage; count their elements once.
    let mut seen = HashSet::new();
    for info in &infos {
        *table.dtypes.entry(candle_dtype(info.dtype)).or_default() += 1;
        let key = (
            info.path.clone(),
            info.layout.start_offset(),
            info.layout.dims().to_vec(),
        );
        if seen.insert(key) {
            table.parameters += info.layout.shape().elem_count() as u64;
        }
    }
    Ok(table)
}

/// safetensors' dtype names (`F32`, `BF16`, `I8`, …) as CT2 / NumPy style names.
fn safetensors_dtype(s: &str) -> String {
    match s {
        "F64" => "float64".into(),
        "F32" => "float32".into(),
        "F16" => "float16".into(),
        "BF16" => "bfloat16".into(),
        "BOOL" => "bool".into(),
        other => {
            let lower = other.to_ascii_lowercase();
            match lower.strip_prefix('i') {
                Some(bits) => format!("int{bits}"),
                None => match lower.strip_prefix('u') {
                    Some(bits) => format!("uint{bits}"),
                    None => lower,
                },
            }
        }
    }
}

fn candle_dtype(d: candle_core::DType) -> String {
    use candle_core::DType as D;
    match d {
        D::F64 => "float64".into(),
        D::F32 => "float32".into(),
        D::F16 => "float16".into(),
        D::BF16 => "bfloat16".into(),
        D::U8 => "uint8".into(),
        D::U32 => "uint32".into(),
        D::I16 => "int16".into(),
        D::I32 => "int32".into(),
        D::I64 => "int64".into(),
        other => other.as_str().into(),
    }
}

fn counts(map: BTreeMap<String, usize>) -> Vec<DTypeCount> {
    map.into_iter()
        .map(|(dtype, tensors)| DTypeCount { dtype, tensors })
        .collect()
}

fn file_bytes(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))
}

/// Total size of the files under `dir`, symbolic links followed (HF cache snapshots are links).
fn dir_bytes(dir: &Path) -> Result<u64> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    let mut total = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        // metadata() follows links; a dangling link (a partial download) counts as nothing.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            total += dir_bytes(&path)?;
        } else {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Bytes as `82.7 MB` (decimal units, like `ls -h --si`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_mt_names_give_languages() {
        let l = |s: &str| opus_mt_langs(s).map(|(a, b)| format!("{a}>{b}"));
        assert_eq!(l("Helsinki-NLP/opus-mt-de-en").as_deref(), Some("de>en"));
        assert_eq!(
            l("Helsinki-NLP/opus-mt-tc-big-fr-en").as_deref(),
            Some("fr>en")
        );
        assert_eq!(l("opus-mt-en-ROMANCE").as_deref(), Some("en>ROMANCE"));
        assert_eq!(l("tiny-bin"), None);
        assert_eq!(l("opus-mt-de"), None);
        assert_eq!(l("opus-mt-de-3"), None);
    }

    #[test]
    fn safetensors_dtype_names() {
        assert_eq!(safetensors_dtype("F32"), "float32");
        assert_eq!(safetensors_dtype("BF16"), "bfloat16");
        assert_eq!(safetensors_dtype("I8"), "int8");
        assert_eq!(safetensors_dtype("U8"), "uint8");
    }

    #[test]
    fn safetensors_header_is_read_without_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.safetensors");
        let header = br#"{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]},"__metadata__":{"format":"pt"}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend(std::iter::repeat_n(0u8, 28));
        std::fs::write(&p, &bytes).unwrap();
        let t = safetensors_table(&p).unwrap();
        assert_eq!(t.parameters, 10);
        assert_eq!(t.dtypes.get("float16"), Some(&1));
        assert_eq!(t.dtypes.get("float32"), Some(&1));
        // A header longer than the file is a corrupt file, not a huge allocation.
        let mut bad = (1u64 << 40).to_le_bytes().to_vec();
        bad.extend_from_slice(b"{}");
        std::fs::write(&p, &bad).unwrap();
        let err = safetensors_table(&p).unwrap_err().to_string();
        assert!(err.contains("header claims"), "{err}");
    }

    #[test]
    fn bytes_are_human_readable() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(82_713_318), "82.7 MB");
    }
}
