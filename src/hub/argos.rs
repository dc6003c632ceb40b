//! Argos Translate packages and bare CTranslate2 model folders: where their files are.
//!
//! Three layouts are accepted ([`Ct2Layout::detect`]):
//! - a `.argosmodel` file: a zip holding one package folder. It is extracted once into a cache
//!   folder (`<cache>/<stem>-<sha256 prefix>`, see [`argos_cache_dir`]): extracted to a temporary
//!   folder beside it first and renamed into place, so a crash never leaves a half-extracted
//!   package that looks complete;
//! - an extracted Argos package folder: `metadata.json`, `model/` (the CT2 model) and
//!   `sentencepiece.model`;
//! - a bare CT2 model folder: `model.bin`, `config.json` and its vocabulary files.
//!
//! This module reads `metadata.json` (languages, names, package version) and nothing else of a
//! model's contents; it never touches the network and never writes into a package folder.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Which kind of CT2 model a path holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ct2Layout {
    /// A `.argosmodel` zip file.
    ArgosArchive,
    /// An extracted Argos package folder (`model/model.bin` inside).
    ArgosFolder,
    /// A CTranslate2 model folder (`model.bin` inside).
    Ct2Folder,
}

impl Ct2Layout {
    /// Tell the layouts apart; `None` for anything else (e.g. a transformers Marian folder).
    pub fn detect(path: &Path) -> Option<Self> {
        if path.is_file() {
            let ext = path.extension().and_then(|e| e.to_str());
            return (ext == Some("argosmodel") || is_zip(path)).then_some(Self::ArgosArchive);
        }
        if path.join("model").join("model.bin").is_file() {
            Some(Self::ArgosFolder)
        } else if path.join("model.bin").is_file() {
            Some(Self::Ct2Folder)
        } else {
            None
        }
    }
}

fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// `metadata.json` of an Argos package.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct ArgosMetadata {
    #[serde(default)]
    pub package_version: Option<String>,
    #[serde(default)]
    pub argos_version: Option<String>,
    #[serde(default)]
    pub from_code: Option<String>,
    #[serde(default)]
    pub from_name: Option<String>,
    #[serde(default)]
    pub to_code: Option<String>,
    #[serde(default)]
    pub to_name: Option<String>,
}

/// A located CT2 model, with the Argos package around it when there is one.
#[derive(Clone, Debug)]
pub struct Ct2Package {
    /// How the model was given.
    pub layout: Ct2Layout,
    /// The package folder (for a bare CT2 folder: the folder itself).
    pub root: PathBuf,
    /// The folder holding `model.bin`, `config.json` and the vocabularies.
    pub model_dir: PathBuf,
    /// `sentencepiece.model` of the package (or of a bare folder that has one).
    pub sentencepiece: Option<PathBuf>,
    /// `metadata.json` of an Argos package.
    pub metadata: Option<ArgosMetadata>,
    /// The `.argosmodel` file the package was extracted from.
    pub archive: Option<PathBuf>,
}

/// Where extracted `.argosmodel` packages go: `$TOLK_CACHE/argos`, else
/// `$XDG_CACHE_HOME/tolk/argos`, else `~/.cache/tolk/argos`.
pub fn argos_cache_dir() -> PathBuf {
    cache_root().join("argos")
}

/// tolk's own cache folder: `$TOLK_CACHE`, else `$XDG_CACHE_HOME/tolk`, else `~/.cache/tolk`
/// (extracted Argos packages under `argos/`, packed weights under `packed/`).
pub fn cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("TOLK_CACHE") {
        return p;
    }
    let base = env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| std::env::temp_dir().join("tolk-cache"));
    base.join("tolk")
}

impl Ct2Package {
    /// Locate the model at `path` (any [`Ct2Layout`]); archives are extracted under `cache`.
    pub fn open(path: &Path, cache: &Path) -> Result<Self> {
        match Ct2Layout::detect(path) {
            Some(Ct2Layout::ArgosArchive) => {
                let folder = extract_archive(path, cache)?;
                let mut pkg = Self::folder(&folder, Ct2Layout::ArgosFolder)?;
                pkg.layout = Ct2Layout::ArgosArchive;
                pkg.archive = Some(path.to_path_buf());
                Ok(pkg)
            }
            Some(layout) => Self::folder(path, layout),
            None => Err(Error::BadModelRef {
                reference: path.display().to_string(),
                reason: "not an Argos package (.argosmodel file, or a folder with metadata.json \
                         and model/model.bin) nor a CTranslate2 model folder (model.bin)"
                    .into(),
            }),
        }
    }

