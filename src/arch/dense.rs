//! Dense (linear) layers: `y = x Wᵀ + b` with `W` stored as checkpoints store it (`[out, in]`).
//!
//! Where the matrix lives decides how it is kept:
//! - on the CPU, f32 and Q8_0 (int8 with one scale per 32 values: tolk's `--dtype int8`,
//!   CTranslate2's int8 rows, GGUF's Q8_0) matrices are packed once at load for
//!   [`PackedMatrix`], which adds the bias inside the kernel;
//! - elsewhere (a GPU, f16/bf16) the float tensor goes to candle's matmul;
//! - other quantized blocks go to candle's quantized matmul, which also quantizes the
//!   activations block-wise.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul};
use candle_core::{DType, Module, Tensor};

use super::attention::Activation;
use super::embedding::Embedding;
use super::packed::{Act, PackedMatrix, Q8_BLOCK};
use super::weights::{QuantizedWeight, Weights};
use crate::error::Result;

/// The matrix of a [`Dense`] layer.
#[derive(Clone)]
enum Matrix {
    /// `W`, `[out, in]`, contiguous.
    Float(Tensor),
    /// Packed for the CPU kernel, bias included.
    Packed(Arc<PackedMatrix>),
    /// `W` as candle quantized blocks (`[out, in]`), times an optional per-output factor `[out]`.
    Quantized {
        matmul: QMatMul,
        row_factor: Option<Tensor>,
    },
}

/// A dense layer `y = x Wᵀ + b`, with `W` in float or kept quantized.
#[derive(Clone)]
pub struct Dense {
    matrix: Matrix,
    /// The bias when the matrix does not add it itself.
    bias: Option<Tensor>,
    /// The activation when the matrix does not apply it itself.
    act: Option<Activation>,
    out_dim: usize,
}

/// Bytes of one GGML Q8_0 block: an f16 scale, then 32 int8 values.
const Q8_0_BYTES: usize = 34;

impl Dense {
    /// Load `{prefix}.weight` (and `{prefix}.bias` when `bias`): see [`Dense::load_weight`].
    pub fn load(
        w: &Weights,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
    ) -> Result<Self> {
        let bias = if bias {
            Some(w.get(&format!("{prefix}.bias"), &[out_dim])?)
        } else {
            None
        };
        Self::load_weight(w, &format!("{prefix}.weight"), in_dim, out_dim, bias, None)
    }

    /// The `[out, in]` matrix `name`, from the first place that has it: the weights'
    /// packed-matrix cache; int8 rows (int8 × int8 kernel); quantized blocks; the float tensor,
    /// or, when the checkpoint has none under `name`, the embedding table it is `tied` to.
    /// A matrix packed here is recorded in the cache.
    pub fn load_weight(
        w: &Weights,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        bias: Option<Tensor>,
        tied: Option<&Embedding>,
    ) -> Result<Self> {
        let cache = w.pack_cache().filter(|_| w.device().is_cpu());
        if let Some(p) = cache.and_then(|c| c.get(name, out_dim, in_dim)) {
            w.release(name);
            return Self::packed(p, bias, None);
        }
        let dense = if let Some(r) = w.int8_rows(name, &[out_dim, in_dim])? {
            let packed = PackedMatrix::from_i8_rows(&r.values, &r.scales, out_dim, in_dim);
            Self::packed(packed, bias, None)?
        } else if let Some(q) = w.quantized(name, &[out_dim, in_dim])? {
            Self::quantized(q, bias)?
        } else if let (false, Some(e)) = (w.contains(name), tied) {
            // `to_tensor` widens int8 rows on the CPU: the layer belongs on the model's device.
            let table = e.to_tensor()?.to_device(w.device())?;
            Self::new(table.to_dtype(w.dtype())?, bias)?
        } else {
            Self::new(w.get(name, &[out_dim, in_dim])?, bias)?
        };
        if let Matrix::Packed(p) = &dense.matrix {
            // The layer holds its own copy now.
            w.release(name);
            if let Some(c) = cache {
                c.record(name, p);
            }
        }
        Ok(dense)
    }

