//! The library's error type: one `thiserror` enum for every layer of tolk.
//!
//! Each message says what failed and, where there is one, what the user can do about it.
//! Never use `anyhow` here: that belongs to the binary.

use std::path::PathBuf;

/// Everything that can go wrong in the tolk library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model reference (`repo@rev` or a folder) could not be understood.
    #[error("invalid model reference `{reference}`: {reason}")]
    BadModelRef { reference: String, reason: String },

    /// A file a model needs is not where it was looked for.
    #[error("model file `{file}` not found in {location}; {hint}")]
    MissingFile {
        file: String,
        location: String,
        hint: String,
    },

    /// Talking to the Hugging Face Hub (or a mirror) failed.
    #[error("could not fetch `{file}` of `{repo}` from {endpoint}: {reason}")]
    Download {
        repo: String,
        file: String,
        endpoint: String,
        reason: String,
    },

    /// A model file exists but cannot be read as what it claims to be.
    #[error("corrupt or unreadable model file {}: {reason}", path.display())]
    CorruptModel { path: PathBuf, reason: String },

    /// A configuration file is missing a field or holds an impossible value.
    #[error("invalid model configuration {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    /// Text could not be turned into ids or back.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// Input text was not valid UTF-8.
    #[error("input is not valid UTF-8: invalid byte sequence at byte offset {offset}")]
    InvalidUtf8 { offset: usize },

    /// An I/O operation failed; `context` names the file or stream.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A caller asked for something that cannot be done (bad option combination, etc.).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The model or device does not support what was asked.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A batch job's output file holds something that is not a record of ours.
    #[error("cannot resume into {}: {reason}", path.display())]
    BadOutput { path: PathBuf, reason: String },

    /// A tensor operation failed.
    /// A Redis command failed (`tolk enqueue`, `worker`, `results`); `context` says which.
    #[error("redis: {context}: {source}")]
    Redis {
        context: String,
        #[source]
        source: redis::RedisError,
    },

    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// Wrap an I/O error with the file or stream it concerns.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
