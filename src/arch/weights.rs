//! Named tensors from a checkpoint file: `model.safetensors` or PyTorch's `pytorch_model.bin`.
//!
//! Architectures ask for tensors by their checkpoint names and expected shapes; this module turns
//! missing names, wrong shapes and unreadable files into errors that say which file and what to do.
//! A format reader may also hand over matrices kept quantized ([`QuantizedWeight`]); an
//! architecture asks for those first and falls back to the float tensor of the same name.
//! It never knows about any particular architecture.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use super::mapped::Buf;
use super::pack_cache::PackCache;
use crate::error::{Error, Result};
use crate::hub::WeightFiles;

/// A `[out, in]` matrix kept quantized (on the model's device), with an optional per-output-row
/// factor `[out]` (f32) that the product must be multiplied by: it restores the exact row scales
/// where the quantized format had to round them.
#[derive(Clone)]
pub struct QuantizedWeight {
    pub matrix: Arc<QTensor>,
    pub row_factor: Option<Tensor>,
}

/// A `[rows, cols]` int8 matrix with one scale per row (`w = q · scales[row]`, CTranslate2's
/// int8 layout), its values borrowed from the checkpoint file where they can be.
#[derive(Clone)]
pub struct Int8Rows {
    pub values: Buf<i8>,
    pub scales: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

/// A `[rows, cols]` int8 matrix with one divisor per row, widened to f32 only when a layer asks
/// for it: `w = q / divisors[row]`, CTranslate2's own dequantization, bit for bit. A float load
/// whose packed weights come from the cache never widens it, and a token table widens only the
/// rows it looks up.
#[derive(Clone)]
pub struct DeferredInt8 {
    pub values: Buf<i8>,
    pub divisors: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

impl DeferredInt8 {
    /// Append row `row` widened to f32 to `out` (read from the file when it is mapped).
    pub fn widen_row(&self, row: usize, scratch: &mut Vec<i8>, out: &mut Vec<f32>) {
        scratch.resize(self.cols, 0);
        self.values.copy_to(row * self.cols, scratch);
        let d = self.divisors[row];
        out.extend(scratch.iter().map(|&q| f32::from(q) / d));
    }

    /// The whole matrix in f32 on the CPU.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let v: Vec<f32> = self
            .values
            .chunks(self.cols.max(1))
            .zip(&self.divisors)
            .flat_map(|(row, &d)| row.iter().map(move |&q| f32::from(q) / d))
            .collect();
        Ok(Tensor::from_vec(v, (self.rows, self.cols), &Device::Cpu)?)
    }
}

impl std::fmt::Debug for DeferredInt8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeferredInt8({}×{})", self.rows, self.cols)
    }
}

impl std::fmt::Debug for Int8Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Int8Rows({}×{})", self.rows, self.cols)
    }
}

/// Values per candle Q8_0 block.
const Q8_0_BLOCK: usize = 32;

impl QuantizedWeight {
    /// Quantize a float `[out, in]` matrix (`in` a multiple of 32) to Q8_0 on `device`.
    pub fn q8_0(t: &Tensor, device: &Device) -> Result<Self> {
        let cpu = t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
        let q = QTensor::quantize_onto(&cpu, GgmlDType::Q8_0, device)?;
        Ok(Self {
            matrix: Arc::new(q),
            row_factor: None,
        })
    }
}

impl std::fmt::Debug for QuantizedWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QuantizedWeight({:?} {:?})",
            self.matrix.dtype(),
            self.matrix.shape()
        )
    }
}

/// The map behind a lock held by `&mut` (no other holder can have poisoned it).
fn lock<T>(m: &mut Mutex<T>) -> &mut T {
    m.get_mut().unwrap_or_else(|e| e.into_inner())
}

