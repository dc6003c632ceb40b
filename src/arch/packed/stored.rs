//! A [`PackedMatrix`]'s panels as byte buffers, for writing them to a file and using them
//! again from a mapping of it (see [`crate::arch::pack_cache`]). Bias and activation are not
//! part of it: layers add those from the checkpoint.

use std::sync::Arc;

use super::int8::{Quad, RowPanels, QUAD};
use super::{Line, PackedMatrix, Panels, NR, Q8_BLOCK};
use crate::arch::mapped::{Buf, FileBytes};

/// Which panel layout a stored matrix has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    F32 = 0,
    Q8Blocks = 1,
    Int8Rows = 2,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::F32,
            1 => Self::Q8Blocks,
            2 => Self::Int8Rows,
            _ => return None,
        })
    }
}

impl PackedMatrix {
    /// The panel layout and its buffers, as bytes.
    pub fn stored_parts(&self) -> (Kind, Vec<&[u8]>) {
        match &self.panels {
            Panels::F32(lines) => (Kind::F32, vec![lines.as_bytes()]),
            Panels::Int8 { values, scales } => {
                (Kind::Q8Blocks, vec![values.as_bytes(), scales.as_bytes()])
            }
            Panels::RowInt8(w) => (
                Kind::Int8Rows,
                vec![w.quads.as_bytes(), w.scales.as_bytes()],
            ),
        }
    }

    /// Panels of an `[n, k]` matrix borrowed from `bytes` at `(offset, byte length)` for each
    /// buffer [`PackedMatrix::stored_parts`] gave; `None` when the buffers do not have the
    /// lengths `n`, `k` and `kind` imply, or are out of range or misaligned.
    pub fn from_stored(
        kind: Kind,
        n: usize,
        k: usize,
        bytes: &Arc<FileBytes>,
        parts: &[(usize, usize)],
    ) -> Option<Self> {
        let panels = n.div_ceil(NR);
        // A buffer of `len` values of T, given its stored byte length.
        fn buf<T: crate::arch::mapped::Pod>(
            bytes: &Arc<FileBytes>,
            (offset, size): (usize, usize),
            len: usize,
        ) -> Option<Buf<T>> {
            (len.checked_mul(std::mem::size_of::<T>())? == size)
                .then(|| Buf::mapped(bytes.clone(), offset, len))
                .flatten()
        }
        let panels = match (kind, parts) {
            (Kind::F32, &[a]) => Panels::F32(buf::<Line>(bytes, a, panels.checked_mul(k)?)?),
            (Kind::Q8Blocks, &[a, b]) if k.is_multiple_of(Q8_BLOCK) => Panels::Int8 {
                values: buf::<[i8; NR]>(bytes, a, panels.checked_mul(k)?)?,
                scales: buf::<Line>(bytes, b, panels.checked_mul(k / Q8_BLOCK)?)?,
            },
            (Kind::Int8Rows, &[a, b]) => Panels::RowInt8(RowPanels {
                quads: buf::<Quad>(bytes, a, panels.checked_mul(k.div_ceil(QUAD))?)?,
                scales: buf::<f32>(bytes, b, panels.checked_mul(NR)?)?,
                col_sums: Default::default(),
            }),
            _ => return None,
        };
        Some(Self {
            panels,
            bias: None,
            act: None,
            n,
            k,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_panels_give_the_same_products() {
        let (m, n, k) = (5, 37, 64);
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919) % 201) as f32 / 100.0 - 1.0)
            .collect();
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 104729) % 199) as f32 / 99.0 - 1.0)
            .collect();
        let q: Vec<i8> = w.iter().map(|v| (v * 127.0) as i8).collect();
        let row_scales: Vec<f32> = (0..n).map(|j| 0.01 + j as f32 * 1e-3).collect();
        let block_scales: Vec<f32> = (0..n * k / Q8_BLOCK)
            .map(|j| 0.01 + j as f32 * 1e-4)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        for packed in [
            PackedMatrix::from_f32(&w, n, k),
            PackedMatrix::from_q8(&q, &block_scales, n, k),
            PackedMatrix::from_i8_rows(&q, &row_scales, n, k),
        ] {
            let (kind, parts) = packed.stored_parts();
            // Each buffer at a 64-byte boundary, as the cache file lays them out.
            let mut file = Vec::new();
            let mut at = Vec::new();
            for p in &parts {
                file.resize(file.len().next_multiple_of(64), 0);
                at.push((file.len(), p.len()));
                file.extend_from_slice(p);
            }
            let path = dir.path().join(format!("{kind:?}"));
            std::fs::write(&path, &file).unwrap();
            let bytes = Arc::new(FileBytes::map(&path).unwrap());
            let back = PackedMatrix::from_stored(kind, n, k, &bytes, &at).unwrap();
            assert_eq!(back.matmul(&x, m), packed.matmul(&x, m), "{kind:?}");
            // Wrong sizes are refused, not read past.
            assert!(PackedMatrix::from_stored(kind, n + 16, k, &bytes, &at).is_none());
            let cut: Vec<(usize, usize)> = at.iter().map(|&(o, l)| (o, l - 1)).collect();
            assert!(PackedMatrix::from_stored(kind, n, k, &bytes, &cut).is_none());
        }
    }
}
