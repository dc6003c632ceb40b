//! Opening a model reference into the parts a [`super::translate::Translator`] needs: the
//! architecture, the tokenizer, the decoding defaults, and a description.
//!
//! Transformers repos (Hub or folder: `config.json`, tokenizer files, safetensors or PyTorch
//! weights) are dispatched on config.json's `model_type`: `marian` (or none, as old OPUS-MT
//! configs) and `t5`; `mt5`/`umt5` and others are refused clearly. CTranslate2 models (Argos
//! `.argosmodel` packages, extracted packages, bare CT2 folders) are mapped onto Marian by
//! [`crate::arch::ct2`]. T5 models whose vocabulary has `<2en>` (MADLAD-400 style) get the
//! source prefix `"<2en> "`, so they translate into English.
//! This module only chooses and wires; it parses nothing itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arch::ct2::Ct2Model;
use crate::arch::pack_cache::PackCache;
use crate::arch::{Marian, MarianConfig, Seq2SeqModel, T5Config, Weights, T5};
use crate::decode::GenerationConfig;
use crate::error::{Error, Result};
use crate::hub::{
    argos_cache_dir, cache_root, Ct2Layout, Ct2Package, HubOptions, ModelRef, ModelSource,
};
use crate::tokenize::{self, Ct2TokenConfig, Ct2Tokenizer, TextTokenizer};

use super::translate::LoadOptions;

/// A model ready to be wrapped by a translator.
pub struct LoadedModel {
    pub model: Seq2SeqModel,
    pub tokenizer: Box<dyn TextTokenizer>,
    pub generation: GenerationConfig,
    pub description: String,
    /// Text put before every source sentence (e.g. `"<2en> "` for MADLAD-400), if any.
    pub source_prefix: Option<String>,
    /// What the packed-weights cache did, when one was used.
    pub pack_cache: Option<PackCacheStatus>,
}

/// The packed-weights cache of a load (see [`crate::arch::pack_cache`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackCacheStatus {
    pub path: PathBuf,
    /// The matrices came from the file (no packing at this load).
    pub warm: bool,
    /// This load wrote the file.
    pub written: bool,
    /// Why the file could not be written (the model works without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The packed-weights cache for checkpoint `source` loaded with `opts`: CPU models only, off
/// with `TOLK_PACK_CACHE=0`; kept under [`cache_root`]`/packed`.
fn open_pack_cache(sources: &[PathBuf], opts: &LoadOptions) -> Option<Arc<PackCache>> {
    if !opts.device.is_cpu() || std::env::var("TOLK_PACK_CACHE").is_ok_and(|v| v == "0") {
        return None;
    }
    // Everything that changes what gets packed is in the mode.
    let weight_only = std::env::var("TOLK_INT8_ACTIVATIONS").is_ok_and(|v| v == "f32");
    let mode = match (opts.int8, weight_only) {
        (false, _) => format!("{:?}", opts.dtype).to_lowercase(),
        (true, false) => format!("{:?}-int8", opts.dtype).to_lowercase(),
        (true, true) => format!("{:?}-int8w", opts.dtype).to_lowercase(),
    };
    PackCache::open_files(&cache_root().join("packed"), sources, &mode)
        .ok()
        .map(Arc::new)
}

/// Write what the load packed, if anything; a failure only means the next load packs again.
fn finish_pack_cache(cache: Option<Arc<PackCache>>) -> Option<PackCacheStatus> {
    let cache = cache?;
    let (written, error) = match cache.finish() {
        Ok(w) => (w, None),
        Err(e) => (false, Some(e.to_string())),
    };
    Some(PackCacheStatus {
        path: cache.path().to_path_buf(),
        warm: cache.is_warm(),
        written,
        error,
    })
}

/// The language tag MADLAD-400 style T5 models take to translate into English.
pub const ENGLISH_TAG: &str = "<2en>";

/// When neither generation_config.json nor config.json sets a length, T5 repos would inherit
/// transformers' global `max_length` of 20, which cuts translations; tolk uses this instead.
pub const T5_DEFAULT_MAX_LENGTH: usize = 512;

/// The tokenizer files a Marian repo may have; fetched before the tokenizer is built.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "source.spm",
    "target.spm",
    "vocab.json",
    "target_vocab.json",
    "spiece.model",
];

/// Open `reference`: a CTranslate2 model or Argos package on disk, else a Hub repo id or a
/// transformers model folder.
pub fn open(reference: &str, hub: &HubOptions, opts: &LoadOptions) -> Result<LoadedModel> {
    let path = Path::new(reference);
    if Ct2Layout::detect(path).is_some() {
        return load_ct2(&Ct2Package::open(path, &argos_cache_dir())?, opts);
    }
    let model_ref: ModelRef = reference.parse()?;
    let source = ModelSource::open(&model_ref, hub)?;
    load_transformers(&source, opts)
}

