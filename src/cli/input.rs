//! Reading the user's input: a file or standard input, checked to be UTF-8.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

/// Read `path` (`-` or `None` = standard input) as UTF-8 text; invalid bytes are an error that names their offset.
pub fn read_text(path: Option<&Path>) -> Result<String> {
    let (bytes, name) = match path {
        None => (read_stdin()?, "standard input".to_string()),
        Some(p) if p == Path::new("-") => (read_stdin()?, "standard input".to_string()),
        Some(p) => (
            std::fs::read(p).with_context(|| format!("cannot read input file {}", p.display()))?,
            p.display().to_string(),
        ),
    };
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            Err(tolk::Error::InvalidUtf8 { offset })
                .with_context(|| format!("{name} is not UTF-8 text (convert it, e.g. with iconv)"))
        }
    }
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("cannot read standard input")?;
    Ok(buf)
}
