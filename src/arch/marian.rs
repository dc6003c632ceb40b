//! Marian (OPUS-MT) encoder-decoder transformer, as transformers' `MarianMTModel` defines it
//! (Junczys-Dowmunt et al., "Marian: Fast Neural Machine Translation in C++", 2018).
//!
//! Post-norm layers, sinusoidal positions (sin half then cos half), optional embedding scaling,
//! `final_logits_bias`, shared or separate encoder/decoder vocabularies. The encoder takes a
//! padding mask; cross-attention keys/values are computed once per batch; the decoder keeps a
//! self-attention cache that can be reordered for beam search or shrunk when rows finish.
//!
//! This module never sees text, files other than tensors, or the hub.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use serde::Deserialize;

use super::attention::{padding_bias, Activation, Attention, Dense, LayerNorm};
use super::embedding::Embedding;
use super::state::DecoderState;
use super::weights::Weights;
use crate::decode::Seq2Seq;
use crate::error::{Error, Result};

/// The fields of a Marian `config.json` that shape the network.
#[derive(Debug, Clone, Deserialize)]
pub struct MarianConfig {
    pub vocab_size: usize,
    #[serde(default)]
    pub decoder_vocab_size: Option<usize>,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    #[serde(default = "default_activation")]
    pub activation_function: String,
    pub max_position_embeddings: usize,
    #[serde(default = "yes")]
    pub scale_embedding: bool,
    pub pad_token_id: u32,
    pub eos_token_id: u32,
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    #[serde(default = "yes")]
    pub share_encoder_decoder_embeddings: bool,
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub normalize_before: bool,
    #[serde(default)]
    pub model_type: Option<String>,
    /// Layer-norm epsilon (transformers' Marian: 1e-5; converted native Marian models may differ).
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    /// Take the position table from the checkpoint (`model.encoder.embed_positions.weight`)
    /// instead of computing the sinusoids (for converted models whose table differs).
    #[serde(default)]
    pub stored_positions: bool,
    /// The first decoder input is a zero vector rather than the start token's embedding
    /// (native Marian; CTranslate2's `start_from_zero_embedding`).
    #[serde(default)]
    pub start_from_zero_embedding: bool,
}

fn default_ln_eps() -> f64 {
    1e-5
}

fn default_activation() -> String {
    "swish".into()
}
fn yes() -> bool {
    true
}

impl MarianConfig {
    /// Read and validate `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        super::read_config(path, "Marian/OPUS-MT", Self::validate)
    }

    /// Check the values that would otherwise fail deep inside a tensor operation.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(t) = &self.model_type {
            if t != "marian" {
                return Err(format!("model_type is `{t}`, expected `marian`"));
            }
        }
        if self.normalize_before {
            return Err(
                "normalize_before=true (pre-norm) is not a Marian layout tolk supports".into(),
            );
        }
        for (name, heads) in [
            ("encoder_attention_heads", self.encoder_attention_heads),
            ("decoder_attention_heads", self.decoder_attention_heads),
        ] {
            if heads == 0 || !self.d_model.is_multiple_of(heads) {
                return Err(format!(
                    "d_model {} is not divisible by {name} {heads}",
                    self.d_model
                ));
            }
        }
        if Activation::from_name(&self.activation_function).is_none() {
            return Err(format!(
                "activation_function `{}` is not supported (swish, silu, gelu, gelu_new, relu are)",
                self.activation_function
            ));
        }
        let dec_vocab = self.target_vocab_size();
        if self.vocab_size == 0 || dec_vocab == 0 || self.pad_token_id as usize >= dec_vocab {
            return Err(format!(
                "vocabulary sizes {} / {dec_vocab} do not hold pad_token_id {}",
                self.vocab_size, self.pad_token_id
            ));
        }
        if self.max_position_embeddings == 0 {
            return Err("max_position_embeddings is 0".into());
        }
        Ok(())
    }

    /// Size of the decoder (target) vocabulary.
    pub fn target_vocab_size(&self) -> usize {
        self.decoder_vocab_size.unwrap_or(self.vocab_size)
    }

    /// The token every decoded sequence starts with (the pad token, for Marian).
    pub fn decoder_start(&self) -> u32 {
        self.decoder_start_token_id.unwrap_or(self.pad_token_id)
    }

    fn activation(&self) -> Activation {
        Activation::from_name(&self.activation_function).unwrap_or(Activation::Silu)
    }
}

