//! Building blocks shared by the encoder-decoder architectures: linear layers, layer norm,
//! multi-head attention with an additive bias, and the per-layer key/value cache.
//!
//! A [`Dense`] matrix is float (one f32/f16/bf16 matmul) or kept quantized (candle's quantized
//! matmul, which also quantizes the activations block-wise).
//!
//! Tensors here are laid out `[batch, heads, time, head_dim]` inside attention and
//! `[batch, time, d_model]` outside it. Nothing here knows about a particular checkpoint format.

use candle_core::quantized::QMatMul;
use candle_core::{DType, Module, Tensor};

use super::kernels::{skinny_matmul, RowsRef, SKINNY_MAX_ROWS};
use super::weights::{QuantizedWeight, Weights};
use crate::error::Result;

/// The matrix of a [`Dense`] layer: float, or kept quantized.
#[derive(Clone)]
enum Matrix {
    /// `W`, `[out, in]`, contiguous, as checkpoints store it.
    Float(Tensor),
    /// `W` as candle quantized blocks (`[out, in]`), times an optional per-output factor `[out]`.
    Quantized {
        matmul: QMatMul,
        row_factor: Option<Tensor>,
    },
    /// Q8_0 blocks unpacked for the CPU's skinny kernel: int8 values and one f32 scale per 32,
    /// times an optional per-output factor `[out]`.
    Int8(Int8Matrix),
}

/// An int8 `[out, in]` matrix with block scales, for [`skinny_matmul`].
#[derive(Clone)]
struct Int8Matrix {
    values: std::sync::Arc<Vec<i8>>,
    scales: std::sync::Arc<Vec<f32>>,
    in_dim: usize,
    row_factor: Option<Tensor>,
}

/// Up to this many rows (a decoding step of 32 sentences × 4 beams) int8 products run on the
/// kernel in chunks of [`SKINNY_MAX_ROWS`]; above it (most encoder batches) the matrix is
/// dequantized for the call and the GEMM does the work. Measured on opus-mt-da-en shapes, 2
/// threads: at 96 rows the kernel took 336 ms a decoder step against 449 for dequantize + GEMM
/// (and ~100 MB less peak memory), at 128 rows 447–465 against 467–502; at 248 encoder rows
/// the GEMM won (250 against 334 ms).
const INT8_KERNEL_MAX_ROWS: usize = 128;

/// Bytes of one GGML Q8_0 block: an f16 scale, then 32 int8 values.
const Q8_0_BYTES: usize = 34;
/// Values per Q8_0 block.
const Q8_0_VALUES: usize = 32;

impl Int8Matrix {
    /// Unpack a CPU Q8_0 `[out, in]` matrix; `None` for other block types.
    fn from_q8_0(q: &QuantizedWeight) -> Result<Option<Self>> {
        use candle_core::quantized::GgmlDType;
        if q.matrix.dtype() != GgmlDType::Q8_0 || !q.matrix.device().is_cpu() {
            return Ok(None);
        }
        let (_, in_dim) = q.matrix.shape().dims2()?;
        let data = q.matrix.data()?;
        let blocks = data.len() / Q8_0_BYTES;
        if in_dim % Q8_0_VALUES != 0 || data.len() % Q8_0_BYTES != 0 {
            return Ok(None);
        }
        let mut values = Vec::with_capacity(blocks * Q8_0_VALUES);
        let mut scales = Vec::with_capacity(blocks);
        for b in data.chunks_exact(Q8_0_BYTES) {
            scales.push(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
            values.extend(b[2..].iter().map(|&v| v as i8));
        }
        Ok(Some(Self {
            values: std::sync::Arc::new(values),
            scales: std::sync::Arc::new(scales),
            in_dim,
            row_factor: q.row_factor.clone(),
        }))
    }
}

impl Int8Matrix {
    /// The matrix in f32 `[out, in]` on the CPU.
    fn dequantize(&self) -> candle_core::Result<Tensor> {
        let block = Q8_0_VALUES;
        let values: Vec<f32> = self
            .values
            .chunks_exact(block)
            .zip(self.scales.iter())
            .flat_map(|(vals, &s)| vals.iter().map(move |&v| f32::from(v) * s))
            .collect();
        let n = values.len() / self.in_dim;
        Tensor::from_vec(values, (n, self.in_dim), &candle_core::Device::Cpu)
    }
}

impl candle_core::CustomOp1 for Int8Matrix {
    fn name(&self) -> &'static str {
        "int8-matmul"
    }

