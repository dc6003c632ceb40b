//! CTranslate2 `TransformerSpec` → tolk's Marian: config values from the spec's scalars and
//! shapes, tensors renamed to the transformers Marian names that `marian.rs` reads.
//!
//! Semantics follow CT2's C++ runtime (`src/layers/transformer.cc`, `common.cc`,
//! `attention.cc`): post-norm sublayers `LN(x + f(x))`; fused self-attention `linear_0` = rows
//! `[q; k; v]`, cross-attention `linear_0` = q and `linear_1` = rows `[k; v]`; embeddings
//! scaled by `sqrt(d_model)` when `scale_embeddings` is set; stored position tables added from
//! row 0 (generated ones are CT2's sinusoids of `position + 1`); with `start_from_zero_embedding`
//! the first decoder input is zero (not scaled) plus position 0. Every stored variable must be
//! used: one the Marian code has no place for is reported as unsupported, never ignored.
//!
//! With int8 kept (`int8: Some(device)`), every int8 matrix of a linear layer (and the output
//! projection) is handed over as Q8_0 blocks ([`super::quant`]) instead of f32; embeddings,
//! biases, norms and positions stay f32.

use std::collections::{HashMap, HashSet};

use candle_core::{Device, Tensor};

use super::quant::Kept;
use super::take::Take;
use super::{layer_count, Ct2Model};
use crate::arch::marian::MarianConfig;
use crate::error::{Error, Result};

/// Newest `TransformerSpec` revision whose layout tolk knows.
const MAX_REVISION: u32 = 7;
/// Rows of the generated position table for models that store none (CT2 grows it on demand).
const GENERATED_POSITIONS: usize = 1024;

/// Sizes read from the variables.
pub(super) struct Dims {
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
}

fn unsupported(what: String) -> Error {
    Error::Unsupported(format!(
        "{what}; tolk maps CTranslate2 TransformerSpec models onto its post-norm Marian \
         architecture only"
    ))
}

/// Spec, revision and top-level checks shared by [`dims`] and [`to_marian`].
fn check_spec(m: &Ct2Model) -> Result<()> {
    let b = &m.binary;
    if !matches!(
        b.spec.as_str(),
        "TransformerSpec" | "TransformerBase" | "TransformerBig" | ""
    ) {
        return Err(unsupported(format!(
            "CTranslate2 spec `{}` (revision {}) is not an encoder-decoder TransformerSpec",
            b.spec, b.revision
        )));
    }
    if b.revision < 2 || b.revision > MAX_REVISION {
        return Err(unsupported(format!(
            "`{}` spec revision {} (tolk reads revisions 2..={MAX_REVISION})",
            b.spec, b.revision
        )));
    }
    if m.config.multi_query_attention {
        return Err(unsupported(
            "config.json multi_query_attention=true".to_string(),
        ));
    }
    Ok(())
}

fn dims_of(m: &Ct2Model) -> Result<(Dims, usize)> {
    check_spec(m)?;
    let b = &m.binary;
    let emb = b
        .get("decoder/embeddings/weight")
        .ok_or_else(|| Error::CorruptModel {
            path: b.path.clone(),
            reason: "variable `decoder/embeddings/weight` is missing".into(),
        })?;
    let d_model = *emb.shape.get(1).unwrap_or(&0);
    let ffn = b
        .get("encoder/layer_0/ffn/linear_0/weight")
        .map_or(0, |v| v.shape[0]);
    let default_heads = if b.spec == "TransformerBig" { 16 } else { 8 };
    let heads = b
        .scalar_i64("encoder/num_heads")
        .or_else(|| b.scalar_i64("num_heads"))
        .map_or(default_heads, |h| h.max(0) as usize);
    let dims = Dims {
        encoder_layers: layer_count(b.names(), "encoder", &b.path)?,
        decoder_layers: layer_count(b.names(), "decoder", &b.path)?,
        d_model,
        heads,
        ffn_dim: ffn,
    };
    Ok((dims, default_heads))
}

