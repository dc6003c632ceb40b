//! [`ModelSource`]: a resolved model reference that hands out paths to model files.
//!
//! Online, a Hub repo is listed once (`GET {endpoint}/api/models/{repo}/revision/{rev}`) and
//! files are fetched on demand through `hf-hub` into the standard cache. Offline it only reads
//! the cache (through `hf_hub::Cache`) and must never open a network connection. Local folders
//! are only checked, never written to.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};

use super::model_ref::ModelRef;
use super::options::HubOptions;
use super::shards::ShardIndex;
use crate::error::{Error, Result};

/// The weight files tolk understands, in order of preference.
const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// A checkpoint's weight files: one file, or the shards a shard index names (with the index,
/// to check the tensors against).
#[derive(Debug, Clone)]
pub struct WeightFiles {
    pub files: Vec<PathBuf>,
    pub index: Option<(PathBuf, ShardIndex)>,
}

impl WeightFiles {
    /// The file that names the checkpoint: the single file, or the index.
    pub fn main(&self) -> &Path {
        self.index
            .as_ref()
            .map_or_else(|| self.files[0].as_path(), |(p, _)| p.as_path())
    }
}

/// A model reference resolved to somewhere files can be read from.
#[derive(Debug)]
pub struct ModelSource {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Local(PathBuf),
    Online(Box<OnlineRepo>),
    Offline(OfflineRepo),
}

#[derive(Debug)]
struct OnlineRepo {
    repo: String,
    revision: String,
    endpoint: String,
    cache_dir: PathBuf,
    api: ApiRepo,
    cache: Cache,
    /// Commit sha the revision resolved to when the repo was listed.
    commit: String,
    /// Every file of the repo at `commit` (the listing's `siblings`).
    files: BTreeSet<String>,
}

#[derive(Debug)]
struct OfflineRepo {
    repo: String,
    revision: String,
    cache_dir: PathBuf,
    /// `snapshots/{commit}` when the cache knows this revision, else the path that was missing.
    snapshot: std::result::Result<PathBuf, PathBuf>,
}

impl ModelSource {
    /// Resolve a reference: check a local folder, list a Hub repo (online), or find the
    /// revision's snapshot in the cache (offline; never fails for a missing cache entry, the
    /// first file request does, naming the file).
    pub fn open(r: &ModelRef, opts: &HubOptions) -> Result<Self> {
        let kind = match r {
            ModelRef::Local(path) => {
                if !path.is_dir() {
                    let what = if path.exists() {
                        "is a file, not a folder"
                    } else {
                        "does not exist"
                    };
                    return Err(Error::BadModelRef {
                        reference: path.display().to_string(),
                        reason: format!("the folder `{}` {what}", path.display()),
                    });
                }
                Kind::Local(path.clone())
            }
            ModelRef::Hub { repo, revision } if opts.offline => {
                Kind::Offline(OfflineRepo::open(repo, revision, &opts.cache_dir))
            }
            ModelRef::Hub { repo, revision } => match OnlineRepo::open(repo, revision, opts) {
                Ok(online) => Kind::Online(Box::new(online)),
                // As huggingface_hub does: when the Hub cannot be reached (no connection, a
                // timeout, a server error), a snapshot of this revision already in the cache
                // is used, with a warning; without one, the network error stands.
                Err(failed) if failed.unreachable => {
                    let cached = OfflineRepo::open(repo, revision, &opts.cache_dir);
                    match &cached.snapshot {
                        Ok(snapshot) => {
                            eprintln!(
                                "warning: {}; using the cached snapshot {} instead (set \
                                 HF_HUB_OFFLINE=1 to skip the Hub)",
                                failed.error,
                                snapshot.display()
                            );
                            Kind::Offline(cached)
                        }
                        Err(_) => return Err(failed.error),
                    }
                }
                Err(failed) => return Err(failed.error),
            },
        };
        Ok(ModelSource { kind })
    }

    /// Path to a file the model needs: from the local folder, the cache, or downloaded.
    pub fn file(&self, name: &str) -> Result<PathBuf> {
        self.find(name)?.ok_or_else(|| self.missing(name))
    }

