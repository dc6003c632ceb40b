//! Reading a CTranslate2 model's variables and scalars for [`super::map`], with a record of
//! which stored variables were used, so that the mapping can refuse any it has no place for.

use std::collections::HashSet;

use candle_core::{Device, Tensor};

use super::quant::{self, Kept};
use super::Ct2Model;
use crate::error::{Error, Result};

/// Reads variables and scalars, remembering which stored variables were used.
pub(super) struct Take<'a> {
    pub(super) m: &'a Ct2Model,
    pub(super) used: HashSet<String>,
}

impl<'a> Take<'a> {
    pub(super) fn mark(&mut self, name: &str) {
        if let Some(n) = self.m.binary.resolve(name) {
            self.used.insert(n.to_string());
        }
    }

    /// A scalar of `scope`, or (older revisions) the model-wide one.
    pub(super) fn scalar(&mut self, scope: &str, key: &str) -> Option<f32> {
        let scoped = format!("{scope}/{key}");
        for name in [scoped.as_str(), key] {
            if let Some(v) = self.m.binary.scalar_f32(name) {
                self.mark(name);
                return Some(v);
            }
        }
        None
    }

    pub(super) fn flag(&mut self, scope: &str, key: &str, default: bool) -> bool {
        self.scalar(scope, key).map_or(default, |v| v != 0.0)
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.m.binary.resolve(name).is_some()
    }

    /// A tensor as f32 (dequantized), checked against `shape`.
    pub(super) fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.m.binary.dequantized(name)?;
        if t.dims() != shape {
            return Err(Error::CorruptModel {
                path: self.m.binary.path.clone(),
                reason: format!(
                    "variable `{name}` has shape {:?}, expected {shape:?}",
                    t.dims()
                ),
            });
        }
        self.mark(name);
        self.mark(&format!("{name}_scale"));
        Ok(t)
    }

    /// The int8 matrix `name` of `shape` split into `parts` equal row ranges, kept int8 (the
    /// file's rows on the CPU, Q8_0 blocks on other devices; with no device, rows to widen to
    /// float when asked for); `None` (nothing marked) when it is not stored int8 per row or does
    /// not fit.
    pub(super) fn quantized(
        &mut self,
        name: &str,
        shape: [usize; 2],
        parts: usize,
        device: Option<&Device>,
    ) -> Result<Option<Vec<Kept>>> {
        let b = &self.m.binary;
        let Some(v) = b.get(name) else {
            return Ok(None);
        };
        if v.shape != shape {
            return Err(Error::CorruptModel {
                path: b.path.clone(),
                reason: format!(
                    "variable `{name}` has shape {:?}, expected {shape:?}",
                    v.shape
                ),
            });
        }
        let rows = shape[0] / parts.max(1);
        let mut out = Vec::with_capacity(parts);
        for i in 0..parts {
            let range = i * rows..(i + 1) * rows;
            let kept = match device {
                Some(d) if d.is_cpu() => quant::int8_rows(b, name, range).map(Kept::Rows),
                Some(d) => quant::q8_0_rows(b, name, range, d)?.map(Kept::Blocks),
                None => quant::deferred_rows(b, name, range).map(Kept::Deferred),
            };
            match kept {
                Some(q) => out.push(q),
                None => return Ok(None),
            }
        }
        self.mark(name);
        self.mark(&format!("{name}_scale"));
        Ok(Some(out))
    }
}