    fn folder(root: &Path, layout: Ct2Layout) -> Result<Self> {
        let model_dir = if layout == Ct2Layout::ArgosFolder {
            root.join("model")
        } else {
            root.to_path_buf()
        };
        let meta_path = root.join("metadata.json");
        let metadata = if meta_path.is_file() {
            let text = std::fs::read_to_string(&meta_path)
                .map_err(|e| Error::io(format!("reading {}", meta_path.display()), e))?;
            Some(serde_json::from_str(&text).map_err(|e| Error::Config {
                path: meta_path.clone(),
                reason: format!("{e} (is this an Argos package's metadata.json?)"),
            })?)
        } else {
            None
        };
        let sentencepiece = [
            root.join("sentencepiece.model"),
            model_dir.join("sentencepiece.model"),
        ]
        .into_iter()
        .find(|p| p.is_file());
        Ok(Self {
            layout,
            root: root.to_path_buf(),
            model_dir,
            sentencepiece,
            metadata,
            archive: None,
        })
    }

    /// `from→to` languages and version, e.g. `zh→en 1.9`, when the package says.
    pub fn describe(&self) -> String {
        let place = self
            .archive
            .as_deref()
            .unwrap_or(&self.root)
            .display()
            .to_string();
        match &self.metadata {
            Some(m) => format!(
                "{place} (Argos {}→{} {})",
                m.from_code.as_deref().unwrap_or("?"),
                m.to_code.as_deref().unwrap_or("?"),
                m.package_version.as_deref().unwrap_or("")
            )
            .replace(" )", ")"),
            None => format!("{place} (CTranslate2 folder)"),
        }
    }
}

/// Extract `archive` once under `cache`; returns the package folder inside the extraction.
/// The most an Argos package may unpack to (the largest published ones are under 1 GB).
const MAX_EXTRACTED_BYTES: u64 = 16 << 30;

fn extract_archive(archive: &Path, cache: &Path) -> Result<PathBuf> {
    extract_archive_within(archive, cache, MAX_EXTRACTED_BYTES)
}

