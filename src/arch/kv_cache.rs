//! The per-layer key/value cache of decoder self-attention.
//!
//! Two stores behind one [`KvCache`]:
//! - **Tensors** (any device and dtype): the keys and values as `[rows, heads, time, head_dim]`
//!   tensors, grown by concatenation. A row selection (beam reordering, finished rows dropped)
//!   waits for the next append, which gathers the kept rows and adds the new position in one copy.
//! - **Blocks** (the CPU in f32, one new position per step): each step's keys and values are
//!   written once, as they come out of the projection, into a block of their own
//!   (`[rows then, heads, head_dim]`), and never copied again. A row selection only records, for
//!   the next position, which row of the previous block each new row continues. A row's history
//!   is found by following these links back, and [`super::cached_attention::attend_blocks`]
//!   reads the keys where they lie. Beam search reorders rows at every step; with blocks that
//!   costs a few integers per row instead of a copy of the whole cache, and no step allocates
//!   more than its own position.
//!
//! Which store a cache uses is settled by its first append; both give the same numbers.

use candle_core::{CpuStorage, DType, Device, Storage, Tensor};

/// Keys and values of one self-attention layer, grown by one position per decoding step.
#[derive(Clone, Default)]
pub struct KvCache {
    store: Store,
    /// Rows to keep, in order, not applied yet (indices into the rows of the last append).
    pending: Option<Vec<u32>>,
}

#[derive(Clone, Default)]
enum Store {
    #[default]
    Empty,
    Tensors(Tensor, Tensor),
    Blocks(Blocks),
}

/// Keys and values kept position by position (see the module docs).
#[derive(Clone, Debug)]
pub struct Blocks {
    /// Heads and head size.
    pub(crate) heads: usize,
    pub(crate) head_dim: usize,
    /// Per position: keys and values of the rows decoded at that step, `[rows_t, heads, hd]`.
    pub(crate) keys: Vec<Vec<f32>>,
    pub(crate) values: Vec<Vec<f32>>,
    /// Per position `t ≥ 1`: for each row of block `t`, the row of block `t − 1` it continues.
    /// `None`: the identity (no selection between the two steps).
    pub(crate) parents: Vec<Option<Vec<u32>>>,
}

impl Blocks {
    /// Rows of the newest block.
    pub(crate) fn rows(&self) -> usize {
        self.keys
            .last()
            .map_or(0, |k| k.len() / (self.heads * self.head_dim).max(1))
    }

    /// Positions cached.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The block row holding each position of `row` (a row of the newest block), oldest first.
    pub(crate) fn history(&self, row: usize, out: &mut Vec<usize>) {
        let n = self.len();
        out.clear();
        out.resize(n, 0);
        let mut r = row;
        for t in (0..n).rev() {
            out[t] = r;
            if t > 0 {
                if let Some(p) = &self.parents[t] {
                    r = p[r] as usize;
                }
            }
        }
    }

    /// The whole cache as `[rows, heads, time, head_dim]` tensors (for the tensor path).
    pub(crate) fn to_tensors(&self, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let (rows, h, d, n) = (self.rows(), self.heads, self.head_dim, self.len());
        let mut k = vec![0f32; rows * h * n * d];
        let mut v = vec![0f32; rows * h * n * d];
        let mut hist = Vec::new();
        for r in 0..rows {
            self.history(r, &mut hist);
            for (t, &slot) in hist.iter().enumerate() {
                for head in 0..h {
                    let src = (slot * h + head) * d;
                    let dst = ((r * h + head) * n + t) * d;
                    k[dst..dst + d].copy_from_slice(&self.keys[t][src..src + d]);
                    v[dst..dst + d].copy_from_slice(&self.values[t][src..src + d]);
                }
            }
        }
        Ok((
            Tensor::from_vec(k, (rows, h, n, d), device)?,
            Tensor::from_vec(v, (rows, h, n, d), device)?,
        ))
    }
}

