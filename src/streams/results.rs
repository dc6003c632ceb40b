//! `tolk results`: the finished records of the results stream, appended to a JSONL output the
//! way `tolk batch` writes one (resumable: keys already in the file are skipped).

use std::sync::atomic::{AtomicBool, Ordering};

use redis::streams::StreamRangeReply;
use redis::Connection;

use super::{redis_err, Keys};
use crate::error::{Error, Result};
use crate::jobs::output::{record_key, OutputLog};

/// Entries read per `XRANGE` page.
const PAGE: usize = 500;

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub written: usize,
    pub already: usize,
    /// Written records that carry an `error`.
    pub failed: usize,
}

/// Append every record of `keys.results` that `out` lacks, oldest first. With `follow`, keep
/// waiting for new ones until `stop` is set.
pub fn drain(
    con: &mut Connection,
    keys: &Keys,
    out: &mut OutputLog,
    follow: bool,
    stop: &AtomicBool,
    on_record: &mut dyn FnMut(bool),
) -> Result<DrainReport> {
    let mut report = DrainReport::default();
    let mut after = "-".to_string();
    loop {
        let page: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&keys.results)
            .arg(&after)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query(con)
            .map_err(redis_err(format!("reading {}", keys.results)))?;
        for e in &page.ids {
            let raw: Option<Vec<u8>> = e.get("record");
            let record: serde_json::Value = raw
                .as_deref()
                .and_then(|r| serde_json::from_slice(r).ok())
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "entry {} of {} is not a tolk result; is --results right?",
                        e.id, keys.results
                    ))
                })?;
            if out.is_done(&record_key(&record)) {
                report.already += 1;
                continue;
            }
            let failed = record.get("error").is_some_and(|v| !v.is_null());
            out.append(&record)?;
            report.written += 1;
            report.failed += usize::from(failed);
            on_record(failed);
        }
        if let Some(last) = page.ids.last() {
            after = format!("({}", last.id);
        }
        if page.ids.len() == PAGE {
            continue;
        }
        if !follow || stop.load(Ordering::Relaxed) {
            return Ok(report);
        }
        // Wait for the next entry after the last one seen (or anything, at the start).
        let from = after.strip_prefix('(').unwrap_or("0-0").to_string();
        let _: redis::Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&keys.results)
            .arg(&from)
            .query(con)
            .map_err(redis_err(format!("waiting on {}", keys.results)))?;
    }
}
