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

/// The real Argos zh→en 1.9 package fetched by `scripts/fetch-test-models`.
pub const ZH_EN_PACKAGE: &str = "translate-zh_en-1_9";

/// The folder holding the fetched test models: `$TOLK_TEST_MODELS`, else `.cache/test-models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("TOLK_TEST_MODELS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/test-models"),
    }
}

/// The extracted Argos zh→en package, or `None` (skip, with a message) when it was not
/// fetched; under `CI` a missing model is a failure.
pub fn zh_en_package() -> Option<PathBuf> {
    let dir = models_dir().join(ZH_EN_PACKAGE);
    if dir.join("model/model.bin").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "the Argos zh-en model is missing at {}; run scripts/fetch-test-models",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The SmolLM2-135M-Instruct Q4_1 GGUF fetched by `scripts/fetch-test-models gguf`.
pub const SMOLLM2_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The SmolLM2 GGUF file, or `None` (skip, with a message) when it was not fetched; under `CI`
/// a missing model is a failure.
pub fn smollm2_gguf() -> Option<PathBuf> {
    let path = models_dir().join(SMOLLM2_GGUF);
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "the SmolLM2 GGUF model is missing at {}; run scripts/fetch-test-models gguf",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The device the parity tests run on: `$TOLK_TEST_DEVICE` (`cpu`, `cuda`, `cuda:N`), else the CPU.
/// A GPU run (`TOLK_TEST_DEVICE=cuda cargo test --features cuda -- parity`) holds the models to
/// the same goldens as the CPU.
/// Opened once: tensors on two separately opened CUDA devices cannot meet.
pub fn device() -> candle_core::Device {
    static DEVICE: std::sync::OnceLock<candle_core::Device> = std::sync::OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let spec = std::env::var("TOLK_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
            let spec: tolk::device::DeviceSpec = spec
                .parse()
                .unwrap_or_else(|e| panic!("TOLK_TEST_DEVICE: {e}"));
            spec.open()
                .unwrap_or_else(|e| panic!("TOLK_TEST_DEVICE: {e}"))
        })
        .clone()
}

/// xorshift64*: deterministic pseudo-random numbers for property and fuzz loops (the seed makes
/// a failing case reproducible).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}
