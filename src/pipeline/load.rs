//! Opening a model reference into the parts a [`super::translate::Translator`] needs: the
//! architecture, the tokenizer, the decoding defaults, and a description.
//!
//! Two families of files lead to the same Marian code: transformers repos (Hub or folder:
//! `config.json`, SentencePiece files, safetensors or PyTorch weights) and CTranslate2 models
//! (Argos `.argosmodel` packages, extracted packages, bare CT2 folders), whose spec is mapped
//! onto Marian by [`crate::arch::ct2`]. This module only chooses and wires; it parses nothing itself.

use std::path::Path;

use crate::arch::ct2::Ct2Model;
use crate::arch::{Marian, MarianConfig, Weights};
use crate::decode::GenerationConfig;
use crate::error::{Error, Result};
use crate::hub::{argos_cache_dir, Ct2Layout, Ct2Package, HubOptions, ModelRef, ModelSource};
use crate::tokenize::{self, Ct2TokenConfig, Ct2Tokenizer, TextTokenizer};

use super::translate::LoadOptions;

/// A model ready to be wrapped by a translator.
pub struct LoadedModel {
    pub model: Marian,
    pub tokenizer: Box<dyn TextTokenizer>,
    pub generation: GenerationConfig,
    pub description: String,
}

/// The tokenizer files a Marian repo may have; fetched before the tokenizer is built.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "source.spm",
    "target.spm",
    "vocab.json",
    "target_vocab.json",
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

/// Load a transformers Marian repo (config, generation defaults, tokenizer, weights).
pub fn load_transformers(source: &ModelSource, opts: &LoadOptions) -> Result<LoadedModel> {
    let config_path = source.file("config.json")?;
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
    let cfg = MarianConfig::from_file(&config_path)?;
    let generation = GenerationConfig::from_model_files(&config_path, generation_path.as_deref())?;
    let tokenizer = tokenize::load(&dir)?;
    let mut weights = Weights::load(&source.weights()?, opts.dtype, &opts.device)?;
    if opts.int8 {
        weights.quantize_linear()?;
    }
    let model = Marian::new(cfg, &weights)?;
    check_vocab(tokenizer.as_ref(), &model, &config_path)?;
    Ok(LoadedModel {
        model,
        tokenizer,
        generation,
        description: source.describe(),
    })
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
        ct2.source_vocab().tokens(),
        ct2.target_vocab().tokens(),
        &Ct2TokenConfig::from(ct2.config()),
    )?;
    let (cfg, weights) = ct2.to_marian_with(opts.dtype, &opts.device, opts.int8)?;
    let generation =
        GenerationConfig::ctranslate2(cfg.eos_token_id, cfg.pad_token_id, cfg.decoder_start());
    let model = Marian::new(cfg, &weights)?;
    check_vocab(&tokenizer, &model, &pkg.model_dir.join("model.bin"))?;
    Ok(LoadedModel {
        model,
        tokenizer: Box::new(tokenizer),
        generation,
        description: pkg.describe(),
    })
}

/// The tokenizer must not produce target ids the model cannot score.
fn check_vocab(tokenizer: &dyn TextTokenizer, model: &Marian, path: &Path) -> Result<()> {
    let tokenizer_vocab = tokenizer.special().decoder_vocab_size;
    let model_vocab = model.config().target_vocab_size();
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