/// Sinusoidal position table `[n_pos, dim]`: sines in the first half, cosines in the second.
pub fn sinusoidal_positions(n_pos: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim.div_ceil(2);
    let mut table = vec![0f32; n_pos * dim];
    for pos in 0..n_pos {
        let row = &mut table[pos * dim..(pos + 1) * dim];
        for j in 0..dim {
            // Angle of column j in numpy's construction: pos / 10000^(2*(j/2)/dim), computed in f64.
            let angle = pos as f64 / 10000f64.powf((2 * (j / 2)) as f64 / dim as f64);
            if j % 2 == 0 {
                row[j / 2] = angle.sin() as f32;
            } else {
                row[half + j / 2] = angle.cos() as f32;
            }
        }
    }
    Ok(Tensor::from_vec(table, (n_pos, dim), device)?)
}

/// `fc2(act(fc1(x)))`, the activation carried by `fc1`.
struct FeedForward {
    fc1: Dense,
    fc2: Dense,
}

impl FeedForward {
    fn load(w: &Weights, prefix: &str, d: usize, ffn: usize, act: Activation) -> Result<Self> {
        Ok(Self {
            fc1: Dense::load(w, &format!("{prefix}.fc1"), d, ffn, true)?.with_activation(act),
            fc2: Dense::load(w, &format!("{prefix}.fc2"), ffn, d, true)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?)
    }
}

struct EncoderLayer {
    attn: Attention,
    attn_norm: LayerNorm,
    ffn: FeedForward,
    ffn_norm: LayerNorm,
}

struct DecoderLayer {
    self_attn: Attention,
    self_norm: LayerNorm,
    cross_attn: Attention,
    cross_norm: LayerNorm,
    ffn: FeedForward,
    ffn_norm: LayerNorm,
}

/// A loaded Marian model.
pub struct Marian {
    cfg: MarianConfig,
    enc_embed: Embedding,
    dec_embed: Embedding,
    positions: Tensor,
    embed_scale: f64,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    lm_head: Dense,
    /// Added to the logits unless the output projection adds it.
    final_logits_bias: Option<Tensor>,
    device: Device,
    dtype: DType,
}

/// Decoder-side state for a batch of rows: encoder memory, cross K/V, self-attention caches.
///
/// The encoder memory (cross K/V and its padding bias) has one row per *group* of `group`
/// consecutive decoder rows: the beams of one sentence share their sentence's memory, so
/// reordering beams never copies it, and it is only cut down when whole sentences finish.
pub type MarianState = DecoderState;

impl Marian {
    /// Build the model from a config and checkpoint tensors.
    pub fn new(cfg: MarianConfig, w: &Weights) -> Result<Self> {
        let d = cfg.d_model;
        let src_vocab = cfg.vocab_size;
        let tgt_vocab = cfg.target_vocab_size();
        let (enc_embed, dec_embed) = if cfg.share_encoder_decoder_embeddings {
            let names = [
                "model.shared.weight",
                "model.encoder.embed_tokens.weight",
                "model.decoder.embed_tokens.weight",
            ];
            let e = Embedding::load(w, &names, [src_vocab, d])?;
            (e.clone(), e)
        } else {
            (
                Embedding::load(
                    w,
                    &["model.encoder.embed_tokens.weight", "model.shared.weight"],
                    [src_vocab, d],
                )?,
                Embedding::load(w, &["model.decoder.embed_tokens.weight"], [tgt_vocab, d])?,
            )
        };
        // The checkpoint's output projection (int8, quantized or float), else the tied embedding.
        let tied = cfg.tie_word_embeddings.then_some(&dec_embed);
        let lm_head = Dense::load_weight(w, "lm_head.weight", d, tgt_vocab, None, tied)?;
        let mut lm_head = lm_head;
        let final_logits_bias = if w.contains("final_logits_bias") {
            let b = w.get_as("final_logits_bias", &[tgt_vocab], DType::F32)?;
            // Added inside the output projection's kernel where it can be.
            (!lm_head.fold_bias(&b)?).then_some(b)
        } else {
            None
        };
        let act = cfg.activation();
        let eps = cfg.layer_norm_eps as f32;
        let encoder = (0..cfg.encoder_layers)
            .map(|i| {
                let p = format!("model.encoder.layers.{i}");
                Ok(EncoderLayer {
                    attn: Attention::load(
                        w,
                        &format!("{p}.self_attn"),
                        d,
                        cfg.encoder_attention_heads,
                    )?,
                    attn_norm: LayerNorm::load(w, &format!("{p}.self_attn_layer_norm"), d, eps)?,
                    ffn: FeedForward::load(w, &p, d, cfg.encoder_ffn_dim, act)?,
                    ffn_norm: LayerNorm::load(w, &format!("{p}.final_layer_norm"), d, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..cfg.decoder_layers)
            .map(|i| {
                let p = format!("model.decoder.layers.{i}");
                let heads = cfg.decoder_attention_heads;
                Ok(DecoderLayer {
                    self_attn: Attention::load(w, &format!("{p}.self_attn"), d, heads)?,
                    self_norm: LayerNorm::load(w, &format!("{p}.self_attn_layer_norm"), d, eps)?,
                    cross_attn: Attention::load(w, &format!("{p}.encoder_attn"), d, heads)?,
                    cross_norm: LayerNorm::load(
                        w,
                        &format!("{p}.encoder_attn_layer_norm"),
                        d,
                        eps,
                    )?,
                    ffn: FeedForward::load(w, &p, d, cfg.decoder_ffn_dim, act)?,
                    ffn_norm: LayerNorm::load(w, &format!("{p}.final_layer_norm"), d, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let positions = if cfg.stored_positions {
            let names = [
                "model.encoder.embed_positions.weight",
                "model.decoder.embed_positions.weight",
            ];
            w.get_first(&names, &[cfg.max_position_embeddings, d])?
        } else {
            sinusoidal_positions(cfg.max_position_embeddings, d, w.device())?.to_dtype(w.dtype())?
        };
        Ok(Self {
            embed_scale: if cfg.scale_embedding {
                (d as f64).sqrt()
            } else {
                1.0
            },
            lm_head,
            cfg,
            enc_embed,
            dec_embed,
            positions,
            encoder,
            decoder,
            final_logits_bias,
            device: w.device().clone(),
            dtype: w.dtype(),
        })
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &MarianConfig {
        &self.cfg
    }

    /// Longest source (in tokens, end-of-sequence included) the model can encode.
    pub fn max_source_len(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    /// Scaled token embeddings plus positions from `start`; `zero` replaces the tokens' embeddings by zeros.
    fn embed(&self, table: &Embedding, ids: &Tensor, start: usize, zero: bool) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let x = table.lookup(ids, self.dtype, &self.device)?;
        let x = if zero {
            x.zeros_like()?
        } else {
            (x * self.embed_scale)?
        };
        let pos = self.positions.narrow(0, start, t)?;
        Ok(x.broadcast_add(&pos)?)
    }

    /// Run the encoder: `ids`/`mask` are `[b, s]` (u32; mask 1 = token, 0 = padding).
    pub fn encode_hidden(&self, ids: &Tensor, mask: &Tensor) -> Result<(Tensor, Tensor)> {
        let s = ids.dim(1)?;
        if s > self.cfg.max_position_embeddings {
            return Err(Error::InvalidArgument(format!(
                "source of {s} tokens is longer than the model's {} positions; split it first",
                self.cfg.max_position_embeddings
            )));
        }
        let bias = padding_bias(mask, self.dtype)?;
        let mut x = self.embed(&self.enc_embed, ids, 0, false)?;
        for layer in &self.encoder {
            let (k, v) = layer.attn.key_values(&x)?;
            let h = layer.attn.attend(&x, &k, &v, Some(&bias))?;
            x = layer.attn_norm.forward(&(x + h)?)?;
            let h = layer.ffn.forward(&x)?;
            x = layer.ffn_norm.forward(&(x + h)?)?;
        }
        Ok((x, bias))
    }
}

impl Seq2Seq for Marian {
    type State = MarianState;

    fn encode(&self, ids: &Tensor, mask: &Tensor) -> Result<MarianState> {
        let (memory, memory_bias) = self.encode_hidden(ids, mask)?;
        let cross = self
            .decoder
            .iter()
            .map(|l| l.cross_attn.key_values(&memory))
            .collect::<candle_core::Result<Vec<_>>>()?;
        DecoderState::new(memory_bias, cross)
    }

    fn step(&self, state: &mut MarianState, tokens: &Tensor) -> Result<Tensor> {
        if state.position >= self.cfg.max_position_embeddings {
            return Err(Error::InvalidArgument(format!(
                "decoding past the model's {} positions",
                self.cfg.max_position_embeddings
            )));
        }
        let rows = tokens.dim(0)?;
        let ids = tokens.reshape((rows, 1))?;
        // Native Marian starts decoding from a zero vector, whatever the start token is.
        let zero = state.position == 0 && self.cfg.start_from_zero_embedding;
        let mut x = self.embed(&self.dec_embed, &ids, state.position, zero)?;
        for (i, layer) in self.decoder.iter().enumerate() {
            let h = layer
                .self_attn
                .attend_cached(&x, &mut state.self_kv[i], None)?;
            x = layer.self_norm.forward(&(x + h)?)?;
            let (ck, cv) = &state.cross[i];
            let h = layer.cross_attn.attend_grouped(
                &x,
                ck,
                cv,
                Some(&state.memory_bias),
                state.group,
            )?;
            x = layer.cross_norm.forward(&(x + h)?)?;
            let h = layer.ffn.forward(&x)?;
            x = layer.ffn_norm.forward(&(x + h)?)?;
        }
        state.position += 1;
        let logits = self.lm_head.forward(&x.reshape((rows, ()))?)?;
        let logits = logits.to_dtype(DType::F32)?;
        Ok(match &self.final_logits_bias {
            Some(b) => logits.broadcast_add(b)?,
            None => logits,
        })
    }

    fn select(&self, state: &mut MarianState, wanted: &[u32]) -> Result<()> {
        state.select(wanted, &self.device)
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn vocab_size(&self) -> usize {
        self.cfg.target_vocab_size()
    }

    fn pad_id(&self) -> u32 {
        self.cfg.pad_token_id
    }

    fn max_source_len(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    fn max_target_len(&self) -> usize {
        self.cfg.max_position_embeddings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoidal_layout_is_sin_half_then_cos_half() {
        let t = sinusoidal_positions(3, 4, &Device::Cpu).unwrap();
        let v: Vec<Vec<f32>> = t.to_vec2().unwrap();
        // pos 0: sin(0)=0, sin(0)=0, cos(0)=1, cos(0)=1
        assert_eq!(v[0], vec![0.0, 0.0, 1.0, 1.0]);
        // pos 1: j=0 angle 1, j=2 angle 1/100
        assert!((v[1][0] - 1f32.sin()).abs() < 1e-6);
        assert!((v[1][1] - 0.01f32.sin()).abs() < 1e-6);
        assert!((v[1][2] - 1f32.cos()).abs() < 1e-6);
        assert!((v[1][3] - 0.01f32.cos()).abs() < 1e-6);
    }

    fn state(rows: usize, group: usize) -> MarianState {
        let z = Tensor::zeros((rows / group, 1, 1, 3), DType::F32, &Device::Cpu).unwrap();
        MarianState {
            memory_bias: z,
            cross: Vec::new(),
            group,
            rows,
            self_kv: Vec::new(),
            position: 0,
        }
    }

    #[test]
    fn beams_share_their_sentence_memory() {
        // Expanding 2 sentences to 3 beams each keeps 2 memory rows in groups of 3.
        assert_eq!(state(2, 1).regroup(&[0, 0, 0, 1, 1, 1]), (vec![0, 1], 3));
        // Reordering beams within sentences keeps the grouping.
        assert_eq!(state(6, 3).regroup(&[2, 0, 0, 5, 3, 4]), (vec![0, 1], 3));
        // Dropping the first sentence keeps only the second memory row.
        assert_eq!(state(6, 3).regroup(&[4, 4, 3]), (vec![1], 3));
        // Greedy rows finishing: one row per memory row.
        assert_eq!(state(3, 1).regroup(&[0, 2]), (vec![0, 2], 1));
        // Uneven groups fall back to one memory row per decoder row.
        assert_eq!(state(6, 3).regroup(&[0, 0, 3]), (vec![0, 0, 1], 1));
    }

    #[test]
    fn config_validation_names_the_problem() {
        let base = serde_json::json!({
            "vocab_size": 10, "d_model": 8, "encoder_layers": 1, "decoder_layers": 1,
            "encoder_attention_heads": 3, "decoder_attention_heads": 2, "encoder_ffn_dim": 8,
            "decoder_ffn_dim": 8, "max_position_embeddings": 16, "pad_token_id": 9, "eos_token_id": 0
        });
        let cfg: MarianConfig = serde_json::from_value(base.clone()).unwrap();
        assert!(cfg.validate().unwrap_err().contains("not divisible"));
        let mut ok = base;
        ok["encoder_attention_heads"] = 2.into();
        ok["activation_function"] = "mish".into();
        let cfg: MarianConfig = serde_json::from_value(ok).unwrap();
        assert!(cfg.validate().unwrap_err().contains("mish"));
    }
}
