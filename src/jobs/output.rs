//! A batch job's output: a JSONL file written one record at a time, that a later run resumes.
//!
//! Every record is one line, written with a single `write` and made durable (`fsync`) before the
//! next one starts, so a `kill -9` or a power cut loses at most the record being written. On
//! opening, a last line without its newline (a write cut short) is removed and the records
//! already there are read: their keys are [`OutputLog::is_done`], and the job skips them. A
//! complete line that is not a JSON object means the file is not ours, and opening fails rather
//! than guess. The file is locked while a job writes it, so two jobs cannot interleave.
//!
//! This module must never rewrite or drop a complete record, except the failed ones when asked
//! to retry them (then through a new file renamed over the old one).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::input::key_for;
use crate::error::{Error, Result};

/// What opening an existing output found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Complete records kept from earlier runs.
    pub records: usize,
    /// Of those, records that carry an `error`.
    pub failed: usize,
    /// Failed records removed so they are tried again (`retry_failed`).
    pub dropped_failed: usize,
    /// Bytes of a cut-short last line that were removed.
    pub truncated_bytes: u64,
}

/// The output file of a job.
pub struct OutputLog {
    file: File,
    path: PathBuf,
    done: HashSet<String>,
}

impl OutputLog {
    /// Open (or create) `path` for appending, reading the records already there. With
    /// `retry_failed`, records with an `error` are removed first so their inputs run again.
    pub fn open(path: &Path, retry_failed: bool) -> Result<(Self, Resumed)> {
        let io = |what: &str, e| Error::io(format!("cannot {what} output {}", path.display()), e);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io("open", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::InvalidArgument(format!(
                    "{} is being written by another job; wait for it or choose another output",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", e)),
        }
        let mut resumed = Resumed::default();
        let mut done = HashSet::new();
        let mut failed_lines = Vec::new();
        let len = file.metadata().map_err(|e| io("read", e))?.len();
        let mut complete_end = 0u64;
        {
            file.seek(SeekFrom::Start(0)).map_err(|e| io("read", e))?;
            let mut reader = BufReader::new(&file);
            let mut line = Vec::new();
            let mut number = 0usize;
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| io("read", e))?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                number += 1;
                let start = complete_end;
                complete_end += n as u64;
                let body = &line[..n - 1];
                if body.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let record: Value = serde_json::from_slice(body)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        Error::BadOutput {
                            path: path.to_path_buf(),
                            reason: format!(
                                "line {number} is not a JSON record, so this file was not written by tolk batch \
                                 or was damaged; fix or remove that line, or choose another output"
                            ),
                        }
                    })?;
                let failed = record.get("error").is_some_and(|e| !e.is_null());
                if failed && retry_failed {
                    failed_lines.push((start, complete_end));
                    resumed.dropped_failed += 1;
                    continue;
                }
                resumed.records += 1;
                resumed.failed += usize::from(failed);
                done.insert(record_key(&record));
            }
        }
        if complete_end < len {
            file.set_len(complete_end).map_err(|e| io("repair", e))?;
            file.sync_all().map_err(|e| io("repair", e))?;
            resumed.truncated_bytes = len - complete_end;
        }
        if !failed_lines.is_empty() {
            drop(file);
            remove_ranges(path, &failed_lines)?;
            return Self::open(path, false).map(|(log, r)| {
                (
                    log,
                    Resumed {
                        dropped_failed: resumed.dropped_failed,
                        truncated_bytes: resumed.truncated_bytes,
                        ..r
                    },
                )
            });
        }
        Ok((
            OutputLog {
                file,
                path: path.to_path_buf(),
                done,
            },
            resumed,
        ))
    }

    /// Whether a record with this key is in the file already.
    pub fn is_done(&self, key: &str) -> bool {
        self.done.contains(key)
    }

    /// How many keys are done.
    pub fn done_count(&self) -> usize {
        self.done.len()
    }

    /// Append `record` (a JSON object) as one line and make it durable before returning.
    pub fn append(&mut self, record: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(|e| {
            Error::InvalidArgument(format!("a record could not be written as JSON: {e}"))
        })?;
        line.push(b'\n');
        let io = |e| Error::io(format!("cannot write output {}", self.path.display()), e);
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.done.insert(record_key(record));
        Ok(())
    }
}

