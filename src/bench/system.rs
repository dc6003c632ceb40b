//! What a benchmark report says about the machine and the process: CPU model, logical cores,
//! and the process's peak resident memory (Linux `VmHWM`).
//!
//! Read-only probes of `/proc`; on systems without it they answer `None`, never an error.

use serde::Serialize;

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Machine {
    /// CPU model name (`model name` of /proc/cpuinfo), when known.
    pub cpu: Option<String>,
    /// Logical cores the OS offers this process.
    pub logical_cores: usize,
    /// Operating system and architecture, e.g. `linux x86_64`.
    pub os: String,
}

impl Machine {
    /// Probe the current machine.
    pub fn probe() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| cpu_model(&s));
        Self {
            cpu,
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// The first `model name` of a /proc/cpuinfo text.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// Peak resident set size of this process in bytes (`VmHWM` of /proc/self/status).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmHWM").map(|k| k * 1024)
}

/// A `Key:   123 kB` field of /proc/self/status, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Bytes to MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpuinfo_and_status() {
        let info = "processor\t: 0\nvendor_id\t: X\nmodel name\t: AMD EPYC 7B13\nflags\t: a b\n";
        assert_eq!(cpu_model(info).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor: 0\n"), None);
        let status = "VmPeak:\t  900 kB\nVmHWM:\t  4321 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(4321));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_has_a_peak_rss() {
        let peak = peak_rss_bytes().unwrap();
        assert!(peak > 1024 * 1024, "{peak}");
        assert!(Machine::probe().logical_cores >= 1);
    }
}
