//! Decoding settings: what `generate` is asked to do, and how a model's defaults are read from
//! `generation_config.json` or, for older repos, the generation keys of `config.json`.
//!
//! Precedence follows transformers: a repo's `generation_config.json` when it exists, else the
//! legacy keys of `config.json`; unset keys take transformers' `GenerationConfig` defaults; then
//! the caller's overrides. This module never touches tensors.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// When beam search may stop early (transformers' `early_stopping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// `false`: stop when the best running beam cannot beat the worst finished one (at the current length).
    #[default]
    Heuristic,
    /// `true`: stop as soon as `num_beams` hypotheses are finished.
    Always,
    /// `"never"`: canonical beam search; only stop when no improvement is possible at all.
    Never,
}

/// Everything the decoding loop needs to know. Token ids are target-vocabulary ids.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// 1 = greedy; more = beam search.
    pub num_beams: usize,
    /// Longest output, counting the decoder start token (transformers' `max_length`).
    pub max_length: usize,
    /// If set, replaces `max_length` by `1 + max_new_tokens`.
    pub max_new_tokens: Option<usize>,
    /// End of sequence is forbidden while the output (start token included) is shorter.
    pub min_length: usize,
    /// End of sequence is forbidden before this many new tokens.
    pub min_new_tokens: usize,
    /// Exponent on the length that divides a finished beam's log-probability.
    pub length_penalty: f32,
    pub early_stopping: EarlyStopping,
    /// Forbid repeating any n-gram of this size (0 = off).
    pub no_repeat_ngram_size: usize,
    /// CTRL-style penalty on tokens already in the output (1.0 = off).
    pub repetition_penalty: f32,
    /// Token sequences that may never be produced (a single id bans that token).
    pub bad_words_ids: Vec<Vec<u32>>,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: u32,
    pub decoder_start_token_id: u32,
    /// Forced as the first generated token when set.
    pub forced_bos_token_id: Option<u32>,
    /// Forced as the last token when the output reaches `max_length`.
    pub forced_eos_token_id: Option<u32>,
}

impl GenerationConfig {
    /// transformers' defaults, with the model's special tokens.
    pub fn new(eos: u32, pad: u32, decoder_start: u32) -> Self {
        Self {
            num_beams: 1,
            max_length: 20,
            max_new_tokens: None,
            min_length: 0,
            min_new_tokens: 0,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Heuristic,
            no_repeat_ngram_size: 0,
            repetition_penalty: 1.0,
            bad_words_ids: Vec::new(),
            eos_token_ids: vec![eos],
            pad_token_id: pad,
            decoder_start_token_id: decoder_start,
            forced_bos_token_id: None,
            forced_eos_token_id: None,
        }
    }

    /// CTranslate2's `translate_batch` defaults in these terms, with tolk's beam size: beam
    /// search stops once `num_beams` hypotheses are finished, length penalty 1, end of sequence
    /// forbidden at the first step (`min_decoding_length` 1), at most 256 new tokens.
    pub fn ctranslate2(eos: u32, pad: u32, decoder_start: u32) -> Self {
        Self {
            num_beams: 4,
            max_length: 257,
            min_new_tokens: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Always,
            ..Self::new(eos, pad, decoder_start)
        }
    }

    /// Read a model folder's defaults: `generation_config.json` if present, else `config.json`.
    pub fn from_model_files(config_json: &Path, generation_json: Option<&Path>) -> Result<Self> {
        let model = RawGeneration::read(config_json)?;
        let eos = model
            .eos_token_id
            .as_ref()
            .and_then(|e| e.first())
            .ok_or_else(|| Error::Config {
                path: config_json.to_path_buf(),
                reason: "eos_token_id is missing".into(),
            })?;
        let pad = model.pad_token_id.ok_or_else(|| Error::Config {
            path: config_json.to_path_buf(),
            reason: "pad_token_id is missing".into(),
        })?;
        let start = model.decoder_start_token_id.unwrap_or(pad);
        let mut cfg = Self::new(eos, pad, start);
        match generation_json {
            Some(p) => RawGeneration::read(p)?.apply(&mut cfg),
            None => model.apply(&mut cfg),
        }
        Ok(cfg)
    }

    /// Override settings from a JSON object with transformers' key names (as `generate(**kwargs)` takes them).
    pub fn apply_json(&mut self, overrides: &serde_json::Value) -> Result<()> {
        let raw: RawGeneration = serde_json::from_value(overrides.clone())
            .map_err(|e| Error::InvalidArgument(format!("generation settings: {e}")))?;
        raw.apply(self);
        Ok(())
    }

    /// The longest output, start token included.
    pub fn effective_max_length(&self) -> usize {
        self.max_new_tokens.map_or(self.max_length, |n| n + 1)
    }