    /// Build from a float `[out, in]` weight: packed when it is f32 on the CPU, else kept as is.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let out_dim = weight.dim(0)?;
        if weight.device().is_cpu() && weight.dtype() == DType::F32 {
            let (n, k) = weight.dims2()?;
            let values = weight.contiguous()?.flatten_all()?;
            let packed = {
                let (storage, layout) = values.storage_and_layout();
                let candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)) = &*storage else {
                    unreachable!("checked: f32 on the CPU");
                };
                let (a, b) = layout.contiguous_offsets().expect("made contiguous above");
                PackedMatrix::from_f32(&v[a..b], n, k)
            };
            return Self::packed(packed, bias, None);
        }
        Ok(Self {
            out_dim,
            matrix: Matrix::Float(weight.contiguous()?),
            bias,
            act: None,
        })
    }

    /// Build from a quantized `[out, in]` matrix: Q8_0 on the CPU is packed for the int8
    /// kernel, other blocks run on candle's quantized matmul.
    pub fn quantized(q: QuantizedWeight, bias: Option<Tensor>) -> Result<Self> {
        let (out_dim, in_dim) = q.matrix.shape().dims2()?;
        if q.matrix.dtype() == GgmlDType::Q8_0
            && q.matrix.device().is_cpu()
            && in_dim.is_multiple_of(Q8_BLOCK)
        {
            let data = q.matrix.data()?;
            if data.len() == out_dim * in_dim / Q8_BLOCK * Q8_0_BYTES {
                let mut values = Vec::with_capacity(out_dim * in_dim);
                let mut scales = Vec::with_capacity(out_dim * in_dim / Q8_BLOCK);
                for b in data.chunks_exact(Q8_0_BYTES) {
                    scales.push(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
                    values.extend(b[2..].iter().map(|&v| v as i8));
                }
                let per_row = in_dim / Q8_BLOCK;
                let row_scales = scales.chunks(per_row.max(1)).map(|r| {
                    let first = r.first().copied().unwrap_or(0.0);
                    r.iter().all(|&s| s == first).then_some(first)
                });
                let packed = match row_scales.collect::<Option<Vec<f32>>>() {
                    // One scale per row (CTranslate2's int8 layout): int8 × int8 products with
                    // activations quantized per row, as CTranslate2 computes them.
                    Some(row_scales) if row_int8_enabled() => {
                        PackedMatrix::from_i8_rows(&values, &row_scales, out_dim, in_dim)
                    }
                    _ => PackedMatrix::from_q8(&values, &scales, out_dim, in_dim),
                };
                return Self::packed(packed, bias, q.row_factor.as_ref());
            }
        }
        Ok(Self {
            matrix: Matrix::Quantized {
                matmul: QMatMul::from_arc(q.matrix)?,
                row_factor: q.row_factor,
            },
            bias,
            act: None,
            out_dim,
        })
    }

    /// Finish a packed layer: fold a per-output factor into the int8 scales, move the bias
    /// into the kernel.
    fn packed(
        mut packed: PackedMatrix,
        bias: Option<Tensor>,
        row_factor: Option<&Tensor>,
    ) -> Result<Self> {
        if let Some(f) = row_factor {
            packed = packed.scale_rows(&f.to_dtype(DType::F32)?.to_vec1::<f32>()?);
        }
        if let Some(b) = &bias {
            packed = packed.with_bias(&b.to_dtype(DType::F32)?.to_vec1::<f32>()?);
        }
        Ok(Self {
            out_dim: packed.n(),
            matrix: Matrix::Packed(Arc::new(packed)),
            bias: None,
            act: None,
        })
    }

    /// Apply `act` to the output (after the bias); the CPU kernel does it in place for SiLU and
    /// ReLU.
    pub fn with_activation(mut self, act: Activation) -> Self {
        let fused = match act {
            Activation::Silu => Some(Act::Silu),
            Activation::Relu => Some(Act::Relu),
            Activation::Gelu | Activation::GeluTanh => None,
        };
        match (&mut self.matrix, fused) {
            (Matrix::Packed(p), Some(a)) => Arc::make_mut(p).set_activation(a),
            _ => self.act = Some(act),
        }
        self
    }

    /// Add `bias` (`[out]`, f32) inside the kernel when the matrix is packed and has no bias of
    /// its own; `false` when the caller must add it.
    pub fn fold_bias(&mut self, bias: &Tensor) -> Result<bool> {
        if let Matrix::Packed(p) = &mut self.matrix {
            if !p.has_bias() && self.act.is_none() {
                let values = bias.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                Arc::make_mut(p).set_bias(&values);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether the matrix is kept quantized.
    pub fn is_quantized(&self) -> bool {
        match &self.matrix {
            Matrix::Float(_) => false,
            Matrix::Packed(p) => p.is_int8(),
            Matrix::Quantized { .. } => true,
        }
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
            Matrix::Float(weight) => x.matmul(&weight.t()?)?,
            Matrix::Packed(p) => {
                let x32 = x.to_dtype(DType::F32)?.contiguous()?;
                x32.apply_op1_no_bwd(&PackedOp(p.clone()))?
                    .to_dtype(x.dtype())?
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
        let y = match self.act {
            Some(act) => act.apply(&y)?,
            None => y,
        };
        let mut out_dims = dims;
        *out_dims.last_mut().expect("non-empty dims") = self.out_dim;
        y.reshape(out_dims)
    }
}

/// Whether int8 matrices with one scale per row take the int8 × int8 kernel (the default);
/// `TOLK_INT8_ACTIVATIONS=f32` keeps their activations in f32 instead (weight-only int8), for
/// comparisons.
fn row_int8_enabled() -> bool {
    std::env::var("TOLK_INT8_ACTIVATIONS").map_or(true, |v| v != "f32")
}

/// [`PackedMatrix::matmul`] as a candle operation on `x: [m, k]` (f32, CPU).
struct PackedOp(Arc<PackedMatrix>);

impl candle_core::CustomOp1 for PackedOp {
    fn name(&self) -> &'static str {
        "packed-matmul"
    }

    fn cpu_fwd(
        &self,
        xs: &candle_core::CpuStorage,
        xl: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use candle_core::CpuStorage;
        let (m, k) = xl.shape().dims2()?;
        if k != self.0.k() {
            candle_core::bail!("packed matmul: x has {k} columns, W has {}", self.0.k());
        }
        let (CpuStorage::F32(x), Some((a, b))) = (xs, xl.contiguous_offsets()) else {
            candle_core::bail!("packed matmul takes contiguous f32 input");
        };
        let out = self.0.matmul(&x[a..b], m);
        Ok((CpuStorage::F32(out), (m, self.0.n()).into()))
    }
}
