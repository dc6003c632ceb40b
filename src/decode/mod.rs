//! Generation: greedy and beam search written once over the [`Seq2Seq`] trait.
//!
//! Any encoder-decoder that can encode a padded batch, run one decoder step over a cache, and
//! keep or reorder rows of that cache can be decoded here. Results match transformers'
//! `generate` token for token (same processors, same beam bookkeeping). Rows that finish stop
//! costing compute: they are dropped from the model's state. This module never sees text.

mod beam;
pub mod causal;
pub mod config;
mod device_pick;
mod greedy;
mod logsoftmax;
pub mod processors;
#[cfg(feature = "cuda")]
mod top_k_cuda;

use candle_core::{Device, Tensor};

pub use config::{EarlyStopping, GenerationConfig};
use logsoftmax::{log_prob_at, log_softmax_in_place};

use crate::error::{Error, Result};

/// What an architecture offers the decoding loop.
pub trait Seq2Seq {
    /// Per-batch decoder state: encoder memory, cross-attention keys/values, self-attention caches.
    type State;

    /// Encode a right-padded batch: `ids` and `mask` are `[batch, src_len]` u32 (mask 1 = token).
    fn encode(&self, ids: &Tensor, mask: &Tensor) -> Result<Self::State>;

    /// Feed one token per row (`tokens: [rows]` u32) and return next-token logits `[rows, vocab]` in f32.
    fn step(&self, state: &mut Self::State, tokens: &Tensor) -> Result<Tensor>;

    /// Keep only state rows `rows` (indices, in that order): beam reordering, expansion and
    /// dropping finished rows are all this one operation. Indices are host data, so a model can
    /// plan the selection without reading anything back from the device.
    fn select(&self, state: &mut Self::State, rows: &[u32]) -> Result<()>;

    /// Where the model's tensors live.
    fn device(&self) -> &Device;
    /// Size of the output (target) vocabulary.
    fn vocab_size(&self) -> usize;
    /// Id used to pad source rows.
    fn pad_id(&self) -> u32;
    /// Longest source the encoder accepts, in tokens.
    fn max_source_len(&self) -> usize;
    /// Longest decoder output (start token included) the decoder has positions for.
    fn max_target_len(&self) -> usize;
}

/// One decoded sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated ids after the decoder start token, end-of-sequence included when produced.
    pub tokens: Vec<u32>,
    /// Sum of log-probabilities divided by the length penalty (beam search), or of log-probabilities of the chosen tokens (greedy).
    pub score: f32,
}

/// Decode a batch of source id sequences (each already ending with the end-of-sequence id).
pub fn generate<M: Seq2Seq>(
    model: &M,
    sources: &[Vec<u32>],
    cfg: &GenerationConfig,
) -> Result<Vec<Hypothesis>> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    cfg.validate(model.vocab_size())?;
    let state = encode_batch(model, sources)?;
    generate_from(model, state, sources.len(), cfg)
}

/// The first half of [`generate`]: pad `sources` into one batch and run the encoder.
/// (Benchmarks time it apart from [`generate_from`].)
pub fn encode_batch<M: Seq2Seq>(model: &M, sources: &[Vec<u32>]) -> Result<M::State> {
    let (ids, mask) = pad_batch(
        sources,
        model.pad_id(),
        model.max_source_len(),
        model.device(),
    )?;
    model.encode(&ids, &mask)
}

/// The second half of [`generate`]: decode the `batch` rows of a state made by [`encode_batch`].
pub fn generate_from<M: Seq2Seq>(
    model: &M,
    state: M::State,
    batch: usize,
    cfg: &GenerationConfig,
) -> Result<Vec<Hypothesis>> {
    if batch == 0 {
        return Ok(Vec::new());
    }
    cfg.validate(model.vocab_size())?;
    let mut cfg = cfg.clone();
    // Never decode past the decoder's position table.
    cfg.max_length = cfg.effective_max_length().min(model.max_target_len() + 1);
    cfg.max_new_tokens = None;
    if cfg.num_beams == 1 {
        greedy::search(model, state, batch, &cfg)
    } else {
        beam::search(model, state, batch, &cfg)
    }
}

