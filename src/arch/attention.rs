//! Building blocks shared by the encoder-decoder architectures: linear layers, layer norm,
//! multi-head attention with an additive bias, and the per-layer key/value cache.
//!
//! [`Dense`] (re-exported from [`super::dense`]) is the linear layer.
//!
//! Tensors here are laid out `[batch, heads, time, head_dim]` inside attention and
//! `[batch, time, d_model]` outside it. Nothing here knows about a particular checkpoint format.

use candle_core::{DType, Module, Tensor};

use super::cached_attention;
pub use super::dense::Dense;
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

/// Keys and values of one self-attention layer, grown by one position per decoding step.
///
/// A row selection (beam reordering, finished rows dropped) is kept until the next append,
/// which then gathers the kept rows and adds the new position in one copy of the cache instead
/// of two.
#[derive(Clone, Default)]
pub struct KvCache {
    kv: Option<(Tensor, Tensor)>,
    /// Rows of `kv` to keep, in order, not applied yet.
    pending: Option<Vec<u32>>,
}

impl KvCache {
    /// Append new keys/values `[b, h, t_new, hd]` and return the full cache.
    pub fn append(&mut self, k: Tensor, v: Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let kv = match (self.kv.take(), self.pending.take()) {
            (None, _) => (k, v),
            (Some((pk, pv)), None) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            (Some((pk, pv)), Some(rows)) => {
                (gather_cat(&pk, &rows, &k)?, gather_cat(&pv, &rows, &v)?)
            }
        };
        self.kv = Some(kv.clone());
        Ok(kv)
    }

    /// Keep only the batch rows in `rows` (in that order): beam reordering and dropping finished
    /// rows. Applied by the next [`KvCache::append`].
    pub fn select(&mut self, rows: &[u32]) {
        if self.kv.is_none() {
            return;
        }
        self.pending = Some(match self.pending.take() {
            Some(earlier) => rows.iter().map(|&r| earlier[r as usize]).collect(),
            None => rows.to_vec(),
        });
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `cat([old[rows], new], 2)` for `old: [b_old, h, t, hd]` and `new: [rows.len(), h, t_new, hd]`:
/// one pass over the cache on the CPU, index-select then concatenate elsewhere.
fn gather_cat(old: &Tensor, rows: &[u32], new: &Tensor) -> candle_core::Result<Tensor> {
    use candle_core::{CpuStorage, Storage};
    let (b_old, h, t, hd) = old.dims4()?;
    let (b_new, h2, t_new, hd2) = new.dims4()?;
    if h != h2 || hd != hd2 || b_new != rows.len() || rows.iter().any(|&r| r as usize >= b_old) {
        candle_core::bail!(
            "kv cache: cannot append {:?} to rows {rows:?} of {:?}",
            new.dims(),
            old.dims()
        );
    }
    let shape = (b_new, h, t + t_new, hd);
    let gathered = {
        let (os, ol) = old.storage_and_layout();
        let (ns, nl) = new.storage_and_layout();
        let runs = (h, t * hd, t_new * hd);
        match (&*os, &*ns, ol.contiguous_offsets(), nl.contiguous_offsets()) {
            (Storage::Cpu(o), Storage::Cpu(n), Some((oa, ob)), Some((na, nb))) => match (o, n) {
                (CpuStorage::F32(o), CpuStorage::F32(n)) => {
                    Some(CpuStorage::F32(gather(&o[oa..ob], rows, &n[na..nb], runs)))
                }
                (CpuStorage::F16(o), CpuStorage::F16(n)) => {
                    Some(CpuStorage::F16(gather(&o[oa..ob], rows, &n[na..nb], runs)))
                }
                (CpuStorage::BF16(o), CpuStorage::BF16(n)) => {
                    Some(CpuStorage::BF16(gather(&o[oa..ob], rows, &n[na..nb], runs)))
                }
                _ => None,
            },
            _ => None,
        }
    };
    match gathered {
        Some(CpuStorage::F32(v)) => Tensor::from_vec(v, shape, old.device()),
        Some(CpuStorage::F16(v)) => Tensor::from_vec(v, shape, old.device()),
        Some(CpuStorage::BF16(v)) => Tensor::from_vec(v, shape, old.device()),
        _ => {
            let idx = Tensor::from_vec(rows.to_vec(), rows.len(), old.device())?;
            Tensor::cat(&[&old.index_select(&idx, 0)?, new], 2)
        }
    }
}

/// [`gather_cat`] on host values: per kept row and head, its `old_run` cached values, then the
/// new row's `new_run` values; `runs` is `(heads, old_run, new_run)`.
fn gather<T: Copy>(old: &[T], rows: &[u32], new: &[T], runs: (usize, usize, usize)) -> Vec<T> {
    let (h, old_run, new_run) = runs;
    let mut out = Vec::with_capacity(rows.len() * h * (old_run + new_run));
    for (i, &r) in rows.iter().enumerate() {
        for head in 0..h {
            let src = (r as usize * h + head) * old_run;
            out.extend_from_slice(&old[src..src + old_run]);
            let src = (i * h + head) * new_run;
            out.extend_from_slice(&new[src..src + new_run]);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn ramp(shape: (usize, usize, usize, usize), start: f32) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let v: Vec<f32> = (0..n).map(|i| start + i as f32).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn selections_apply_at_the_next_append_as_select_then_cat() {
        let mut cache = KvCache::default();
        let (k0, v0) = (ramp((3, 2, 2, 4), 0.0), ramp((3, 2, 2, 4), 1000.0));
        cache.append(k0.clone(), v0.clone()).unwrap();
        // Two selections compose: rows [2, 0, 0, 1] then [3, 1].
        cache.select(&[2, 0, 0, 1]);
        cache.select(&[3, 1]);
        assert_eq!(cache.len(), 2);
        let (k1, v1) = (ramp((2, 2, 1, 4), 500.0), ramp((2, 2, 1, 4), 1500.0));
        let (k, v) = cache.append(k1.clone(), v1.clone()).unwrap();
        let idx = Tensor::new(&[1u32, 0], &Device::Cpu).unwrap();
        let want_k = Tensor::cat(&[&k0.index_select(&idx, 0).unwrap(), &k1], 2).unwrap();
        let want_v = Tensor::cat(&[&v0.index_select(&idx, 0).unwrap(), &v1], 2).unwrap();
        assert_eq!(
            k.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            want_k.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        assert_eq!(
            v.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            want_v.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        assert_eq!(k.dims(), &[2, 2, 3, 4]);
        assert!(gather_cat(&k0, &[3], &k1.narrow(0, 0, 1).unwrap()).is_err());
    }
}
