//! Throughput benchmarks of any [`Seq2Seq`] model on fixed shapes: batches of pseudo-random
//! source ids of one length, a forced number of new tokens (end of sequence is never chosen,
//! as `min_new_tokens == max_new_tokens`), greedy or beam search.
//!
//! Per (batch, beams) it reports the encoder time and the decoding loop's time apart, and
//! generated tokens per second over all rows with the encoder included (as CTranslate2 and
//! transformers are measured by `scripts/bench_peers.py`). The device is synchronised around
//! every timed region. Load time and machine facts are recorded once by the caller in a
//! [`BenchReport`]. This module never prints and never reads flags; [`random`] builds models
//! from a config alone, [`system`] probes the machine.

pub mod random;
pub mod system;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::decode::{encode_batch, generate_from, GenerationConfig, Seq2Seq};
use crate::error::{Error, Result};
use crate::tokenize::TextTokenizer;

use random::SplitMix64;
use system::Machine;

/// Text whose pieces give the source ids of a benchmark with a real tokenizer (several scripts,
/// so that any model's tokenizer finds known pieces).
const SAMPLE_TEXT: &str =
    "USA og Rusland melder begge klar til snarlige militære forhandlinger om Syrien. \
Die Regierung hat heute einen neuen Haushaltsentwurf vorgelegt. \
Le gouvernement a présenté aujourd'hui un nouveau projet de budget. \
The minister said talks at the military level would be an important next step. \
El gobierno presentó hoy un nuevo proyecto de presupuesto. \
Правительство сегодня представило новый проект бюджета. \
政府今天提出了新的预算草案。外交部长将前往布鲁塞尔。";

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSpec {
    /// Sentences per batch, one measurement each.
    pub batch_sizes: Vec<usize>,
    /// Beam sizes (1 = greedy), one measurement each.
    pub beams: Vec<usize>,
    /// Source tokens per sentence before the end-of-sequence id.
    pub src_len: usize,
    /// New tokens every sentence is forced to produce.
    pub new_tokens: usize,
    /// Untimed runs before the timed ones.
    pub warmup: usize,
    /// Timed runs; medians are reported.
    pub repeat: usize,
    /// Seed of the source ids.
    pub seed: u64,
}

impl Default for BenchSpec {
    fn default() -> Self {
        Self {
            batch_sizes: vec![1, 8, 32],
            beams: vec![1, 4],
            src_len: 64,
            new_tokens: 64,
            warmup: 1,
            repeat: 3,
            seed: 0,
        }
    }
}

impl BenchSpec {
    /// Reject shapes that cannot be measured.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        if self.batch_sizes.is_empty() || self.batch_sizes.contains(&0) {
            return bad("batch sizes must be at least 1 (e.g. --batch 1,8,32)");
        }
        if self.beams.is_empty() || self.beams.contains(&0) {
            return bad("beam sizes must be at least 1 (e.g. --beams 1,4)");
        }
        if self.src_len == 0 {
            return bad("the source length must be at least 1 token");
        }
        if self.new_tokens == 0 {
            return bad("the number of new tokens must be at least 1");
        }
        if self.repeat == 0 {
            return bad("repeat must be at least 1");
        }
        Ok(())
    }

    /// Check the shapes against a model's position limits.
    pub fn check_model<M: Seq2Seq>(&self, model: &M) -> Result<()> {
        if self.src_len + 1 > model.max_source_len() {
            return Err(Error::InvalidArgument(format!(
                "a source of {} tokens (plus end of sequence) exceeds the model's {} positions; lower --src-len",
                self.src_len,
                model.max_source_len()
            )));
        }
        if self.new_tokens > model.max_target_len() {
            return Err(Error::InvalidArgument(format!(
                "{} new tokens exceed the decoder's {} positions; lower --new-tokens",
                self.new_tokens,
                model.max_target_len()
            )));
        }
        Ok(())
    }
}

/// The ids benchmark sources are drawn from, and the end-of-sequence id that ends each source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePool {
    ids: Vec<u32>,
    eos: u32,
}