/// The f32 values of a contiguous CPU tensor, copied.
fn host_values(t: &Tensor) -> Option<Vec<f32>> {
    let (st, l) = t.storage_and_layout();
    let (a, z) = l.contiguous_offsets()?;
    match &*st {
        Storage::Cpu(CpuStorage::F32(x)) => Some(x[a..z].to_vec()),
        _ => None,
    }
}

impl KvCache {
    /// Whether a new position `k`, `v` (`[rows, 1, heads, head_dim]`, as the projections lay it
    /// out) can go to the block store: the CPU, f32, and this cache not already on tensors.
    pub fn takes_blocks(&self, k: &Tensor) -> bool {
        matches!(k.device(), Device::Cpu)
            && k.dtype() == DType::F32
            && k.rank() == 4
            && k.dim(1).ok() == Some(1)
            && !matches!(self.store, Store::Tensors(..))
    }

    /// Append one position `k`, `v` (`[rows, 1, heads, head_dim]`) to the block store and return
    /// it. The caller checked [`KvCache::takes_blocks`].
    pub fn push_block(&mut self, k: &Tensor, v: &Tensor) -> candle_core::Result<&Blocks> {
        let (rows, _, heads, head_dim) = k.dims4()?;
        if v.dims() != k.dims() {
            candle_core::bail!(
                "kv cache: keys {:?} and values {:?} differ",
                k.dims(),
                v.dims()
            );
        }
        let (Some(kv), Some(vv)) = (host_values(k), host_values(v)) else {
            candle_core::bail!("kv cache: the block store takes contiguous f32 CPU tensors");
        };
        let pending = self.pending.take();
        if matches!(self.store, Store::Empty) {
            self.store = Store::Blocks(Blocks {
                heads,
                head_dim,
                keys: Vec::new(),
                values: Vec::new(),
                parents: Vec::new(),
            });
        }
        let Store::Blocks(b) = &mut self.store else {
            candle_core::bail!("kv cache: already on tensors");
        };
        if (b.heads, b.head_dim) != (heads, head_dim) && !b.keys.is_empty() {
            candle_core::bail!(
                "kv cache: {heads} heads of {head_dim} do not match the cached {} of {}",
                b.heads,
                b.head_dim
            );
        }
        let before = b.rows();
        let parents = match pending {
            Some(p) => {
                if p.len() != rows || p.iter().any(|&r| r as usize >= before) {
                    candle_core::bail!(
                        "kv cache: cannot continue rows {p:?} of {before} with {rows} new rows"
                    );
                }
                Some(p)
            }
            None if b.keys.is_empty() || before == rows => None,
            None => {
                candle_core::bail!("kv cache: {rows} new rows after {before} without a selection")
            }
        };
        // Block 0 has no parents: a selection only ever follows an append.
        b.parents.push(parents);
        b.keys.push(kv);
        b.values.push(vv);
        Ok(b)
    }

    /// Append new keys/values `[b, h, t_new, hd]` and return the full cache as tensors.
    pub fn append(&mut self, k: Tensor, v: Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        if let Store::Blocks(b) = &self.store {
            // A position the block store does not take (several at once, another dtype):
            // continue on tensors from here.
            let (pk, pv) = b.to_tensors(k.device())?;
            self.store = Store::Tensors(pk, pv);
        }
        let kv = match (std::mem::take(&mut self.store), self.pending.take()) {
            (Store::Tensors(pk, pv), None) => {
                (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?)
            }
            (Store::Tensors(pk, pv), Some(rows)) => {
                (gather_cat(&pk, &rows, &k)?, gather_cat(&pv, &rows, &v)?)
            }
            _ => (k, v),
        };
        self.store = Store::Tensors(kv.0.clone(), kv.1.clone());
        Ok(kv)
    }

