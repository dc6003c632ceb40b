//! CTranslate2's `model.bin` container: variables (dims, dtype, bytes), scales and aliases.
//!
//! Format notes (also in the parent module's docs): all integers little-endian; `u32
//! binary_version`, spec name and revision (version >= 2), variables (name, rank, dims, dtype
//! id, byte count, data), then aliases (version >= 3). This file never maps names onto an
//! architecture and never panics on a malformed file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use crate::arch::mapped::FileBytes;
use crate::error::{Error, Result};
/// Oldest and newest `model.bin` binary versions this reader understands.
pub const BINARY_VERSIONS: std::ops::RangeInclusive<u32> = 2..=6;

/// Storage type of one variable (CT2's `DataType` ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ct2DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl Ct2DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }

    /// CT2's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F16 => "float16",
            Self::BF16 => "bfloat16",
        }
    }
}

/// One stored variable: its shape, type and raw little-endian bytes (a range of the file).
#[derive(Clone, Debug)]
pub struct Ct2Variable {
    pub shape: Vec<usize>,
    pub dtype: Ct2DType,
    range: std::ops::Range<usize>,
}

/// The parsed contents of a `model.bin`.
#[derive(Debug)]
pub struct Ct2Binary {
    pub path: PathBuf,
    pub binary_version: u32,
    pub spec: String,
    pub revision: u32,
    bytes: Arc<FileBytes>,
    variables: HashMap<String, Ct2Variable>,
    /// Variable names in file order.
    order: Vec<String>,
    /// alias -> target, as stored.
    aliases: Vec<(String, String)>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<std::ops::Range<usize>> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::CorruptModel {
                path: self.path.to_path_buf(),
                reason: format!(
                    "the file is truncated: {what} needs {n} bytes at offset {} but the file has {} \
                     bytes; download or convert the model again",
                    self.pos,
                    self.bytes.len()
                ),
            });
        };
        let r = self.pos..end;
        self.pos = end;
        Ok(r)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        let r = self.take(1, what)?;
        Ok(self.bytes[r.start])
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        let r = self.take(2, what)?;
        Ok(u16::from_le_bytes([
            self.bytes[r.start],
            self.bytes[r.start + 1],
        ]))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let r = self.take(4, what)?;
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.bytes[r]);
        Ok(u32::from_le_bytes(b))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u16(what)? as usize;
        let r = self.take(n, what)?;
        let raw = &self.bytes[r];
        // C++ reads up to the first NUL.
        let raw = raw.split(|&b| b == 0).next().unwrap_or(raw);
        String::from_utf8(raw.to_vec()).map_err(|_| Error::CorruptModel {
            path: self.path.to_path_buf(),
            reason: format!("{what} at offset {} is not UTF-8", self.pos - n),
        })
    }
}

