//! Device and dtype choice: parse `cpu`, `cuda`, `cuda:N` and `f32|f16|bf16|int8`, and say
//! clearly when a build or machine cannot honour them.

use std::str::FromStr;

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => Ok(Self::Cuda(n)),
                _ => Err(Error::InvalidArgument(format!(
                    "unknown device `{s}`: use cpu, cuda or cuda:N"
                ))),
            },
        }
    }
}

impl DeviceSpec {
    /// Open the device; a CUDA request on a build without the `cuda` feature is a clear error.
    pub fn open(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(Error::Unsupported(
                        "this tolk was built without CUDA; rebuild with `--features cuda` or use --device cpu".into(),
                    ));
                }
                let device = Device::new_cuda(n)
                    .map_err(|e| Error::Unsupported(format!("cannot open CUDA device {n}: {e}")))?;
                #[cfg(feature = "cuda")]
                if let (Device::Cuda(cuda), false) = (&device, cuda_event_tracking()) {
                    // Without this, every buffer gets two CUDA events that every kernel launch
                    // records or waits on and every free waits on: about ten driver calls per
                    // tensor operation, a third of a greedy decoding step on an H100.
                    // SAFETY: the events order work between streams; all of this device's work
                    // runs on candle's one stream for it, and no buffer exists yet.
                    unsafe { cuda.disable_event_tracking() };
                }
                Ok(device)
            }
        }
    }
}

/// Whether `TOLK_CUDA_EVENT_TRACKING=1` asks to keep cudarc's per-buffer event tracking (off
/// by default, see [`DeviceSpec::open`]; on only to measure what it costs).
#[cfg(feature = "cuda")]
fn cuda_event_tracking() -> bool {
    std::env::var("TOLK_CUDA_EVENT_TRACKING").is_ok_and(|v| v == "1")
}

/// Parse a compute dtype name.
pub fn parse_dtype(s: &str) -> Result<DType> {
    match s.trim().to_ascii_lowercase().as_str() {
        "f32" | "float32" => Ok(DType::F32),
        "f16" | "float16" => Ok(DType::F16),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        other => Err(Error::InvalidArgument(format!(
            "unknown dtype `{other}`: use f32, f16 or bf16"
        ))),
    }
}

/// What `--dtype` asks for: the float dtype the model computes in, and whether linear layers
/// run as int8 matrix products (int8-stored weights kept, float weights quantized at load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    pub dtype: DType,
    pub int8: bool,
    /// `auto`: int8 where the checkpoint stores int8 matrices and the model runs on the CPU
    /// (CTranslate2 int8 packages), else `dtype`.
    pub as_stored: bool,
}

/// Parse `auto` (int8 as stored on the CPU, else f32), `f32|f16|bf16` (int8 weights
/// dequantized to that dtype) or `int8` (int8 linear layers, f32 elsewhere).
pub fn parse_precision(s: &str) -> Result<Precision> {
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(Precision {
            dtype: DType::F32,
            int8: false,
            as_stored: true,
        }),
        "int8" | "i8" => Ok(Precision {
            dtype: DType::F32,
            int8: true,
            as_stored: false,
        }),
        other => match parse_dtype(other) {
            Ok(dtype) => Ok(Precision {
                dtype,
                int8: false,
                as_stored: false,
            }),
            Err(_) => Err(Error::InvalidArgument(format!(
                "unknown dtype `{other}`: use auto, f32, f16, bf16 or int8"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_dtypes() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("CUDA:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(1));
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert!(parse_dtype("int4").is_err());
        let p = parse_precision("INT8").unwrap();
        assert_eq!((p.dtype, p.int8), (DType::F32, true));
        assert!(!parse_precision("f16").unwrap().int8);
        let auto = parse_precision("auto").unwrap();
        assert!(auto.as_stored && !auto.int8 && auto.dtype == DType::F32);
        let err = parse_precision("int4").unwrap_err().to_string();
        assert!(err.contains("int8"), "{err}");
    }

    #[test]
    #[cfg(not(feature = "cuda"))]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