/// All tensors of one checkpoint, by name, on one device and in one dtype.
#[derive(Debug)]
pub struct Weights {
    /// Behind locks so that layers can [`Weights::release`] what they copied out while the
    /// model is built from a shared reference.
    tensors: Mutex<HashMap<String, Tensor>>,
    quantized: Mutex<HashMap<String, QuantizedWeight>>,
    int8_rows: Mutex<HashMap<String, Int8Rows>>,
    /// int8 matrices that stand for float tensors, widened when asked for.
    deferred: Mutex<HashMap<String, DeferredInt8>>,
    /// Packed matrices of an earlier load, and where this load's are recorded.
    pack_cache: Option<Arc<PackCache>>,
    source: PathBuf,
    dtype: DType,
    device: Device,
}

impl Weights {
    /// Load a checkpoint; the format is chosen by extension (`.safetensors`, else PyTorch pickle).
    pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingFile {
                file: path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                location: path
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                hint: "check the model folder or download the model again".into(),
            });
        }
        let corrupt = |e: candle_core::Error| Error::CorruptModel {
            path: path.to_path_buf(),
            reason: format!("{e}; delete it and download the model again"),
        };
        let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
        // Read on the CPU first: a corrupt file must fail here, not deep inside a kernel. The
        // readers are candle's; a panic of theirs on a damaged file is an error too.
        let read = || -> candle_core::Result<HashMap<String, Tensor>> {
            if is_safetensors {
                candle_core::safetensors::load(path, &Device::Cpu)
            } else {
                Ok(candle_core::pickle::read_all(path)?.into_iter().collect())
            }
        };
        let tensors = super::guard::catch_panic(read)
            .unwrap_or_else(|panic| Err(candle_core::Error::Msg(format!("unreadable ({panic})"))))
            .map_err(corrupt)?;
        if tensors.is_empty() {
            return Err(Error::CorruptModel {
                path: path.to_path_buf(),
                reason: "the file holds no tensors; download the model again".into(),
            });
        }
        Ok(Self::from_tensors(
            tensors,
            path.to_path_buf(),
            dtype,
            device,
        ))
    }

    /// Load a checkpoint from its files: one file as [`Weights::load`], or the shards of a
    /// sharded checkpoint, whose tensors must be exactly those its index maps, each in the
    /// shard the index names.
    pub fn load_files(files: &WeightFiles, dtype: DType, device: &Device) -> Result<Self> {
        let Some((index_path, index)) = &files.index else {
            return Self::load(&files.files[0], dtype, device);
        };
        let mut all: HashMap<String, Tensor> = HashMap::new();
        for (shard, path) in index.shards.iter().zip(&files.files) {
            let part = Self::load(path, dtype, device)?;
            let tensors = part.tensors.into_inner().unwrap_or_else(|e| e.into_inner());
            for (name, t) in tensors {
                let corrupt = |reason: String| Error::CorruptModel {
                    path: path.clone(),
                    reason: format!("{reason}; download the model again"),
                };
                match index.weight_map.get(&name) {
                    Some(s) if s == shard => {}
                    Some(s) => {
                        return Err(corrupt(format!(
                            "tensor `{name}` is in shard `{shard}`, but the index puts it in `{s}`"
                        )))
                    }
                    None => {
                        return Err(corrupt(format!(
                            "tensor `{name}` is not in the index `{}`",
                            index_path.display()
                        )))
                    }
                }
                all.insert(name, t);
            }
        }
        if let Some((name, shard)) = index.weight_map.iter().find(|(n, _)| !all.contains_key(*n)) {
            return Err(Error::CorruptModel {
                path: index_path.clone(),
                reason: format!(
                    "the index puts tensor `{name}` in `{shard}`, which does not hold it; \
                     download the model again"
                ),
            });
        }
        Ok(Self::from_tensors(all, index_path.clone(), dtype, device))
    }

    /// Wrap tensors that were built elsewhere (another format's reader, or tests).
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        source: PathBuf,
        dtype: DType,
        device: &Device,
    ) -> Self {
        Self {
            tensors: Mutex::new(tensors),
            quantized: Mutex::new(HashMap::new()),
            int8_rows: Mutex::new(HashMap::new()),
            deferred: Mutex::new(HashMap::new()),
            pack_cache: None,
            source,
            dtype,
            device: device.clone(),
        }
    }

    /// Add matrices kept quantized; [`Weights::quantized`] returns them before any float tensor
    /// of the same name.
    pub fn with_quantized(mut self, quantized: HashMap<String, QuantizedWeight>) -> Self {
        lock(&mut self.quantized).extend(quantized);
        self
    }

    /// Add int8 matrices with one scale per row; [`Weights::int8_rows`] returns them before
    /// quantized or float tensors of the same name.
    pub fn with_int8_rows(mut self, rows: HashMap<String, Int8Rows>) -> Self {
        lock(&mut self.int8_rows).extend(rows);
        self
    }

    /// Add int8 matrices standing for float tensors of the same names: [`Weights::get`] widens
    /// one when it is asked for, [`Weights::deferred`] hands it over as it is.
    pub fn with_deferred(mut self, rows: HashMap<String, DeferredInt8>) -> Self {
        lock(&mut self.deferred).extend(rows);
        self
    }

    /// The deferred int8 matrix `name`, if the checkpoint keeps it that way.
    pub fn deferred(&self, name: &str) -> Option<DeferredInt8> {
        self.deferred.lock().ok().and_then(|m| m.get(name).cloned())
    }

    /// Use `cache` for packed matrices: layers take theirs from it, or record the ones they pack.
    pub fn with_pack_cache(mut self, cache: Option<Arc<PackCache>>) -> Self {
        self.pack_cache = cache;
        self
    }

    /// The packed-matrix cache, if one is used.
    pub fn pack_cache(&self) -> Option<&PackCache> {
        self.pack_cache.as_deref()
    }

    /// The int8 matrix `name` with per-row scales, checked against `shape`; `None` when the
    /// checkpoint does not keep `name` that way.
    pub fn int8_rows(&self, name: &str, shape: &[usize]) -> Result<Option<Int8Rows>> {
        let Some(r) = self
            .int8_rows
            .lock()
            .ok()
            .and_then(|m| m.get(name).cloned())
        else {
            return Ok(None);
        };
        if [r.rows, r.cols] != shape {
            return Err(Error::CorruptModel {
                path: self.source.clone(),
                reason: format!(
                    "int8 tensor `{name}` has shape {:?} but config.json implies {shape:?}",
                    [r.rows, r.cols]
                ),
            });
        }
        Ok(Some(r))
    }

    /// Quantize the float matrices of linear layers to int8 (candle Q8_0: blocks of 32 int8
    /// values with one f16 scale each), placed on the weights' device, for any architecture:
    /// every 2-D `*.weight` tensor except embeddings (names holding `embed`, `shared` or
    /// `relative_attention_bias`) whose rows are whole blocks. The output projection is included:
    /// when the checkpoint ties it to the token embedding (no `lm_head.weight`), a quantized
    /// `lm_head.weight` is made from that embedding, which itself stays float for lookups.
    /// Matrices that do not fit whole blocks stay float. Returns how many were quantized.
    pub fn quantize_linear(&mut self) -> Result<usize> {
        let is_linear = |name: &str, t: &Tensor| {
            t.rank() == 2
                && name.ends_with(".weight")
                && !["embed", "shared", "relative_attention_bias"]
                    .iter()
                    .any(|e| name.contains(e))
                && t.dim(1).is_ok_and(|c| c > 0 && c % Q8_0_BLOCK == 0)
        };
        let (tensors, quantized) = (lock(&mut self.tensors), lock(&mut self.quantized));
        let mut names: Vec<String> = tensors
            .iter()
            .filter(|(n, t)| is_linear(n, t) && !quantized.contains_key(*n))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        let mut count = 0;
        for name in names {
            let t = tensors.remove(&name).expect("name listed from the map");
            quantized.insert(name, QuantizedWeight::q8_0(&t, &self.device)?);
            count += 1;
        }
        const TIED: [&str; 4] = [
            "model.shared.weight",
            "model.decoder.embed_tokens.weight",
            "shared.weight",
            "decoder.embed_tokens.weight",
        ];
        let head = "lm_head.weight";
        if !tensors.contains_key(head) && !quantized.contains_key(head) {
            let tied = TIED.iter().find_map(|n| tensors.get(*n));
            if let Some(t) = tied.filter(|t| t.dim(1).is_ok_and(|c| c % Q8_0_BLOCK == 0)) {
                let q = QuantizedWeight::q8_0(t, &self.device)?;
                quantized.insert(head.to_string(), q);
                count += 1;
            }
        }
        Ok(count)
    }

    /// Number of matrices kept quantized.
    pub fn quantized_count(&self) -> usize {
        self.quantized.lock().map_or(0, |q| q.len())
            + self.int8_rows.lock().map_or(0, |q| {
                q.keys()
                    .filter(|n| !n.contains("embed") && !n.contains("shared"))
                    .count()
            })
    }

    /// The quantized matrix `name`, checked against `shape`, its row factor in the model's dtype;
    /// `None` when `name` is not kept quantized.
    pub fn quantized(&self, name: &str, shape: &[usize]) -> Result<Option<QuantizedWeight>> {
        let Some(q) = self
            .quantized
            .lock()
            .ok()
            .and_then(|q| q.get(name).cloned())
        else {
            return Ok(None);
        };
        if q.matrix.shape().dims() != shape {
            return Err(Error::CorruptModel {
                path: self.source.clone(),
                reason: format!(
                    "quantized tensor `{name}` has shape {:?} but config.json implies {:?}",
                    q.matrix.shape().dims(),
                    shape
                ),
            });
        }
        let row_factor = match &q.row_factor {
            Some(f) => Some(f.to_dtype(self.dtype)?.to_device(&self.device)?),
            None => None,
        };
        Ok(Some(QuantizedWeight {
            matrix: q.matrix.clone(),
            row_factor,
        }))
    }

    /// Whether the checkpoint holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.lock().is_ok_and(|t| t.contains_key(name))
            || self.deferred.lock().is_ok_and(|t| t.contains_key(name))
    }

    /// The tensor `name`, checked against `shape`, converted to the model's dtype and device.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_as(name, shape, self.dtype)
    }

    /// Like [`Weights::get`] with an explicit dtype (e.g. biases kept in f32).
    pub fn get_as(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.tensors.lock().ok().and_then(|t| t.get(name).cloned());
        let t = match t {
            Some(t) => Some(t),
            None => self.deferred(name).map(|d| d.to_tensor()).transpose()?,
        };
        let t = t.ok_or_else(|| Error::CorruptModel {
            path: self.source.clone(),
            reason: format!(
                "tensor `{name}` is missing; the file does not match its config.json \
                 (download the model again, or check that the folder holds one model)"
            ),
        })?;
        // Checkpoints store some vectors as [1, n]; accept any shape with the same elements in order.
        if t.dims() != shape {
            let same_numel = t.elem_count() == shape.iter().product::<usize>();
            let squeezable = t
                .dims()
                .iter()
                .filter(|&&d| d != 1)
                .eq(shape.iter().filter(|&&d| d != 1));
            if !(same_numel && squeezable) {
                return Err(Error::CorruptModel {
                    path: self.source.clone(),
                    reason: format!(
                        "tensor `{name}` has shape {:?} but config.json implies {:?}",
                        t.dims(),
                        shape
                    ),
                });
            }
        }
        Ok(t.reshape(shape)?.to_dtype(dtype)?.to_device(&self.device)?)
    }

    /// Forget `name` (float and quantized): a layer that keeps its own copy of a matrix (packed
    /// for the CPU kernel) releases the checkpoint's, so a model never holds both while it is
    /// built. Asking for `name` afterwards is an error, as for a missing tensor.
    pub fn release(&self, name: &str) {
        if let Ok(mut t) = self.tensors.lock() {
            t.remove(name);
        }
        if let Ok(mut q) = self.quantized.lock() {
            q.remove(name);
        }
        if let Ok(mut q) = self.int8_rows.lock() {
            q.remove(name);
        }
        if let Ok(mut q) = self.deferred.lock() {
            q.remove(name);
        }
    }

    /// The first of `names` that the checkpoint holds (tied weights are often stored once).
    pub fn get_first(&self, names: &[&str], shape: &[usize]) -> Result<Tensor> {
        match names.iter().find(|n| self.contains(n)) {
            Some(n) => self.get(n, shape),
            None => self.get(names[0], shape),
        }
    }

    /// The file the tensors came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device tensors are placed on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> Weights {
        let mut m = HashMap::new();
        m.insert(
            "a".to_string(),
            Tensor::zeros((1, 4), DType::F32, &Device::Cpu).unwrap(),
        );
        Weights::from_tensors(m, PathBuf::from("x.safetensors"), DType::F32, &Device::Cpu)
    }

    #[test]
    fn squeezes_unit_dims_but_rejects_wrong_shapes() {
        let w = weights();
        assert_eq!(w.get("a", &[4]).unwrap().dims(), &[4]);
        let err = w.get("a", &[2, 2]).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");
        let err = w.get("b", &[4]).unwrap_err().to_string();
        assert!(err.contains("`b` is missing"), "{err}");
    }

    #[test]
    fn quantize_linear_keeps_embeddings_float_and_ties_the_head() {
        let mut m = HashMap::new();
        let z = |r: usize, c: usize| {
            Tensor::arange(0f32, (r * c) as f32, &Device::Cpu)
                .unwrap()
                .affine(0.01, -1.0)
                .unwrap()
                .reshape((r, c))
                .unwrap()
        };
        m.insert("model.shared.weight".to_string(), z(10, 64));
        m.insert("model.encoder.layers.0.fc1.weight".to_string(), z(8, 64));
        m.insert("model.encoder.layers.0.fc2.weight".to_string(), z(64, 8));
        m.insert("model.encoder.layers.0.fc1.bias".to_string(), z(1, 8));
        let mut w = Weights::from_tensors(m, PathBuf::from("x"), DType::F32, &Device::Cpu);
        assert_eq!(w.quantize_linear().unwrap(), 2);
        let q = w
            .quantized("model.encoder.layers.0.fc1.weight", &[8, 64])
            .unwrap()
            .unwrap();
        let back: Vec<Vec<f32>> = q
            .matrix
            .dequantize(&Device::Cpu)
            .unwrap()
            .to_vec2()
            .unwrap();
        let want: Vec<Vec<f32>> = z(8, 64).to_vec2().unwrap();
        let max = want.iter().flatten().fold(0f32, |m, x| m.max(x.abs()));
        for (b, w) in back.iter().flatten().zip(want.iter().flatten()) {
            // Q8_0: at most half a step (block max / 127), plus the f16 rounding of the step.
            assert!((b - w).abs() <= max / 127.0 * 0.51, "{b} vs {w}");
        }
        assert!(
            back != want,
            "int8 values are not exact copies of the floats"
        );
        assert!(w.quantized("lm_head.weight", &[10, 64]).unwrap().is_some());
        // The embedding stays float; 8 columns are not whole blocks, so fc2 stays float too.
        assert!(w.contains("model.shared.weight"));
        assert!(w.contains("model.encoder.layers.0.fc2.weight"));
        assert_eq!(w.quantize_linear().unwrap(), 0);
    }

    #[test]
    fn missing_and_corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.safetensors");
        let err = Weights::load(&p, DType::F32, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not found"), "{err}");
        std::fs::write(&p, b"garbage garbage garbage").unwrap();
        let err = Weights::load(&p, DType::F32, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt"), "{err}");
        let p = dir.path().join("pytorch_model.bin");
        std::fs::write(&p, b"PK\x03\x04truncated").unwrap();
        let err = Weights::load(&p, DType::F32, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt"), "{err}");
    }
}
