//! T5 encoder-decoder, as transformers' `T5ForConditionalGeneration` defines it (Raffel et al.,
//! "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer", 2020):
//! original T5, T5 v1.1, flan-T5 and MADLAD-400 checkpoints.
//!
//! Pre-norm layers with T5's scale-only layer norm; no attention scaling; no position embeddings
//! but a learned relative position bias, computed from the first layer's table and added in every
//! layer: bidirectional buckets in the encoder, causal ones in the decoder. At decoding step `t`
//! the one query sits at position `t` and attends to keys `0..=t`, so the bias is right at every
//! step with the cache. The encoder takes a padding mask; cross-attention keys/values are computed
//! once per batch and shared by a sentence's beams; the decoder keeps a self-attention cache.
//! Tied checkpoints (no `lm_head.weight`) scale the last hidden state by `d_model^-0.5` before the
//! shared embedding; untied ones (`tie_word_embeddings: false`) use `lm_head` unscaled.
//!
//! T5 has no hard source-length limit (relative positions extrapolate). [`T5::max_source_len`]
//! is the budget the pipeline splits sentences at: `n_positions` from config.json when present,
//! else 512 (the length T5 was trained at). The decoder limit ([`MAX_TARGET_LEN`]) is a generous 1024 tokens.
//! In f16, T5 activations can overflow (transformers keeps `wo` in f32 for that); prefer bf16/f32.
//!
//! This module never sees text, files other than tensors, or the hub.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use serde::Deserialize;

use super::attention::{padding_bias, Activation, Attention, Dense, RmsNorm};
use super::state::DecoderState;
use super::weights::Weights;
use crate::decode::Seq2Seq;
use crate::error::Result;

/// Source budget when config.json sets no `n_positions`.
pub const DEFAULT_MAX_SOURCE_LEN: usize = 512;
/// Longest decoder output tolk allows a T5 model (it has no position table to run out of).
pub const MAX_TARGET_LEN: usize = 1024;

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
        super::read_config(path, "T5", Self::validate)
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
    fn ffn(&self) -> Option<(Activation, bool)> {
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

enum FeedForward {
    Plain { wi: Dense, wo: Dense },
    Gated { wi_0: Dense, wi_1: Dense, wo: Dense },
}

struct Ffn {
    dense: FeedForward,
    act: Activation,
    norm: RmsNorm,
}

impl Ffn {
    fn load(w: &Weights, prefix: &str, cfg: &T5Config) -> Result<Self> {
        let (act, gated) = cfg.ffn().unwrap_or((Activation::Relu, false));
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        let p = |n: &str| format!("{prefix}.DenseReluDense.{n}");
        let dense = if gated {
            FeedForward::Gated {
                wi_0: Dense::load(w, &p("wi_0"), d, ff, false)?,
                wi_1: Dense::load(w, &p("wi_1"), d, ff, false)?,
                wo: Dense::load(w, &p("wo"), ff, d, false)?,
            }
        } else {
            FeedForward::Plain {
                wi: Dense::load(w, &p("wi"), d, ff, false)?,
                wo: Dense::load(w, &p("wo"), ff, d, false)?,
            }
        };
        let norm = RmsNorm::load(
            w,
            &format!("{prefix}.layer_norm"),
            d,
            cfg.layer_norm_epsilon as f32,
        )?;
        Ok(Self { dense, act, norm })
    }

    /// `x + FFN(norm(x))`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.norm.forward(x)?;
        let h = match &self.dense {
            FeedForward::Plain { wi, wo } => wo.forward(&self.act.apply(&wi.forward(&h)?)?)?,
            FeedForward::Gated { wi_0, wi_1, wo } => {
                let gate = self.act.apply(&wi_0.forward(&h)?)?;
                wo.forward(&(gate * wi_1.forward(&h)?)?)?
            }
        };
        x + h
    }
}

/// An attention sub-layer with its pre-norm.
struct AttnBlock {
    attn: Attention,
    norm: RmsNorm,
}

