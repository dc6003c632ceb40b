//! Whether a registry entry's files are already on this machine, by looking at the caches only.
//!
//! - Hub entries: the Hugging Face cache layout that `hf-hub` and Python tools share,
//!   `<cache>/models--owner--name/refs/<revision>` (a file holding the commit sha) and
//!   `snapshots/<sha>/…`. A revision that is itself a 40-hex commit sha is looked up directly
//!   under `snapshots/`. The entry counts as cached when the snapshot holds `config.json`
//!   (transformers and CT2 formats) or a `.gguf` file (GGUF format). Other files (weights,
//!   tokenizer) are not checked: a partly downloaded repo may still fetch files on first use.
//! - Package entries: tolk's Argos cache ([`crate::hub::argos_cache_dir`]), where an extracted
//!   `.argosmodel` lives in `<stem>-<first 16 hex digits of its sha256>/`; cached when such a
//!   folder holds `model/model.bin` (directly or in its one package subfolder). Packages that
//!   are not Argos archives (the GGUF entry) are never in that cache, so they read as not cached.
//!
//! This module never touches the network and never writes.

use std::path::Path;

use super::entry::{Format, ModelEntry};
use crate::hub::HubOptions;

/// True when the entry's files are in the local caches (see the module docs); no network.
pub fn is_cached(entry: &ModelEntry, hub: &HubOptions) -> bool {
    is_cached_in(entry, &hub.cache_dir, &crate::hub::argos_cache_dir())
}

/// [`is_cached`] with both cache folders given (the Hub cache and tolk's Argos cache).
pub fn is_cached_in(entry: &ModelEntry, hub_cache: &Path, argos_cache: &Path) -> bool {
    if let Some(repo) = &entry.reference {
        let revision = entry.revision.as_deref().unwrap_or("main");
        return hub_snapshot_ready(hub_cache, repo, revision, entry.format);
    }
    match &entry.sha256 {
        Some(sha) if sha.len() >= 16 => argos_extracted(argos_cache, &sha[..16]),
        _ => false,
    }
}

fn hub_snapshot_ready(cache: &Path, repo: &str, revision: &str, format: Format) -> bool {
    let repo_dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    let is_sha = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    let commit = match std::fs::read_to_string(repo_dir.join("refs").join(revision)) {
        Ok(text) => text.trim().to_string(),
        Err(_) if is_sha => revision.to_string(),
        Err(_) => return false,
    };
    if commit.is_empty() || commit.contains(['/', '\\']) || commit.contains("..") {
        return false;
    }
    let snapshot = repo_dir.join("snapshots").join(commit);
    match format {
        Format::Gguf => std::fs::read_dir(&snapshot)
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().ends_with(".gguf"))
            })
            .unwrap_or(false),
        Format::Transformers | Format::Ct2 => snapshot.join("config.json").is_file(),
    }
}

fn argos_extracted(cache: &Path, sha_prefix: &str) -> bool {
    let suffix = format!("-{sha_prefix}");
    let Ok(dirs) = std::fs::read_dir(cache) else {
        return false;
    };
    dirs.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(&suffix))
        .any(|e| {
            let dir = e.path();
            let has_model = |p: &Path| p.join("model").join("model.bin").is_file();
            has_model(&dir)
                || std::fs::read_dir(&dir)
                    .map(|it| it.filter_map(|e| e.ok()).any(|e| has_model(&e.path())))
                    .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::super::entry::parse_entry;
    use super::*;
    use std::fs;

    fn hub_entry(revision: &str, format: &str) -> ModelEntry {
        let text = format!(
            "name = \"x\"\nreference = \"Helsinki-NLP/opus-mt-da-en\"\nrevision = \"{revision}\"\n\
             architecture = \"marian\"\nformat = \"{format}\"\ntask = \"translate\"\n\
             source_languages = [\"da\"]\nlicence = \"apache-2.0\"\n"
        );
        parse_entry("t.toml", &text).unwrap()
    }

    #[test]
    fn hub_entry_needs_ref_and_config_in_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path();
        let none = tmp.path().join("no-argos");
        let e = hub_entry("main", "transformers");
        assert!(!is_cached_in(&e, cache, &none));
        let repo = cache.join("models--Helsinki-NLP--opus-mt-da-en");
        fs::create_dir_all(repo.join("refs")).unwrap();
        fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        assert!(!is_cached_in(&e, cache, &none), "ref without snapshot");
        let snap = repo.join("snapshots/abc123");
        fs::create_dir_all(&snap).unwrap();
        assert!(
            !is_cached_in(&e, cache, &none),
            "snapshot without config.json"
        );
        fs::write(snap.join("config.json"), "{}").unwrap();
        assert!(is_cached_in(&e, cache, &none));
        // Another branch is not cached; a sha revision is found without a ref file.
        assert!(!is_cached_in(
            &hub_entry("dev", "transformers"),
            cache,
            &none
        ));
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(!is_cached_in(&hub_entry(sha, "transformers"), cache, &none));
        fs::create_dir_all(repo.join("snapshots").join(sha)).unwrap();
        fs::write(repo.join("snapshots").join(sha).join("config.json"), "{}").unwrap();
        assert!(is_cached_in(&hub_entry(sha, "transformers"), cache, &none));
    }

    #[test]
    fn package_entry_is_found_by_sha_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let sha = "62e7af5a3a48b530e47b7b3e5c78c2de79073ecd815750d2bf3ab35b4a67da2d";
        let text = format!(
            "name = \"p\"\npackage = \"pypi:x==1#m.argosmodel\"\nsha256 = \"{sha}\"\n\
             architecture = \"marian\"\nformat = \"ct2\"\ntask = \"translate\"\n\
             source_languages = [\"zh\"]\nlicence = \"cc-by-4.0\"\n"
        );
        let e = parse_entry("t.toml", &text).unwrap();
        let argos = tmp.path().join("argos");
        assert!(!is_cached_in(&e, tmp.path(), &argos));
        let pkg = argos.join("model_data-62e7af5a3a48b530/translate-zh_en-1_9");
        fs::create_dir_all(pkg.join("model")).unwrap();
        assert!(!is_cached_in(&e, tmp.path(), &argos), "no model.bin yet");
        fs::write(pkg.join("model/model.bin"), b"x").unwrap();
        assert!(is_cached_in(&e, tmp.path(), &argos));
        // A different package's folder does not count.
        let other = text.replace(sha, &"1".repeat(64));
        let other = parse_entry("t.toml", &other).unwrap();
        assert!(!is_cached_in(&other, tmp.path(), &argos));
    }
}
