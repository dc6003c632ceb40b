//! The decoder state the encoder-decoder architectures share: encoder memory (padding bias and
//! each layer's cross-attention keys/values), shared by groups of consecutive decoder rows (a
//! sentence's beams), and each layer's self-attention cache.
//!
//! [`DecoderState::select`] is the one operation decoding needs on it (beam reordering,
//! expansion, dropping finished rows); memory rows are copied only when the set of sentences
//! changes. Nothing here knows which architecture filled it.

use candle_core::{Device, Tensor};

use super::attention::{regroup_memory, KvCache};
use crate::error::{Error, Result};

/// Per-batch decoder state of Marian and T5.
pub struct DecoderState {
    /// Additive padding bias of the encoder memory, `[memory rows, 1, 1, src_len]`.
    pub(in crate::arch) memory_bias: Tensor,
    /// Each decoder layer's cross-attention keys and values, `[memory rows, heads, src, hd]`.
    pub(in crate::arch) cross: Vec<(Tensor, Tensor)>,
    /// Consecutive decoder rows sharing one memory row.
    pub(in crate::arch) group: usize,
    /// Decoder rows.
    pub(in crate::arch) rows: usize,
    /// Each decoder layer's self-attention cache.
    pub(in crate::arch) self_kv: Vec<KvCache>,
    /// Decoder positions done.
    pub(in crate::arch) position: usize,
}

impl DecoderState {
    /// The state right after encoding: one decoder row per memory row, empty caches.
    pub(in crate::arch) fn new(memory_bias: Tensor, cross: Vec<(Tensor, Tensor)>) -> Result<Self> {
        Ok(Self {
            rows: memory_bias.dim(0)?,
            self_kv: vec![KvCache::default(); cross.len()],
            memory_bias,
            cross,
            group: 1,
            position: 0,
        })
    }

    /// Memory rows for new decoder rows `rows`, and the group size they come in.
    pub(in crate::arch) fn regroup(&self, rows: &[u32]) -> (Vec<u32>, usize) {
        regroup_memory(rows, self.group)
    }

    /// Keep decoder rows `wanted` (in that order), moving memory rows only when needed.
    pub(in crate::arch) fn select(&mut self, wanted: &[u32], device: &Device) -> Result<()> {
        if wanted.is_empty() || wanted.iter().any(|&r| r as usize >= self.rows) {
            return Err(Error::InvalidArgument(format!(
                "row selection must be non-empty and within 0..{}",
                self.rows
            )));
        }
        let (memory, group) = self.regroup(wanted);
        let old_memory_rows = self.rows / self.group;
        let unchanged = memory.len() == old_memory_rows
            && memory.iter().enumerate().all(|(i, &m)| m as usize == i);
        if !unchanged {
            let idx = Tensor::from_vec(memory.clone(), memory.len(), device)?;
            self.memory_bias = self.memory_bias.index_select(&idx, 0)?;
            for (k, v) in self.cross.iter_mut() {
                *k = k.index_select(&idx, 0)?;
                *v = v.index_select(&idx, 0)?;
            }
        }
        self.group = group;
        self.rows = wanted.len();
        for c in self.self_kv.iter_mut() {
            c.select(wanted);
        }
        Ok(())
    }
}