    /// Like [`ModelSource::file`], but `None` when the model has no such file (not in the
    /// repo listing, not in the local folder, or not in an offline cache snapshot that exists).
    /// Network and cache failures are still errors.
    pub fn optional_file(&self, name: &str) -> Result<Option<PathBuf>> {
        self.find(name)
    }

    /// The weights: `model.safetensors`, else its shards (`model.safetensors.index.json`),
    /// else `pytorch_model.bin`, else its shards (`pytorch_model.bin.index.json`). Every shard
    /// is fetched (or found) before this returns.
    pub fn weights(&self) -> Result<WeightFiles> {
        let uncached = matches!(&self.kind, Kind::Offline(o) if o.snapshot.is_err());
        if !uncached {
            for name in WEIGHT_FILES {
                if let Some(path) = self.find(name)? {
                    return Ok(WeightFiles {
                        files: vec![path],
                        index: None,
                    });
                }
                let index_name = format!("{name}.index.json");
                if let Some(index_path) = self.find(&index_name)? {
                    let index = ShardIndex::read(&index_path)?;
                    let files = index
                        .shards
                        .iter()
                        .map(|shard| self.file(shard))
                        .collect::<Result<Vec<_>>>()?;
                    return Ok(WeightFiles {
                        files,
                        index: Some((index_path, index)),
                    });
                }
            }
        }
        let wanted: Vec<String> = WEIGHT_FILES
            .iter()
            .flat_map(|n| [n.to_string(), format!("{n}.index.json")])
            .collect();
        Err(self.missing(&wanted.join(" or ")))
    }

    /// One line saying where files come from, for logs and error messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Local(path) => format!("{} (local folder)", path.display()),
            Kind::Online(o) => format!(
                "{}@{} (HF cache {})",
                o.repo,
                o.revision,
                o.cache_dir.display()
            ),
            Kind::Offline(o) => format!(
                "{}@{} (HF cache {}, offline)",
                o.repo,
                o.revision,
                o.cache_dir.display()
            ),
        }
    }

    /// `Some(path)` if the model has the file, `None` if it does not.
    fn find(&self, name: &str) -> Result<Option<PathBuf>> {
        check_file_name(name)?;
        match &self.kind {
            Kind::Local(dir) => {
                let path = dir.join(name);
                Ok(path.is_file().then_some(path))
            }
            Kind::Online(o) => o.find(name),
            Kind::Offline(o) => match &o.snapshot {
                Ok(snapshot) => {
                    let path = snapshot.join(name);
                    Ok(path.exists().then_some(path))
                }
                Err(_) => Err(self.missing(name)),
            },
        }
    }

    /// The error for a file the model lacks, saying where it was looked for and what to do.
    fn missing(&self, file: &str) -> Error {
        let (location, hint) = match &self.kind {
            Kind::Local(dir) => (
                format!("the local folder `{}`", dir.display()),
                "put the file there, or give a Hub repo id such as `Helsinki-NLP/opus-mt-de-en`"
                    .to_string(),
            ),
            Kind::Online(o) => (
                format!(
                    "the repo `{}@{}` (commit {}) at {}",
                    o.repo, o.revision, o.commit, o.endpoint
                ),
                format!(
                    "the repo has {}; check that the id names a model tolk supports",
                    list_files(&o.files)
                ),
            ),
            Kind::Offline(o) => {
                let looked = match &o.snapshot {
                    Ok(s) => format!("the HF cache snapshot `{}`", s.display()),
                    Err(p) => format!(
                        "the HF cache (no `{}`: this revision was never downloaded)",
                        p.display()
                    ),
                };
                (
                    looked,
                    "HF_HUB_OFFLINE is set, so nothing is downloaded: run once online to fill \
                     the cache, or unset HF_HUB_OFFLINE"
                        .to_string(),
                )
            }
        };
        Error::MissingFile {
            file: file.to_string(),
            location,
            hint,
        }
    }
}

/// Why listing a repo failed, and whether the Hub was out of reach (no answer, or a server
/// error) rather than saying no.
struct OpenFailed {
    error: Error,
    unreachable: bool,
}

impl From<Error> for OpenFailed {
    fn from(error: Error) -> Self {
        OpenFailed {
            error,
            unreachable: false,
        }
    }
}

