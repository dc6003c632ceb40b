//! A Marian model with deterministic pseudo-random weights, built from a `config.json` alone:
//! every tensor the checkpoint would hold, with the checkpoint's names and shapes, so that
//! speed and memory can be measured at real model sizes without downloading anything.
//!
//! The numbers are meaningless for translation. Nothing here touches the network or any file
//! other than the config (and a `generation_config.json` beside it, when present).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::arch::{Marian, MarianConfig, Weights};
use crate::decode::GenerationConfig;
use crate::error::Result;

/// SplitMix64: a small, fast, seedable generator (deterministic across platforms).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn next_signed(&mut self) -> f32 {
        // 24 random bits: exactly representable in f32.
        ((self.next_u64() >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * n as f64) as usize % n.max(1)
    }
}

/// Standard deviation of the random matrices (like a trained Marian's typical weights).
const STD: f32 = 0.05;

/// `values` uniform with mean `mean` and standard deviation `std`.
fn uniform(rng: &mut SplitMix64, shape: &[usize], mean: f32, std: f32) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let half_width = std * 3f32.sqrt();
    let data: Vec<f32> = (0..n)
        .map(|_| mean + half_width * rng.next_signed())
        .collect();
    Ok(Tensor::from_vec(data, shape, &Device::Cpu)?)
}

/// Every tensor of a transformers `MarianMTModel` checkpoint for `cfg`, on the CPU in f32,
/// filled from `seed`. Tied matrices are stored once, as transformers saves them.
pub fn marian_tensors(cfg: &MarianConfig, seed: u64) -> Result<HashMap<String, Tensor>> {
    let mut rng = SplitMix64::new(seed);
    let mut out = HashMap::new();
    let d = cfg.d_model;
    let (src_vocab, tgt_vocab) = (cfg.vocab_size, cfg.target_vocab_size());
    let mut put = |name: String, shape: &[usize], mean: f32, std: f32| -> Result<()> {
        out.insert(name, uniform(&mut rng, shape, mean, std)?);
        Ok(())
    };
    if cfg.share_encoder_decoder_embeddings {
        put("model.shared.weight".into(), &[src_vocab, d], 0.0, STD)?;
    } else {
        put(
            "model.encoder.embed_tokens.weight".into(),
            &[src_vocab, d],
            0.0,
            STD,
        )?;
        put(
            "model.decoder.embed_tokens.weight".into(),
            &[tgt_vocab, d],
            0.0,
            STD,
        )?;
    }
    if !cfg.tie_word_embeddings {
        put("lm_head.weight".into(), &[tgt_vocab, d], 0.0, STD)?;
    }
    put("final_logits_bias".into(), &[1, tgt_vocab], 0.0, STD)?;
    if cfg.stored_positions {
        for side in ["encoder", "decoder"] {
            let name = format!("model.{side}.embed_positions.weight");
            put(name, &[cfg.max_position_embeddings, d], 0.0, 0.5)?;
        }
    }
    let mut layer = |prefix: String, cross: bool, ffn: usize| -> Result<()> {
        let mut attention = |name: &str| -> Result<()> {
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                put(format!("{prefix}.{name}.{proj}.weight"), &[d, d], 0.0, STD)?;
                put(format!("{prefix}.{name}.{proj}.bias"), &[d], 0.0, STD / 2.0)?;
            }
            put(format!("{prefix}.{name}_layer_norm.weight"), &[d], 1.0, 0.1)?;
            put(format!("{prefix}.{name}_layer_norm.bias"), &[d], 0.0, 0.1)
        };
        attention("self_attn")?;
        if cross {
            attention("encoder_attn")?;
        }
        put(format!("{prefix}.fc1.weight"), &[ffn, d], 0.0, STD)?;
        put(format!("{prefix}.fc1.bias"), &[ffn], 0.0, STD / 2.0)?;
        put(format!("{prefix}.fc2.weight"), &[d, ffn], 0.0, STD)?;
        put(format!("{prefix}.fc2.bias"), &[d], 0.0, STD / 2.0)?;
        put(format!("{prefix}.final_layer_norm.weight"), &[d], 1.0, 0.1)?;
        put(format!("{prefix}.final_layer_norm.bias"), &[d], 0.0, 0.1)
    };
    for i in 0..cfg.encoder_layers {
        layer(
            format!("model.encoder.layers.{i}"),
            false,
            cfg.encoder_ffn_dim,
        )?;
    }
    for i in 0..cfg.decoder_layers {
        layer(
            format!("model.decoder.layers.{i}"),
            true,
            cfg.decoder_ffn_dim,
        )?;
    }
    Ok(out)
}