/// Where a job's finished records go: the output file, or (for `tolk worker`) Redis.
pub trait RecordSink {
    /// Store `record` (a JSON object) durably before returning.
    fn append(&mut self, record: &Value) -> Result<()>;
}

impl RecordSink for OutputLog {
    fn append(&mut self, record: &Value) -> Result<()> {
        OutputLog::append(self, record)
    }
}

/// The key a written record answers to (see [`super::input::Record::key`]).
pub fn record_key(record: &Value) -> String {
    match record.get("id").filter(|v| !v.is_null()) {
        Some(id) => key_for(Some(id), 0),
        // A malformed stream entry's record (`tolk results`) is named by its entry.
        None if record.get("entry").is_some_and(Value::is_string) => {
            format!("entry:{}", record["entry"].as_str().unwrap_or_default())
        }
        None => key_for(
            None,
            record.get("line").and_then(Value::as_u64).unwrap_or(0) as usize,
        ),
    }
}

/// Rewrite `path` without the byte ranges `drop` (sorted, not overlapping), through a temporary
/// file in the same folder renamed over it.
fn remove_ranges(path: &Path, ranges: &[(u64, u64)]) -> Result<()> {
    let io = |e| Error::io(format!("cannot rewrite output {}", path.display()), e);
    let bytes = std::fs::read(path).map_err(io)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tolk-rewrite-{}", std::process::id()));
    let tmp_path = dir.join(name);
    let mut tmp = File::create(&tmp_path).map_err(io)?;
    let mut at = 0usize;
    for &(start, end) in ranges {
        tmp.write_all(&bytes[at..start as usize]).map_err(io)?;
        at = end as usize;
    }
    tmp.write_all(&bytes[at..]).map_err(io)?;
    tmp.sync_all().map_err(io)?;
    drop(tmp);
    std::fs::rename(&tmp_path, path).map_err(io)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn records_survive_reopening_and_cut_lines_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        {
            let (mut log, r) = OutputLog::open(&p, false).unwrap();
            assert_eq!(r, Resumed::default());
            log.append(&json!({"id": "a", "translation": "x"})).unwrap();
            log.append(&json!({"id": 2, "error": "boom"})).unwrap();
            log.append(&json!({"line": 9, "error": "bad json"}))
                .unwrap();
        }
        // A write cut short by a kill.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        let cut = b"{\"id\":\"b\",\"transl";
        f.write_all(cut).unwrap();
        drop(f);
        let (log, r) = OutputLog::open(&p, false).unwrap();
        assert_eq!(r.records, 3);
        assert_eq!(r.failed, 2);
        assert_eq!(r.truncated_bytes, cut.len() as u64);
        assert!(log.is_done("id:\"a\""));
        assert!(log.is_done("id:2"));
        assert!(log.is_done("line:9"));
        assert!(!log.is_done("id:\"b\""));
        drop(log);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.ends_with('\n'));
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn retry_failed_drops_only_failed_records() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"translation\":\"x\"}\n{\"id\":\"b\",\"error\":\"e\"}\n{\"id\":\"c\",\"error\":null}\n",
        )
        .unwrap();
        let (log, r) = OutputLog::open(&p, true).unwrap();
        assert_eq!(r.dropped_failed, 1);
        assert_eq!(r.records, 2);
        assert!(log.is_done("id:\"a\"") && log.is_done("id:\"c\"") && !log.is_done("id:\"b\""));
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"id\":\"a\",\"translation\":\"x\"}\n{\"id\":\"c\",\"error\":null}\n"
        );
    }

    #[test]
    fn foreign_files_are_refused_and_locked_files_too() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(&p, "{\"id\":1}\nhello\n").unwrap();
        let err = OutputLog::open(&p, false).err().unwrap().to_string();
        assert!(err.contains("line 2 is not a JSON record"), "{err}");
        let q = dir.path().join("q.jsonl");
        let (_held, _) = OutputLog::open(&q, false).unwrap();
        let err = OutputLog::open(&q, false).err().unwrap().to_string();
        assert!(err.contains("another job"), "{err}");
    }
}
