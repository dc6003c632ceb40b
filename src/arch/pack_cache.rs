//! The packed-weights cache: the CPU kernels' panel layout of a checkpoint's matrices, written
//! once to a file and mapped by every later load, so that a start neither repacks nor
//! dequantizes the same weights again.
//!
//! A cache file belongs to one checkpoint's content and one packing mode: its name is
//! `<xxh3-64 of the checkpoint file>-<mode>.v<LAYOUT_VERSION>.tolkpack`, and its header repeats
//! the hash, the mode and the layout version. A changed checkpoint therefore never meets a
//! stale cache, and a file from another tolk layout is ignored. Files are written to a
//! temporary name and renamed into place, so a reader sees a whole file or none; one that is
//! damaged anyway (bad magic, bounds, sizes) is ignored and rebuilt, never trusted.
//!
//! Layout (little-endian): `b"TOLKPACK"`, `u32` layout version, `u64` source hash, `u16` mode
//! length + mode, `u32` entry count; per entry: `u16` name length + name, `u8` kind, `u32 n`,
//! `u32 k`, `u8` buffer count, per buffer `u64` offset + `u64` byte length. Buffers start on
//! 64-byte boundaries.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::mapped::FileBytes;
use super::packed::{PackedMatrix, StoredKind};
use crate::error::{Error, Result};

/// Bumped whenever a panel layout changes.
pub const LAYOUT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"TOLKPACK";

/// One stored matrix.
struct Entry {
    kind: StoredKind,
    n: usize,
    k: usize,
    parts: Vec<(usize, usize)>,
}

/// Packed matrices of one checkpoint in one mode: those of an earlier load (mapped), and those
/// this load packed (to be written by [`PackCache::finish`]).
pub struct PackCache {
    path: PathBuf,
    hash: u64,
    mode: String,
    stored: Option<(Arc<FileBytes>, HashMap<String, Entry>)>,
    recorded: Mutex<Vec<(String, PackedMatrix)>>,
}

impl std::fmt::Debug for PackCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackCache({})", self.path.display())
    }
}

/// xxh3-64 of a file's contents, read in chunks (the file is not kept in memory).
pub fn file_hash(path: &Path) -> Result<u64> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.digest())
}

impl PackCache {
    /// The cache in `dir` for checkpoint `source` packed in `mode` (e.g. `int8`): mapped when a
    /// valid file exists, else empty (and filled by this load).
    pub fn open(dir: &Path, source: &Path, mode: &str) -> Result<Self> {
        Self::open_files(dir, &[source.to_path_buf()], mode)
    }

    /// [`PackCache::open`] for a checkpoint in several files (shards): keyed by all their
    /// contents, in order.
    pub fn open_files(dir: &Path, sources: &[std::path::PathBuf], mode: &str) -> Result<Self> {
        let hash = match sources {
            [one] => file_hash(one)?,
            many => {
                let mut hasher = xxhash_rust::xxh3::Xxh3::new();
                for p in many {
                    hasher.update(&file_hash(p)?.to_le_bytes());
                }
                hasher.digest()
            }
        };
        let path = dir.join(format!("{hash:016x}-{mode}.v{LAYOUT_VERSION}.tolkpack"));
        let stored = if path.is_file() {
            FileBytes::map(&path)
                .ok()
                .map(Arc::new)
                .and_then(|b| parse(&b, hash, mode).map(|e| (b, e)))
        } else {
            None
        };
        Ok(Self {
            path,
            hash,
            mode: mode.to_string(),
            stored,
            recorded: Mutex::new(Vec::new()),
        })
    }

    /// Where the cache file is (or will be).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether matrices come from an earlier load's file.
    pub fn is_warm(&self) -> bool {
        self.stored.is_some()
    }

    /// The stored panels of `name` (`[n, k]`), borrowed from the file; `None` when it has no
    /// such matrix of that shape.
    pub fn get(&self, name: &str, n: usize, k: usize) -> Option<PackedMatrix> {
        let (bytes, entries) = self.stored.as_ref()?;
        let e = entries.get(name).filter(|e| e.n == n && e.k == k)?;
        PackedMatrix::from_stored(e.kind, n, k, bytes, &e.parts)
    }

    /// Whether `name` is stored with shape `[n, k]`.
    pub fn contains(&self, name: &str, n: usize, k: usize) -> bool {
        self.stored
            .as_ref()
            .and_then(|(_, e)| e.get(name))
            .is_some_and(|e| e.n == n && e.k == k)
    }

    /// Remember a matrix this load packed (its panels are shared, not copied).
    pub fn record(&self, name: &str, packed: &PackedMatrix) {
        if let Ok(mut r) = self.recorded.lock() {
            r.push((name.to_string(), packed.clone()));
        }
    }

    /// Write what this load packed, when it did not come from the file: to a temporary file
    /// renamed into place. Returns whether a file was written.
    pub fn finish(&self) -> Result<bool> {
        let recorded =
            std::mem::take(&mut *self.recorded.lock().unwrap_or_else(|e| e.into_inner()));
        if self.stored.is_some() || recorded.is_empty() {
            return Ok(false);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("pack"),
            std::process::id()
        ));
        let written = write(&tmp, self.hash, &self.mode, &recorded).and_then(|()| {
            std::fs::rename(&tmp, &self.path)
                .map_err(|e| Error::io(format!("renaming {} into place", tmp.display()), e))
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| true)
    }
}

