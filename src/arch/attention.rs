//! Building blocks shared by the encoder-decoder architectures: linear layers, layer norm,
//! multi-head attention with an additive bias (and decoder self-attention through the per-layer
//! key/value cache of [`super::kv_cache`]).
//!
//! [`Dense`] (re-exported from [`super::dense`]) is the linear layer.
//!
//! Tensors here are laid out `[batch, heads, time, head_dim]` inside attention and
//! `[batch, time, d_model]` outside it. Nothing here knows about a particular checkpoint format.

use candle_core::{DType, Module, Tensor};

use super::cached_attention;
pub use super::dense::Dense;
pub use super::kv_cache::KvCache;
use super::weights::Weights;
use crate::error::Result;

/// Layer normalisation over the last dimension.
#[derive(Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    /// Load `{prefix}.weight` and `{prefix}.bias`.
    pub fn load(w: &Weights, prefix: &str, dim: usize, eps: f32) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[dim])?,
            bias: w.get(&format!("{prefix}.bias"), &[dim])?,
            eps,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, self.eps)
    }
}

/// T5's layer norm: scale only, no mean subtraction and no bias (root mean square
/// normalisation), the mean of squares accumulated in f32 whatever the compute dtype.
#[derive(Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    /// Load `{prefix}.weight`.
    pub fn load(w: &Weights, prefix: &str, dim: usize, eps: f32) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[dim])?,
            eps,
        })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}

/// Activation functions named by `activation_function` in config.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `swish` / `silu`.
    Silu,
    /// Exact (erf) GELU, transformers' `gelu`.
    Gelu,
    /// Tanh-approximated GELU, transformers' `gelu_new` / `gelu_pytorch_tanh`.
    GeluTanh,
    /// `relu`.
    Relu,
}

impl Activation {
    /// Parse a transformers activation name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "swish" | "silu" => Self::Silu,
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "relu" => Self::Relu,
            _ => return None,
        })
    }

    /// Apply the activation.
    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Silu => candle_nn::ops::silu(x),
            Self::Gelu => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
            Self::Relu => x.relu(),
        }
    }
}

/// Multi-head attention with separate q/k/v/out projections (BART/Marian layout).
#[derive(Clone)]
pub struct Attention {
    q: Dense,
    k: Dense,
    v: Dense,
    out: Dense,
    heads: usize,
    head_dim: usize,
    scale: f64,
}

impl Attention {
    /// Load `{prefix}.{q,k,v,out}_proj`.
    pub fn load(w: &Weights, prefix: &str, d_model: usize, heads: usize) -> Result<Self> {
        let head_dim = d_model / heads;
        let p = |n: &str| format!("{prefix}.{n}");
        Ok(Self {
            q: Dense::load(w, &p("q_proj"), d_model, d_model, true)?,
            k: Dense::load(w, &p("k_proj"), d_model, d_model, true)?,
            v: Dense::load(w, &p("v_proj"), d_model, d_model, true)?,
            out: Dense::load(w, &p("out_proj"), d_model, d_model, true)?,
            heads,
            head_dim,
            scale: (head_dim as f64).powf(-0.5),
        })
    }

    /// Attention from its four projections: `heads * head_dim` is the inner width (it need not
    /// equal the model width, as in some T5 sizes); `scale` multiplies the queries (1.0: none).
    pub fn new(
        q: Dense,
        k: Dense,
        v: Dense,
        out: Dense,
        heads: usize,
        head_dim: usize,
        scale: f64,
    ) -> Self {
        Self {
            q,
            k,
            v,
            out,
            heads,
            head_dim,
            scale,
        }
    }

    /// Queries times the scale (unchanged when the scale is 1).
    fn scaled(&self, q: Tensor) -> candle_core::Result<Tensor> {
        if self.scale == 1.0 {
            Ok(q)
        } else {
            q * self.scale
        }
    }

    fn split_heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        x.reshape((b, t, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Project `x: [b, t, d]` to keys and values `[b, heads, t, head_dim]`.
    pub fn key_values(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.split_heads(&self.k.forward(x)?)?,
            self.split_heads(&self.v.forward(x)?)?,
        ))
    }

    /// Attend from `x: [b, t, d]` to precomputed keys/values, adding `bias`
    /// (broadcastable to `[b, heads, t, s]`, `-inf`-like where attention is not allowed).
    pub fn attend(
        &self,
        x: &Tensor,
        k: &Tensor,
        v: &Tensor,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let q = self.q.forward(x)?;
        let q4 = q.reshape((b, t, self.heads, self.head_dim))?;
        if let Some(ctx) = cached_attention::attend(&q4, k, v, bias, self.scale as f32) {
            return self
                .out
                .forward(&ctx?.reshape((b, t, self.heads * self.head_dim))?);
        }
        let q = self.scaled(self.split_heads(&q)?)?;
        let scores = q.matmul(&k.t()?)?;
        let scores = match bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(v)?; // [b, h, t, hd]
        let ctx = ctx
            .transpose(1, 2)?
            .reshape((b, t, self.heads * self.head_dim))?;
        self.out.forward(&ctx)
    }
}