/// Load a transformers repo (config, generation defaults, tokenizer, weights): Marian or T5.
pub fn load_transformers(source: &ModelSource, opts: &LoadOptions) -> Result<LoadedModel> {
    let config_path = source.file("config.json")?;
    // Refuse unsupported architectures before fetching anything else.
    let model_type = read_model_type(&config_path)?;
    check_model_type(model_type.as_deref(), &config_path)?;
    let generation_path = source.optional_file("generation_config.json")?;
    let mut dir = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for name in TOKENIZER_FILES {
        if let Some(p) = source.optional_file(name)? {
            dir = p.parent().map(Path::to_path_buf).unwrap_or(dir);
        }
    }
    let generation = GenerationConfig::from_model_files(&config_path, generation_path.as_deref())?;
    let tokenizer = tokenize::load(&dir)?;
    let model_type = model_type.as_deref();
    if !matches!(model_type, None | Some("marian") | Some("t5")) {
        return Err(Error::Unsupported(format!(
            "model_type `{}` is not supported",
            model_type.unwrap_or_default()
        )));
    }
    let weight_files = source.weights()?;
    let cache = open_pack_cache(&weight_files.files, opts);
    let mut weights = Weights::load_files(&weight_files, opts.dtype, &opts.device)?;
    if opts.int8 {
        weights.quantize_linear()?;
    }
    let weights = weights.with_pack_cache(cache.clone());
    let (model, generation, source_prefix) = match model_type {
        None | Some("marian") => {
            let cfg = MarianConfig::from_file(&config_path)?;
            (Marian::new(cfg, &weights)?.into(), generation, None)
        }
        Some("t5") => {
            let cfg = T5Config::from_file(&config_path)?;
            let mut generation = generation;
            let files = [Some(config_path.as_path()), generation_path.as_deref()];
            if !files.into_iter().flatten().any(sets_length) {
                generation.max_length = T5_DEFAULT_MAX_LENGTH;
            }
            let prefix = tokenizer
                .token_to_id(ENGLISH_TAG)
                .map(|_| format!("{ENGLISH_TAG} "));
            (T5::new(cfg, &weights)?.into(), generation, prefix)
        }
        // Refused by check_model_type above.
        Some(other) => {
            return Err(Error::Unsupported(format!(
                "model_type `{other}` is not supported"
            )))
        }
    };
    drop(weights);
    check_vocab(tokenizer.as_ref(), &model, &config_path)?;
    Ok(LoadedModel {
        model,
        tokenizer,
        generation,
        description: source.describe(),
        source_prefix,
        pack_cache: finish_pack_cache(cache),
    })
}

/// Accept the architectures tolk runs: `marian` (or no `model_type`) and `t5`.
fn check_model_type(model_type: Option<&str>, config_path: &Path) -> Result<()> {
    match model_type {
        None | Some("marian" | "t5") => Ok(()),
        Some(t @ ("mt5" | "umt5")) => Err(Error::Unsupported(format!(
            "model_type `{t}` (in {}): tolk runs T5 and Marian models, not mT5/UMT5 yet; \
             pick a T5, flan-T5, MADLAD-400 or OPUS-MT model",
            config_path.display()
        ))),
        Some(t) => Err(Error::Unsupported(format!(
            "model_type `{t}` (in {}): tolk runs `marian` and `t5` models",
            config_path.display()
        ))),
    }
}

/// `model_type` of a config.json, if it names one.
fn read_model_type(path: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: format!("not valid JSON ({e}); re-download the file"),
    })?;
    Ok(value
        .get("model_type")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string))
}

/// Whether a config file sets `max_length` or `max_new_tokens` (already read once, so valid JSON).
fn sets_length(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("max_length").is_some() || v.get("max_new_tokens").is_some())
}

/// Load a CTranslate2 model (Argos package or bare folder) into tolk's Marian.
pub fn load_ct2(pkg: &Ct2Package, opts: &LoadOptions) -> Result<LoadedModel> {
    let ct2 = Ct2Model::load(&pkg.model_dir)?;
    let spm = pkg
        .sentencepiece
        .as_deref()
        .ok_or_else(|| Error::MissingFile {
            file: "sentencepiece.model".into(),
            location: pkg.root.display().to_string(),
            hint: "tolk tokenizes CTranslate2 models with the package's SentencePiece model; \
               put it next to model.bin or use the whole Argos package"
                .into(),
        })?;
    let tokenizer = Ct2Tokenizer::new(
        spm,
        ct2.source_vocab().clone(),
        ct2.target_vocab().clone(),
        &Ct2TokenConfig::from(ct2.config()),
    )?;
    // `auto` precision: CTranslate2's default compute for an int8 package is int8.
    let stored_int8 = ct2
        .binary()
        .dtype_counts()
        .iter()
        .any(|(d, _)| *d == crate::arch::ct2::Ct2DType::I8);
    let opts = &LoadOptions {
        int8: opts.int8 || (opts.int8_as_stored && stored_int8 && opts.device.is_cpu()),
        ..opts.clone()
    };
    let cache = open_pack_cache(std::slice::from_ref(&ct2.binary().path), opts);
    let (cfg, weights) = ct2.to_marian_with(opts.dtype, &opts.device, opts.int8)?;
    let weights = weights.with_pack_cache(cache.clone());
    let generation =
        GenerationConfig::ctranslate2(cfg.eos_token_id, cfg.pad_token_id, cfg.decoder_start());
    let model = Marian::new(cfg, &weights)?.into();
    drop(weights);
    ct2.binary().release_pages();
    check_vocab(&tokenizer, &model, &pkg.model_dir.join("model.bin"))?;
    Ok(LoadedModel {
        model,
        tokenizer: Box::new(tokenizer),
        generation,
        description: pkg.describe(),
        source_prefix: None,
        pack_cache: finish_pack_cache(cache),
    })
}

/// The tokenizer must not produce target ids the model cannot score.
fn check_vocab(tokenizer: &dyn TextTokenizer, model: &Seq2SeqModel, path: &Path) -> Result<()> {
    let tokenizer_vocab = tokenizer.special().decoder_vocab_size;
    let model_vocab = model.target_vocab_size();
    if tokenizer_vocab > model_vocab {
        return Err(Error::Config {
            path: path.to_path_buf(),
            reason: format!(
                "the tokenizer's target vocabulary ({tokenizer_vocab}) is larger than the model's \
                 ({model_vocab}); the folder mixes files of different models"
            ),
        });
    }
    Ok(())
}