/// Right-pad sources into `[batch, max_len]` ids and mask tensors.
fn pad_batch(
    sources: &[Vec<u32>],
    pad: u32,
    max_len: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    if len == 0 {
        return Err(Error::InvalidArgument(
            "a source sequence is empty (it must hold at least the end-of-sequence id)".into(),
        ));
    }
    if len > max_len {
        return Err(Error::InvalidArgument(format!(
            "a source of {len} tokens exceeds the model's limit of {max_len}; split the sentence first"
        )));
    }
    let mut ids = Vec::with_capacity(sources.len() * len);
    let mut mask = Vec::with_capacity(sources.len() * len);
    for s in sources {
        ids.extend_from_slice(s);
        ids.extend(std::iter::repeat_n(pad, len - s.len()));
        mask.extend(std::iter::repeat_n(1u32, s.len()));
        mask.extend(std::iter::repeat_n(0u32, len - s.len()));
    }
    let shape = (sources.len(), len);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// The processors' effect on each row (histories in row order) as `(row, token)` bans, when
/// every row's is sparse and the matrix is small enough for u32 flat indices; else `None` (the
/// step takes the host path).
fn device_bans<'a>(
    cfg: &GenerationConfig,
    histories: impl Iterator<Item = &'a Vec<u32>>,
    vocab: usize,
) -> Option<Vec<(usize, u32)>> {
    let mut bans = Vec::new();
    let mut rows = 0;
    for (row, h) in histories.enumerate() {
        let row_bans = processors::sparse_bans(cfg, h)?;
        // Ids past the vocabulary ban nothing (as on the host), and must not reach the next row.
        bans.extend(
            row_bans
                .into_iter()
                .filter(|&t| (t as usize) < vocab)
                .map(|t| (row, t)),
        );
        rows += 1;
    }
    device_pick::fits(rows, vocab).then_some(bans)
}

/// Run `f` on the values of `logits` (`[rows, vocab]`, f32), row after row: borrowed in place
/// on the CPU, copied from other devices.
fn with_host_rows<R>(logits: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let logits = logits.to_dtype(candle_core::DType::F32)?.contiguous()?;
    if logits.device().is_cpu() {
        let (storage, layout) = logits.storage_and_layout();
        if let (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)), Some((a, b))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(f(&v[a..b]));
        }
    }
    let v: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    Ok(f(&v))
}

/// Row indices in the form [`Seq2Seq::select`] takes.
fn row_ids(rows: &[usize]) -> Vec<u32> {
    rows.iter().map(|&r| r as u32).collect()
}

/// Last tokens of the given histories as a `[rows]` tensor.
fn last_tokens<'a>(
    histories: impl Iterator<Item = &'a Vec<u32>>,
    device: &Device,
) -> Result<Tensor> {
    let v: Vec<u32> = histories
        .map(|h| *h.last().expect("history starts with the start token"))
        .collect();
    let n = v.len();
    Ok(Tensor::from_vec(v, n, device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_right_sided_with_a_mask() {
        let (ids, mask) = pad_batch(&[vec![4, 0], vec![7, 8, 0]], 9, 10, &Device::Cpu).unwrap();
        assert_eq!(
            ids.to_vec2::<u32>().unwrap(),
            vec![vec![4, 0, 9], vec![7, 8, 0]]
        );
        assert_eq!(
            mask.to_vec2::<u32>().unwrap(),
            vec![vec![1, 1, 0], vec![1, 1, 1]]
        );
        assert!(pad_batch(&[vec![1; 11]], 9, 10, &Device::Cpu).is_err());
        assert!(pad_batch(&[vec![]], 9, 10, &Device::Cpu).is_err());
    }

    #[test]
    fn log_softmax_sums_to_one() {
        let mut r = vec![1.0f32, 2.0, 3.0, f32::NEG_INFINITY];
        log_softmax_in_place(&mut r);
        let total: f32 = r.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(r[3], f32::NEG_INFINITY);
    }
}
