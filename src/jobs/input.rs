//! Reading a batch job's input: a JSONL file (one `{"id", "text", "lang"?, "title"?}` object a
//! line) or a folder of `.txt`/`.md` files, one record at a time.
//!
//! Every input unit becomes exactly one [`Record`], in input order: a line that cannot be used
//! (bad JSON, no `id`, no `text`, invalid UTF-8, over [`MAX_RECORD_BYTES`]) is a record whose
//! [`Record::content`] is the error, so the job writes it out as failed and goes on. Blank lines
//! are not records. Nothing is read ahead: memory holds one record at a time.
//!
//! Each record has a [`Record::key`] that identifies it across runs (resume): `id:` and the id as
//! compact JSON, or `line:N` for a JSONL line without a usable id.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// The longest JSONL line (or file in a folder) taken as one record: 64 MiB. Longer ones are
/// failed records; their bytes are skipped without being held in memory.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// A document to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub text: String,
    /// The language the input states (as given; normalised later).
    pub lang: Option<String>,
    pub title: Option<String>,
}

/// One unit of input.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Identifies the record across runs: `id:<id as JSON>` or `line:<N>`.
    pub key: String,
    /// The record's id as given (a string or a number); `None` when the line had no usable id.
    pub id: Option<Value>,
    /// 1-based line number in a JSONL input.
    pub line: Option<usize>,
    /// The document, or why this input unit cannot be used.
    pub content: std::result::Result<Doc, String>,
}

impl Record {
    fn failed(line: usize, id: Option<Value>, error: String) -> Self {
        Record {
            key: key_for(id.as_ref(), line),
            id,
            line: Some(line),
            content: Err(error),
        }
    }
}

/// The key of a record with `id` (or, without one, at JSONL `line`).
pub fn key_for(id: Option<&Value>, line: usize) -> String {
    match id {
        Some(v) => format!("id:{v}"),
        None => format!("line:{line}"),
    }
}

/// Where records come from.
pub enum RecordReader {
    Jsonl {
        reader: Box<dyn BufRead + Send>,
        path: PathBuf,
        line: usize,
    },
    Folder {
        root: PathBuf,
        files: std::vec::IntoIter<PathBuf>,
    },
}

impl RecordReader {
    /// Open `path`: a folder is read as documents, anything else as JSONL.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            let files = folder_files(path)?;
            return Ok(RecordReader::Folder {
                root: path.to_path_buf(),
                files: files.into_iter(),
            });
        }
        let file = File::open(path)
            .map_err(|e| Error::io(format!("cannot open input {}", path.display()), e))?;
        Ok(Self::jsonl(BufReader::new(file), path))
    }

    /// Read JSONL from any reader (`path` is only used in messages).
    pub fn jsonl(reader: impl BufRead + Send + 'static, path: &Path) -> Self {
        RecordReader::Jsonl {
            reader: Box::new(reader),
            path: path.to_path_buf(),
            line: 0,
        }
    }

    /// How many records `path` holds (non-blank JSONL lines, or files), counted without keeping
    /// them; for progress bars.
    pub fn count(path: &Path) -> Result<usize> {
        if path.is_dir() {
            return Ok(folder_files(path)?.len());
        }
        let file = File::open(path)
            .map_err(|e| Error::io(format!("cannot open input {}", path.display()), e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut count = 0;
        let mut blank = true;
        loop {
            let buf = reader
                .fill_buf()
                .map_err(|e| Error::io(format!("cannot read input {}", path.display()), e))?;
            if buf.is_empty() {
                break;
            }
            for &b in buf {
                match b {
                    b'\n' => {
                        count += usize::from(!blank);
                        blank = true;
                    }
                    b' ' | b'\t' | b'\r' => {}
                    _ => blank = false,
                }
            }
            let n = buf.len();
            reader.consume(n);
        }
        Ok(count + usize::from(!blank))
    }
}

impl Iterator for RecordReader {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        match self {
            RecordReader::Jsonl { reader, path, line } => loop {
                *line += 1;
                let raw = match read_line_bounded(reader.as_mut(), MAX_RECORD_BYTES) {
                    Ok(Some(raw)) => raw,
                    Ok(None) => return None,
                    Err(e) => {
                        return Some(Err(Error::io(
                            format!("cannot read input {} at line {line}", path.display()),
                            e,
                        )))
                    }
                };
                match raw {
                    Line::TooLong(n) => {
                        return Some(Ok(Record::failed(
                            *line,
                            None,
                            format!(
                                "line {line} is {n} bytes, over the {} MiB limit for one record; split the document",
                                MAX_RECORD_BYTES >> 20
                            ),
                        )))
                    }
                    Line::Bytes(bytes) => {
                        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                            continue;
                        }
                        return Some(Ok(parse_line(&bytes, *line)));
                    }
                }
            },
            RecordReader::Folder { root, files } => {
                let file = files.next()?;
                Some(Ok(read_file_record(root, &file)))
            }
        }
    }
}

