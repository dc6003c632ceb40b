//! Parsing model references: `owner/name[@revision]` Hub repo ids or local folder paths.
//!
//! The disambiguation rule is documented on [`ModelRef`]. Parsing only looks at the file
//! system (to see whether a folder exists); it never touches the network.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest repo id the Hub accepts (`owner/name`, including the slash).
const MAX_REPO_ID_LEN: usize = 96;

/// Where a model comes from: a Hub repository at a revision, or a local folder.
///
/// Parsing a string ([`FromStr`]) follows these rules, in order:
/// 1. a string naming an **existing directory** is a folder ([`ModelRef::Local`]);
/// 2. a string that starts with `/`, `./`, `../` or `~` (home folder, expanded with `$HOME`),
///    is `.` or `..`, contains a `\`, or whose part before the first `@` holds more than one
///    `/`, is a **path**; since it did not name an existing directory this is an error
///    saying that the folder does not exist (or that it is a file, not a folder);
/// 3. anything else is a **Hub repo id**, optionally followed by `@revision` (a branch, tag
///    or commit sha; default `main`). The id is validated like the Hub does: one or two
///    segments separated by a single `/` (one segment is a legacy id such as `gpt2`), each
///    made of `A-Z a-z 0-9 . _ -`, starting and ending with a letter, digit or `_`, with no
///    `--` or `..`, not ending in `.git`, at most 96 characters in all.
///
/// So a local folder that happens to look like `owner/name` wins when it exists; write it as
/// `./owner/name` to make the intent explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A repository on the Hugging Face Hub (or a mirror).
    Hub {
        /// The repo id, `owner/name` (or a legacy single-segment id).
        repo: String,
        /// A branch, tag or commit sha; `main` when not given.
        revision: String,
    },
    /// A folder on disk holding the model files.
    Local(PathBuf),
}