fn write(path: &Path, hash: u64, mode: &str, recorded: &[(String, PackedMatrix)]) -> Result<()> {
    let io = |e| Error::io(format!("writing {}", path.display()), e);
    let parts: Vec<(StoredKind, Vec<&[u8]>)> =
        recorded.iter().map(|(_, p)| p.stored_parts()).collect();
    // Header size first, so that buffer offsets can be written in it.
    let mut header_len = 8 + 4 + 8 + 2 + mode.len() + 4;
    for ((name, _), (_, bufs)) in recorded.iter().zip(&parts) {
        header_len += 2 + name.len() + 1 + 4 + 4 + 1 + 16 * bufs.len();
    }
    let mut header = Vec::with_capacity(header_len);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
    header.extend_from_slice(&hash.to_le_bytes());
    header.extend_from_slice(&(mode.len() as u16).to_le_bytes());
    header.extend_from_slice(mode.as_bytes());
    header.extend_from_slice(&(recorded.len() as u32).to_le_bytes());
    let mut at = header_len;
    let mut layout = Vec::new();
    for ((name, p), (kind, bufs)) in recorded.iter().zip(&parts) {
        header.extend_from_slice(&(name.len() as u16).to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        header.push(*kind as u8);
        header.extend_from_slice(&(p.n() as u32).to_le_bytes());
        header.extend_from_slice(&(p.k() as u32).to_le_bytes());
        header.push(bufs.len() as u8);
        for b in bufs {
            at = at.next_multiple_of(64);
            header.extend_from_slice(&(at as u64).to_le_bytes());
            header.extend_from_slice(&(b.len() as u64).to_le_bytes());
            layout.push((at, *b));
            at += b.len();
        }
    }
    debug_assert_eq!(header.len(), header_len);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(&header).map_err(io)?;
    let mut pos = header_len;
    for (offset, b) in layout {
        out.write_all(&vec![0u8; offset - pos]).map_err(io)?;
        out.write_all(b).map_err(io)?;
        pos = offset + b.len();
    }
    out.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)
}

/// Bounds-checked little-endian reads of a header.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// The entries of a cache file made for `hash` and `mode`; `None` for anything else or
/// anything damaged (each buffer is checked again when it is borrowed).
fn parse(bytes: &[u8], hash: u64, mode: &str) -> Option<HashMap<String, Entry>> {
    let mut c = Cursor { b: bytes, pos: 0 };
    if c.take(8)? != MAGIC || c.u32()? != LAYOUT_VERSION || c.u64()? != hash || c.str()? != mode {
        return None;
    }
    let count = c.u32()? as usize;
    let mut entries = HashMap::new();
    for _ in 0..count {
        let name = c.str()?.to_string();
        let kind = StoredKind::from_u8(c.u8()?)?;
        let (n, k) = (c.u32()? as usize, c.u32()? as usize);
        let parts = (0..c.u8()?)
            .map(|_| {
                let (offset, len) = (c.u64()? as usize, c.u64()? as usize);
                (offset.checked_add(len)? <= bytes.len()).then_some((offset, len))
            })
            .collect::<Option<Vec<_>>>()?;
        entries.insert(name, Entry { kind, n, k, parts });
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(n: usize, k: usize, seed: usize) -> PackedMatrix {
        let q: Vec<i8> = (0..n * k).map(|i| ((i * 31 + seed) % 255) as i8).collect();
        let s: Vec<f32> = (0..n).map(|j| 1e-3 * (j + 1) as f32).collect();
        PackedMatrix::from_i8_rows(&q, &s, n, k)
    }

    #[test]
    fn a_written_cache_is_mapped_by_the_next_load() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("model.bin");
        std::fs::write(&source, b"weights v1").unwrap();
        let cache = PackCache::open(dir.path(), &source, "int8").unwrap();
        assert!(!cache.is_warm());
        let (a, b) = (matrix(20, 12, 1), matrix(5, 64, 2));
        cache.record("a", &a);
        cache.record("b", &b);
        assert!(cache.finish().unwrap());
        let x: Vec<f32> = (0..3 * 64).map(|i| i as f32 / 50.0 - 1.0).collect();

        let warm = PackCache::open(dir.path(), &source, "int8").unwrap();
        assert!(warm.is_warm());
        assert_eq!(warm.path(), cache.path());
        let a2 = warm.get("a", 20, 12).unwrap();
        assert_eq!(a2.matmul(&x[..24], 2), a.matmul(&x[..24], 2));
        assert_eq!(warm.get("b", 5, 64).unwrap().matmul(&x, 3), b.matmul(&x, 3));
        assert!(warm.get("b", 5, 32).is_none(), "shape mismatch");
        assert!(warm.get("c", 5, 64).is_none());
        assert!(!warm.finish().unwrap(), "nothing to write when warm");

        // Another mode, or changed weights, use another file.
        assert!(!PackCache::open(dir.path(), &source, "f32")
            .unwrap()
            .is_warm());
        std::fs::write(&source, b"weights v2").unwrap();
        assert!(!PackCache::open(dir.path(), &source, "int8")
            .unwrap()
            .is_warm());
    }

    #[test]
    fn damaged_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("model.bin");
        std::fs::write(&source, b"w").unwrap();
        let cache = PackCache::open(dir.path(), &source, "int8").unwrap();
        cache.record("a", &matrix(20, 12, 1));
        cache.finish().unwrap();
        let full = std::fs::read(cache.path()).unwrap();
        for cut in [0, 7, 20, 40, full.len() / 2, full.len() - 1] {
            std::fs::write(cache.path(), &full[..cut]).unwrap();
            let c = PackCache::open(dir.path(), &source, "int8").unwrap();
            assert!(c.get("a", 20, 12).is_none(), "cut at {cut}");
        }
        let mut flipped = full.clone();
        flipped[0] ^= 1;
        std::fs::write(cache.path(), &flipped).unwrap();
        assert!(!PackCache::open(dir.path(), &source, "int8")
            .unwrap()
            .is_warm());
    }
}
