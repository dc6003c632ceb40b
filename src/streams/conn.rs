//! Connecting to Redis, and waiting with growing pauses while it is away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::{Client, Connection, RedisError};

use super::redis_err;
use crate::error::Result;

/// How long a connection attempt and each command may take before the connection counts as
/// broken (a blocking read waits this long on top of its own `BLOCK`).
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Open a client for `url` (`redis://host:port/db`, `rediss://`, `redis+unix:///path`).
pub fn client(url: &str) -> Result<Client> {
    Client::open(url).map_err(redis_err(format!(
        "`{url}` is not a Redis URL (expected redis://HOST:PORT/DB)"
    )))
}

/// One connection with read and write timeouts set.
pub fn connect(client: &Client) -> std::result::Result<Connection, RedisError> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// Whether `e` means the connection is gone (reconnect and go on) rather than a refused
/// command (a bug or a wrong key type: stop).
pub fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

/// Like [`is_connection_error`], for tolk's error type.
pub fn is_lost(e: &crate::Error) -> bool {
    matches!(e, crate::Error::Redis { source, .. } if is_connection_error(source))
}

/// Pauses between reconnection attempts: 100 ms, doubling up to 5 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_millis(100),
        }
    }
}

impl Backoff {
    /// The pause to take now; the next one is twice as long (at most 5 s).
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        pause
    }

    /// Back to the shortest pause (after a success).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Sleep for `pause`, waking early when `stop` is set; `false` when stopped.
pub fn sleep_unless_stopped(pause: Duration, stop: &AtomicBool) -> bool {
    let step = Duration::from_millis(50);
    let mut left = pause;
    while !left.is_zero() {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let nap = left.min(step);
        std::thread::sleep(nap);
        left -= nap;
    }
    !stop.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_seconds_and_resets() {
        let mut b = Backoff::default();
        let pauses: Vec<u64> = (0..8).map(|_| b.next_pause().as_millis() as u64).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_pause(), Duration::from_millis(100));
    }

    #[test]
    fn a_bad_url_is_a_clear_error() {
        let e = client("http://nope").err().unwrap().to_string();
        assert!(e.contains("not a Redis URL"), "{e}");
    }
}
