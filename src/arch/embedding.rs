//! Token embedding tables: a float tensor, or int8 rows with one scale each (CTranslate2's int8
//! layout, read in place from the mapped checkpoint), widened to f32 row by row as tokens are
//! looked up. An int8 table costs a quarter of f32's memory, and only the rows a batch uses are
//! ever read (from the file, when the checkpoint is mapped: the table never becomes resident).

use candle_core::{DType, Device, Tensor};

use super::weights::{DeferredInt8, Int8Rows, Weights};
use crate::error::{Error, Result};

/// A `[vocab, dim]` embedding table.
#[derive(Clone)]
pub enum Embedding {
    Float(Tensor),
    Int8(Int8Rows),
    /// int8 rows standing for a float table (a float load of an int8 checkpoint), widened
    /// exactly as the float table would hold them.
    Deferred(DeferredInt8),
}

impl Embedding {
    /// The first of `names` the checkpoint holds (int8 rows before float tensors), checked
    /// against `shape`.
    pub fn load(w: &Weights, names: &[&str], shape: [usize; 2]) -> Result<Self> {
        for name in names {
            if let Some(rows) = w.int8_rows(name, &shape)? {
                return Ok(Self::Int8(rows));
            }
            if let Some(rows) = w.deferred(name).filter(|r| [r.rows, r.cols] == shape) {
                return Ok(Self::Deferred(rows));
            }
        }
        Ok(Self::Float(w.get_first(names, &shape)?))
    }

    /// Rows `ids` (`[b, t]`, u32) as `[b, t, dim]` in `dtype` on `device`.
    pub fn lookup(&self, ids: &Tensor, dtype: DType, device: &Device) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        match self {
            Self::Float(table) => {
                Ok(table
                    .index_select(&ids.flatten_all()?, 0)?
                    .reshape((b, t, ()))?)
            }
            Self::Int8(rows) => {
                let ids: Vec<u32> = ids.flatten_all()?.to_vec1()?;
                let dim = rows.cols;
                let mut out = Vec::with_capacity(ids.len() * dim);
                let mut row = vec![0i8; dim];
                for &id in &ids {
                    let id = id as usize;
                    if id >= rows.rows || (id + 1) * dim > rows.values.len() {
                        return Err(Error::InvalidArgument(format!(
                            "token id {id} is outside the embedding's {} rows",
                            rows.rows
                        )));
                    }
                    // Read, not touched in place: a table in a mapped checkpoint stays on disk.
                    rows.values.copy_to(id * dim, &mut row);
                    let s = rows.scales[id];
                    out.extend(row.iter().map(|&q| f32::from(q) * s));
                }
                Ok(Tensor::from_vec(out, (b, t, dim), device)?.to_dtype(dtype)?)
            }
            Self::Deferred(rows) => {
                let ids: Vec<u32> = ids.flatten_all()?.to_vec1()?;
                let mut out = Vec::with_capacity(ids.len() * rows.cols);
                let mut scratch = Vec::new();
                for &id in &ids {
                    if id as usize >= rows.rows {
                        return Err(Error::InvalidArgument(format!(
                            "token id {id} is outside the embedding's {} rows",
                            rows.rows
                        )));
                    }
                    rows.widen_row(id as usize, &mut scratch, &mut out);
                }
                Ok(Tensor::from_vec(out, (b, t, rows.cols), device)?.to_dtype(dtype)?)
            }
        }
    }

    /// The table as a float `[vocab, dim]` tensor (int8 rows widened on the CPU; a float table where
    /// it is), for an output projection tied to it.
    pub fn to_tensor(&self) -> Result<Tensor> {
        match self {
            Self::Float(t) => Ok(t.clone()),
            Self::Deferred(r) => r.to_tensor(),
            Self::Int8(r) => {
                let v: Vec<f32> = r
                    .values
                    .chunks(r.cols.max(1))
                    .zip(&r.scales)
                    .flat_map(|(row, &s)| row.iter().map(move |&q| f32::from(q) * s))
                    .collect();
                Ok(Tensor::from_vec(v, (r.rows, r.cols), &Device::Cpu)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::mapped::Buf;

    #[test]
    fn int8_rows_widen_to_their_scaled_values() {
        let rows = Int8Rows {
            values: Buf::from(vec![1i8, -2, 3, 4, 5, -127]),
            scales: vec![0.5, 0.25],
            rows: 2,
            cols: 3,
        };
        let e = Embedding::Int8(rows);
        let ids = Tensor::new(&[[1u32, 0]], &Device::Cpu).unwrap();
        let v: Vec<Vec<Vec<f32>>> = e
            .lookup(&ids, DType::F32, &Device::Cpu)
            .unwrap()
            .to_vec3()
            .unwrap();
        assert_eq!(v, vec![vec![vec![1.0, 1.25, -31.75], vec![0.5, -1.0, 1.5]]]);
        let bad = Tensor::new(&[[2u32]], &Device::Cpu).unwrap();
        assert!(e.lookup(&bad, DType::F32, &Device::Cpu).is_err());
        let t: Vec<Vec<f32>> = e.to_tensor().unwrap().to_vec2().unwrap();
        assert_eq!(t[1], vec![1.0, 1.25, -31.75]);
    }
}
