//! A guard around readers from other crates that can panic on damaged input (candle's PyTorch
//! pickle reader indexes its tuples without checking them): the panic becomes an error for the
//! caller, and its message is not printed, since the caller reports the error itself.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while [`catch_panic`] runs on this thread.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`; a panic inside it is returned as `Err(message)`. Other threads' panics are reported
/// as before (the process's hook runs for them).
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors_and_values_pass_through() {
        assert_eq!(catch_panic(|| 3), Ok(3));
        let err = catch_panic(|| -> u8 { panic!("index 3 out of range") }).unwrap_err();
        assert!(err.contains("index 3"), "{err}");
        // The guard is left as it was found.
        assert!(!QUIET.with(Cell::get));
    }
}
