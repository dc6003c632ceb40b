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
        let dense = match w.quantized(&name, &[out_dim, in_dim])? {
            Some(q) => Self::quantized(q, bias)?,
            None => Self::new(w.get(&name, &[out_dim, in_dim])?, bias)?,
        };
        if matches!(dense.matrix, Matrix::Packed(_)) {
            // The layer holds its own copy now.
            w.release(&name);
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
                let packed = PackedMatrix::from_q8(&values, &scales, out_dim, in_dim);
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
