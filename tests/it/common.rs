//! Helpers shared by the integration tests: fixture paths and JSON goldens.

use std::path::PathBuf;

/// `tests/fixtures/<rel>` in the source tree.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Read a JSON file.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The tiny Marian fixture repos made by scripts/make_fixtures.py.
pub const MARIAN_REPOS: &[&str] = &["tiny-bin", "tiny-st", "tiny-sep"];