impl Attention {
    /// Decoder self-attention of step positions `x: [rows, t, d]`: their keys and values go to
    /// `cache`, and they attend to everything cached (`bias` broadcastable to
    /// `[rows, heads, t, cached]`). On the CPU in f32 one position at a time goes to the cache's
    /// block store and is attended to where it lies; otherwise the cache is a pair of tensors.
    pub fn attend_cached(
        &self,
        x: &Tensor,
        cache: &mut KvCache,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let shape = (b, t, self.heads, self.head_dim);
        let k = self.k.forward(x)?.reshape(shape)?;
        if cache.takes_blocks(&k) {
            let v = self.v.forward(x)?.reshape(shape)?;
            let blocks = cache.push_block(&k, &v)?;
            let q = self.q.forward(x)?.reshape(shape)?;
            let ctx = cached_attention::attend_blocks(&q, blocks, bias, self.scale as f32)?;
            return self
                .out
                .forward(&ctx.reshape((b, t, self.heads * self.head_dim))?);
        }
        let k = k.transpose(1, 2)?.contiguous()?;
        let v = self.split_heads(&self.v.forward(x)?)?;
        let (k, v) = cache.append(k, v)?;
        self.attend(x, &k, &v, bias)
    }

    /// Attend from one position per row (`x: [rows, 1, d]`) to keys/values shared by groups of
    /// `group` consecutive rows (`k`, `v`: `[rows / group, heads, s, head_dim]`, `bias`:
    /// `[rows / group, 1, 1, s]`). Beams of one sentence share its encoder memory this way,
    /// without copying it per beam.
    pub fn attend_grouped(
        &self,
        x: &Tensor,
        k: &Tensor,
        v: &Tensor,
        bias: Option<&Tensor>,
        group: usize,
    ) -> candle_core::Result<Tensor> {
        if group == 1 {
            return self.attend(x, k, v, bias);
        }
        let (rows, t, _) = x.dims3()?;
        if t != 1 || rows % group != 0 {
            candle_core::bail!("grouped attention needs one position per row and whole groups, got {rows}x{t} rows in groups of {group}");
        }
        let m = rows / group;
        // [rows, 1, d] -> [m, group, heads, hd]: the group becomes the query axis.
        let q = self
            .q
            .forward(x)?
            .reshape((m, group, self.heads, self.head_dim))?;
        if let Some(ctx) = cached_attention::attend(&q, k, v, bias, self.scale as f32) {
            return self
                .out
                .forward(&ctx?.reshape((rows, 1, self.heads * self.head_dim))?);
        }
        // -> [m, heads, group, hd]
        let q = self.scaled(q)?.transpose(1, 2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?;
        let scores = match bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx =
            probs
                .matmul(v)?
                .transpose(1, 2)?
                .reshape((rows, 1, self.heads * self.head_dim))?;
        self.out.forward(&ctx)
    }
}

/// Plan a row selection over encoder memory shared by groups of `group` consecutive decoder
/// rows (the beams of one sentence): the memory rows the new decoder rows `rows` need, and the
/// group size they come in (1 when the new rows do not come in equal runs per memory row).
pub fn regroup_memory(rows: &[u32], group: usize) -> (Vec<u32>, usize) {
    let memory: Vec<u32> = rows.iter().map(|&r| r / group.max(1) as u32).collect();
    let Some(&first) = memory.first() else {
        return (Vec::new(), 1);
    };
    let run = memory.iter().take_while(|&&m| m == first).count().max(1);
    let uniform = memory.len().is_multiple_of(run)
        && memory.chunks(run).all(|c| c.iter().all(|&m| m == c[0]));
    let group = if uniform { run } else { 1 };
    (memory.iter().step_by(group).copied().collect(), group)
}

/// Additive attention bias `[b, 1, 1, s]` from a `[b, s]` mask of 1 (attend) / 0 (padding).
pub fn padding_bias(mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let (b, s) = mask.dims2()?;
    let keep = mask.to_dtype(DType::F32)?;
    // 0 where kept, a very large negative number where padded (becomes -inf in f16/bf16: fine for softmax).
    let bias = ((keep - 1.0)? * f64::from(f32::MAX))?;
    bias.reshape((b, 1, 1, s))?.to_dtype(dtype)
}
