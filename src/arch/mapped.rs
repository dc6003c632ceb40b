//! Weight bytes that may live in a memory-mapped file: [`FileBytes`] (a whole file, read or
//! mapped) and [`Buf`] (a typed slice, owned or borrowed from a mapping).
//!
//! Mapping lets a model use a file's pages in place: nothing is copied at load, pages are read
//! when first touched, and the kernel shares them between processes and can drop them under
//! memory pressure. A mapped file must not be truncated while it is mapped (tolk never writes
//! the files it maps: caches are replaced by renaming a new file over the old one).

use std::fs::File;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// The bytes of a file.
pub enum FileBytes {
    Owned(Vec<u8>),
    /// The mapping, and the open file it maps (for reads that should not map pages).
    Mapped {
        map: memmap2::Mmap,
        file: File,
    },
}

impl FileBytes {
    /// Map `path` read-only (an empty file is read instead: it cannot be mapped).
    pub fn map(path: &Path) -> Result<Self> {
        Self::map_advised(path, None)
    }

    /// Map `path` for reads scattered over the file (token embeddings looked up row by row,
    /// small variables read once): no read-ahead, so only the pages used become resident.
    pub fn map_random(path: &Path) -> Result<Self> {
        Self::map_advised(path, Some(memmap2::Advice::Random))
    }

    fn map_advised(path: &Path, advice: Option<memmap2::Advice>) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .len();
        if len == 0 {
            return Ok(Self::Owned(Vec::new()));
        }
        // SAFETY: the mapping is read-only; tolk does not modify the files it maps (see the
        // module docs).
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::io(format!("mapping {}", path.display()), e))?;
        if let Some(advice) = advice {
            // Only a hint: the mapping works the same without it.
            let _ = map.advise(advice);
        }
        Ok(Self::Mapped { map, file })
    }

    /// Copy `out.len()` bytes at `offset` into `out`. From a mapped file they are read from the
    /// file itself, so no page of the mapping becomes resident: for tables used a few rows at a
    /// time (token embeddings), whose touched pages would otherwise stay mapped (the kernel
    /// maps pages around each one touched, read-ahead or not).
    pub fn read_at(&self, offset: usize, out: &mut [u8]) {
        let end = offset.saturating_add(out.len());
        if let Self::Mapped { file, .. } = self {
            use std::os::unix::fs::FileExt;
            if end <= self.len() && file.read_exact_at(out, offset as u64).is_ok() {
                return;
            }
        }
        // Owned bytes, or a failed read: the same bytes through memory.
        out.copy_from_slice(&self[offset..end]);
    }

    /// Let go of the mapping's resident pages (after loading, when what was read once has been
    /// copied): later reads map them again from the file. Owned bytes are kept.
    pub fn release_pages(&self) {
        if let Self::Mapped { map, .. } = self {
            // SAFETY: the mapping is private and read-only, so no page holds changes that
            // dropping it would lose; a later access reads the page from the file again.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Mapped { map, .. } => map,
        }
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Owned(v) => write!(f, "FileBytes::Owned({} bytes)", v.len()),
            Self::Mapped { map, .. } => write!(f, "FileBytes::Mapped({} bytes)", map.len()),
        }
    }
}

/// Plain values that any bytes of the right size and alignment can hold (no padding, no
/// invalid bit patterns).
///
/// # Safety
/// Implementors must be `repr(C)` or primitive, with every bit pattern valid.
pub unsafe trait Pod: Copy + Send + Sync + 'static {}
// SAFETY: primitive numbers.
unsafe impl Pod for f32 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}
// SAFETY: an array of Pod values.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// A read-only slice of `T`: owned (shared between clones), or `len` values at `offset` bytes
/// of a mapped file.
#[derive(Clone)]
pub enum Buf<T: Pod> {
    Owned(Arc<Vec<T>>),
    Mapped {
        bytes: Arc<FileBytes>,
        offset: usize,
        len: usize,
    },
}

impl<T: Pod> Buf<T> {
    /// Borrow `len` values at byte `offset` of `bytes`; `None` when they are out of range or
    /// misaligned.
    pub fn mapped(bytes: Arc<FileBytes>, offset: usize, len: usize) -> Option<Self> {
        let size = len.checked_mul(std::mem::size_of::<T>())?;
        let end = offset.checked_add(size)?;
        let ptr = bytes.get(offset..end)?.as_ptr();
        if !(ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return None;
        }
        Some(Self::Mapped { bytes, offset, len })
    }

    /// The values, copied out of a mapping if need be, for changing in place.
    pub fn make_mut(&mut self) -> &mut Vec<T> {
        if let Self::Mapped { .. } = self {
            *self = Self::Owned(Arc::new(self.to_vec()));
        }
        match self {
            Self::Owned(v) => Arc::make_mut(v),
            Self::Mapped { .. } => unreachable!("replaced above"),
        }
    }

    /// Copy the values from `start` into `out`, reading a mapped file's bytes from the file
    /// ([`FileBytes::read_at`]).
    ///
    /// # Panics
    /// When `start + out.len()` is past the end.
    pub fn copy_to(&self, start: usize, out: &mut [T]) {
        let end = start + out.len();
        assert!(
            end <= self.len(),
            "copy of {start}..{end} from {} values",
            self.len()
        );
        match self {
            Self::Owned(v) => out.copy_from_slice(&v[start..end]),
            Self::Mapped { bytes, offset, .. } => {
                let size = std::mem::size_of_val(out);
                // SAFETY: Pod values have no padding and any bit pattern is valid, so the
                // values may be written as bytes.
                let raw =
                    unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), size) };
                bytes.read_at(offset + start * std::mem::size_of::<T>(), raw)
            }
        }
    }

    /// The values as bytes (for writing them to a file).
    pub fn as_bytes(&self) -> &[u8] {
        let s: &[T] = self;
        // SAFETY: Pod values have no padding; the slice is valid for its byte length.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
    }
}

impl<T: Pod> From<Vec<T>> for Buf<T> {
    fn from(v: Vec<T>) -> Self {
        Self::Owned(Arc::new(v))
    }
}

impl<T: Pod> Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Self::Owned(v) => v,
            Self::Mapped { bytes, offset, len } => {
                // SAFETY: range and alignment were checked when the buffer was made, the
                // mapping lives as long as `bytes`, and any bit pattern is a valid `T` (Pod).
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().add(*offset).cast::<T>(), *len) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_buffers_check_range_and_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let values: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = Arc::new(FileBytes::map(&path).unwrap());
        let b = Buf::<f32>::mapped(file.clone(), 8, 4).unwrap();
        assert_eq!(&*b, &[2.0, 3.0, 4.0, 5.0]);
        assert!(
            Buf::<f32>::mapped(file.clone(), 2, 4).is_none(),
            "misaligned"
        );
        assert!(
            Buf::<f32>::mapped(file.clone(), 0, 65).is_none(),
            "past the end"
        );
        let mut out = [0f32; 3];
        b.copy_to(1, &mut out);
        assert_eq!(out, [3.0, 4.0, 5.0]);
        file.release_pages();
        assert_eq!(
            &*b,
            &[2.0, 3.0, 4.0, 5.0],
            "read again after the pages were let go"
        );
        let mut m = b.clone();
        m.make_mut()[0] = 9.0;
        assert_eq!(m[0], 9.0);
        assert_eq!(b[0], 2.0, "the mapping is not written");
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        assert!(FileBytes::map(&dir.path().join("empty"))
            .unwrap()
            .is_empty());
    }
}