/// The model's sizes (for summaries).
pub(super) fn dims(m: &Ct2Model) -> Result<Dims> {
    Ok(dims_of(m)?.0)
}

/// CT2's generated sinusoids: `sin`/`cos` halves of `(pos + 1) * 10000^(-j / (d/2 - 1))`.
fn ct2_sinusoids(rows: usize, d: usize) -> Result<Tensor> {
    let half = d / 2;
    let inc = (10000f32).ln() / (half.saturating_sub(1).max(1)) as f32;
    let mut v = vec![0f32; rows * d];
    for pos in 0..rows {
        for j in 0..half {
            let t = (pos + 1) as f32 * (-inc * j as f32).exp();
            v[pos * d + j] = t.sin();
            v[pos * d + half + j] = t.cos();
        }
    }
    Ok(Tensor::from_vec(v, (rows, d), &Device::Cpu)?)
}

/// Activation enum of `common_spec.Activation` → transformers' name.
fn activation_name(id: f32) -> Result<&'static str> {
    Ok(match id as i64 {
        0 => "relu",
        1 => "gelu_new",
        2 => "swish",
        3 => "gelu",
        other => {
            return Err(unsupported(format!(
                "activation id {other} (4 = GELUSigmoid, 5 = Tanh, 6 = Sigmoid)"
            )))
        }
    })
}

/// What [`to_marian`] hands over: the config, float tensors, and matrices kept int8.
pub(super) type Mapped = (MarianConfig, HashMap<String, Tensor>, HashMap<String, Kept>);