impl OnlineRepo {
    fn open(
        repo: &str,
        revision: &str,
        opts: &HubOptions,
    ) -> std::result::Result<Self, OpenFailed> {
        let cache = Cache::new(opts.cache_dir.clone());
        let download_err = |reason: String| Error::Download {
            repo: repo.to_string(),
            file: "(repo listing)".to_string(),
            endpoint: opts.endpoint.clone(),
            reason,
        };
        let api = ApiBuilder::from_cache(cache.clone())
            .with_endpoint(opts.endpoint.clone())
            .with_token(opts.token.clone())
            .with_progress(opts.progress)
            .with_user_agent("tolk", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| download_err(format!("cannot set up the HTTP client: {e}")))?;
        let api = api.repo(Repo::with_revision(
            repo.to_string(),
            RepoType::Model,
            revision.to_string(),
        ));
        let info = api.info().map_err(|e| {
            let status = status_of(&e);
            OpenFailed {
                unreachable: status.is_none_or(|s| s >= 500),
                error: match status {
                    Some(404) => download_err(format!(
                        "repository `{repo}` or its revision `{revision}` was not found (HTTP \
                         404); check the repo id and revision, the endpoint (HF_ENDPOINT), or, \
                         if the repo is private or gated, set HF_TOKEN"
                    )),
                    _ => download_err(api_reason(&e)),
                },
            }
        })?;
        if info.sha.is_empty() || !info.sha.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(OpenFailed::from(download_err(format!(
                "the server sent an invalid commit sha `{}`; is {} a Hugging Face Hub?",
                info.sha, opts.endpoint
            ))));
        }
        Ok(OnlineRepo {
            repo: repo.to_string(),
            revision: revision.to_string(),
            endpoint: opts.endpoint.clone(),
            cache_dir: opts.cache_dir.clone(),
            api,
            files: info.siblings.into_iter().map(|s| s.rfilename).collect(),
            commit: info.sha,
            cache,
        })
    }

    fn find(&self, name: &str) -> Result<Option<PathBuf>> {
        if !self.files.contains(name) {
            return Ok(None);
        }
        let cached = self
            .cache
            .model(self.repo.clone())
            .pointer_path(&self.commit)
            .join(name);
        if cached.exists() {
            return Ok(Some(cached));
        }
        match self.api.download(name) {
            Ok(path) => Ok(Some(path)),
            Err(e) => Err(match status_of(&e) {
                Some(404) => Error::MissingFile {
                    file: name.to_string(),
                    location: format!("`{}@{}` at {}", self.repo, self.revision, self.endpoint),
                    hint: "the repo lists it but the server answered 404; the revision may \
                           have moved, try again"
                        .to_string(),
                },
                _ => Error::Download {
                    repo: format!("{}@{}", self.repo, self.revision),
                    file: name.to_string(),
                    endpoint: self.endpoint.clone(),
                    reason: api_reason(&e),
                },
            }),
        }
    }
}

impl OfflineRepo {
    fn open(repo: &str, revision: &str, cache_dir: &Path) -> Self {
        let cache = Cache::new(cache_dir.to_path_buf()).model(repo.to_string());
        let repo_dir = cache_dir.join(Repo::model(repo.to_string()).folder_name());
        let ref_path = repo_dir.join("refs").join(revision);
        let commit = match std::fs::read_to_string(&ref_path) {
            Ok(c) => Some(c.trim().to_string()),
            // A full commit sha needs no ref: the snapshot is named after it.
            Err(_) if is_full_sha(revision) => Some(revision.to_string()),
            Err(_) => None,
        };
        let snapshot = match commit {
            Some(c) if !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()) => {
                let snap = cache.pointer_path(&c);
                if snap.is_dir() {
                    Ok(snap)
                } else {
                    Err(snap)
                }
            }
            _ => Err(ref_path),
        };
        OfflineRepo {
            repo: repo.to_string(),
            revision: revision.to_string(),
            cache_dir: cache_dir.to_path_buf(),
            snapshot,
        }
    }
}

fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Reject file names that could escape the model folder or the cache.
fn check_file_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        return Err(Error::InvalidArgument(format!(
            "`{name}` is not a valid model file name (a relative path inside the model, \
             without `..`)"
        )));
    }
    Ok(())
}

