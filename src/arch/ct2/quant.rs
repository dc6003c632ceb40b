//! CTranslate2 int8 matrices kept int8: rows of `model.bin` as candle Q8_0 blocks, without
//! re-rounding the int8 values.
//!
//! CT2 stores a matrix as `q = round(w * scale)` with one f32 `scale` per output row, so
//! `w = q / scale`. A Q8_0 block holds 32 int8 values and one f16 factor `d` (`w = d * q`); a row
//! of `cols` values (`cols` a multiple of 32) becomes `cols / 32` blocks that all carry
//! `d = f16(1 / scale)`. The int8 values are copied as they are; only `d` is rounded, and the
//! exact per-row correction `(1 / scale) / d` is returned with the blocks so a product can be
//! made exact again. Anything that does not fit (another dtype, a scalar scale, a width that is
//! not whole blocks, a scale f16 cannot hold) is `None`: the caller dequantizes instead. This
//! module never panics on malformed data.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{Device, Tensor};
use half::f16;

use super::{Ct2Binary, Ct2DType};
use crate::arch::mapped::Buf;
use crate::arch::weights::{DeferredInt8, Int8Rows, QuantizedWeight};
use crate::error::Result;

/// Values per Q8_0 block.
const BLOCK: usize = 32;

/// An int8 matrix as the mapping hands it over.
pub(super) enum Kept {
    /// As Q8_0 blocks on the model's device.
    Blocks(QuantizedWeight),
    /// As the file's int8 rows (CPU): borrowed, not copied.
    Rows(Int8Rows),
    /// As the file's int8 rows standing for the float matrix (a float load).
    Deferred(DeferredInt8),
}

/// Rows `rows` of the int8 matrix `name` (aliases followed), borrowed from the file, with
/// their stored f32 scales (`w = q / scale`) and the row width; `None` when `name` is not an
/// int8 matrix with one f32 scale per row, or the range does not fit.
fn stored_rows(
    b: &Ct2Binary,
    name: &str,
    rows: &Range<usize>,
) -> Option<(Buf<i8>, Vec<f32>, usize)> {
    let v = b.get(name)?;
    let scale = b.get(&format!("{name}_scale"))?;
    let [n_rows, cols] = v.shape[..] else {
        return None;
    };
    if v.dtype != Ct2DType::I8
        || scale.dtype != Ct2DType::F32
        || scale.shape.iter().product::<usize>() != n_rows
        || cols == 0
        || rows.start >= rows.end
        || rows.end > n_rows
    {
        return None;
    }
    let scales = b.raw(scale)[rows.start * 4..rows.end * 4]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let (bytes, start) = b.shared_raw(v);
    let values = Buf::mapped(bytes, start + rows.start * cols, rows.len() * cols)?;
    Some((values, scales, cols))
}

/// Rows `rows` of the int8 matrix `name` as borrowed rows to widen later with CT2's
/// `q / scale`; `None` as for [`int8_rows`], whatever the scales' values.
pub(super) fn deferred_rows(b: &Ct2Binary, name: &str, rows: Range<usize>) -> Option<DeferredInt8> {
    let (values, divisors, cols) = stored_rows(b, name, &rows)?;
    Some(DeferredInt8 {
        values,
        divisors,
        rows: rows.len(),
        cols,
    })
}

/// Rows `rows` of the int8 matrix `name` (aliases followed) as borrowed int8 rows with
/// `w = q · (1 / scale)`; `None` when `name` is not an int8 matrix with one finite, non-zero
/// f32 scale per row (an all-zero row's infinite scale gives 0).
pub(super) fn int8_rows(b: &Ct2Binary, name: &str, rows: Range<usize>) -> Option<Int8Rows> {
    let (values, scales, cols) = stored_rows(b, name, &rows)?;
    let scales = scales
        .into_iter()
        .map(|s| (s > 0.0 && !s.is_nan()).then_some(1.0 / s))
        .collect::<Option<Vec<f32>>>()?;
    Some(Int8Rows {
        values,
        scales,
        rows: rows.len(),
        cols,
    })
}

