//! API keys and rate limits.
//!
//! Keys come from a file (`--api-keys FILE`: one key per line, blank lines and `#` comments
//! skipped). Only their SHA-256 digests are kept, and a key a client sends is compared with every
//! digest in constant time, so neither timing nor memory tells a key away. When keys are given,
//! every translation request must carry one (`api_key` field, or `Authorization: Bearer KEY`).
//!
//! `--req-limit N` allows each key (or, without keys, each client address) N requests a minute,
//! as a token bucket (governor's GCRA) that refills evenly; over it, a request is refused with 429.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::Path;

use axum::http::{HeaderMap, StatusCode};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::body::ApiError;
use crate::error::{Error, Result};

/// The message LibreTranslate gives a request without a key where keys are required.
pub const MISSING_KEY: &str = "Please contact the server operator to get an API key";
/// The message LibreTranslate gives a key it does not know.
pub const INVALID_KEY: &str = "Invalid API key";

/// The keys a server accepts, as SHA-256 digests.
#[derive(Clone)]
pub struct Keys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} keys)", self.digests.len())
    }
}

impl Keys {
    /// Keys from the lines of `text`.
    pub fn parse(text: &str) -> Keys {
        let digests = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(digest)
            .collect();
        Keys { digests }
    }

    /// Keys from a file; an unreadable or empty file is an error (a server meant to need keys
    /// must not start open, or closed to everyone).
    pub fn load(path: &Path) -> Result<Keys> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("cannot read the API keys file {}", path.display()),
            source,
        })?;
        let keys = Keys::parse(&text);
        if keys.digests.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "the API keys file {} holds no keys (one per line; # starts a comment)",
                path.display()
            )));
        }
        Ok(keys)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `key` is one of them; takes the same time whichever key matches (or none).
    pub fn accepts(&self, key: &str) -> bool {
        let d = digest(key);
        let mut found = subtle::Choice::from(0u8);
        for stored in &self.digests {
            found |= stored.ct_eq(&d);
        }
        found.into()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The key a request carries: the `api_key` field, else an `Authorization: Bearer` header.
pub fn request_key(field: Option<String>, headers: &HeaderMap) -> Option<String> {
    field.filter(|k| !k.is_empty()).or_else(|| {
        headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
    })
}

/// Who may call, and how often.
pub struct Gate {
    keys: Option<Keys>,
    limiter: Option<(DefaultKeyedRateLimiter<String>, u32)>,
}

impl Gate {
    /// `per_minute`: requests each key (or client address) may make a minute; `None`: no limit.
    pub fn new(keys: Option<Keys>, per_minute: Option<NonZeroU32>) -> Gate {
        Gate {
            keys,
            limiter: per_minute.map(|n| (RateLimiter::keyed(Quota::per_minute(n)), n.get())),
        }
    }

    /// Whether requests need a key.
    pub fn keys_required(&self) -> bool {
        self.keys.is_some()
    }

    /// Let a request from `client` carrying `key` through, or say why not (403 without a good
    /// key where keys are required, 429 over the rate limit).
    pub fn check(&self, key: Option<&str>, client: IpAddr) -> std::result::Result<(), ApiError> {
        let who = match &self.keys {
            Some(keys) => match key {
                None => return Err(ApiError::new(StatusCode::FORBIDDEN, MISSING_KEY)),
                Some(k) if !keys.accepts(k) => {
                    return Err(ApiError::new(StatusCode::FORBIDDEN, INVALID_KEY))
                }
                // Buckets are named by digest, so no key is kept in memory as text.
                Some(k) => format!("key:{}", hex(&digest(k))),
            },
            None => format!("ip:{client}"),
        };
        if let Some((limiter, n)) = &self.limiter {
            if limiter.check_key(&who).is_err() {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Slowdown: {n} per 1 minute"),
                ));
            }
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn keys_are_read_without_comments_and_compared_exactly() {
        let keys = Keys::parse("# newsroom keys\nalpha\n\n  beta  \n");
        assert_eq!(keys.len(), 2);
        assert!(keys.accepts("alpha") && keys.accepts("beta"));
        assert!(!keys.accepts("alph") && !keys.accepts("# newsroom keys") && !keys.accepts(""));
    }

    #[test]
    fn missing_and_wrong_keys_are_403_with_libretranslates_messages() {
        let gate = Gate::new(Some(Keys::parse("k1")), None);
        assert_eq!(gate.check(None, LOCAL).unwrap_err().message, MISSING_KEY);
        let wrong = gate.check(Some("k2"), LOCAL).unwrap_err();
        assert_eq!(
            (wrong.status, wrong.message.as_str()),
            (StatusCode::FORBIDDEN, INVALID_KEY)
        );
        assert!(gate.check(Some("k1"), LOCAL).is_ok());
        assert!(Gate::new(None, None).check(None, LOCAL).is_ok());
    }

    #[test]
    fn each_key_has_its_own_rate_limit() {
        let gate = Gate::new(Some(Keys::parse("a\nb")), NonZeroU32::new(2));
        assert!(gate.check(Some("a"), LOCAL).is_ok());
        assert!(gate.check(Some("a"), LOCAL).is_ok());
        let over = gate.check(Some("a"), LOCAL).unwrap_err();
        assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(over.message, "Slowdown: 2 per 1 minute");
        assert!(
            gate.check(Some("b"), LOCAL).is_ok(),
            "another key is not held back"
        );
    }

    #[test]
    fn a_bearer_header_carries_a_key_too() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Bearer s3cret".parse().unwrap(),
        );
        assert_eq!(request_key(None, &h).as_deref(), Some("s3cret"));
        assert_eq!(
            request_key(Some("field".into()), &h).as_deref(),
            Some("field")
        );
        assert_eq!(request_key(Some(String::new()), &HeaderMap::new()), None);
    }
}
