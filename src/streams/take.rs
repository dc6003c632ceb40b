//! Where a worker's entries come from, in order: its own unacknowledged entries (after a start
//! or a reconnect), entries other consumers have held longer than `claim_idle_ms`
//! (`XAUTOCLAIM`), then new ones (`XREADGROUP >`); and acknowledging them.

use std::collections::HashMap;

use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::Connection;

use super::worker::WorkerOptions;
use super::{redis_err, Keys};
use crate::error::Result;

/// Create the group (at the start of the stream, creating the stream too) unless it exists.
pub(super) fn ensure_group(
    con: &mut Connection,
    keys: &Keys,
    wopts: &WorkerOptions,
) -> std::result::Result<(), redis::RedisError> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&keys.stream)
        .arg(&wopts.group)
        .arg("0")
        .arg("MKSTREAM")
        .query(con);
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// Where [`take`] is in its sources.
#[derive(Debug, Clone, Default)]
pub(super) struct TakeState {
    /// This consumer's own pending entries have all been taken up.
    pub(super) own_done: bool,
    /// The last of its own pending entries taken so far.
    pub(super) own_cursor: Option<String>,
    /// `XAUTOCLAIM`'s cursor (`0-0`: start a new scan).
    pub(super) claim_cursor: Option<String>,
}

/// The next entries to process: own pending, then claimable, then new.
pub(super) fn take(
    con: &mut Connection,
    keys: &Keys,
    wopts: &WorkerOptions,
    state: &mut TakeState,
    count: usize,
) -> Result<Vec<StreamId>> {
    let read = |con: &mut Connection, id: &str, block: Option<u64>| -> Result<Vec<StreamId>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&wopts.group)
            .arg(&wopts.consumer)
            .arg("COUNT")
            .arg(count);
        if let Some(ms) = block {
            cmd.arg("BLOCK").arg(ms);
        }
        cmd.arg("STREAMS").arg(&keys.stream).arg(id);
        let reply: Option<StreamReadReply> = cmd
            .query(con)
            .map_err(redis_err(format!("reading {}", keys.stream)))?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    };
    while !state.own_done {
        // History of this consumer: entries it was given and never acknowledged, read once
        // through after each (re)connect. An entry deleted from the stream meanwhile comes back
        // with no fields; acknowledge it away.
        let after = state.own_cursor.clone().unwrap_or_else(|| "0".into());
        let mine = read(con, &after, None)?;
        let Some(last) = mine.last() else {
            state.own_done = true;
            break;
        };
        state.own_cursor = Some(last.id.clone());
        let (gone, live): (Vec<StreamId>, Vec<StreamId>) =
            mine.into_iter().partition(|e| e.map.is_empty());
        ack(
            con,
            keys,
            wopts,
            &gone.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        )?;
        if !live.is_empty() {
            return Ok(live);
        }
    }
    // Entries other consumers (or this one, for an entry that broke) have held too long: one
    // pass of the scan per call, so a long pending list is walked to its end before new work.
    loop {
        let cursor = state.claim_cursor.take().unwrap_or_else(|| "0-0".into());
        let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&keys.stream)
            .arg(&wopts.group)
            .arg(&wopts.consumer)
            .arg(wopts.claim_idle_ms)
            .arg(&cursor)
            .arg("COUNT")
            .arg(count)
            .query(con)
            .map_err(redis_err(format!(
                "claiming idle entries of {}",
                keys.stream
            )))?;
        let scan_done = claimed.next_stream_id == "0-0";
        if !scan_done {
            state.claim_cursor = Some(claimed.next_stream_id.clone());
        }
        if !claimed.claimed.is_empty() {
            return Ok(claimed.claimed);
        }
        if scan_done {
            break;
        }
    }
    read(con, ">", Some(if wopts.once { 100 } else { 1000 }))
}

pub(super) fn ack(
    con: &mut Connection,
    keys: &Keys,
    wopts: &WorkerOptions,
    ids: &[String],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let _: i64 = redis::cmd("XACK")
        .arg(&keys.stream)
        .arg(&wopts.group)
        .arg(ids)
        .query(con)
        .map_err(redis_err(format!(
            "acknowledging entries of {}",
            keys.stream
        )))?;
    Ok(())
}

/// How often each of `entries` has been delivered (this delivery included).
pub(super) fn deliveries(
    con: &mut Connection,
    keys: &Keys,
    wopts: &WorkerOptions,
    entries: &[StreamId],
) -> Result<HashMap<String, usize>> {
    let (Some(first), Some(last)) = (
        entries
            .iter()
            .map(|e| e.id.as_str())
            .min_by(|a, b| cmp_ids(a, b)),
        entries
            .iter()
            .map(|e| e.id.as_str())
            .max_by(|a, b| cmp_ids(a, b)),
    ) else {
        return Ok(HashMap::new());
    };
    let reply: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(&keys.stream)
        .arg(&wopts.group)
        .arg(first)
        .arg(last)
        .arg(entries.len() * 4 + 100)
        .arg(&wopts.consumer)
        .query(con)
        .map_err(redis_err(format!(
            "reading pending entries of {}",
            keys.stream
        )))?;
    Ok(reply
        .ids
        .into_iter()
        .map(|p| (p.id, p.times_delivered))
        .collect())
}

/// Stream ids (`ms-seq`) in stream order.
pub(super) fn cmp_ids(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |s: &str| {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    parse(a).cmp(&parse(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_numerically() {
        let mut ids = vec!["10-0", "9-5", "9-10", "100-0"];
        ids.sort_by(|a, b| cmp_ids(a, b));
        assert_eq!(ids, ["9-5", "9-10", "10-0", "100-0"]);
    }
}
