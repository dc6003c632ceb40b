//! `tolk worker`: take entries from the input stream through a consumer group, process them in
//! windows exactly as `tolk batch` does ([`process_window`]: same routing, same cross-document
//! batching, same records), store each record once by key, then acknowledge.
//!
//! Where entries come from, in order: this consumer's own unacknowledged entries (after a
//! start or a reconnect: a restarted worker finishes what it held), entries other consumers
//! have held longer than `claim_idle_ms` (`XAUTOCLAIM`: a dead worker's window), then new ones
//! (`XREADGROUP >`, blocking up to a second). An entry delivered more than `max_deliveries`
//! times (its worker died or broke on it each time) goes to the dead-letter stream with its
//! last error and gets a failed record, so the job still ends with one record per key.
//!
//! A window whose processing panics is retried one record at a time; a record that panics on
//! its own stays unacknowledged (its error kept in `S:errors`) until it is claimed again or
//! dead-lettered. When Redis goes away the worker reconnects with backoff; nothing is
//! acknowledged before its record is stored, so nothing is lost, and storing is idempotent.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::streams::StreamId;
use redis::{Client, Connection, Script};
use serde_json::{json, Value};

use super::conn::{self, Backoff};
use super::take::{ack, deliveries, ensure_group, take, TakeState};
use super::{entry, redis_err, Keys};
use crate::error::{Error, Result};
use crate::jobs::input::Record;
use crate::jobs::models::Models;
use crate::jobs::output::RecordSink;
use crate::jobs::plan::Identify;
use crate::jobs::run::{process_window, Event, JobOptions};
use crate::pipeline::translate::TokenCounts;

/// Store a record once by key and add it to the results stream.
const STORE: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], '*', 'key', ARGV[1], 'record', ARGV[2])
  return 1
end
return 0
";

/// Dead-letter an entry: its failed record stored once, and (that first time) the entry, its
/// deliveries and last error added to the dead-letter stream.
const DEAD_LETTER: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], '*', 'key', ARGV[1], 'record', ARGV[2])
  redis.call('XADD', KEYS[3], '*', 'entry', ARGV[3], 'key', ARGV[1], 'deliveries', ARGV[4], 'error', ARGV[5], 'source', ARGV[6])
  return 1
end
return 0
";

/// Environment variable for fault-injection tests: a worker panics while processing any
/// document whose text contains its value (as a bug in a model or tokenizer would).
pub const PANIC_ON_ENV: &str = "TOLK_TEST_PANIC_ON";

/// How a worker takes part in the group.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub group: String,
    pub consumer: String,
    pub claim_idle_ms: u64,
    pub max_deliveries: usize,
    /// Stop when nothing is left to take (nothing new, nothing claimable).
    pub once: bool,
    /// How often a [`WorkerEvent::Status`] is reported.
    pub status_every: Duration,
}

/// What a worker tells its caller as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    /// A record was stored; `failed` when it carries an error.
    Written { failed: bool },
    /// An entry's key already had a record (a redelivery, or queued twice by hand).
    AlreadyDone,
    /// An entry went to the dead-letter stream.
    DeadLettered { key: String, deliveries: usize },
    /// A record broke processing (a panic); it stays pending for another try.
    Broke { key: String, error: String },
    /// The model did this much more work.
    Tokens(TokenCounts),
    /// Redis is unreachable; the next attempt comes after `retry_in`.
    Reconnecting { error: String, retry_in: Duration },
    /// The queue as the group sees it.
    Status {
        length: usize,
        pending: usize,
        lag: Option<usize>,
    },
}

/// The totals of a worker's run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub written: usize,
    pub failed: usize,
    pub already_done: usize,
    pub dead_lettered: usize,
    pub counts: TokenCounts,
}