    /// Keep only the batch rows in `rows` (in that order): beam reordering and dropping finished
    /// rows. Applied by the next append.
    pub fn select(&mut self, rows: &[u32]) {
        if matches!(self.store, Store::Empty) {
            return;
        }
        self.pending = Some(match self.pending.take() {
            Some(earlier) => rows.iter().map(|&r| earlier[r as usize]).collect(),
            None => rows.to_vec(),
        });
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Empty => 0,
            Store::Tensors(k, _) => k.dim(2).unwrap_or(0),
            Store::Blocks(b) => b.len(),
        }
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `cat([old[rows], new], 2)` for `old: [b_old, h, t, hd]` and `new: [rows.len(), h, t_new, hd]`:
/// one pass over the cache on the CPU, index-select then concatenate elsewhere.
fn gather_cat(old: &Tensor, rows: &[u32], new: &Tensor) -> candle_core::Result<Tensor> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: (usize, usize, usize, usize), start: f32) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let v: Vec<f32> = (0..n).map(|i| start + i as f32).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
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
        assert_eq!(flat(&k), flat(&want_k));
        assert_eq!(flat(&v), flat(&want_v));
        assert_eq!(k.dims(), &[2, 2, 3, 4]);
        assert!(gather_cat(&k0, &[3], &k1.narrow(0, 0, 1).unwrap()).is_err());
    }

    /// Steps of `[rows, 1, heads, hd]` positions with row selections in between, through the
    /// block store and through the tensor store: the same cache.
    #[test]
    fn blocks_hold_what_tensors_hold_through_reorders_and_drops() {
        let (h, d) = (2, 4);
        let steps: [(usize, Option<&[u32]>); 5] = [
            (2, None),
            (4, Some(&[0, 0, 1, 1])), // beams of two sentences
            (4, Some(&[1, 0, 3, 3])), // reordered, a row repeated
            (4, None),
            (2, Some(&[3, 0])), // two rows dropped
        ];
        let (mut blocks, mut tensors) = (KvCache::default(), KvCache::default());
        for (i, (rows, sel)) in steps.iter().enumerate() {
            if let Some(sel) = sel {
                blocks.select(sel);
                tensors.select(sel);
            }
            // [rows, 1, h, d] as the projections write it.
            let k = ramp((*rows, 1, h, d), 100.0 * i as f32);
            let v = ramp((*rows, 1, h, d), -100.0 * i as f32);
            assert!(blocks.takes_blocks(&k));
            let b = blocks.push_block(&k, &v).unwrap().clone();
            let split = |x: &Tensor| x.transpose(1, 2).unwrap().contiguous().unwrap();
            let (tk, tv) = tensors.append(split(&k), split(&v)).unwrap();
            let (bk, bv) = b.to_tensors(&Device::Cpu).unwrap();
            assert_eq!(flat(&bk), flat(&tk), "keys after step {i}");
            assert_eq!(flat(&bv), flat(&tv), "values after step {i}");
            assert_eq!(blocks.len(), i + 1);
        }
        // A cache on tensors stays there; one on blocks moves to tensors when asked to.
        assert!(!tensors.takes_blocks(&ramp((2, 1, h, d), 0.0)));
        let (k, _) = blocks
            .append(ramp((2, h, 1, d), 0.0), ramp((2, h, 1, d), 0.0))
            .unwrap();
        assert_eq!(k.dims(), &[2, h, 6, d]);
        // Rows that do not continue the previous block are refused.
        let mut c = KvCache::default();
        c.push_block(&ramp((2, 1, h, d), 0.0), &ramp((2, 1, h, d), 0.0))
            .unwrap();
        assert!(c
            .push_block(&ramp((3, 1, h, d), 0.0), &ramp((3, 1, h, d), 0.0))
            .is_err());
        c.select(&[0, 5]);
        assert!(c
            .push_block(&ramp((2, 1, h, d), 0.0), &ramp((2, 1, h, d), 0.0))
            .is_err());
    }
}
