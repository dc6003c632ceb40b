//! Work shared by many machines through Redis Streams: `tolk enqueue` queues documents,
//! `tolk worker`s on any number of boxes take them through one consumer group and process them
//! exactly as `tolk batch` does, `tolk results` writes the finished records to JSONL.
//!
//! Keys, for `--stream S` and `--results R`:
//! - `S`: the queued documents, one entry each (field `record`, see [`entry`]);
//! - `S:keys`: a set of every record key ever queued, so queueing twice queues once;
//! - `S:dead`: the dead-letter stream (entries delivered more than `--max-deliveries` times);
//! - `S:errors`: a hash, entry id → the last error of an entry whose processing broke off;
//! - `R`: the finished records, one entry per key (fields `key`, `record`);
//! - `R:done`: a hash, record key → the finished record.
//!
//! Delivery: entries are delivered at least once (a worker acknowledges an entry only after its
//! record is stored; the entries a dead worker held are claimed by another after
//! `--claim-idle-ms`), and results are exactly once by key (a record is stored with `HSETNX` on
//! `R:done` and added to `R` in the same script, so a redelivered entry never yields a second
//! result).
//!
//! - [`entry`]: records as stream entries and back;
//! - [`conn`]: connecting, with backoff when Redis goes away;
//! - [`enqueue`], [`worker`], [`results`]: the three commands (`take`: where a worker's
//!   entries come from).

pub mod conn;
pub mod enqueue;
pub mod entry;
pub mod results;
mod take;
pub mod worker;

/// The Redis key names of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub stream: String,
    pub keys: String,
    pub dead: String,
    pub errors: String,
    pub results: String,
    pub done: String,
}

impl Keys {
    /// The keys of input stream `stream` and results stream `results`.
    pub fn new(stream: &str, results: &str) -> Self {
        Keys {
            stream: stream.to_string(),
            keys: format!("{stream}:keys"),
            dead: format!("{stream}:dead"),
            errors: format!("{stream}:errors"),
            results: results.to_string(),
            done: format!("{results}:done"),
        }
    }
}

/// A Redis error as tolk's, saying what was being done.
pub(crate) fn redis_err(
    context: impl Into<String>,
) -> impl FnOnce(redis::RedisError) -> crate::Error {
    let context = context.into();
    move |source| crate::Error::Redis { context, source }
}