impl AttnBlock {
    fn load(w: &Weights, prefix: &str, name: &str, cfg: &T5Config) -> Result<Self> {
        let inner = cfg.num_heads * cfg.d_kv;
        let d = cfg.d_model;
        let p = |n: &str| format!("{prefix}.{name}.{n}");
        let attn = Attention::new(
            Dense::load(w, &p("q"), d, inner, false)?,
            Dense::load(w, &p("k"), d, inner, false)?,
            Dense::load(w, &p("v"), d, inner, false)?,
            Dense::load(w, &p("o"), inner, d, false)?,
            cfg.num_heads,
            cfg.d_kv,
            1.0,
        );
        let norm = RmsNorm::load(
            w,
            &format!("{prefix}.layer_norm"),
            d,
            cfg.layer_norm_epsilon as f32,
        )?;
        Ok(Self { attn, norm })
    }
}

struct EncoderLayer {
    self_attn: AttnBlock,
    ffn: Ffn,
}

struct DecoderLayer {
    self_attn: AttnBlock,
    cross_attn: AttnBlock,
    ffn: Ffn,
}

/// A loaded T5 model.
pub struct T5 {
    cfg: T5Config,
    embed: Tensor,
    /// `[buckets, heads]` tables of the first encoder / decoder layer.
    enc_rel_bias: Tensor,
    dec_rel_bias: Tensor,
    encoder: Vec<EncoderLayer>,
    enc_norm: RmsNorm,
    decoder: Vec<DecoderLayer>,
    dec_norm: RmsNorm,
    lm_head: Dense,
    output_scale: Option<f64>,
    device: Device,
    dtype: DType,
}

/// Decoder-side state for a batch of rows: encoder memory, cross K/V, self-attention caches.
///
/// As for Marian, the encoder memory (cross K/V and its padding bias) has one row per group of
/// `group` consecutive decoder rows, so a sentence's beams share it without copies.
pub type T5State = DecoderState;