/// Rows `rows` of the int8 matrix `name` (aliases followed) as a Q8_0 matrix on `device`, with
/// its per-row correction factors; `None` when `name` is not an int8 matrix with one f32 scale per
/// row, or does not fit Q8_0.
pub(super) fn q8_0_rows(
    b: &Ct2Binary,
    name: &str,
    rows: Range<usize>,
    device: &Device,
) -> Result<Option<QuantizedWeight>> {
    let Some(v) = b.get(name) else {
        return Ok(None);
    };
    let Some(scale) = b.get(&format!("{name}_scale")) else {
        return Ok(None);
    };
    let [n_rows, cols] = v.shape[..] else {
        return Ok(None);
    };
    if v.dtype != Ct2DType::I8
        || scale.dtype != Ct2DType::F32
        || scale.shape.iter().product::<usize>() != n_rows
        || cols == 0
        || cols % BLOCK != 0
        || rows.start >= rows.end
        || rows.end > n_rows
    {
        return Ok(None);
    }
    let scales: Vec<f32> = b
        .raw(scale)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let Some((words, factors)) = blocks(
        &b.raw(v)[rows.start * cols..rows.end * cols],
        &scales[rows.clone()],
        cols,
    ) else {
        return Ok(None);
    };
    let storage = QStorage::from_data(
        Cow::Borrowed(bytemuck::cast_slice(&words)),
        device,
        GgmlDType::Q8_0,
    )?;
    let matrix = QTensor::new(storage, (rows.len(), cols))?;
    let row_factor = if factors.iter().all(|&f| f == 1.0) {
        None
    } else {
        let n = factors.len();
        Some(Tensor::from_vec(factors, n, &Device::Cpu)?)
    };
    Ok(Some(QuantizedWeight {
        matrix: Arc::new(matrix),
        row_factor,
    }))
}

/// Q8_0 blocks (as native-endian 16-bit words: the f16 `d`, then the 32 int8 values in pairs) of
/// the int8 rows `q` (`scales.len()` rows of `cols`), and the per-row factor `(1 / scale) / d`.
fn blocks(q: &[u8], scales: &[f32], cols: usize) -> Option<(Vec<u16>, Vec<f32>)> {
    const WORDS: usize = 1 + BLOCK / 2;
    let mut words = Vec::with_capacity(q.len() / BLOCK * WORDS);
    let mut factors = Vec::with_capacity(scales.len());
    for (row, &scale) in q.chunks_exact(cols).zip(scales) {
        let exact = 1.0 / scale;
        let d = f16::from_f32(exact);
        let stored = d.to_f32();
        let factor = if exact == 0.0 {
            // An all-zero row (CT2 writes an infinite scale): any d gives zeros.
            1.0
        } else if exact.is_finite() && stored != 0.0 && stored.is_finite() {
            exact / stored
        } else {
            return None;
        };
        factors.push(factor);
        for block in row.chunks_exact(BLOCK) {
            words.push(d.to_bits());
            words.extend(
                block
                    .chunks_exact(2)
                    .map(|p| u16::from_ne_bytes([p[0], p[1]])),
            );
        }
    }
    Some((words, factors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_the_int8_values_and_correct_the_scale() {
        let cols = 64;
        let q: Vec<i8> = (0..2 * cols)
            .map(|i| ((i as f32 * 1.3).sin() * 127.0) as i8)
            .collect();
        let scales = [97.3f32, 1234.5];
        let raw: Vec<u8> = q.iter().map(|&x| x as u8).collect();
        let (words, factors) = blocks(&raw, &scales, cols).unwrap();
        assert_eq!(words.len(), 2 * 2 * 17);
        let storage = QStorage::from_data(
            Cow::Borrowed(bytemuck::cast_slice(&words)),
            &Device::Cpu,
            GgmlDType::Q8_0,
        )
        .unwrap();
        let m = QTensor::new(storage, (2, cols)).unwrap();
        let deq: Vec<Vec<f32>> = m.dequantize(&Device::Cpu).unwrap().to_vec2().unwrap();
        for (r, row) in deq.iter().enumerate() {
            // 1/97.3 is not an f16: the blocks' d is rounded, the factor undoes it.
            assert_ne!(factors[r], 1.0);
            for (c, &x) in row.iter().enumerate() {
                let want = f32::from(q[r * cols + c]) / scales[r];
                assert!(
                    (x * factors[r] - want).abs() <= want.abs() * 1e-6,
                    "{r},{c}"
                );
                // Without the factor, the error is the f16 rounding of d (< 2^-11 relative).
                assert!((x - want).abs() <= want.abs() * 5e-4 + 1e-9, "{r},{c}");
            }
        }
    }

    #[test]
    fn unusable_scales_fall_back() {
        let raw = vec![1u8; 32];
        assert!(blocks(&raw, &[f32::NAN], 32).is_none());
        // 1/scale below f16's smallest subnormal rounds to 0.
        assert!(blocks(&raw, &[1e9], 32).is_none());
        let (_, f) = blocks(&[0u8; 32], &[f32::INFINITY], 32).unwrap();
        assert_eq!(f, vec![1.0]);
    }
}
