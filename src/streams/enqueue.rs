//! `tolk enqueue`: put records on the input stream, each key once. One script per record
//! checks `R:done` and adds the key to `S:keys` before `XADD`, atomically, so running enqueue
//! again (after a crash, or on an overlapping file) queues only what was never queued.

use redis::{Connection, Script};

use super::{entry, redis_err, Keys};
use crate::error::Result;
use crate::jobs::input::Record;

const ENQUEUE: &str = r"
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'key', ARGV[1], 'record', ARGV[2])
return 1
";

/// What an enqueue run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueReport {
    /// Records added to the stream.
    pub queued: usize,
    /// Records whose key was queued (or finished) before.
    pub already: usize,
}

/// Queue `records` on `keys.stream`; `on_record(queued)` after each.
pub fn enqueue(
    con: &mut Connection,
    keys: &Keys,
    records: impl Iterator<Item = Result<Record>>,
    on_record: &mut dyn FnMut(bool),
) -> Result<EnqueueReport> {
    let script = Script::new(ENQUEUE);
    let mut report = EnqueueReport::default();
    for record in records {
        let record = record?;
        let added: i64 = script
            .key(&keys.stream)
            .key(&keys.keys)
            .key(&keys.done)
            .arg(&record.key)
            .arg(entry::encode(&record))
            .invoke(con)
            .map_err(redis_err(format!("queueing record {}", record.key)))?;
        if added == 1 {
            report.queued += 1;
        } else {
            report.already += 1;
        }
        on_record(added == 1);
    }
    Ok(report)
}