/// Run a worker until `stop` is set (the current window is finished and acknowledged first)
/// or, with `once`, until nothing is left to take.
#[allow(clippy::too_many_arguments)]
pub fn run_worker(
    client: &Client,
    keys: &Keys,
    wopts: &WorkerOptions,
    models: &mut Models,
    identify: &dyn Identify,
    jopts: &JobOptions,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(&WorkerEvent),
) -> Result<WorkerReport> {
    let mut report = WorkerReport::default();
    let mut emit = |e: WorkerEvent, report: &mut WorkerReport| {
        match &e {
            WorkerEvent::Written { failed } => {
                report.written += 1;
                report.failed += usize::from(*failed);
            }
            WorkerEvent::AlreadyDone => report.already_done += 1,
            WorkerEvent::DeadLettered { .. } => report.dead_lettered += 1,
            WorkerEvent::Tokens(c) => {
                report.counts.source_tokens += c.source_tokens;
                report.counts.generated_tokens += c.generated_tokens;
            }
            _ => {}
        }
        on_event(&e);
    };
    let mut backoff = Backoff::default();
    let mut con: Option<Connection> = None;
    let mut state = TakeState::default();
    let mut last_status = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let c = match con.as_mut() {
            Some(c) => c,
            None => {
                match conn::connect(client)
                    .and_then(|mut c| ensure_group(&mut c, keys, wopts).map(|_| c))
                {
                    Ok(c) => {
                        con = Some(c);
                        backoff.reset();
                        // Take up this consumer's own unfinished entries first.
                        state = TakeState::default();
                    }
                    Err(e) if conn::is_connection_error(&e) => {
                        let (event, pause) = reconnecting(&mut backoff, e.to_string());
                        emit(event, &mut report);
                        conn::sleep_unless_stopped(pause, stop);
                    }
                    Err(e) => return Err(redis_err("joining the consumer group")(e)),
                }
                continue;
            }
        };
        let step = (|| -> Result<bool> {
            let entries = take(c, keys, wopts, &mut state, jopts.window_docs.max(1))?;
            if entries.is_empty() {
                return Ok(false);
            }
            process_entries(c, keys, wopts, entries, models, identify, jopts, &mut |e| {
                emit(e, &mut report)
            })?;
            Ok(true)
        })();
        match step {
            Ok(worked) => {
                if last_status.elapsed() >= wopts.status_every {
                    last_status = Instant::now();
                    if let Ok(s) = status(c, keys, wopts) {
                        emit(s, &mut report);
                    }
                }
                if !worked && wopts.once {
                    break;
                }
            }
            Err(e) if conn::is_lost(&e) => {
                con = None;
                let (event, pause) = reconnecting(&mut backoff, e.to_string());
                emit(event, &mut report);
                conn::sleep_unless_stopped(pause, stop);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// The event saying Redis is unreachable, and the pause to take before the next attempt.
fn reconnecting(backoff: &mut Backoff, error: String) -> (WorkerEvent, Duration) {
    let pause = backoff.next_pause();
    (
        WorkerEvent::Reconnecting {
            error,
            retry_in: pause,
        },
        pause,
    )
}

/// Stores records in Redis, in the order the window writes them.
struct RedisSink<'a> {
    con: &'a mut Connection,
    keys: &'a Keys,
    script: Script,
    /// (entry id, record key) of the records still to be written, in order.
    expected: std::collections::VecDeque<(String, String)>,
    events: Vec<WorkerEvent>,
}

impl RecordSink for RedisSink<'_> {
    fn append(&mut self, record: &Value) -> Result<()> {
        let (entry_id, key) = self.expected.pop_front().ok_or_else(|| {
            Error::InvalidArgument("a window wrote more records than it was given".into())
        })?;
        // A malformed entry has no id or line: name the entry instead (the only case that
        // needs a copy of the record).
        let named;
        let record = if key.starts_with("entry:") {
            let mut r = record.clone();
            r["entry"] = entry_id.into();
            named = r;
            &named
        } else {
            record
        };
        let failed = record.get("error").is_some_and(|v| !v.is_null());
        let stored: i64 = self
            .script
            .key(&self.keys.done)
            .key(&self.keys.results)
            .arg(&key)
            .arg(record.to_string())
            .invoke(self.con)
            .map_err(redis_err(format!("storing the record of {key}")))?;
        self.events.push(if stored == 1 {
            WorkerEvent::Written { failed }
        } else {
            WorkerEvent::AlreadyDone
        });
        Ok(())
    }
}

/// Process one window of entries and acknowledge what is finished.
#[allow(clippy::too_many_arguments)]
fn process_entries(
    con: &mut Connection,
    keys: &Keys,
    wopts: &WorkerOptions,
    entries: Vec<StreamId>,
    models: &mut Models,
    identify: &dyn Identify,
    jopts: &JobOptions,
    emit: &mut dyn FnMut(WorkerEvent),
) -> Result<()> {
    let delivered = deliveries(con, keys, wopts, &entries)?;
    let mut done_ids: Vec<String> = Vec::new();
    let mut todo: Vec<(String, Record)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut twins: Vec<String> = Vec::new();
    for e in entries {
        let raw: Option<Vec<u8>> = e.get("record");
        let record = entry::decode(&e.id, raw.as_deref());
        if has_record(con, keys, &record.key)? {
            done_ids.push(e.id);
            emit(WorkerEvent::AlreadyDone);
            continue;
        }
        let n = delivered.get(&e.id).copied().unwrap_or(1);
        if n > wopts.max_deliveries {
            dead_letter(con, keys, &e, &record, n, raw.as_deref(), emit)?;
            done_ids.push(e.id);
            continue;
        }
        if !seen.insert(record.key.clone()) {
            // The same key twice in one window: one record serves both.
            twins.push(e.id);
            continue;
        }
        todo.push((e.id, record));
    }
    ack(con, keys, wopts, &done_ids)?;
    if todo.is_empty() {
        return ack(con, keys, wopts, &twins);
    }

    let run = |con: &mut Connection,
               models: &mut Models,
               batch: &[(String, Record)],
               emit: &mut dyn FnMut(WorkerEvent)|
     -> std::result::Result<Result<()>, String> {
        let mut sink = RedisSink {
            con,
            keys,
            script: Script::new(STORE),
            expected: batch
                .iter()
                .map(|(id, r)| (id.clone(), r.key.clone()))
                .collect(),
            events: Vec::new(),
        };
        let records: Vec<Record> = batch.iter().map(|(_, r)| r.clone()).collect();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            fault_injection(&records);
            let mut tokens = TokenCounts::default();
            let r = process_window(records, &mut sink, models, identify, jopts, &mut |e| {
                if let Event::Tokens(c) = e {
                    tokens.source_tokens += c.source_tokens;
                    tokens.generated_tokens += c.generated_tokens;
                }
            });
            (r, tokens)
        }));
        for e in sink.events.drain(..) {
            emit(e);
        }
        match outcome {
            Ok((r, tokens)) => {
                emit(WorkerEvent::Tokens(tokens));
                Ok(r)
            }
            Err(panic) => Err(panic_message(panic.as_ref())),
        }
    };
    match run(con, models, &todo, emit) {
        Ok(Ok(())) => {
            let ids: Vec<String> = todo.into_iter().map(|(id, _)| id).chain(twins).collect();
            ack(con, keys, wopts, &ids)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            // Find the record at fault: one at a time, skipping those already stored.
            for one in todo.chunks(1) {
                let (id, record) = &one[0];
                if has_record(con, keys, &record.key)? {
                    ack(con, keys, wopts, std::slice::from_ref(id))?;
                    continue;
                }
                match run(con, models, one, emit) {
                    Ok(Ok(())) => ack(con, keys, wopts, std::slice::from_ref(id))?,
                    Ok(Err(e)) => return Err(e),
                    Err(msg) => {
                        let error = format!("processing broke off: {msg}");
                        let _: i64 = redis::cmd("HSET")
                            .arg(&keys.errors)
                            .arg(id)
                            .arg(&error)
                            .query(con)
                            .map_err(redis_err("keeping an entry's error"))?;
                        emit(WorkerEvent::Broke {
                            key: record.key.clone(),
                            error,
                        });
                    }
                }
            }
            ack(con, keys, wopts, &twins)
        }
    }
}