/// Map the spec; `int8: Some(device)` keeps int8 matrices int8 (as Q8_0 on `device`).
pub(super) fn to_marian(m: &Ct2Model, int8: Option<&Device>) -> Result<Mapped> {
    let (dims, default_heads) = dims_of(m)?;
    let b = &m.binary;
    let d = dims.d_model;
    let mut t = Take {
        m,
        used: HashSet::new(),
    };
    let mut out: HashMap<String, Tensor> = HashMap::new();
    let mut qout: HashMap<String, Kept> = HashMap::new();

    // Scalars of both stacks.
    let mut heads = [0usize; 2];
    let mut act = [""; 2];
    let mut scale = [0f32; 2];
    for (i, scope) in ["encoder", "decoder"].iter().enumerate() {
        heads[i] = t
            .scalar(scope, "num_heads")
            .map_or(default_heads, |h| h.max(0.0) as usize);
        if t.flag(scope, "pre_norm", true) {
            return Err(unsupported(format!(
                "{scope}/pre_norm=true (pre-norm layers)"
            )));
        }
        act[i] = activation_name(t.scalar(scope, "activation").unwrap_or(0.0))?;
        let sqrt_d = (d as f32).sqrt();
        let stored = b.get(&format!("{scope}/scale_embeddings"));
        scale[i] = match stored.map(|v| v.dtype) {
            None | Some(super::Ct2DType::I8) => {
                if t.flag(scope, "scale_embeddings", true) {
                    sqrt_d
                } else {
                    1.0
                }
            }
            Some(_) => t.scalar(scope, "scale_embeddings").unwrap_or(1.0),
        };
        t.scalar(scope, "embeddings_merge");
        for key in ["alignment_layer", "alignment_heads"] {
            t.scalar(scope, key);
        }
    }
    if act[0] != act[1] || heads[0] != heads[1] {
        return Err(unsupported(format!(
            "different encoder/decoder activations ({}, {}) or head counts ({}, {})",
            act[0], act[1], heads[0], heads[1]
        )));
    }
    if scale[0] != scale[1] || !(scale[0] == 1.0 || scale[0] == (d as f32).sqrt()) {
        return Err(unsupported(format!(
            "embedding scales {} / {} (Marian scales both by sqrt(d_model) = {} or neither)",
            scale[0],
            scale[1],
            (d as f32).sqrt()
        )));
    }
    if t.flag("decoder", "alibi", false) {
        return Err(unsupported("decoder/alibi=true (ALiBi positions)".into()));
    }
    t.scalar("decoder", "alibi_use_positive_positions");
    t.scalar("decoder", "scale_alibi");
    let zero_start = t.flag("decoder", "start_from_zero_embedding", false);

    // Embeddings, output projection, positions.
    if t.has("encoder/embeddings_1/weight") {
        return Err(unsupported(
            "several source embeddings (encoder/embeddings_1: source factors)".into(),
        ));
    }
    let enc_emb_name = if t.has("encoder/embeddings/weight") {
        "encoder/embeddings/weight"
    } else {
        "encoder/embeddings_0/weight"
    };
    let dec_emb_name = "decoder/embeddings/weight";
    let src_rows = b.get(enc_emb_name).map_or(0, |v| v.shape[0]);
    let tgt_rows = b.get(dec_emb_name).map_or(0, |v| v.shape[0]);
    let shared =
        b.resolve(enc_emb_name).is_some() && b.resolve(enc_emb_name) == b.resolve(dec_emb_name);
    // On the CPU with int8 kept, token embeddings are looked up in the file's int8 rows.
    let cpu_int8 = int8.filter(|dev| dev.is_cpu());
    // A float load looks them up in the same rows, widened as CT2 dequantizes.
    let embedding = |t: &mut Take, name: &str, rows: usize| -> Result<Option<Kept>> {
        match (int8, cpu_int8) {
            (Some(_), None) => Ok(None),
            (_, dev) => Ok(t
                .quantized(name, [rows, d], 1, dev)?
                .and_then(|mut v| v.pop())),
        }
    };
    if shared {
        match embedding(&mut t, dec_emb_name, tgt_rows)? {
            Some(k) => drop(qout.insert("model.shared.weight".into(), k)),
            None => drop(out.insert(
                "model.shared.weight".into(),
                t.tensor(dec_emb_name, &[tgt_rows, d])?,
            )),
        }
    } else if let (Some(e), Some(dk)) = (
        embedding(&mut t, enc_emb_name, src_rows)?,
        embedding(&mut t, dec_emb_name, tgt_rows)?,
    ) {
        qout.insert("model.encoder.embed_tokens.weight".into(), e);
        qout.insert("model.decoder.embed_tokens.weight".into(), dk);
    } else {
        out.insert(
            "model.encoder.embed_tokens.weight".into(),
            t.tensor(enc_emb_name, &[src_rows, d])?,
        );
        out.insert(
            "model.decoder.embed_tokens.weight".into(),
            t.tensor(dec_emb_name, &[tgt_rows, d])?,
        );
    }
    for (vocab, rows, side) in [
        (m.source_vocab.len(), src_rows, "source"),
        (m.target_vocab.len(), tgt_rows, "target"),
    ] {
        if vocab != rows {
            return Err(Error::CorruptModel {
                path: b.path.clone(),
                reason: format!(
                    "the {side} vocabulary has {vocab} tokens but the embedding has {rows} rows; \
                     the folder mixes files of different models"
                ),
            });
        }
    }
    let tied = b.resolve("decoder/projection/weight") == b.resolve(dec_emb_name);
    let projection = if tied && int8.is_none() {
        None // widened from the embedding's rows (Dense::load_weight, tied)
    } else {
        t.quantized("decoder/projection/weight", [tgt_rows, d], 1, int8)?
    };
    if let Some(q) = projection.and_then(|mut v| v.pop()) {
        qout.insert("lm_head.weight".into(), q);
    } else if !tied {
        out.insert(
            "lm_head.weight".into(),
            t.tensor("decoder/projection/weight", &[tgt_rows, d])?,
        );
    }
    if t.has("decoder/projection/bias") {
        out.insert(
            "final_logits_bias".into(),
            t.tensor("decoder/projection/bias", &[tgt_rows])?,
        );
    }
    let enc_pos = b.resolve("encoder/position_encodings/encodings");
    let dec_pos = b.resolve("decoder/position_encodings/encodings");
    let positions = match (enc_pos, dec_pos) {
        (Some(e), Some(dp)) => {
            let rows = b.get(dp).map_or(0, |v| v.shape[0]);
            let table = t.tensor(dp, &[rows, d])?;
            if e != dp {
                let other = t.tensor(e, &[rows, d])?;
                let diff = (&other - &table)?.abs()?.max_all()?.to_scalar::<f32>()?;
                if diff != 0.0 {
                    return Err(unsupported(
                        "different encoder and decoder position tables".into(),
                    ));
                }
            }
            table
        }
        (None, None) => ct2_sinusoids(GENERATED_POSITIONS, d)?,
        _ => {
            return Err(unsupported(
                "a position table on one side only (relative positions or rotary embeddings)"
                    .into(),
            ))
        }
    };
    let max_positions = positions.dim(0)?;
    out.insert("model.encoder.embed_positions.weight".into(), positions);

    // Layers.
    let linear = |t: &mut Take,
                  (out, qout): (&mut HashMap<String, Tensor>, &mut HashMap<String, Kept>),
                  src: &str,
                  dst: &[&str],
                  rows: usize,
                  cols: usize|
     -> Result<()> {
        let parts = dst.len();
        let name = format!("{src}/weight");
        let kept = t.quantized(&name, [rows * parts, cols], parts, int8)?;
        match kept {
            Some(qs) => {
                for (q, dst) in qs.into_iter().zip(dst) {
                    qout.insert(format!("{dst}.weight"), q);
                }
            }
            None => {
                let w = t.tensor(&name, &[rows * parts, cols])?;
                for (i, dst) in dst.iter().enumerate() {
                    out.insert(format!("{dst}.weight"), w.narrow(0, i * rows, rows)?);
                }
            }
        }
        let bias = if t.has(&format!("{src}/bias")) {
            t.tensor(&format!("{src}/bias"), &[rows * parts])?
        } else {
            Tensor::zeros(rows * parts, candle_core::DType::F32, &Device::Cpu)?
        };
        for (i, name) in dst.iter().enumerate() {
            out.insert(format!("{name}.bias"), bias.narrow(0, i * rows, rows)?);
        }
        Ok(())
    };
    let norm =
        |t: &mut Take, out: &mut HashMap<String, Tensor>, src: &str, dst: &str| -> Result<()> {
            if !t.has(&format!("{src}/beta")) {
                return Err(unsupported(format!("{src} without beta (RMS norm)")));
            }
            out.insert(
                format!("{dst}.weight"),
                t.tensor(&format!("{src}/gamma"), &[d])?,
            );
            out.insert(
                format!("{dst}.bias"),
                t.tensor(&format!("{src}/beta"), &[d])?,
            );
            Ok(())
        };
    let mut ffn_dims = [0usize; 2];
    for (side, scope, count) in [
        (0, "encoder", dims.encoder_layers),
        (1, "decoder", dims.decoder_layers),
    ] {
        let ffn = b
            .get(&format!("{scope}/layer_0/ffn/linear_0/weight"))
            .map_or(0, |v| v.shape[0]);
        ffn_dims[side] = ffn;
        for i in 0..count {
            let src = format!("{scope}/layer_{i}");
            let dst = format!("model.{scope}.layers.{i}");
            let sa = format!("{dst}.self_attn");
            let qkv = [
                format!("{sa}.q_proj"),
                format!("{sa}.k_proj"),
                format!("{sa}.v_proj"),
            ];
            let qkv: Vec<&str> = qkv.iter().map(String::as_str).collect();
            linear(
                &mut t,
                (&mut out, &mut qout),
                &format!("{src}/self_attention/linear_0"),
                &qkv,
                d,
                d,
            )?;
            linear(
                &mut t,
                (&mut out, &mut qout),
                &format!("{src}/self_attention/linear_1"),
                &[&format!("{sa}.out_proj")],
                d,
                d,
            )?;
            norm(
                &mut t,
                &mut out,
                &format!("{src}/self_attention/layer_norm"),
                &format!("{dst}.self_attn_layer_norm"),
            )?;
            if scope == "decoder" {
                let ca = format!("{dst}.encoder_attn");
                let a = format!("{src}/attention");
                linear(
                    &mut t,
                    (&mut out, &mut qout),
                    &format!("{a}/linear_0"),
                    &[&format!("{ca}.q_proj")],
                    d,
                    d,
                )?;
                linear(
                    &mut t,
                    (&mut out, &mut qout),
                    &format!("{a}/linear_1"),
                    &[&format!("{ca}.k_proj"), &format!("{ca}.v_proj")],
                    d,
                    d,
                )?;
                linear(
                    &mut t,
                    (&mut out, &mut qout),
                    &format!("{a}/linear_2"),
                    &[&format!("{ca}.out_proj")],
                    d,
                    d,
                )?;
                norm(
                    &mut t,
                    &mut out,
                    &format!("{a}/layer_norm"),
                    &format!("{dst}.encoder_attn_layer_norm"),
                )?;
            }
            linear(
                &mut t,
                (&mut out, &mut qout),
                &format!("{src}/ffn/linear_0"),
                &[&format!("{dst}.fc1")],
                ffn,
                d,
            )?;
            linear(
                &mut t,
                (&mut out, &mut qout),
                &format!("{src}/ffn/linear_1"),
                &[&format!("{dst}.fc2")],
                d,
                ffn,
            )?;
            norm(
                &mut t,
                &mut out,
                &format!("{src}/ffn/layer_norm"),
                &format!("{dst}.final_layer_norm"),
            )?;
        }
    }

    // Anything left is a feature the Marian code cannot run.
    let mut left: Vec<&str> = b
        .names()
        .iter()
        .map(String::as_str)
        .filter(|n| !t.used.contains(*n))
        .collect();
    if !left.is_empty() {
        left.sort_unstable();
        let shown = left.iter().take(6).copied().collect::<Vec<_>>().join(", ");
        return Err(unsupported(format!(
            "{} model variable(s) with no place in tolk's Marian: {shown}{}",
            left.len(),
            if left.len() > 6 { ", …" } else { "" }
        )));
    }

    let tv = &m.target_vocab;
    let eos = &m.config.eos_token;
    if !tv.contains(eos) {
        return Err(Error::Config {
            path: m.dir.join("config.json"),
            reason: format!("the end token `{eos}` is not in the target vocabulary"),
        });
    }
    let start = m
        .config
        .decoder_start_token
        .clone()
        .unwrap_or_else(|| m.config.bos_token.clone());
    let pad = if tv.contains("<pad>") {
        tv.id("<pad>")
    } else {
        tv.unk_id()
    };
    let cfg = MarianConfig {
        vocab_size: src_rows,
        decoder_vocab_size: (!shared).then_some(tgt_rows),
        d_model: d,
        encoder_layers: dims.encoder_layers,
        decoder_layers: dims.decoder_layers,
        encoder_attention_heads: heads[0],
        decoder_attention_heads: heads[1],
        encoder_ffn_dim: ffn_dims[0],
        decoder_ffn_dim: ffn_dims[1],
        activation_function: act[0].to_string(),
        max_position_embeddings: max_positions,
        scale_embedding: scale[0] != 1.0,
        pad_token_id: pad,
        eos_token_id: tv.id(eos),
        decoder_start_token_id: Some(tv.id(&start)),
        share_encoder_decoder_embeddings: shared,
        tie_word_embeddings: tied,
        normalize_before: false,
        model_type: Some("marian".into()),
        layer_norm_eps: m.config.layer_norm_epsilon.unwrap_or(1e-5),
        stored_positions: true,
        start_from_zero_embedding: zero_start,
    };
    cfg.validate().map_err(|reason| Error::Config {
        path: m.dir.join("config.json"),
        reason,
    })?;
    Ok((cfg, out, qout))
}