    fn cpu_fwd(
        &self,
        xs: &candle_core::CpuStorage,
        xl: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use candle_core::CpuStorage;
        let (m, k) = xl.shape().dims2()?;
        if k != self.in_dim {
            candle_core::bail!("int8 matmul: x has {k} columns, W has {}", self.in_dim);
        }
        let (CpuStorage::F32(x), Some((a, b))) = (xs, xl.contiguous_offsets()) else {
            candle_core::bail!("int8 matmul takes contiguous f32 input");
        };
        let x = &x[a..b];
        let n = self.values.len() / k;
        let w = RowsRef::Int8 {
            values: &self.values,
            scales: &self.scales,
            block: Q8_0_VALUES,
        };
        let mut out = vec![0f32; m * n];
        // Row chunks keep the inputs in cache while the weights stream past once per chunk.
        for (xc, oc) in x
            .chunks(SKINNY_MAX_ROWS * k)
            .zip(out.chunks_mut(SKINNY_MAX_ROWS * n))
        {
            skinny_matmul(xc, xc.len() / k, k, w, n, oc);
        }
        Ok((CpuStorage::F32(out), (m, n).into()))
    }
}

/// A dense layer `y = x Wᵀ + b` stored as checkpoints store it (`weight: [out, in]`), with `W`
/// in float or kept quantized (e.g. CTranslate2's int8 rows as Q8_0 blocks).
#[derive(Clone)]
pub struct Dense {
    matrix: Matrix,
    bias: Option<Tensor>,
    out_dim: usize,
}

impl Dense {
    /// Load `{prefix}.weight` (and `{prefix}.bias` when `bias`): the quantized matrix when the
    /// weights keep one under that name, else the float tensor.
    pub fn load(
        w: &Weights,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
    ) -> Result<Self> {
        let name = format!("{prefix}.weight");
        let bias = if bias {
            Some(w.get(&format!("{prefix}.bias"), &[out_dim])?)
        } else {
            None
        };
        match w.quantized(&name, &[out_dim, in_dim])? {
            Some(q) => Self::quantized(q, bias),
            None => Self::new(w.get(&name, &[out_dim, in_dim])?, bias),
        }
    }

