//! T5's `config.json` (the fields that shape the network, with transformers' defaults) and its
//! relative position buckets.

use std::path::Path;

use serde::Deserialize;

use super::DEFAULT_MAX_SOURCE_LEN;
use crate::arch::attention::Activation;
use crate::error::Result;

/// `eos_token_id` may be a number or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// The fields of a T5 `config.json` that shape the network.
#[derive(Debug, Clone, Deserialize)]
pub struct T5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    pub num_heads: usize,
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    /// `relu`, `gated-gelu` (gelu_new), `gated-silu`, `gelu`, ... (`[gated-]ACT`).
    #[serde(default = "default_ffn")]
    pub feed_forward_proj: String,
    /// Absent means true (original T5); false for T5 v1.1 / flan-T5 / MADLAD.
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    /// Written by transformers 5 next to a forced `tie_word_embeddings: true`; wins when present.
    #[serde(default)]
    pub scale_decoder_outputs: Option<bool>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default)]
    eos_token_id: Option<OneOrMany>,
    /// Source budget (a few original T5 configs carry 512).
    #[serde(default)]
    pub n_positions: Option<usize>,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_ffn() -> String {
    "relu".into()
}
fn default_eps() -> f64 {
    1e-6
}

impl T5Config {
    /// Read and validate `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        crate::arch::read_config(path, "T5", Self::validate)
    }

    /// Check the values that would otherwise fail deep inside a tensor operation.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(t) = &self.model_type {
            if t != "t5" {
                return Err(format!("model_type is `{t}`, expected `t5`"));
            }
        }
        if self.d_model == 0 || self.d_kv == 0 || self.num_heads == 0 || self.d_ff == 0 {
            return Err("d_model, d_kv, num_heads and d_ff must all be positive".into());
        }
        if self.relative_attention_num_buckets < 4 || self.relative_attention_max_distance < 2 {
            return Err(format!(
                "relative_attention_num_buckets {} / max_distance {} are too small",
                self.relative_attention_num_buckets, self.relative_attention_max_distance
            ));
        }
        if self.ffn().is_none() {
            return Err(format!(
                "feed_forward_proj `{}` is not supported (relu, gelu, gated-gelu, gated-silu, ... are)",
                self.feed_forward_proj
            ));
        }
        for (name, id) in [
            ("pad_token_id", self.pad_id()),
            ("eos_token_id", self.eos_id()),
            ("decoder_start_token_id", self.decoder_start()),
        ] {
            if id as usize >= self.vocab_size {
                return Err(format!(
                    "{name} {id} is outside the vocabulary of {}",
                    self.vocab_size
                ));
            }
        }
        if self.n_positions == Some(0) {
            return Err("n_positions is 0".into());
        }
        Ok(())
    }

    /// Decoder layers (`num_decoder_layers`, else as many as the encoder).
    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    /// Whether the last hidden state is scaled by `d_model^-0.5` before the output projection.
    pub fn scales_decoder_output(&self) -> bool {
        self.scale_decoder_outputs
            .unwrap_or(self.tie_word_embeddings != Some(false))
    }

    /// Padding id (T5: 0).
    pub fn pad_id(&self) -> u32 {
        self.pad_token_id.unwrap_or(0)
    }

    /// End-of-sequence id (T5: 1).
    pub fn eos_id(&self) -> u32 {
        match &self.eos_token_id {
            Some(OneOrMany::One(x)) => *x,
            Some(OneOrMany::Many(v)) => v.first().copied().unwrap_or(1),
            None => 1,
        }
    }

    /// The token every decoded sequence starts with (the pad token for T5).
    pub fn decoder_start(&self) -> u32 {
        self.decoder_start_token_id.unwrap_or(self.pad_id())
    }

    /// Source budget the pipeline splits at (see the module docs).
    pub fn max_source_len(&self) -> usize {
        self.n_positions.unwrap_or(DEFAULT_MAX_SOURCE_LEN)
    }

    /// (activation, gated) from `feed_forward_proj`, as transformers' `T5Config` reads it.
    pub(super) fn ffn(&self) -> Option<(Activation, bool)> {
        let parts: Vec<&str> = self.feed_forward_proj.split('-').collect();
        let (gated, act) = match parts.as_slice() {
            [act] => (false, *act),
            ["gated", act] => (true, *act),
            _ => return None,
        };
        // transformers maps `gated-gelu` to the tanh approximation (`gelu_new`) for old checkpoints.
        let act = if self.feed_forward_proj == "gated-gelu" {
            "gelu_new"
        } else {
            act
        };
        Some((Activation::from_name(act)?, gated))
    }
}

/// T5's relative position bucket of `relative = key_position - query_position` (Mesh TensorFlow's
/// scheme as transformers computes it, logarithm in f32): half the buckets are exact small
/// distances, the rest grow logarithmically up to `max_distance`. Bidirectional buckets split
/// the range between keys before and after the query; unidirectional ones map every key after
/// the query to bucket 0.
pub fn relative_position_bucket(
    relative: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> u32 {
    let mut buckets = num_buckets as i64;
    let mut base = 0i64;
    let distance = if bidirectional {
        buckets /= 2;
        if relative > 0 {
            base = buckets;
        }
        relative.abs()
    } else {
        (-relative).max(0)
    };
    let max_exact = buckets / 2;
    let bucket = if distance < max_exact {
        distance
    } else {
        let ratio = (distance as f32 / max_exact as f32).ln()
            / ((max_distance as f64 / max_exact as f64).ln() as f32)
            * (buckets - max_exact) as f32;
        (max_exact + ratio as i64).min(buckets - 1)
    };
    (base + bucket) as u32
}
