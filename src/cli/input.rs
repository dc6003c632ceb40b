//! Reading the user's input: a file or standard input, checked to be UTF-8. An article is read
//! whole (up to [`MAX_TEXT_BYTES`]); `--lines` input is read in chunks of whole lines
//! ([`LineChunks`]), so its size is not bounded by memory.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Largest input read whole (an article, `--format json`): 64 MiB.
pub const MAX_TEXT_BYTES: usize = 64 << 20;

/// About how much text one `--lines` chunk holds: 1 MiB of whole lines.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Longest single line `--lines` takes: 64 MiB.
pub const MAX_LINE_BYTES: usize = 64 << 20;

fn display_name(path: Option<&Path>) -> String {
    match path {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "standard input".to_string(),
    }
}

fn open(path: Option<&Path>) -> Result<Box<dyn BufRead>> {
    Ok(match path {
        Some(p) if p != Path::new("-") => Box::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(p)
                .with_context(|| format!("cannot read input file {}", p.display()))?,
        )),
        _ => Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())),
    })
}

/// Read `path` (`-` or `None` = standard input) as UTF-8 text; invalid bytes are an error that
/// names their offset, and input over [`MAX_TEXT_BYTES`] is refused.
pub fn read_text(path: Option<&Path>) -> Result<String> {
    let name = display_name(path);
    let mut bytes = Vec::new();
    open(path)?
        .take(MAX_TEXT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() > MAX_TEXT_BYTES {
        bail!(
            "{name} is over {} MiB, the most read as one article; translate it with --lines \
             (which streams), or split it into documents for `tolk batch`",
            MAX_TEXT_BYTES >> 20
        );
    }
    String::from_utf8(bytes).map_err(|e| not_utf8(&name, e.utf8_error().valid_up_to()))
}

fn not_utf8(name: &str, offset: usize) -> anyhow::Error {
    anyhow::Error::new(tolk::Error::InvalidUtf8 { offset }).context(format!(
        "{name} is not UTF-8 text (convert it, e.g. with iconv)"
    ))
}

/// Whole lines of the input, `\n` kept.
pub struct Chunk {
    pub text: String,
    /// 1-based input line of the chunk's first line.
    pub first_line: usize,
}

/// The input handed out in [`Chunk`]s of about [`CHUNK_BYTES`] of whole lines.
pub struct LineChunks {
    reader: Box<dyn BufRead>,
    name: String,
    /// Lines and bytes handed out so far.
    lines: usize,
    offset: usize,
}

impl LineChunks {
    /// Open `path` (`-` or `None` = standard input). A file is read through once first, so
    /// that invalid UTF-8 or an over-long line anywhere is refused before any output and the
    /// line count (returned) can drive a progress bar; standard input is checked chunk by
    /// chunk, so an error there comes after the chunks before it were written.
    pub fn open(path: Option<&Path>) -> Result<(Self, Option<usize>)> {
        let name = display_name(path);
        let file = path.filter(|p| *p != Path::new("-"));
        let total = match file {
            Some(_) => {
                let mut check = LineChunks {
                    reader: open(path)?,
                    name: name.clone(),
                    lines: 0,
                    offset: 0,
                };
                while check.next_chunk()?.is_some() {}
                Some(check.lines)
            }
            None => None,
        };
        let chunks = LineChunks {
            reader: open(path)?,
            name,
            lines: 0,
            offset: 0,
        };
        Ok((chunks, total))
    }

    /// The next chunk, or `None` at the end of the input.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let mut buf: Vec<u8> = Vec::new();
        let first_line = self.lines + 1;
        let mut lines = 0;
        while buf.len() < CHUNK_BYTES {
            let start = buf.len();
            if !self.read_line(&mut buf)? {
                break;
            }
            lines += 1;
            if buf.len() - start > MAX_LINE_BYTES {
                bail!(
                    "line {} of {} is over {} MiB, the longest --lines takes; split it",
                    first_line + lines - 1,
                    self.name,
                    MAX_LINE_BYTES >> 20
                );
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let text = match String::from_utf8(buf) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line = first_line + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
                return Err(not_utf8(&self.name, self.offset + at)
                    .context(format!("line {line} of {} is not UTF-8", self.name)));
            }
        };
        self.lines += lines;
        self.offset += text.len();
        Ok(Some(Chunk { text, first_line }))
    }

    /// Append one line (with its `\n`, if any) to `buf`, stopping early once the line passes
    /// [`MAX_LINE_BYTES`]; `false` at the end of the input.
    fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let start = buf.len();
        loop {
            let data = self
                .reader
                .fill_buf()
                .with_context(|| format!("cannot read {}", self.name))?;
            if data.is_empty() {
                return Ok(buf.len() > start);
            }
            let (take, done) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (data.len(), false),
            };
            buf.extend_from_slice(&data[..take]);
            self.reader.consume(take);
            if done || buf.len() - start > MAX_LINE_BYTES {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(bytes: &[u8]) -> Result<Vec<Chunk>> {
        let mut c = LineChunks {
            reader: Box::new(std::io::Cursor::new(bytes.to_vec())),
            name: "input".into(),
            lines: 0,
            offset: 0,
        };
        let mut out = Vec::new();
        while let Some(chunk) = c.next_chunk()? {
            out.push(chunk);
        }
        Ok(out)
    }

    #[test]
    fn chunks_are_whole_lines_that_rejoin_to_the_input() {
        let line = "x".repeat(1000) + "\n";
        let text = line.repeat(3000) + "last line without newline";
        let chunks = chunks_of(text.as_bytes()).unwrap();
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(joined, text);
        let mut line_no = 1;
        for c in &chunks {
            assert_eq!(c.first_line, line_no);
            assert!(c.text.ends_with('\n') || c.text.ends_with("newline"));
            assert!(c.text.len() <= CHUNK_BYTES + line.len());
            line_no += c.text.matches('\n').count();
        }
        assert!(chunks_of(b"").unwrap().is_empty());
    }

    #[test]
    fn invalid_utf8_names_its_line_and_offset() {
        let mut bytes = "ok\n".repeat(10).into_bytes();
        bytes.extend_from_slice(b"bad \xff\n");
        let e = format!("{:#}", chunks_of(&bytes).err().unwrap());
        assert!(e.contains("line 11"), "{e}");
        assert!(e.contains("offset 34"), "{e}");
    }
}