impl SourcePool {
    /// Ids `0..vocab_size` except `special`.
    pub fn range(vocab_size: usize, special: &[u32], eos: u32) -> Result<Self> {
        Self::new((0..vocab_size as u32).collect(), special, eos)
    }

    /// The distinct non-special ids a tokenizer gives a built-in multilingual text.
    pub fn from_tokenizer(tokenizer: &dyn TextTokenizer) -> Result<Self> {
        let s = tokenizer.special();
        Self::new(
            tokenizer.encode(SAMPLE_TEXT)?,
            &[s.eos, s.pad, s.unk],
            s.eos,
        )
    }

    fn new(mut ids: Vec<u32>, special: &[u32], eos: u32) -> Result<Self> {
        ids.retain(|i| !special.contains(i) && *i != eos);
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Err(Error::InvalidArgument(
                "no ordinary token ids to build benchmark sources from".into(),
            ));
        }
        Ok(Self { ids, eos })
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the pool is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// `batch` sources of `len` ids drawn with `seed`, each followed by end of sequence.
    pub fn sample(&self, batch: usize, len: usize, seed: u64) -> Vec<Vec<u32>> {
        let mut rng = SplitMix64::new(seed);
        (0..batch)
            .map(|_| {
                let mut s: Vec<u32> = (0..len)
                    .map(|_| self.ids[rng.below(self.ids.len())])
                    .collect();
                s.push(self.eos);
                s
            })
            .collect()
    }
}

/// `base` with `beams` beams and exactly `new_tokens` new tokens (end of sequence suppressed
/// until the last position).
pub fn forced_config(base: &GenerationConfig, beams: usize, new_tokens: usize) -> GenerationConfig {
    let mut cfg = base.clone();
    cfg.num_beams = beams;
    cfg.max_new_tokens = Some(new_tokens);
    cfg.min_new_tokens = new_tokens;
    cfg.min_length = 0;
    cfg
}

/// One (batch, beams) measurement; times are medians over the timed runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Measurement {
    pub batch: usize,
    pub beams: usize,
    /// Decoder steps per run (= new tokens per sentence).
    pub steps: usize,
    /// Tokens generated per run over all sentences (batch × steps).
    pub generated_tokens: usize,
    /// Padding the batch and running the encoder (cross-attention keys/values included).
    pub encoder_ms: f64,
    /// The whole decoding loop.
    pub decoder_ms: f64,
    pub decoder_ms_per_step: f64,
    /// Encoder plus decoding loop.
    pub total_ms: f64,
    /// `generated_tokens` over the median total time.
    pub tokens_per_second: f64,
    pub sentences_per_second: f64,
    /// Timed runs behind the medians.
    pub runs: usize,
    /// The process's peak RSS so far (it never decreases), in MiB.
    pub peak_rss_mib: Option<f64>,
}

/// Time `spec.warmup + spec.repeat` runs of one (batch, beams) shape.
pub fn measure<M: Seq2Seq>(
    model: &M,
    base: &GenerationConfig,
    spec: &BenchSpec,
    pool: &SourcePool,
    batch: usize,
    beams: usize,
) -> Result<Measurement> {
    let sources = pool.sample(batch, spec.src_len, spec.seed ^ batch as u64);
    let cfg = forced_config(base, beams, spec.new_tokens);
    let device = model.device();
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    for run in 0..spec.warmup + spec.repeat {
        device.synchronize()?;
        let started = Instant::now();
        let state = encode_batch(model, &sources)?;
        device.synchronize()?;
        let encoded = started.elapsed();
        let started = Instant::now();
        let out = generate_from(model, state, batch, &cfg)?;
        device.synchronize()?;
        let decoded = started.elapsed();
        if out.len() != batch || out.iter().any(|h| h.tokens.len() != spec.new_tokens) {
            let lengths: Vec<usize> = out.iter().map(|h| h.tokens.len()).collect();
            return Err(Error::InvalidArgument(format!(
                "decoding was not forced to {} tokens (got lengths {lengths:?}); the model's \
                 generation settings stop it early",
                spec.new_tokens
            )));
        }
        if run >= spec.warmup {
            enc.push(encoded);
            dec.push(decoded);
        }
    }
    let total: Vec<Duration> = enc.iter().zip(&dec).map(|(e, d)| *e + *d).collect();
    let (encoder_ms, decoder_ms, total_ms) = (median_ms(&enc), median_ms(&dec), median_ms(&total));
    let generated_tokens = batch * spec.new_tokens;
    Ok(Measurement {
        batch,
        beams,
        steps: spec.new_tokens,
        generated_tokens,
        encoder_ms,
        decoder_ms,
        decoder_ms_per_step: decoder_ms / spec.new_tokens as f64,
        total_ms,
        tokens_per_second: generated_tokens as f64 / (total_ms / 1e3),
        sentences_per_second: batch as f64 / (total_ms / 1e3),
        runs: spec.repeat,
        peak_rss_mib: system::peak_rss_bytes().map(system::mib),
    })
}