    /// Build from a `[out, in]` weight (kept in that layout: no copy at load).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        Ok(Self {
            out_dim: weight.dim(0)?,
            matrix: Matrix::Float(weight.contiguous()?),
            bias,
        })
    }

    /// Build from a quantized `[out, in]` matrix (Q8_0 on the CPU runs on the skinny int8 kernel).
    pub fn quantized(q: QuantizedWeight, bias: Option<Tensor>) -> Result<Self> {
        let (out_dim, _) = q.matrix.shape().dims2()?;
        if let Some(m) = Int8Matrix::from_q8_0(&q)? {
            return Ok(Self {
                matrix: Matrix::Int8(m),
                bias,
                out_dim,
            });
        }
        Ok(Self {
            matrix: Matrix::Quantized {
                matmul: QMatMul::from_arc(q.matrix)?,
                row_factor: q.row_factor,
            },
            bias,
            out_dim,
        })
    }

    /// Whether the matrix is kept quantized.
    pub fn is_quantized(&self) -> bool {
        matches!(self.matrix, Matrix::Quantized { .. } | Matrix::Int8(_))
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        // Flatten leading dims into one matmul: [.., in] x [in, out].
        let dims = x.dims().to_vec();
        let in_dim = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let x = x.reshape((rows, in_dim))?;
        let y = match &self.matrix {
            Matrix::Float(weight) => {
                if rows <= SKINNY_MAX_ROWS && x.device().is_cpu() && x.dtype() == DType::F32 {
                    // Decoding: few rows against a large matrix, bound by reading the weights.
                    x.contiguous()?.apply_op2_no_bwd(weight, &SkinnyF32)?
                } else {
                    x.matmul(&weight.t()?)?
                }
            }
            Matrix::Int8(m) => {
                let x32 = x.to_dtype(DType::F32)?.contiguous()?;
                let y = if rows <= INT8_KERNEL_MAX_ROWS {
                    x32.apply_op1_no_bwd(m)?
                } else {
                    // Many rows (the encoder): compute-bound, so dequantize for this call and
                    // use the general GEMM; the f32 copy is dropped right after.
                    x32.matmul(&m.dequantize()?.t()?)?
                };
                let y = match &m.row_factor {
                    Some(f) => y.broadcast_mul(&f.to_dtype(DType::F32)?)?,
                    None => y,
                };
                y.to_dtype(x.dtype())?
            }
            Matrix::Quantized { matmul, row_factor } => {
                let y = matmul.forward(&x.contiguous()?)?;
                match row_factor {
                    Some(f) => y.broadcast_mul(f)?,
                    None => y,
                }
            }
        };
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out_dims = dims;
        *out_dims.last_mut().expect("non-empty dims") = self.out_dim;
        y.reshape(out_dims)
    }
}

/// `x W ᵀ` for few rows of f32 on the CPU, by [`skinny_matmul`]: `x: [m, k]`, `W: [n, k]`.
struct SkinnyF32;

impl candle_core::CustomOp2 for SkinnyF32 {
    fn name(&self) -> &'static str {
        "skinny-matmul-f32"
    }

    fn cpu_fwd(
        &self,
        xs: &candle_core::CpuStorage,
        xl: &candle_core::Layout,
        ws: &candle_core::CpuStorage,
        wl: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use candle_core::CpuStorage;
        let (m, k) = xl.shape().dims2()?;
        let (n, k2) = wl.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("skinny matmul: x has {k} columns, W has {k2}");
        }
        let (Some((xa, xb)), Some((wa, wb))) = (xl.contiguous_offsets(), wl.contiguous_offsets())
        else {
            candle_core::bail!("skinny matmul needs contiguous operands");
        };
        let (CpuStorage::F32(x), CpuStorage::F32(w)) = (xs, ws) else {
            candle_core::bail!("skinny matmul takes f32 operands");
        };
        let mut out = vec![0f32; m * n];
        skinny_matmul(&x[xa..xb], m, k, RowsRef::F32(&w[wa..wb]), n, &mut out);
        Ok((CpuStorage::F32(out), (m, n).into()))
    }
}

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
        let q = self.scaled(self.split_heads(&self.q.forward(x)?)?)?;
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
        // [rows, 1, d] -> [m, group, heads, hd] -> [m, heads, group, hd]: the group becomes the query axis.
        let q = self
            .scaled(self.q.forward(x)?)?
            .reshape((m, group, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?;
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
#[derive(Clone, Default)]
pub struct KvCache {
    kv: Option<(Tensor, Tensor)>,
}

impl KvCache {
    /// Append new keys/values `[b, h, t_new, hd]` and return the full cache.
    pub fn append(&mut self, k: Tensor, v: Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let kv = match self.kv.take() {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
        };
        self.kv = Some(kv.clone());
        Ok(kv)
    }

    /// Keep only the batch rows in `rows` (in that order): beam reordering and dropping finished rows.
    pub fn select(&mut self, rows: &Tensor) -> candle_core::Result<()> {
        if let Some((k, v)) = self.kv.take() {
            self.kv = Some((k.index_select(rows, 0)?, v.index_select(rows, 0)?));
        }
        Ok(())
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
