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

mod config;

use candle_core::{DType, Device, Module, Tensor};

use super::attention::{padding_bias, Activation, Attention, Dense, RmsNorm};
use super::state::DecoderState;
use super::weights::Weights;
use crate::decode::Seq2Seq;
use crate::error::Result;

pub use config::{relative_position_bucket, T5Config};

/// Source budget when config.json sets no `n_positions`.
pub const DEFAULT_MAX_SOURCE_LEN: usize = 512;
/// Longest decoder output tolk allows a T5 model (it has no position table to run out of).
pub const MAX_TARGET_LEN: usize = 1024;

enum FeedForward {
    Plain { wi: Dense, wo: Dense },
    Gated { wi_0: Dense, wi_1: Dense, wo: Dense },
}

/// The feed-forward sub-layer; `wi` / `wi_0` carry the activation.
struct Ffn {
    dense: FeedForward,
    norm: RmsNorm,
}

impl Ffn {
    fn load(w: &Weights, prefix: &str, cfg: &T5Config) -> Result<Self> {
        let (act, gated) = cfg.ffn().unwrap_or((Activation::Relu, false));
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        let p = |n: &str| format!("{prefix}.DenseReluDense.{n}");
        let dense = if gated {
            FeedForward::Gated {
                wi_0: Dense::load(w, &p("wi_0"), d, ff, false)?.with_activation(act),
                wi_1: Dense::load(w, &p("wi_1"), d, ff, false)?,
                wo: Dense::load(w, &p("wo"), ff, d, false)?,
            }
        } else {
            FeedForward::Plain {
                wi: Dense::load(w, &p("wi"), d, ff, false)?.with_activation(act),
                wo: Dense::load(w, &p("wo"), ff, d, false)?,
            }
        };
        let norm = RmsNorm::load(
            w,
            &format!("{prefix}.layer_norm"),
            d,
            cfg.layer_norm_epsilon as f32,
        )?;
        Ok(Self { dense, norm })
    }

    /// `x + FFN(norm(x))`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.norm.forward(x)?;
        let h = match &self.dense {
            FeedForward::Plain { wi, wo } => wo.forward(&wi.forward(&h)?)?,
            FeedForward::Gated { wi_0, wi_1, wo } => {
                let gate = wi_0.forward(&h)?;
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
            let a = &layer.self_attn.attn;
            x = (x + a.attend_cached(&h, &mut state.self_kv[i], Some(&self_bias))?)?;
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