/// Measure every (beams, batch) shape of `spec`, beams outermost; `done` sees each result.
pub fn run<M: Seq2Seq>(
    model: &M,
    base: &GenerationConfig,
    spec: &BenchSpec,
    pool: &SourcePool,
    done: &mut dyn FnMut(&Measurement),
) -> Result<Vec<Measurement>> {
    spec.validate()?;
    spec.check_model(model)?;
    let mut out = Vec::new();
    for &beams in &spec.beams {
        for &batch in &spec.batch_sizes {
            let m = measure(model, base, spec, pool, batch, beams)?;
            done(&m);
            out.push(m);
        }
    }
    Ok(out)
}

/// Median of durations, in milliseconds (mean of the middle two for an even count).
fn median_ms(v: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    match ms.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ms[n / 2],
        n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
    }
}

/// Everything one `tolk bench` run measured, and on what.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchReport {
    pub tolk_version: String,
    /// What was measured: a model reference, or `random weights from <config.json>`.
    pub model: String,
    pub device: String,
    pub dtype: String,
    /// Threads of candle's CPU kernels.
    pub threads: usize,
    pub machine: Machine,
    pub src_len: usize,
    pub new_tokens: usize,
    pub warmup: usize,
    pub repeat: usize,
    pub seed: u64,
    /// Loading (or building) the model, once, before any measurement.
    pub load_seconds: f64,
    /// The process's peak RSS at the end, in MiB.
    pub peak_rss_mib: Option<f64>,
    pub results: Vec<Measurement>,
}

impl BenchReport {
    /// A report with the crate version, the machine, and candle's thread count filled in.
    pub fn new(model: String, device: String, dtype: String, spec: &BenchSpec) -> Self {
        Self {
            tolk_version: env!("CARGO_PKG_VERSION").to_string(),
            model,
            device,
            dtype,
            threads: candle_core::utils::get_num_threads(),
            machine: Machine::probe(),
            src_len: spec.src_len,
            new_tokens: spec.new_tokens,
            warmup: spec.warmup,
            repeat: spec.repeat,
            seed: spec.seed,
            load_seconds: 0.0,
            peak_rss_mib: None,
            results: Vec::new(),
        }
    }

