//! Settings for talking to the Hugging Face Hub, read from the standard `HF_*` variables.
//!
//! Reading the environment is split from interpreting it ([`HubOptions::from_lookup`] takes
//! a lookup closure), so tests never have to mutate the process environment. This module
//! never touches the network and never writes files.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The public Hugging Face Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How to reach the Hub and where its cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    /// Base URL of the Hub or a mirror, without a trailing slash (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The hub cache folder that holds `models--owner--name/` (`HF_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
    /// Use the cache only and never touch the network (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Access token for private or gated repos (`HF_TOKEN`, else the token file
    /// `HF_TOKEN_PATH` or `$HF_HOME/token` written by `huggingface-cli login`).
    pub token: Option<String>,
    /// Show download progress bars on stderr (off with `HF_HUB_DISABLE_PROGRESS_BARS=1`).
    pub progress: bool,
}

impl HubOptions {
    /// Options for the public Hub with the given cache folder, online, no token, no progress bars.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        HubOptions {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            cache_dir: cache_dir.into(),
            offline: false,
            token: None,
            progress: false,
        }
    }

    /// Read the options from the process environment (see the field docs for the variables).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Build the options from a variable lookup (`name -> value`); empty values count as unset.
    ///
    /// Reads a token file only when `HF_TOKEN` is unset. Fails on an unparsable
    /// `HF_HUB_OFFLINE`, an endpoint that is not `http(s)://`, or when no cache folder can be
    /// worked out (no `HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME` nor `HOME`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let endpoint = match var("HF_ENDPOINT") {
            Some(e) => {
                let e = e.trim().trim_end_matches('/').to_string();
                if !(e.starts_with("http://") || e.starts_with("https://")) {
                    return Err(Error::InvalidArgument(format!(
                        "HF_ENDPOINT=`{e}` is not an http:// or https:// URL; \
                         set it to a Hub mirror's base URL or unset it"
                    )));
                }
                e
            }
            None => DEFAULT_ENDPOINT.to_string(),
        };

        let hf_home = var("HF_HOME").map(PathBuf::from).or_else(|| {
            var("XDG_CACHE_HOME")
                .map(|x| PathBuf::from(x).join("huggingface"))
                .or_else(|| {
                    var("HOME")
                        .or_else(|| var("USERPROFILE"))
                        .map(|h| PathBuf::from(h).join(".cache").join("huggingface"))
                })
        });
        let cache_dir = match var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
            Some(c) => PathBuf::from(c),
            None => hf_home.as_ref().map(|h| h.join("hub")).ok_or_else(|| {
                Error::InvalidArgument(
                    "cannot locate the Hugging Face cache: no home folder found; \
                     set HF_HOME or HF_HUB_CACHE"
                        .into(),
                )
            })?,
        };

        let offline = match var("HF_HUB_OFFLINE") {
            Some(v) => parse_bool("HF_HUB_OFFLINE", &v)?,
            None => false,
        };
        let progress = match var("HF_HUB_DISABLE_PROGRESS_BARS") {
            Some(v) => !parse_bool("HF_HUB_DISABLE_PROGRESS_BARS", &v)?,
            None => true,
        };

        let token = match var("HF_TOKEN") {
            Some(t) => Some(t.trim().to_string()),
            None => {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .or_else(|| hf_home.map(|h| h.join("token")));
                path.and_then(|p| std::fs::read_to_string(p).ok())
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            }
        };

        Ok(HubOptions {
            endpoint,
            cache_dir,
            offline,
            token,
            progress,
        })
    }
}

/// Parse a boolean environment value the way `huggingface_hub` does, but reject typos.
fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(Error::InvalidArgument(format!(
            "{name}=`{other}` is not understood; use 1 (on) or 0 (off)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn opts(vars: &[(&str, &str)]) -> Result<HubOptions> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubOptions::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_home() {
        let o = opts(&[("HOME", "/home/u")]).unwrap();
        assert_eq!(o.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(o.cache_dir, PathBuf::from("/home/u/.cache/huggingface/hub"));
        assert!(!o.offline);
        assert!(o.progress);
        assert_eq!(o.token, None);
    }

    #[test]
    fn cache_precedence() {
        let o = opts(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]).unwrap();
        assert_eq!(o.cache_dir, PathBuf::from("/x/huggingface/hub"));
        let o = opts(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x"), ("HF_HOME", "/hf")]).unwrap();
        assert_eq!(o.cache_dir, PathBuf::from("/hf/hub"));
        let o = opts(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]).unwrap();
        assert_eq!(o.cache_dir, PathBuf::from("/c"));
        let o = opts(&[("HF_HUB_CACHE", "/c")]).unwrap();
        assert_eq!(o.cache_dir, PathBuf::from("/c"));
        let o = opts(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "")]).unwrap();
        assert_eq!(o.cache_dir, PathBuf::from("/hf/hub"));
        let err = opts(&[]).unwrap_err().to_string();
        assert!(err.contains("HF_HOME"), "{err}");
    }

    #[test]
    fn endpoint_offline_progress() {
        let o = opts(&[
            ("HOME", "/h"),
            ("HF_ENDPOINT", "http://127.0.0.1:8080/"),
            ("HF_HUB_OFFLINE", "1"),
            ("HF_HUB_DISABLE_PROGRESS_BARS", "true"),
        ])
        .unwrap();
        assert_eq!(o.endpoint, "http://127.0.0.1:8080");
        assert!(o.offline);
        assert!(!o.progress);
        assert!(
            !opts(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "0")])
                .unwrap()
                .offline
        );
        assert!(
            opts(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "ON")])
                .unwrap()
                .offline
        );
        let err = opts(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
        let err = opts(&[("HOME", "/h"), ("HF_ENDPOINT", "ftp://x")]).unwrap_err();
        assert!(err.to_string().contains("HF_ENDPOINT"), "{err}");
    }

    #[test]
    fn token_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        let o = opts(&[("HF_HOME", home), ("HF_TOKEN", " hf_abc ")]).unwrap();
        assert_eq!(o.token.as_deref(), Some("hf_abc"));
        let o = opts(&[("HF_HOME", home)]).unwrap();
        assert_eq!(o.token, None);
        std::fs::write(dir.path().join("token"), "hf_file\n").unwrap();
        let o = opts(&[("HF_HOME", home)]).unwrap();
        assert_eq!(o.token.as_deref(), Some("hf_file"));
        let o = opts(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")]).unwrap();
        assert_eq!(o.token.as_deref(), Some("hf_env"));
        let other = dir.path().join("elsewhere");
        std::fs::write(&other, "hf_other").unwrap();
        let o = opts(&[
            ("HF_HOME", home),
            ("HF_TOKEN_PATH", other.to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(o.token.as_deref(), Some("hf_other"));
    }

    #[test]
    fn new_is_quiet_and_online() {
        let o = HubOptions::new("/c");
        assert_eq!(o.cache_dir, PathBuf::from("/c"));
        assert!(!o.offline && !o.progress && o.token.is_none());
    }
}