/// A random-weight Marian for the `config.json` at `config_json`, in `dtype` on `device`
/// (linear layers quantized to int8 when `int8`), and its decoding defaults (from a
/// `generation_config.json` beside the config when there is one, else the config itself).
pub fn random_marian(
    config_json: &Path,
    seed: u64,
    dtype: DType,
    device: &Device,
    int8: bool,
) -> Result<(Marian, GenerationConfig)> {
    let cfg = MarianConfig::from_file(config_json)?;
    let generation_json = config_json.with_file_name("generation_config.json");
    let generation = GenerationConfig::from_model_files(
        config_json,
        generation_json
            .is_file()
            .then_some(generation_json.as_path()),
    )?;
    let tensors = marian_tensors(&cfg, seed)?;
    let mut weights = Weights::from_tensors(
        tensors,
        config_json.with_file_name("(random weights)"),
        dtype,
        device,
    );
    if int8 {
        weights.quantize_linear()?;
    }
    let model = Marian::new(cfg, &weights)?;
    Ok((model, generation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{generate, Seq2Seq};

    fn tiny_config(dir: &Path) -> std::path::PathBuf {
        let p = dir.join("config.json");
        let cfg = serde_json::json!({
            "vocab_size": 50, "d_model": 32, "encoder_layers": 1, "decoder_layers": 2,
            "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64,
            "decoder_ffn_dim": 64, "max_position_embeddings": 40, "pad_token_id": 49,
            "eos_token_id": 0, "decoder_start_token_id": 49
        });
        std::fs::write(&p, cfg.to_string()).unwrap();
        p
    }

    #[test]
    fn generator_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<f32> = (0..1000).map(|_| a.next_signed()).collect();
        let ys: Vec<f32> = (0..1000).map(|_| b.next_signed()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f32>() / 1000.0;
        assert!(mean.abs() < 0.1, "{mean}");
        assert!((0..1000).all(|_| a.below(3) < 3));
    }

    #[test]
    fn random_model_has_checkpoint_shapes_and_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let p = tiny_config(dir.path());
        let cfg = MarianConfig::from_file(&p).unwrap();
        let t = marian_tensors(&cfg, 1).unwrap();
        assert_eq!(t["model.shared.weight"].dims(), &[50, 32]);
        assert_eq!(t["model.decoder.layers.1.fc2.weight"].dims(), &[32, 64]);
        assert_eq!(t["final_logits_bias"].dims(), &[1, 50]);
        assert!(!t.contains_key("lm_head.weight"));
        // Shared embedding and logits bias, 16 tensors per encoder layer, 26 per decoder layer.
        assert_eq!(t.len(), 2 + 16 + 2 * 26);
        let same = marian_tensors(&cfg, 1).unwrap();
        let w = |m: &HashMap<String, Tensor>| -> Vec<f32> {
            m["model.encoder.layers.0.fc1.weight"]
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        assert_eq!(w(&t), w(&same));
        assert_ne!(w(&t), w(&marian_tensors(&cfg, 2).unwrap()));

        for int8 in [false, true] {
            let (model, mut gen) = random_marian(&p, 3, DType::F32, &Device::Cpu, int8).unwrap();
            assert_eq!(model.vocab_size(), 50);
            gen.max_new_tokens = Some(5);
            gen.min_new_tokens = 5;
            let out = generate(&model, &[vec![3, 4, 5, 0]], &gen).unwrap();
            assert_eq!(out[0].tokens.len(), 5);
        }
    }

    #[test]
    fn missing_config_is_a_clear_error() {
        let err = random_marian(
            Path::new("/nonexistent/config.json"),
            0,
            DType::F32,
            &Device::Cpu,
            false,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("/nonexistent/config.json"), "{err}");
    }
}