    /// The report as an aligned text table with a header naming model, device and machine.
    pub fn table(&self) -> String {
        let mut s = format!(
            "tolk {} bench: {}\ndevice {}, dtype {}, {} threads; CPU {} ({} logical cores, {})\n\
             source {}+1 tokens, {} forced new tokens; median of {} runs after {} warm-up\n\
             load {:.2} s, peak RSS {}\n\n",
            self.tolk_version,
            self.model,
            self.device,
            self.dtype,
            self.threads,
            self.machine.cpu.as_deref().unwrap_or("unknown"),
            self.machine.logical_cores,
            self.machine.os,
            self.src_len,
            self.new_tokens,
            self.repeat,
            self.warmup,
            self.load_seconds,
            self.peak_rss_mib
                .map_or("unknown".into(), |m| format!("{m:.0} MiB")),
        );
        s.push_str(&format!(
            "{:>5} {:>5} {:>11} {:>12} {:>10} {:>10} {:>9} {:>9}\n",
            "batch", "beams", "encoder ms", "ms/step", "total ms", "tokens/s", "sent/s", "RSS MiB"
        ));
        for m in &self.results {
            s.push_str(&format!(
                "{:>5} {:>5} {:>11.1} {:>12.2} {:>10.1} {:>10.1} {:>9.2} {:>9}\n",
                m.batch,
                m.beams,
                m.encoder_ms,
                m.decoder_ms_per_step,
                m.total_ms,
                m.tokens_per_second,
                m.sentences_per_second,
                m.peak_rss_mib.map_or("-".into(), |r| format!("{r:.0}")),
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn specs_with_zero_sizes_are_rejected() {
        assert!(BenchSpec::default().validate().is_ok());
        let with = |f: fn(&mut BenchSpec)| {
            let mut s = BenchSpec::default();
            f(&mut s);
            s.validate().unwrap_err().to_string()
        };
        assert!(with(|s| s.batch_sizes = vec![1, 0]).contains("batch"));
        assert!(with(|s| s.beams = vec![]).contains("beam"));
        assert!(with(|s| s.new_tokens = 0).contains("new tokens"));
        assert!(with(|s| s.repeat = 0).contains("repeat"));
    }

    #[test]
    fn sources_are_deterministic_non_special_and_end_with_eos() {
        let pool = SourcePool::range(10, &[9, 1], 0).unwrap();
        assert_eq!(pool.len(), 7);
        let a = pool.sample(3, 20, 5);
        assert_eq!(a, pool.sample(3, 20, 5));
        assert_ne!(a, pool.sample(3, 20, 6));
        for s in &a {
            assert_eq!(s.len(), 21);
            assert_eq!(*s.last().unwrap(), 0);
            assert!(s[..20].iter().all(|&i| !matches!(i, 0 | 1 | 9) && i < 10));
        }
        assert!(SourcePool::range(2, &[1], 0).is_err());
    }

    #[test]
    fn medians() {
        let ms = |v: &[u64]| {
            median_ms(
                &v.iter()
                    .map(|&x| Duration::from_millis(x))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(ms(&[5, 1, 3]), 3.0);
        assert_eq!(ms(&[4, 1, 3, 2]), 2.5);
    }

    #[test]
    fn measures_a_random_model_with_forced_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let cfg = serde_json::json!({
            "vocab_size": 40, "d_model": 16, "encoder_layers": 1, "decoder_layers": 1,
            "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 32,
            "decoder_ffn_dim": 32, "max_position_embeddings": 32, "pad_token_id": 39,
            "eos_token_id": 0
        });
        std::fs::write(&p, cfg.to_string()).unwrap();
        let (model, gen) = random::random_marian(&p, 1, DType::F32, &Device::Cpu, false).unwrap();
        let spec = BenchSpec {
            batch_sizes: vec![1, 3],
            beams: vec![1, 2],
            src_len: 6,
            new_tokens: 7,
            warmup: 0,
            repeat: 2,
            seed: 1,
        };
        let pool = SourcePool::range(40, &[39], 0).unwrap();
        let mut seen = 0;
        let out = run(&model, &gen, &spec, &pool, &mut |_| seen += 1).unwrap();
        assert_eq!(seen, 4);
        assert_eq!(
            out.iter().map(|m| (m.beams, m.batch)).collect::<Vec<_>>(),
            vec![(1, 1), (1, 3), (2, 1), (2, 3)]
        );
        for m in &out {
            assert_eq!(m.steps, 7);
            assert_eq!(m.generated_tokens, m.batch * 7);
            assert!(m.encoder_ms > 0.0 && m.decoder_ms > 0.0);
            assert!((m.total_ms - (m.encoder_ms + m.decoder_ms)).abs() < 0.5 * m.total_ms);
            assert!(m.tokens_per_second > 0.0);
        }
        let too_long = BenchSpec {
            src_len: 40,
            ..spec.clone()
        };
        let err = run(&model, &gen, &too_long, &pool, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("--src-len"), "{err}");
        let mut report = BenchReport::new("m".into(), "cpu".into(), "f32".into(), &spec);
        report.results = out;
        let table = report.table();
        assert!(
            table.contains("tokens/s") && table.lines().count() >= 9,
            "{table}"
        );
    }
}