impl T5 {
    /// Build the model from a config and checkpoint tensors.
    pub fn new(cfg: T5Config, w: &Weights) -> Result<Self> {
        let (d, vocab) = (cfg.d_model, cfg.vocab_size);
        let embed = w.get_first(
            &[
                "shared.weight",
                "encoder.embed_tokens.weight",
                "decoder.embed_tokens.weight",
            ],
            &[vocab, d],
        )?;
        // The checkpoint decides the head: its own `lm_head.weight` (untied) or the shared table.
        let lm_head = if let Some(q) = w.quantized("lm_head.weight", &[vocab, d])? {
            Dense::quantized(q, None)?
        } else if w.contains("lm_head.weight") {
            Dense::new(w.get("lm_head.weight", &[vocab, d])?, None)?
        } else {
            Dense::new(embed.clone(), None)?
        };
        let nb = cfg.relative_attention_num_buckets;
        let rel = |stack: &str| {
            w.get(
                &format!("{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
                &[nb, cfg.num_heads],
            )
        };
        let enc_rel_bias = rel("encoder")?;
        let dec_rel_bias = rel("decoder")?;
        let eps = cfg.layer_norm_epsilon as f32;
        let encoder = (0..cfg.num_layers)
            .map(|i| {
                let p = format!("encoder.block.{i}.layer");
                Ok(EncoderLayer {
                    self_attn: AttnBlock::load(w, &format!("{p}.0"), "SelfAttention", &cfg)?,
                    ffn: Ffn::load(w, &format!("{p}.1"), &cfg)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..cfg.decoder_layers())
            .map(|i| {
                let p = format!("decoder.block.{i}.layer");
                Ok(DecoderLayer {
                    self_attn: AttnBlock::load(w, &format!("{p}.0"), "SelfAttention", &cfg)?,
                    cross_attn: AttnBlock::load(w, &format!("{p}.1"), "EncDecAttention", &cfg)?,
                    ffn: Ffn::load(w, &format!("{p}.2"), &cfg)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            enc_norm: RmsNorm::load(w, "encoder.final_layer_norm", d, eps)?,
            dec_norm: RmsNorm::load(w, "decoder.final_layer_norm", d, eps)?,
            output_scale: cfg.scales_decoder_output().then(|| (d as f64).powf(-0.5)),
            cfg,
            embed,
            enc_rel_bias,
            dec_rel_bias,
            encoder,
            decoder,
            lm_head,
            device: w.device().clone(),
            dtype: w.dtype(),
        })
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &T5Config {
        &self.cfg
    }

    /// Source budget in tokens (end-of-sequence included); see the module docs.
    pub fn max_source_len(&self) -> usize {
        self.cfg.max_source_len()
    }

    /// Position bias `[1, heads, queries, keys]` for queries at `q_start..q_start + queries`.
    fn position_bias(
        &self,
        table: &Tensor,
        bidirectional: bool,
        q_start: usize,
        queries: usize,
        keys: usize,
    ) -> Result<Tensor> {
        let (nb, md) = (
            self.cfg.relative_attention_num_buckets,
            self.cfg.relative_attention_max_distance,
        );
        let mut ids = Vec::with_capacity(queries * keys);
        for q in q_start..q_start + queries {
            for k in 0..keys {
                ids.push(relative_position_bucket(
                    k as i64 - q as i64,
                    bidirectional,
                    nb,
                    md,
                ));
            }
        }
        let ids = Tensor::from_vec(ids, queries * keys, &self.device)?;
        let bias = table
            .index_select(&ids, 0)?
            .reshape((queries, keys, self.cfg.num_heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .contiguous()?;
        Ok(bias)
    }

    /// Token embeddings `[b, t, d]`.
    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        Ok(self
            .embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, ()))?)
    }

    /// Run the encoder: `ids`/`mask` are `[b, s]` (u32; mask 1 = token, 0 = padding). Returns
    /// the final hidden states and the `[b, 1, 1, s]` padding bias.
    pub fn encode_hidden(&self, ids: &Tensor, mask: &Tensor) -> Result<(Tensor, Tensor)> {
        let s = ids.dim(1)?;
        let pad = padding_bias(mask, self.dtype)?;
        // One [b, heads, s, s] bias for every layer: relative positions plus padding.
        let bias = self
            .position_bias(&self.enc_rel_bias, true, 0, s, s)?
            .broadcast_add(&pad)?;
        let mut x = self.embed(ids)?;
        for layer in &self.encoder {
            let h = layer.self_attn.norm.forward(&x)?;
            let (k, v) = layer.self_attn.attn.key_values(&h)?;
            x = (x + layer.self_attn.attn.attend(&h, &k, &v, Some(&bias))?)?;
            x = layer.ffn.forward(&x)?;
        }
        Ok((self.enc_norm.forward(&x)?, pad))
    }
}

impl Seq2Seq for T5 {
    type State = T5State;

    fn encode(&self, ids: &Tensor, mask: &Tensor) -> Result<T5State> {
        let (memory, memory_bias) = self.encode_hidden(ids, mask)?;
        let cross = self
            .decoder
            .iter()
            .map(|l| l.cross_attn.attn.key_values(&memory))
            .collect::<candle_core::Result<Vec<_>>>()?;
        DecoderState::new(memory_bias, cross)
    }

    fn step(&self, state: &mut T5State, tokens: &Tensor) -> Result<Tensor> {
        let rows = tokens.dim(0)?;
        let mut x = self.embed(&tokens.reshape((rows, 1))?)?;
        let t = state.position;
        // The query is at position t, the keys at 0..=t.
        let self_bias = self.position_bias(&self.dec_rel_bias, false, t, 1, t + 1)?;
        for (i, layer) in self.decoder.iter().enumerate() {
            let h = layer.self_attn.norm.forward(&x)?;
            let (k, v) = layer.self_attn.attn.key_values(&h)?;
            let (k, v) = state.self_kv[i].append(k, v)?;
            x = (x + layer.self_attn.attn.attend(&h, &k, &v, Some(&self_bias))?)?;
            let h = layer.cross_attn.norm.forward(&x)?;
            let (ck, cv) = &state.cross[i];
            let c = layer.cross_attn.attn.attend_grouped(
                &h,
                ck,
                cv,
                Some(&state.memory_bias),
                state.group,
            )?;
            x = (x + c)?;
            x = layer.ffn.forward(&x)?;
        }
        state.position += 1;
        let mut x = self.dec_norm.forward(&x)?.reshape((rows, ()))?;
        if let Some(scale) = self.output_scale {
            x = (x * scale)?;
        }
        Ok(self.lm_head.forward(&x)?.to_dtype(DType::F32)?)
    }

    fn select(&self, state: &mut T5State, wanted: &[u32]) -> Result<()> {
        state.select(wanted, &self.device)
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn pad_id(&self) -> u32 {
        self.cfg.pad_id()
    }

    fn max_source_len(&self) -> usize {
        self.cfg.max_source_len()
    }

    fn max_target_len(&self) -> usize {
        MAX_TARGET_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_transformers() {
        // Values printed by transformers 5.24 T5Attention._relative_position_bucket.
        let rel: Vec<i64> = vec![
            -200, -128, -100, -40, -17, -9, -8, -7, -1, 0, 1, 7, 8, 9, 17, 40, 100, 200,
        ];
        let bi: Vec<u32> = rel
            .iter()
            .map(|&r| relative_position_bucket(r, true, 32, 128))
            .collect();
        assert_eq!(
            bi,
            vec![15, 15, 15, 12, 10, 8, 8, 7, 1, 0, 17, 23, 24, 24, 26, 28, 31, 31]
        );
        let uni: Vec<u32> = rel
            .iter()
            .map(|&r| relative_position_bucket(r, false, 32, 128))
            .collect();
        assert_eq!(
            uni,
            vec![31, 31, 30, 23, 16, 9, 8, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn unidirectional_buckets_never_look_ahead() {
        for r in 1..50 {
            assert_eq!(relative_position_bucket(r, false, 8, 20), 0);
        }
        // Far keys share the last bucket.
        assert_eq!(relative_position_bucket(-10_000, false, 8, 20), 7);
        assert_eq!(relative_position_bucket(10_000, true, 8, 20), 7);
        assert_eq!(relative_position_bucket(-10_000, true, 8, 20), 3);
    }

    fn cfg(extra: serde_json::Value) -> std::result::Result<T5Config, String> {
        let mut base = serde_json::json!({
            "vocab_size": 10, "d_model": 8, "d_kv": 4, "d_ff": 8, "num_layers": 1, "num_heads": 2
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        let c: T5Config = serde_json::from_value(base).map_err(|e| e.to_string())?;
        c.validate().map(|_| c)
    }

    #[test]
    fn config_defaults_and_scaling_rules() {
        let c = cfg(serde_json::json!({})).unwrap();
        assert_eq!((c.pad_id(), c.eos_id(), c.decoder_start()), (0, 1, 0));
        assert_eq!(c.decoder_layers(), 1);
        assert_eq!(c.max_source_len(), DEFAULT_MAX_SOURCE_LEN);
        assert!(c.scales_decoder_output());
        let c = cfg(serde_json::json!({"tie_word_embeddings": false, "n_positions": 256})).unwrap();
        assert!(!c.scales_decoder_output());
        assert_eq!(c.max_source_len(), 256);
        // transformers 5 writes tie_word_embeddings true with scale_decoder_outputs false.
        let c =
            cfg(serde_json::json!({"tie_word_embeddings": true, "scale_decoder_outputs": false}))
                .unwrap();
        assert!(!c.scales_decoder_output());
        assert_eq!(
            cfg(serde_json::json!({"feed_forward_proj": "gated-gelu"}))
                .unwrap()
                .ffn(),
            Some((Activation::GeluTanh, true))
        );
        assert_eq!(
            cfg(serde_json::json!({"feed_forward_proj": "gelu"}))
                .unwrap()
                .ffn(),
            Some((Activation::Gelu, false))
        );
    }

    #[test]
    fn config_validation_names_the_problem() {
        let err = cfg(serde_json::json!({"feed_forward_proj": "gated-mish"})).unwrap_err();
        assert!(err.contains("gated-mish"), "{err}");
        let err = cfg(serde_json::json!({"eos_token_id": 10})).unwrap_err();
        assert!(err.contains("eos_token_id"), "{err}");
        let err = cfg(serde_json::json!({"model_type": "mt5"})).unwrap_err();
        assert!(err.contains("mt5"), "{err}");
    }
}
