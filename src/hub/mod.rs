//! Model resolution: where tolk's model files come from.
//!
//! A model is named by a [`ModelRef`]: a Hugging Face Hub repo id (`owner/name`, optionally
//! `owner/name@revision` with a branch, tag or commit sha) or a local folder. How a string is
//! told apart (full rules on [`ModelRef`]):
//! - a string naming an existing directory is a folder;
//! - a string starting with `/`, `./`, `../` or `~`, containing `\`, or with more than one `/`
//!   before any `@`, is a path, and it is an error (saying the folder does not exist) when it
//!   is missing;
//! - anything else is a repo id, validated like the Hub does (`[A-Za-z0-9._-]` segments, at
//!   most one `/`, no `--` or `..`).
//!
//! [`ModelSource::open`] resolves a reference with [`HubOptions`] (usually
//! [`HubOptions::from_env`]): local folders are only checked; Hub repos are listed once and
//! their files downloaded on demand with the `hf-hub` crate into the standard Hugging Face
//! cache layout (`models--owner--name/{blobs,refs,snapshots}`), shared with Python tools.
//!
//! Environment variables honoured (`hf-hub` 0.5 itself only reads `HF_HOME` and
//! `HF_ENDPOINT`, and only in its own `from_env`; tolk reads all of them itself and passes
//! them explicitly): `HF_HOME`, `HF_HUB_CACHE` (and the legacy `HUGGINGFACE_HUB_CACHE`),
//! `XDG_CACHE_HOME`, `HF_ENDPOINT`, `HF_HUB_OFFLINE`, `HF_TOKEN`, `HF_TOKEN_PATH`,
//! `HF_HUB_DISABLE_PROGRESS_BARS`.
//!
//! Argos Translate packages (`.argosmodel` zips, extracted packages) and bare CTranslate2
//! folders are located by [`Ct2Package::open`]; [`Ct2Layout::detect`] tells them apart from a
//! transformers folder.
//!
//! This module must never touch the network when offline (`HF_HUB_OFFLINE=1`), never write
//! into a local model folder, and never parse model contents (that is for the other modules)
//! beyond the shard list of a sharded checkpoint's index ([`ShardIndex`]).

mod argos;
mod model_ref;
mod options;
mod shards;
mod source;

pub use argos::{argos_cache_dir, cache_root, ArgosMetadata, Ct2Layout, Ct2Package};
pub use model_ref::ModelRef;
pub use options::{HubOptions, DEFAULT_ENDPOINT};
pub use shards::ShardIndex;
pub use source::{ModelSource, WeightFiles};
