//! The model registry: the models tolk knows by name, read from `models/*.toml` (one file per
//! model; the fields are documented in models/README.md).
//!
//! The files in the source tree's models/ folder are compiled into the binary
//! ([`Registry::builtin`]); users can add or replace entries with a folder of their own
//! ([`Registry::with_dir`]; an entry with the same `name` replaces the built-in one).
//!
//! Choosing a translator ([`Registry::translator_for`]): among the entries whose task is
//! translate, whose target is the wanted language and which serve the source language
//! ([`ModelEntry::serves`], aliases such as `nb` → `no` handled by [`normalize_lang`]),
//! dedicated entries (`fallback = false`) come before fallbacks; within each group the
//! `default = true` entry comes first, then the entry with the fewest source languages (the
//! most specialised), then registry order.
//!
//! Defaults: at most one dedicated and one fallback entry may be `default = true` for the same
//! task, target and source language; a second one is an error naming both files. When a user
//! folder is laid over the built-in entries, its defaults win: built-in entries that clash lose
//! their `default` flag.
//!
//! This module never touches the network; [`is_cached`] only looks at cache folders.

mod builtin;
mod cache;
mod entry;
mod lang;

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, Result};

pub use cache::{is_cached, is_cached_in};
pub use entry::{Architecture, DecodeDefaults, Format, ModelEntry, Task};
pub use lang::{is_valid_code, normalize_lang};

/// A validated set of [`ModelEntry`]s, in registry order (built-in files by file name, then a
/// user folder's files by file name).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<ModelEntry>,
}

impl Registry {
    /// The entries compiled into the binary (models/*.toml of the source tree).
    pub fn builtin() -> Result<Registry> {
        let parsed = builtin::BUILTIN
            .iter()
            .map(|(origin, text)| entry::parse_entry(origin, text))
            .collect::<Result<Vec<_>>>()?;
        Self::from_parsed(parsed)
    }

    /// The `*.toml` files of `dir` (not its subfolders), read in file-name order; a later file
    /// with the same `name` as an earlier one replaces it.
    pub fn load_dir(dir: &Path) -> Result<Registry> {
        let read_err = |e| {
            Error::io(
                format!("reading the model registry folder {}", dir.display()),
                e,
            )
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .map(|e| e.map(|e| e.path()).map_err(read_err))
            .collect::<Result<Vec<_>>>()?;
        files.retain(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file());
        files.sort();
        let mut parsed = Vec::with_capacity(files.len());
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            parsed.push(entry::parse_entry(&path.display().to_string(), &text)?);
        }
        Self::from_parsed(parsed)
    }

    /// These entries with the folder `dir` laid over them ([`Registry::load_dir`]): entries
    /// with a known name replace the old one in place, new names are appended, and the
    /// folder's defaults take over from the entries they clash with.
    pub fn with_dir(self, dir: &Path) -> Result<Registry> {
        let overlay = Registry::load_dir(dir)?;
        let mut entries = self.entries;
        for base in entries.iter_mut() {
            if overlay.get(&base.name).is_some() {
                continue;
            }
            if base.default
                && overlay
                    .entries
                    .iter()
                    .any(|o| o.default && defaults_clash(base, o))
            {
                base.default = false;
            }
        }
        for new in overlay.entries {
            match entries.iter_mut().find(|e| e.name == new.name) {
                Some(old) => *old = new,
                None => entries.push(new),
            }
        }
        Self::validated(entries)
    }

    /// All entries, in registry order.
    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The translator for `lang` → `target` (any spelling [`normalize_lang`] understands): a
    /// dedicated entry first (the default one if several), else a fallback serving `lang`.
    pub fn translator_for(&self, lang: &str, target: &str) -> Option<&ModelEntry> {
        let target = normalize_lang(target);
        self.ranked(lang)
            .into_iter()
            .find(|e| e.target_language == target)
    }

    /// Every translate entry with `lang` among its source languages (any target), best first
    /// (the order [`Registry::translator_for`] prefers them in).
    pub fn translators_serving(&self, lang: &str) -> Vec<&ModelEntry> {
        self.ranked(lang)
    }

    /// The default entry for `task`: of the entries marked `default = true` for it, the one
    /// covering the most source languages (the widest net), the first in registry order on a
    /// tie. For summarize that is the default summarizer; for translate, the default fallback.
    pub fn default_for(&self, task: Task) -> Option<&ModelEntry> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.task == task && e.default)
            .min_by_key(|(i, e)| (std::cmp::Reverse(e.source_languages.len()), *i))
            .map(|(_, e)| e)
    }

    /// The source languages (canonical codes, sorted) some translator into English serves.
    pub fn languages(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .entries
            .iter()
            .filter(|e| e.task == Task::Translate && e.target_language == "en")
            .flat_map(|e| e.source_languages.iter())
            .collect();
        set.into_iter().cloned().collect()
    }

    /// Translate entries serving `lang`, best first.
    fn ranked(&self, lang: &str) -> Vec<&ModelEntry> {
        let lang = normalize_lang(lang);
        let mut found: Vec<(usize, &ModelEntry)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.task == Task::Translate && e.serves(&lang))
            .collect();
        found.sort_by_key(|(i, e)| (e.fallback, !e.default, e.source_languages.len(), *i));
        found.into_iter().map(|(_, e)| e).collect()
    }

    /// Merge by name (later replaces earlier, in place), then validate.
    fn from_parsed(parsed: Vec<ModelEntry>) -> Result<Registry> {
        let mut entries: Vec<ModelEntry> = Vec::with_capacity(parsed.len());
        for new in parsed {
            match entries.iter_mut().find(|e| e.name == new.name) {
                Some(old) => *old = new,
                None => entries.push(new),
            }
        }
        Self::validated(entries)
    }

    /// Checks that span entries: at most one default per (task, target, language, fallback).
    fn validated(entries: Vec<ModelEntry>) -> Result<Registry> {
        for (i, b) in entries.iter().enumerate() {
            if !b.default {
                continue;
            }
            if let Some(a) = entries[..i]
                .iter()
                .find(|a| a.default && defaults_clash(a, b))
            {
                let lang = b
                    .source_languages
                    .iter()
                    .find(|l| a.source_languages.contains(l))
                    .cloned()
                    .unwrap_or_default();
                let kind = if b.fallback { "fallback " } else { "" };
                return Err(entry::field_error(
                    &b.origin,
                    "default",
                    format!(
                        "`{}` and `{}` ({}) are both the default {kind}{} model for `{lang}` → \
                         `{}`; set `default = true` on one of them only",
                        b.name, a.name, a.origin, b.task, b.target_language
                    ),
                ));
            }
        }
        Ok(Registry { entries })
    }
}

/// Whether two entries would both be the default for some (task, target, language) among
/// entries of the same kind (dedicated or fallback).
fn defaults_clash(a: &ModelEntry, b: &ModelEntry) -> bool {
    a.task == b.task
        && a.target_language == b.target_language
        && a.fallback == b.fallback
        && a.source_languages
            .iter()
            .any(|l| b.source_languages.contains(l))
}

#[cfg(test)]
mod tests;