impl ModelRef {
    /// A Hub reference at the given revision, validating both parts.
    pub fn hub(repo: &str, revision: &str) -> Result<Self> {
        let reference = format!("{repo}@{revision}");
        validate_repo_id(repo).map_err(|reason| bad(&reference, reason))?;
        validate_revision(revision).map_err(|reason| bad(&reference, reason))?;
        Ok(ModelRef::Hub {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }
}

fn bad(reference: &str, reason: impl Into<String>) -> Error {
    Error::BadModelRef {
        reference: reference.to_string(),
        reason: reason.into(),
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.trim().is_empty() {
            return Err(bad(
                s,
                "empty; give a Hub repo id like `Helsinki-NLP/opus-mt-de-en` or a folder path",
            ));
        }
        if Path::new(s).is_dir() {
            return Ok(ModelRef::Local(PathBuf::from(s)));
        }
        if looks_like_path(s) {
            let path = expand_home(s);
            if path.is_dir() {
                return Ok(ModelRef::Local(path));
            }
            let reason = if path.exists() {
                format!(
                    "`{}` is a file, not a folder; give the folder that holds the model files",
                    path.display()
                )
            } else {
                format!(
                    "the folder `{}` does not exist; check the path, or give a Hub repo id like `owner/name`",
                    path.display()
                )
            };
            return Err(bad(s, reason));
        }
        let (repo, revision) = match s.split_once('@') {
            Some((repo, rev)) => (repo, rev),
            None => (s, "main"),
        };
        validate_repo_id(repo).map_err(|reason| bad(s, reason))?;
        validate_revision(revision).map_err(|reason| bad(s, reason))?;
        Ok(ModelRef::Hub {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Hub { repo, revision } => write!(f, "{repo}@{revision}"),
            ModelRef::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Rule 2 of the disambiguation: does this string have to be a path?
fn looks_like_path(s: &str) -> bool {
    let before_at = s.split('@').next().unwrap_or(s);
    s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with('~')
        || s == "."
        || s == ".."
        || s.contains('\\')
        || before_at.matches('/').count() > 1
}

/// Expand a leading `~` or `~/` with `$HOME` (or `%USERPROFILE%`); other strings unchanged.
fn expand_home(s: &str) -> PathBuf {
    let rest = if s == "~" {
        Some("")
    } else {
        s.strip_prefix("~/")
    };
    if let Some(rest) = rest {
        let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
        if let Some(home) = home {
            return PathBuf::from(home).join(rest);
        }
    }
    PathBuf::from(s)
}

/// Check a repo id the way the Hub does; the error is the reason, for [`Error::BadModelRef`].
pub(crate) fn validate_repo_id(repo: &str) -> std::result::Result<(), String> {
    if repo.is_empty() {
        return Err("the repo id is empty; expected `owner/name`".into());
    }
    if repo.len() > MAX_REPO_ID_LEN {
        return Err(format!(
            "the repo id is {} characters long; the Hub allows at most {MAX_REPO_ID_LEN}",
            repo.len()
        ));
    }
    let segments: Vec<&str> = repo.split('/').collect();
    if segments.len() > 2 {
        return Err("a repo id has at most one `/` (`owner/name`)".into());
    }
    for seg in &segments {
        if seg.is_empty() {
            return Err("a repo id is `owner/name`; one of the two parts is empty".into());
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "`{c}` is not allowed in a repo id (only letters, digits, `.`, `_`, `-`); \
                 if this is a folder, write it as a path (e.g. `./{repo}`)"
            ));
        }
        let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !edge_ok(seg.chars().next()) || !edge_ok(seg.chars().last()) {
            return Err(format!(
                "`{seg}` must start and end with a letter, digit or `_`"
            ));
        }
    }
    if repo.contains("--") || repo.contains("..") {
        return Err("`--` and `..` are not allowed in a repo id".into());
    }
    if repo.ends_with(".git") {
        return Err("a repo id cannot end in `.git`".into());
    }
    Ok(())
}

/// Check a revision (branch, tag or commit sha); the error is the reason.
pub(crate) fn validate_revision(rev: &str) -> std::result::Result<(), String> {
    if rev.is_empty() {
        return Err("the revision after `@` is empty; give a branch, tag or commit sha".into());
    }
    if rev.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a revision cannot contain spaces or control characters".into());
    }
    if rev.starts_with('/') || rev.ends_with('/') || rev.contains("..") || rev.contains("//") {
        return Err(format!("`{rev}` is not a valid branch, tag or commit name"));
    }
    if rev.contains(['\\', '@', '?', '#', '%', '~', '^', ':', '*', '[']) {
        return Err(format!(
            "`{rev}` contains a character that a git branch, tag or commit cannot have"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(repo: &str, revision: &str) -> ModelRef {
        ModelRef::Hub {
            repo: repo.into(),
            revision: revision.into(),
        }
    }

    fn reason(s: &str) -> String {
        match s.parse::<ModelRef>() {
            Err(Error::BadModelRef { reason, .. }) => reason,
            other => panic!("expected BadModelRef for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn repo_ids_with_and_without_revision() {
        assert_eq!(
            "Helsinki-NLP/opus-mt-da-en".parse::<ModelRef>().unwrap(),
            hub("Helsinki-NLP/opus-mt-da-en", "main")
        );
        assert_eq!(
            "Helsinki-NLP/opus-mt-da-en@v1".parse::<ModelRef>().unwrap(),
            hub("Helsinki-NLP/opus-mt-da-en", "v1")
        );
        assert_eq!("gpt2".parse::<ModelRef>().unwrap(), hub("gpt2", "main"));
        assert_eq!(
            "a_b/c.d-e@refs/pr/1".parse::<ModelRef>().unwrap(),
            hub("a_b/c.d-e", "refs/pr/1")
        );
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            format!("o/n@{sha}").parse::<ModelRef>().unwrap(),
            hub("o/n", sha)
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["o/n@main", "o/n@v1", "gpt2@dev"] {
            let r: ModelRef = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
            assert_eq!(r.to_string().parse::<ModelRef>().unwrap(), r);
        }
        assert_eq!("o/n".parse::<ModelRef>().unwrap().to_string(), "o/n@main");
    }

    #[test]
    fn invalid_repo_ids_are_rejected_with_reasons() {
        assert!(reason("").contains("empty"));
        assert!(reason("o//n").contains("does not exist"));
        assert!(reason("o/").contains("empty"));
        assert!(reason("o/n--x").contains("--"));
        assert!(reason("o/n..x").contains(".."));
        assert!(reason("o/n x").contains("` `"));
        assert!(reason("o/-n").contains("start and end"));
        assert!(reason("o/n.git").contains(".git"));
        assert!(reason("o/n@").contains("revision"));
        assert!(reason("o/n@a b").contains("spaces"));
        assert!(reason(&format!("o/{}", "x".repeat(100))).contains("at most 96"));
    }

    #[test]
    fn missing_paths_say_the_folder_does_not_exist() {
        for s in [
            "/definitely/not/here/tolk-model",
            "./no-such-tolk-model",
            "../no-such-tolk-model",
            "models/opus/no-such",
            "a\\b",
            "~/no-such-tolk-model-dir",
        ] {
            let r = reason(s);
            assert!(r.contains("does not exist"), "{s}: {r}");
        }
    }

    #[test]
    fn existing_folders_are_local_even_if_they_look_like_ids() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("owner").join("name");
        std::fs::create_dir_all(&nested).unwrap();
        let s = nested.to_str().unwrap();
        assert_eq!(
            s.parse::<ModelRef>().unwrap(),
            ModelRef::Local(nested.clone())
        );
        assert_eq!(
            ".".parse::<ModelRef>().unwrap(),
            ModelRef::Local(PathBuf::from("."))
        );
        let file = dir.path().join("model.safetensors");
        std::fs::write(&file, b"x").unwrap();
        assert!(reason(file.to_str().unwrap()).contains("not a folder"));
    }

    #[test]
    fn hub_constructor_validates() {
        assert_eq!(ModelRef::hub("o/n", "v2").unwrap(), hub("o/n", "v2"));
        assert!(ModelRef::hub("o/n/x", "main").is_err());
        assert!(ModelRef::hub("o/n", "").is_err());
    }
}