/// [`extract_archive`] refusing archives that declare more than `limit` bytes unpacked.
fn extract_archive_within(archive: &Path, cache: &Path, limit: u64) -> Result<PathBuf> {
    let corrupt = |reason: String| Error::CorruptModel {
        path: archive.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(archive)
        .map_err(|e| Error::io(format!("opening {}", archive.display()), e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|e| Error::io(format!("reading {}", archive.display()), e))?;
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let stem = archive
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dest = cache.join(format!("{stem}-{hex}"));
    if !dest.is_dir() {
        std::fs::create_dir_all(cache)
            .map_err(|e| Error::io(format!("creating the cache folder {}", cache.display()), e))?;
        let tmp = cache.join(format!(".{stem}-{hex}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let file = std::fs::File::open(archive)
            .map_err(|e| Error::io(format!("opening {}", archive.display()), e))?;
        // Entries are kept inside the folder (zip sanitizes names that climb out), symbolic
        // links are not created (a package has none, and one could point anywhere), headers
        // must agree with the central directory, and an archive that declares more than
        // MAX_EXTRACTED_BYTES is refused before anything is written (zip bombs).
        // (The sizes are summed from the central directory here: zip's own limit refuses
        // archives whose entries use data descriptors, as real Argos packages do.)
        let options = zip::read::ExtractOptions::default()
            .symlink_action(zip::read::SymlinkExtractAction::NoExtract)
            .enforce_header_consistency(true);
        let unzip = zip::ZipArchive::new(file)
            .and_then(|mut z| {
                let mut declared = 0u64;
                for i in 0..z.len() {
                    declared = declared.saturating_add(z.by_index_raw(i)?.size());
                }
                if declared > limit {
                    return Err(zip::result::ZipError::DecompressedSizeLimitExceeded {
                        size: u128::from(declared),
                        limit,
                    });
                }
                z.extract_with_options(&tmp, options)
            })
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&tmp);
                corrupt(format!("cannot unzip it: {e}; download the package again"))
            });
        unzip?;
        if let Err(e) = std::fs::rename(&tmp, &dest) {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another process may have finished the same extraction first.
            if !dest.is_dir() {
                return Err(Error::io(
                    format!("moving the package into {}", dest.display()),
                    e,
                ));
            }
        }
    }
    package_root(&dest).ok_or_else(|| {
        corrupt(format!(
            "the archive (extracted to {}) holds no package folder with model/model.bin",
            dest.display()
        ))
    })
}

/// The folder of an extraction that holds the package: itself or its one subfolder.
fn package_root(dir: &Path) -> Option<PathBuf> {
    if dir.join("model").join("model.bin").is_file() {
        return Some(dir.to_path_buf());
    }
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model").join("model.bin").is_file());
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(Ct2Layout::detect(d), None);
        std::fs::write(d.join("model.bin"), b"x").unwrap();
        assert_eq!(Ct2Layout::detect(d), Some(Ct2Layout::Ct2Folder));
        std::fs::create_dir(d.join("pkg")).unwrap();
        std::fs::create_dir(d.join("pkg/model")).unwrap();
        std::fs::write(d.join("pkg/model/model.bin"), b"x").unwrap();
        assert_eq!(
            Ct2Layout::detect(&d.join("pkg")),
            Some(Ct2Layout::ArgosFolder)
        );
        std::fs::write(d.join("a.argosmodel"), b"garbage").unwrap();
        assert_eq!(
            Ct2Layout::detect(&d.join("a.argosmodel")),
            Some(Ct2Layout::ArgosArchive)
        );
        std::fs::write(d.join("config.json"), b"{}").unwrap();
        assert_eq!(Ct2Layout::detect(&d.join("config.json")), None);
    }

    #[test]
    fn a_corrupt_archive_is_a_clear_error_and_leaves_no_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("x.argosmodel");
        std::fs::write(&a, b"PK\x03\x04 this is not really a zip").unwrap();
        let cache = dir.path().join("cache");
        let err = Ct2Package::open(&a, &cache).unwrap_err().to_string();
        assert!(err.contains("cannot unzip"), "{err}");
        let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// A zip of `(name, bytes)` files and `(name, target)` symbolic links.
    fn zip_of(path: &Path, files: &[(&str, &[u8])], links: &[(&str, &str)]) {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, bytes) in files {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        for (name, target) in links {
            z.add_symlink(*name, *target, opts).unwrap();
        }
        z.finish().unwrap();
    }

    #[test]
    fn hostile_archives_stay_in_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        // Names that climb out or are absolute: refused (the whole archive, leaving nothing)
        // or kept inside the package's folder; never written outside it.
        for name in [
            "../escaped.txt",
            "/tmp/tolk-abs-escape.txt",
            "pkg/../../escaped.txt",
        ] {
            let a = dir.path().join("evil.argosmodel");
            zip_of(&a, &[("pkg/model/model.bin", b"x"), (name, b"out")], &[]);
            match extract_archive(&a, &cache) {
                Ok(root) => assert!(root.starts_with(&cache)),
                Err(e) => assert!(e.to_string().contains("cannot unzip"), "{name}: {e}"),
            }
            assert!(!dir.path().join("escaped.txt").exists(), "{name}");
            assert!(!cache.join("escaped.txt").exists(), "{name}");
            assert!(!Path::new("/tmp/tolk-abs-escape.txt").exists(), "{name}");
        }
        // Symbolic links are not created, wherever they point.
        let a = dir.path().join("links.argosmodel");
        zip_of(
            &a,
            &[("pkg/model/model.bin", b"x")],
            &[
                ("pkg/link", "/etc/passwd"),
                ("pkg/up", "../../.."),
                ("pkg/in", "model"),
            ],
        );
        let root = extract_archive(&a, &cache).unwrap();
        assert!(root.join("model/model.bin").is_file());
        for link in ["link", "up", "in"] {
            assert!(
                std::fs::symlink_metadata(root.join(link)).is_err(),
                "{link} was extracted"
            );
        }
    }

    #[test]
    fn an_archive_declaring_too_much_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("bomb.argosmodel");
        // 1 MiB of zeros compresses to about a kilobyte.
        zip_of(&a, &[("pkg/model/model.bin", &vec![0u8; 1 << 20])], &[]);
        assert!(std::fs::metadata(&a).unwrap().len() < 16 << 10);
        let cache = dir.path().join("cache");
        let err = extract_archive_within(&a, &cache, 64 << 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot unzip"), "{err}");
        let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        // Under a limit that fits, the same archive unpacks.
        assert!(extract_archive_within(&a, &cache, 2 << 20).is_ok());
    }
}
