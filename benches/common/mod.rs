//! Helpers shared by tolk's criterion benches: the device to run on, bench names that carry it,
//! a device sync after every timed iteration, fixture paths, and modest criterion settings.
//!
//! The device comes from `TOLK_BENCH_DEVICE` (`cpu`, the default, or `cuda[:N]` on a build with
//! `--features cuda`). Names are prefixed `cpu_` / `cuda_` so results from different devices are
//! never compared by accident. Nothing here measures anything itself.

#![allow(dead_code)] // each bench binary uses its own subset

use std::path::PathBuf;
use std::time::Duration;

use candle_core::Device;
use criterion::Criterion;
use tolk::device::DeviceSpec;

/// The device a bench binary runs on, and its short name.
pub struct BenchDevice {
    device: Device,
    label: &'static str,
}

impl BenchDevice {
    /// `TOLK_BENCH_DEVICE`, else the CPU.
    pub fn from_env() -> Self {
        let spec: DeviceSpec = std::env::var("TOLK_BENCH_DEVICE")
            .unwrap_or_else(|_| "cpu".into())
            .parse()
            .expect("TOLK_BENCH_DEVICE must be cpu, cuda or cuda:N");
        let device = spec.open().expect("open the bench device");
        let label = if device.is_cuda() { "cuda" } else { "cpu" };
        Self { device, label }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `name` prefixed with the device (`cpu_name`, `cuda_name`).
    pub fn name(&self, name: &str) -> String {
        format!("{}_{name}", self.label)
    }

    /// Wait for the device's queued work (a no-op on the CPU).
    pub fn sync(&self) {
        self.device.synchronize().expect("device synchronize");
    }

    /// Run `f`, then sync, returning `f`'s result: the body of a timed iteration.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let out = f();
        self.sync();
        out
    }
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Few samples, short windows: the whole suite stays within a minute or two.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}