    /// Whether `id` ends a sequence.
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos_token_ids.contains(&id)
    }

    /// Reject settings the decoder cannot honour.
    pub fn validate(&self, vocab_size: usize) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if self.num_beams == 0 {
            return bad("num_beams must be at least 1".into());
        }
        if self.effective_max_length() < 2 {
            return bad("max_length / max_new_tokens leave no room for a single new token".into());
        }
        if self.repetition_penalty <= 0.0 || !self.repetition_penalty.is_finite() {
            return bad(format!(
                "repetition_penalty must be > 0, got {}",
                self.repetition_penalty
            ));
        }
        let ids = self
            .eos_token_ids
            .iter()
            .chain([&self.pad_token_id, &self.decoder_start_token_id])
            .chain(self.bad_words_ids.iter().flatten());
        for &id in ids {
            if id as usize >= vocab_size {
                return bad(format!(
                    "token id {id} is outside the vocabulary of {vocab_size}"
                ));
            }
        }
        if 2 * self.num_beams > vocab_size {
            return bad(format!(
                "{} beams need a vocabulary of at least {}",
                self.num_beams,
                2 * self.num_beams
            ));
        }
        Ok(())
    }
}

/// `eos_token_id` may be a number or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

impl OneOrMany {
    fn first(&self) -> Option<u32> {
        match self {
            Self::One(x) => Some(*x),
            Self::Many(v) => v.first().copied(),
        }
    }
    fn all(&self) -> Vec<u32> {
        match self {
            Self::One(x) => vec![*x],
            Self::Many(v) => v.clone(),
        }
    }
}

/// `early_stopping` may be a bool or `"never"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawEarlyStopping {
    Bool(bool),
    Word(String),
}

/// The generation keys as they appear in either JSON file; every key optional.
#[derive(Debug, Default, Deserialize)]
struct RawGeneration {
    num_beams: Option<usize>,
    max_length: Option<usize>,
    max_new_tokens: Option<usize>,
    min_length: Option<usize>,
    min_new_tokens: Option<usize>,
    length_penalty: Option<f32>,
    early_stopping: Option<RawEarlyStopping>,
    no_repeat_ngram_size: Option<usize>,
    repetition_penalty: Option<f32>,
    bad_words_ids: Option<Vec<Vec<u32>>>,
    eos_token_id: Option<OneOrMany>,
    pad_token_id: Option<u32>,
    decoder_start_token_id: Option<u32>,
    forced_bos_token_id: Option<u32>,
    forced_eos_token_id: Option<OneOrMany>,
}

impl RawGeneration {
    fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    fn apply(self, cfg: &mut GenerationConfig) {
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = self.$field {
                    cfg.$field = v;
                }
            };
        }
        set!(num_beams);
        set!(max_length);
        set!(min_length);
        set!(min_new_tokens);
        set!(length_penalty);
        set!(no_repeat_ngram_size);
        set!(repetition_penalty);
        set!(bad_words_ids);
        set!(pad_token_id);
        set!(decoder_start_token_id);
        cfg.max_new_tokens = self.max_new_tokens.or(cfg.max_new_tokens);
        cfg.forced_bos_token_id = self.forced_bos_token_id.or(cfg.forced_bos_token_id);
        if let Some(e) = self.forced_eos_token_id {
            cfg.forced_eos_token_id = e.first();
        }
        if let Some(e) = self.eos_token_id {
            cfg.eos_token_ids = e.all();
        }
        if let Some(e) = self.early_stopping {
            cfg.early_stopping = match e {
                RawEarlyStopping::Bool(true) => EarlyStopping::Always,
                RawEarlyStopping::Bool(false) => EarlyStopping::Heuristic,
                RawEarlyStopping::Word(w) if w == "never" => EarlyStopping::Never,
                RawEarlyStopping::Word(_) => cfg.early_stopping,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_json_wins_over_config_json() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("config.json");
        std::fs::write(&c, r#"{"eos_token_id":0,"pad_token_id":9,"num_beams":4,"max_length":512,"bad_words_ids":[[9]]}"#).unwrap();
        let legacy = GenerationConfig::from_model_files(&c, None).unwrap();
        assert_eq!((legacy.num_beams, legacy.max_length), (4, 512));
        assert_eq!(legacy.bad_words_ids, vec![vec![9]]);
        assert_eq!(legacy.decoder_start_token_id, 9);
        let g = dir.path().join("generation_config.json");
        std::fs::write(&g, r#"{"num_beams":3,"early_stopping":"never","eos_token_id":[0,1],"forced_eos_token_id":0}"#).unwrap();
        let cfg = GenerationConfig::from_model_files(&c, Some(&g)).unwrap();
        assert_eq!((cfg.num_beams, cfg.max_length), (3, 20));
        assert!(cfg.bad_words_ids.is_empty());
        assert_eq!(cfg.early_stopping, EarlyStopping::Never);
        assert_eq!(cfg.eos_token_ids, vec![0, 1]);
        assert_eq!(cfg.forced_eos_token_id, Some(0));
    }

    #[test]
    fn validation_rejects_impossible_settings() {
        let mut cfg = GenerationConfig::new(0, 9, 9);
        assert!(cfg.validate(10).is_ok());
        cfg.max_new_tokens = Some(0);
        assert!(cfg.validate(10).is_err());
        cfg.max_new_tokens = None;
        cfg.bad_words_ids = vec![vec![12]];
        assert!(cfg.validate(10).unwrap_err().to_string().contains("12"));
    }
}