/// The HTTP status of a failed request, if the server answered at all.
fn status_of(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::RequestError(inner) => match inner.as_ref() {
            ureq::Error::StatusCode(code) => Some(*code),
            _ => None,
        },
        ApiError::TooManyRetries(inner) => status_of(inner),
        _ => None,
    }
}

/// A human reason for an `hf-hub` failure, with what to do about it.
fn api_reason(e: &ApiError) -> String {
    match (status_of(e), e) {
        (Some(code @ (401 | 403)), _) => format!(
            "access denied (HTTP {code}); the repo may be private or gated (set HF_TOKEN to a \
             token that can read it), or may not exist (check the repo id)"
        ),
        (Some(code), _) => format!("the server answered HTTP {code}"),
        (None, ApiError::RequestError(inner)) => format!(
            "network error: {inner}; check the connection and the endpoint (HF_ENDPOINT), or \
             set HF_HUB_OFFLINE=1 to use only files already in the cache"
        ),
        (None, ApiError::LockAcquisition(path)) => format!(
            "another process holds the download lock {}; wait for it, or delete the lock if \
             it is stale",
            path.display()
        ),
        (None, ApiError::IoError(io)) => {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::PermissionDenied | K::StorageFull | K::ReadOnlyFilesystem | K::QuotaExceeded => {
                    format!("cannot write to the HF cache: {io}")
                }
                // Reading the body failed: the connection dropped or stalled mid-file. hf-hub
                // writes into a `.part` file and renames it only when complete, so nothing in
                // the cache looks finished.
                _ => format!(
                    "the download broke off: {io}; run again to fetch it anew (check the \
                     connection and the endpoint, HF_ENDPOINT)"
                ),
            }
        }
        (None, other) => format!(
            "{other}; the endpoint does not answer like a Hugging Face Hub (check HF_ENDPOINT)"
        ),
    }
}

/// `"3 files: a, b, c"`, shortened for big repos.
fn list_files(files: &BTreeSet<String>) -> String {
    const SHOWN: usize = 12;
    if files.is_empty() {
        return "no files".to_string();
    }
    let mut names: Vec<&str> = files.iter().take(SHOWN).map(String::as_str).collect();
    if files.len() > SHOWN {
        names.push("…");
    }
    format!("{} files: {}", files.len(), names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_that_escape_are_rejected() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "./a"] {
            assert!(check_file_name(bad).is_err(), "{bad}");
        }
        for good in ["config.json", "onnx/model.onnx", "source.spm"] {
            assert!(check_file_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn file_lists_are_shortened() {
        let few: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list_files(&few), "2 files: a, b");
        let many: BTreeSet<String> = (0..20).map(|i| format!("f{i:02}")).collect();
        let s = list_files(&many);
        assert!(s.starts_with("20 files: f00, f01"), "{s}");
        assert!(s.ends_with('…') && !s.contains("f19"), "{s}");
        assert_eq!(list_files(&BTreeSet::new()), "no files");
    }

    #[test]
    fn local_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("pytorch_model.bin"), "w").unwrap();
        let opts = HubOptions::new(dir.path().join("cache"));
        let src = ModelSource::open(&ModelRef::Local(dir.path().into()), &opts).unwrap();
        assert_eq!(
            src.file("config.json").unwrap(),
            dir.path().join("config.json")
        );
        assert_eq!(
            src.weights().unwrap().files,
            [dir.path().join("pytorch_model.bin")]
        );
        assert_eq!(src.optional_file("vocab.json").unwrap(), None);
        match src.file("vocab.json") {
            Err(Error::MissingFile { file, location, .. }) => {
                assert_eq!(file, "vocab.json");
                assert!(
                    location.contains(dir.path().to_str().unwrap()),
                    "{location}"
                );
            }
            other => panic!("expected MissingFile, got {other:?}"),
        }
        std::fs::write(dir.path().join("model.safetensors"), "w").unwrap();
        assert_eq!(
            src.weights().unwrap().files,
            [dir.path().join("model.safetensors")]
        );
        assert!(src.describe().contains("local folder"));
        assert!(
            !dir.path().join("cache").exists(),
            "a local folder must not touch the cache"
        );
    }

    #[test]
    fn missing_local_folder_is_an_error() {
        let opts = HubOptions::new("/nonexistent-cache");
        let err = ModelSource::open(&ModelRef::Local("/no/such/tolk/dir".into()), &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