/// Whether `key` has its record stored already.
fn has_record(con: &mut Connection, keys: &Keys, key: &str) -> Result<bool> {
    redis::cmd("HEXISTS")
        .arg(&keys.done)
        .arg(key)
        .query(con)
        .map_err(redis_err(format!("looking up {key}")))
}

/// Move an entry delivered `n` times to the dead-letter stream, with a failed record.
fn dead_letter(
    con: &mut Connection,
    keys: &Keys,
    e: &StreamId,
    record: &Record,
    n: usize,
    raw: Option<&[u8]>,
    emit: &mut dyn FnMut(WorkerEvent),
) -> Result<()> {
    let last: Option<String> = redis::cmd("HGET")
        .arg(&keys.errors)
        .arg(&e.id)
        .query(con)
        .map_err(redis_err("reading an entry's error"))?;
    let last = last.unwrap_or_else(|| {
        "the workers that took it stopped before finishing it (killed, or out of memory)".into()
    });
    let error = format!("given up after {n} deliveries: {last}");
    let mut failed = json!({
        "id": record.id.clone().unwrap_or(Value::Null),
        "translation": null,
        "summary": null,
        "error": error,
    });
    if let Some(line) = record.line {
        failed["line"] = line.into();
    }
    if record.key.starts_with("entry:") {
        failed["entry"] = e.id.clone().into();
    }
    let _: i64 = Script::new(DEAD_LETTER)
        .key(&keys.done)
        .key(&keys.results)
        .key(&keys.dead)
        .arg(&record.key)
        .arg(failed.to_string())
        .arg(&e.id)
        .arg(n)
        .arg(&last)
        .arg(raw.unwrap_or_default())
        .invoke(con)
        .map_err(redis_err(format!("dead-lettering {}", record.key)))?;
    let _: i64 = redis::cmd("HDEL")
        .arg(&keys.errors)
        .arg(&e.id)
        .query(con)
        .map_err(redis_err("clearing an entry's error"))?;
    emit(WorkerEvent::DeadLettered {
        key: record.key.clone(),
        deliveries: n,
    });
    Ok(())
}

/// The queue's length, what the group holds unacknowledged, and what it has not read yet.
fn status(con: &mut Connection, keys: &Keys, wopts: &WorkerOptions) -> Result<WorkerEvent> {
    let length: usize = redis::cmd("XLEN")
        .arg(&keys.stream)
        .query(con)
        .map_err(redis_err("reading the stream length"))?;
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&keys.stream)
        .query(con)
        .map_err(redis_err("reading the group"))?;
    let group = groups.groups.into_iter().find(|g| g.name == wopts.group);
    Ok(WorkerEvent::Status {
        length,
        pending: group.as_ref().map_or(0, |g| g.pending),
        lag: group.and_then(|g| g.lag),
    })
}

/// Panic if a document contains the text [`PANIC_ON_ENV`] names (fault-injection tests only;
/// unset, this does nothing).
fn fault_injection(records: &[Record]) {
    let Some(marker) = std::env::var(PANIC_ON_ENV).ok().filter(|m| !m.is_empty()) else {
        return;
    };
    for r in records {
        if r.content.as_ref().is_ok_and(|d| d.text.contains(&marker)) {
            panic!("{PANIC_ON_ENV} matched the text of {}", r.key);
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}