impl Ct2Binary {
    /// Read and index a `model.bin`.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_file_bytes(FileBytes::map_random(path)?, path)
    }

    /// Parse the bytes of a `model.bin`; `path` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        Self::from_file_bytes(FileBytes::Owned(bytes), path)
    }

    /// Parse a `model.bin` read or mapped: only the variables' headers are read here, the
    /// data stays where it is until a variable is used.
    fn from_file_bytes(bytes: FileBytes, path: &Path) -> Result<Self> {
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
            path,
        };
        let binary_version = r.u32("the binary version")?;
        if !BINARY_VERSIONS.contains(&binary_version) {
            return Err(Error::Unsupported(format!(
                "{} has CTranslate2 binary version {binary_version}; tolk reads versions {}..={} \
                 (convert the model with a CTranslate2 release from 2.0 to 4.x)",
                path.display(),
                BINARY_VERSIONS.start(),
                BINARY_VERSIONS.end()
            )));
        }
        let spec = r.string("the spec name")?;
        let revision = r.u32("the spec revision")?;
        let count = r.u32("the variable count")? as usize;
        let mut variables = HashMap::with_capacity(count.min(1 << 16));
        let mut order = Vec::with_capacity(count.min(1 << 16));
        for i in 0..count {
            let what = format!("variable {i} of {count}");
            let name = r.string(&what)?;
            let rank = r.u8(&what)? as usize;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(r.u32(&what)? as usize);
            }
            let tag = r.u8(&what)?;
            let dtype = if binary_version >= 4 {
                Ct2DType::from_id(tag)
            } else {
                match tag {
                    4 => Some(Ct2DType::F32),
                    2 => Some(Ct2DType::I16),
                    1 => Some(Ct2DType::I8),
                    _ => None,
                }
            };
            let dtype = dtype.ok_or_else(|| Error::CorruptModel {
                path: path.to_path_buf(),
                reason: format!("variable `{name}` has unknown data type id {tag}"),
            })?;
            let stored = r.u32(&what)? as usize;
            let num_bytes = if binary_version >= 4 {
                stored
            } else {
                stored.saturating_mul(dtype.size())
            };
            // Checked: a damaged shape must not overflow (a panic in debug builds, a wrong size
            // that happens to match in release ones).
            let bytes = shape
                .iter()
                .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
            if bytes != Some(num_bytes) {
                return Err(Error::CorruptModel {
                    path: path.to_path_buf(),
                    reason: format!(
                        "variable `{name}` has shape {shape:?} of {} but {num_bytes} bytes of data",
                        dtype.name()
                    ),
                });
            }
            let range = r.take(num_bytes, &format!("the data of `{name}`"))?;
            order.push(name.clone());
            variables.insert(
                name,
                Ct2Variable {
                    shape,
                    dtype,
                    range,
                },
            );
        }
        let mut aliases = Vec::new();
        if binary_version >= 3 {
            let n = r.u32("the alias count")?;
            for _ in 0..n {
                let alias = r.string("an alias name")?;
                let target = r.string("an alias target")?;
                aliases.push((alias, target));
            }
        }
        if r.pos != bytes.len() {
            return Err(Error::CorruptModel {
                path: path.to_path_buf(),
                reason: format!(
                    "{} unexpected bytes after the last alias; the file is damaged",
                    bytes.len() - r.pos
                ),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            binary_version,
            spec,
            revision,
            bytes: Arc::new(bytes),
            variables,
            order,
            aliases,
        })
    }

    /// Size of the whole `model.bin` in bytes.
    pub fn file_size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Number of stored variables (aliases not counted).
    pub fn variable_count(&self) -> usize {
        self.order.len()
    }

    /// Stored variable names, in file order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// `(alias, target)` pairs as stored.
    pub fn aliases(&self) -> &[(String, String)] {
        &self.aliases
    }

    /// The stored name `name` refers to, following aliases (CT2 also aliases `<alias>_scale`).
    pub fn resolve<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        if let Some((k, _)) = self.variables.get_key_value(name) {
            return Some(k.as_str());
        }
        for (alias, target) in &self.aliases {
            if alias == name {
                return self
                    .variables
                    .get_key_value(target)
                    .map(|(k, _)| k.as_str());
            }
            if let Some(base) = name.strip_suffix("_scale") {
                if alias == base {
                    let scale = format!("{target}_scale");
                    return self
                        .variables
                        .get_key_value(&scale)
                        .map(|(k, _)| k.as_str());
                }
            }
        }
        None
    }

    /// The variable `name` (aliases followed).
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        self.resolve(name).and_then(|n| self.variables.get(n))
    }

    /// Raw little-endian bytes of a variable.
    pub fn raw(&self, v: &Ct2Variable) -> &[u8] {
        &self.bytes[v.range.clone()]
    }

    /// The whole file's bytes and where a variable's data starts in them (to borrow the data
    /// without copying it).
    pub fn shared_raw(&self, v: &Ct2Variable) -> (Arc<FileBytes>, usize) {
        (self.bytes.clone(), v.range.start)
    }

    /// Let go of the resident pages of a mapped file once the model is built: what load read
    /// once (headers, small variables) was copied, and what stays borrowed is read again
    /// from the file when used.
    pub fn release_pages(&self) {
        self.bytes.release_pages();
    }

    /// The dtypes of all stored variables, with counts.
    pub fn dtype_counts(&self) -> Vec<(Ct2DType, usize)> {
        let mut counts: Vec<(Ct2DType, usize)> = Vec::new();
        for v in self.variables.values() {
            match counts.iter_mut().find(|(d, _)| *d == v.dtype) {
                Some((_, n)) => *n += 1,
                None => counts.push((v.dtype, 1)),
            }
        }
        counts.sort_by_key(|(d, _)| d.name());
        counts
    }

    /// A scalar as an integer (flags, enums, head counts), following aliases.
    pub fn scalar_i64(&self, name: &str) -> Option<i64> {
        let v = self.get(name)?;
        let b = self.raw(v);
        if v.shape.iter().product::<usize>() != 1 {
            return None;
        }
        Some(match v.dtype {
            Ct2DType::I8 => i64::from(b[0] as i8),
            Ct2DType::I16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            Ct2DType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Ct2DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            Ct2DType::F16 | Ct2DType::BF16 => return None,
        })
    }

    /// A scalar as a float.
    pub fn scalar_f32(&self, name: &str) -> Option<f32> {
        let v = self.get(name)?;
        let b = self.raw(v);
        match v.dtype {
            Ct2DType::F32 if b.len() == 4 => Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => self.scalar_i64(name).map(|i| i as f32),
        }
    }

    /// The variable `name` as f32 on the CPU: floats converted, int8/int16 dequantized with
    /// their `<name>_scale` (`w = q / scale`, per row for int8 matrices).
    pub fn dequantized(&self, name: &str) -> Result<Tensor> {
        let corrupt = |reason: String| Error::CorruptModel {
            path: self.path.clone(),
            reason,
        };
        let v = self
            .get(name)
            .ok_or_else(|| corrupt(format!("variable `{name}` is missing")))?;
        let b = self.raw(v);
        let n: usize = v.shape.iter().product();
        let values: Vec<f32> = match v.dtype {
            Ct2DType::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Ct2DType::F16 | Ct2DType::BF16 => {
                let dt = if v.dtype == Ct2DType::F16 {
                    DType::F16
                } else {
                    DType::BF16
                };
                let t = Tensor::from_raw_buffer(b, dt, &v.shape, &Device::Cpu)?;
                return Ok(t.to_dtype(DType::F32)?);
            }
            Ct2DType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            Ct2DType::I8 | Ct2DType::I16 => {
                let scale_name = format!("{name}_scale");
                let scale = self
                    .get(&scale_name)
                    .ok_or_else(|| corrupt(format!("quantized `{name}` has no `{scale_name}`")))?;
                let scales: Vec<f32> = self
                    .raw(scale)
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let q: Vec<f32> = if v.dtype == Ct2DType::I8 {
                    b.iter().map(|&x| f32::from(x as i8)).collect()
                } else {
                    b.chunks_exact(2)
                        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])))
                        .collect()
                };
                let rows = v.shape.first().copied().unwrap_or(1).max(1);
                let per_row = scales.len() == rows && v.shape.len() >= 2;
                if scale.dtype != Ct2DType::F32 || !(per_row || scales.len() == 1) {
                    return Err(corrupt(format!(
                        "`{scale_name}` has {} {} values; expected 1 or one per row of `{name}` ({rows})",
                        scales.len(),
                        scale.dtype.name()
                    )));
                }
                let cols = n / rows;
                q.iter()
                    .enumerate()
                    .map(|(i, &x)| x / if per_row { scales[i / cols] } else { scales[0] })
                    .collect()
            }
        };
        Ok(Tensor::from_vec(values, v.shape.as_slice(), &Device::Cpu)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    /// A version-6 `model.bin` with one f32 variable of `shape` and `data` bytes.
    fn one_variable(shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = 6u32.to_le_bytes().to_vec();
        string(&mut b, "TransformerSpec");
        b.extend_from_slice(&7u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        string(&mut b, "w");
        b.push(shape.len() as u8);
        for d in shape {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.push(0); // float32
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b.extend_from_slice(&0u32.to_le_bytes()); // no aliases
        b
    }

    #[test]
    fn a_shape_whose_size_overflows_is_a_clear_error() {
        let path = Path::new("model.bin");
        let ok = Ct2Binary::from_bytes(one_variable(&[2], &[0; 8]), path).unwrap();
        assert_eq!(ok.get("w").unwrap().shape, [2]);
        // 4 bytes × (2³² − 1)³ overflows: refused, not wrapped around or panicking.
        let err = Ct2Binary::from_bytes(one_variable(&[u32::MAX; 3], &[0; 4]), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("shape"), "{err}");
    }
}