enum Line {
    Bytes(Vec<u8>),
    /// The line's length; its bytes were skipped.
    TooLong(usize),
}

/// One line without its `\n` (and `\r`), or `None` at the end of input. A line longer than `max`
/// is consumed without being kept.
fn read_line_bounded(reader: &mut dyn BufRead, max: usize) -> std::io::Result<Option<Line>> {
    let mut bytes = Vec::new();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1),
            None => (buf, buf.len()),
        };
        len += chunk.len();
        if len <= max {
            bytes.extend_from_slice(chunk);
        } else {
            bytes = Vec::new();
        }
        let found = done > chunk.len();
        reader.consume(done);
        if found {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if len > max {
        return Ok(Some(Line::TooLong(len)));
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    Ok(Some(Line::Bytes(bytes)))
}

/// One JSONL line as a record.
fn parse_line(bytes: &[u8], line: usize) -> Record {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Record::failed(
                line,
                None,
                format!(
                    "line {line} is not valid UTF-8 (invalid byte at offset {} of the line)",
                    e.valid_up_to()
                ),
            )
        }
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Record::failed(line, None, format!("line {line} is not valid JSON: {e}")),
    };
    let Value::Object(mut obj) = value else {
        return Record::failed(
            line,
            None,
            format!("line {line} is not a JSON object (expected {{\"id\": ..., \"text\": ...}})"),
        );
    };
    let id = match obj.remove("id") {
        Some(v @ (Value::String(_) | Value::Number(_))) => v,
        Some(Value::Null) | None => {
            return Record::failed(line, None, format!("line {line} has no \"id\""))
        }
        Some(other) => {
            return Record::failed(
                line,
                None,
                format!(
                    "line {line}: \"id\" must be a string or a number, not {}",
                    kind(&other)
                ),
            )
        }
    };
    let mut string_field =
        |name: &str, required: bool| -> std::result::Result<Option<String>, String> {
            match obj.remove(name) {
                Some(Value::String(s)) => Ok(Some(s)),
                Some(Value::Null) | None if !required => Ok(None),
                None | Some(Value::Null) => Err(format!("line {line} has no \"{name}\"")),
                Some(other) => Err(format!(
                    "line {line}: \"{name}\" must be a string, not {}",
                    kind(&other)
                )),
            }
        };
    let doc = (|| {
        Ok(Doc {
            text: string_field("text", true)?.unwrap_or_default(),
            lang: string_field("lang", false)?.filter(|l| !l.trim().is_empty()),
            title: string_field("title", false)?,
        })
    })();
    Record {
        key: key_for(Some(&id), line),
        id: Some(id),
        line: Some(line),
        content: doc,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `.txt` and `.md` files under `root` (recursively, hidden entries skipped), sorted by path.
fn folder_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
    {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.into());
            let io = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
            Error::io(format!("cannot list input folder {}", path.display()), io)
        })?;
        let is_doc = entry.file_type().is_file()
            && entry
                .path()
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("txt") || e.eq_ignore_ascii_case("md"));
        if is_doc {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

/// A file of a folder input as a record; its id is its path under the folder, with `/`.
fn read_file_record(root: &Path, file: &Path) -> Record {
    let rel = file.strip_prefix(root).unwrap_or(file);
    let id: String = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let id = Value::String(id);
    let content = read_capped(file).and_then(|bytes| {
        String::from_utf8(bytes).map_err(|e| {
            format!(
                "{} is not valid UTF-8 (invalid byte at offset {})",
                file.display(),
                e.utf8_error().valid_up_to()
            )
        })
    });
    Record {
        key: key_for(Some(&id), 0),
        id: Some(id),
        line: None,
        content: content.map(|text| Doc {
            text,
            lang: None,
            title: None,
        }),
    }
}

fn read_capped(file: &Path) -> std::result::Result<Vec<u8>, String> {
    let f = File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_RECORD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "{} is over the {} MiB limit for one record; split the document",
            file.display(),
            MAX_RECORD_BYTES >> 20
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str) -> Vec<Record> {
        RecordReader::jsonl(
            std::io::Cursor::new(input.as_bytes().to_vec()),
            Path::new("in"),
        )
        .map(|r| r.unwrap())
        .collect()
    }

    #[test]
    fn good_and_bad_lines_each_give_one_record() {
        let input = "{\"id\":\"a\",\"text\":\"Hej\",\"lang\":\"da\",\"title\":\"T\"}\n\
                     \n\
                     not json\n\
                     {\"id\":7,\"text\":\"x\"}\r\n\
                     {\"text\":\"no id\"}\n\
                     {\"id\":\"b\"}\n\
                     [1,2]\n\
                     {\"id\":{\"x\":1},\"text\":\"t\"}\n\
                     {\"id\":\"c\",\"text\":\"\",\"lang\":\"\"}";
        let r = records(input);
        assert_eq!(r.len(), 8);
        assert_eq!(r[0].key, "id:\"a\"");
        assert_eq!(
            r[0].content,
            Ok(Doc {
                text: "Hej".into(),
                lang: Some("da".into()),
                title: Some("T".into())
            })
        );
        assert_eq!(r[1].line, Some(3));
        assert_eq!(r[1].key, "line:3");
        assert!(r[1]
            .content
            .as_ref()
            .unwrap_err()
            .contains("not valid JSON"));
        assert_eq!(r[2].key, "id:7");
        assert_eq!(r[2].content.as_ref().unwrap().text, "x");
        assert!(r[3].content.as_ref().unwrap_err().contains("no \"id\""));
        assert_eq!(r[4].key, "id:\"b\"");
        assert!(r[4].content.as_ref().unwrap_err().contains("no \"text\""));
        assert!(r[5]
            .content
            .as_ref()
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(r[6]
            .content
            .as_ref()
            .unwrap_err()
            .contains("string or a number"));
        assert_eq!(r[7].content.as_ref().unwrap().lang, None);
        assert_eq!(r[7].content.as_ref().unwrap().text, "");
    }

    #[test]
    fn invalid_utf8_and_overlong_lines_are_failed_records() {
        let mut input = b"{\"id\":\"a\",\"text\":\"\xff\"}\n".to_vec();
        input.extend_from_slice(b"{\"id\":\"b\",\"text\":\"ok\"}\n");
        let r: Vec<Record> = RecordReader::jsonl(std::io::Cursor::new(input), Path::new("in"))
            .map(|r| r.unwrap())
            .collect();
        assert!(r[0].content.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(r[1].content.as_ref().unwrap().text, "ok");

        let mut cursor = std::io::Cursor::new(b"abcdefgh\nxy\n".to_vec());
        assert!(matches!(
            read_line_bounded(&mut cursor, 4).unwrap(),
            Some(Line::TooLong(8))
        ));
        assert!(
            matches!(read_line_bounded(&mut cursor, 4).unwrap(), Some(Line::Bytes(b)) if b == b"xy")
        );
        assert!(read_line_bounded(&mut cursor, 4).unwrap().is_none());
    }

    #[test]
    fn counting_matches_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.jsonl");
        std::fs::write(
            &p,
            "{\"id\":1,\"text\":\"a\"}\n \n\nbad\n{\"id\":2,\"text\":\"b\"}",
        )
        .unwrap();
        assert_eq!(RecordReader::count(&p).unwrap(), 3);
        assert_eq!(RecordReader::open(&p).unwrap().count(), 3);
    }

    #[test]
    fn folders_give_sorted_documents_with_relative_ids() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join(".hidden")).unwrap();
        std::fs::write(dir.path().join("b.txt"), "B").unwrap();
        std::fs::write(dir.path().join("a.MD"), "A").unwrap();
        std::fs::write(dir.path().join("sub/c.txt"), b"\xff").unwrap();
        std::fs::write(dir.path().join("skip.json"), "{}").unwrap();
        std::fs::write(dir.path().join(".hidden/d.txt"), "D").unwrap();
        let r: Vec<Record> = RecordReader::open(dir.path())
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let ids: Vec<&str> = r
            .iter()
            .map(|r| r.id.as_ref().unwrap().as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a.MD", "b.txt", "sub/c.txt"]);
        assert_eq!(r[0].content.as_ref().unwrap().text, "A");
        assert!(r[2].content.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(RecordReader::count(dir.path()).unwrap(), 3);
    }
}
