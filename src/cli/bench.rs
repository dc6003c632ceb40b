//! `tolk bench`: load (or build) a model once, then measure encoder and decoder speed, tokens/s
//! and peak memory for every (beams, batch) shape; print a table or JSON. The measuring itself
//! is [`tolk::bench`]; this module only turns flags into its inputs and prints.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tolk::bench::random::random_marian;
use tolk::bench::system::{mib, peak_rss_bytes};
use tolk::bench::{run as run_bench, BenchReport, BenchSpec, Measurement, SourcePool};
use tolk::decode::{GenerationConfig, Seq2Seq};
use tolk::device::{parse_precision, DeviceSpec};
use tolk::hub::HubOptions;
use tolk::pipeline::load::open;
use tolk::pipeline::translate::LoadOptions;

use super::args::{BenchArgs, BenchFormat};
use super::set_threads;

/// The model measured when neither --model nor --config is given.
const DEFAULT_MODEL: &str = "Helsinki-NLP/opus-mt-da-en";

pub fn run(a: BenchArgs) -> Result<()> {
    set_threads(a.runtime.threads);
    let spec = BenchSpec {
        batch_sizes: a.batch.clone(),
        beams: a.beams.clone(),
        src_len: a.src_len,
        new_tokens: a.new_tokens,
        warmup: a.warmup,
        repeat: a.repeat,
        seed: a.seed,
    };
    spec.validate()?;
    let device_spec = a.runtime.device.parse::<DeviceSpec>()?;
    let precision = parse_precision(&a.runtime.dtype)?;
    let dtype_name = if precision.int8 {
        "int8".to_string()
    } else {
        format!("{:?}", precision.dtype).to_lowercase()
    };
    let device_name = match device_spec {
        DeviceSpec::Cpu => "cpu".to_string(),
        DeviceSpec::Cuda(n) => format!("cuda:{n}"),
    };
    let device = device_spec.open()?;
    let quiet = a.runtime.quiet;

    let started = Instant::now();
    let report = match &a.config {
        Some(path) => {
            if !path.is_file() {
                bail!(
                    "config file {} not found; --config takes a Marian config.json",
                    path.display()
                );
            }
            let (model, generation) =
                random_marian(path, a.seed, precision.dtype, &device, precision.int8)
                    .with_context(|| format!("cannot build a model from {}", path.display()))?;
            let load_seconds = started.elapsed().as_secs_f64();
            let cfg = model.config();
            let special = [cfg.pad_token_id, cfg.eos_token_id, cfg.decoder_start()];
            let pool = SourcePool::range(cfg.vocab_size, &special, cfg.eos_token_id)?;
            let name = format!("random weights from {}", path.display());
            let report = BenchReport::new(name, device_name, dtype_name, &spec);
            measure(
                &model,
                &generation,
                &spec,
                &pool,
                report,
                load_seconds,
                quiet,
            )?
        }
        None => {
            let reference = a.model.as_deref().unwrap_or(DEFAULT_MODEL);
            let mut hub = HubOptions::from_env()?;
            hub.progress &= !quiet;
            let options = LoadOptions {
                device,
                dtype: precision.dtype,
                int8: precision.int8,
                int8_as_stored: precision.as_stored,
            };
            let loaded = open(reference, &hub, &options)
                .with_context(|| format!("cannot load model `{reference}`"))?;
            let load_seconds = started.elapsed().as_secs_f64();
            let pool = SourcePool::from_tokenizer(loaded.tokenizer.as_ref())?;
            let name = format!("{reference} ({})", loaded.description);
            let report = BenchReport::new(name, device_name, dtype_name, &spec);
            let generation = &loaded.generation;
            measure(
                &loaded.model,
                generation,
                &spec,
                &pool,
                report,
                load_seconds,
                quiet,
            )?
        }
    };

    let mut out = std::io::stdout().lock();
    match a.format {
        BenchFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            out.write_all(b"\n")?;
        }
        BenchFormat::Table => out.write_all(report.table().as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

/// Run every shape on a loaded model and fill in the report.
fn measure<M: Seq2Seq>(
    model: &M,
    generation: &GenerationConfig,
    spec: &BenchSpec,
    pool: &SourcePool,
    mut report: BenchReport,
    load_seconds: f64,
    quiet: bool,
) -> Result<BenchReport> {
    if !quiet {
        eprintln!("model ready in {load_seconds:.2}s; measuring");
    }
    let mut progress = |m: &Measurement| {
        if !quiet {
            eprintln!(
                "  batch {:>3} beams {}: {:.1} tokens/s",
                m.batch, m.beams, m.tokens_per_second
            );
        }
    };
    report.results = run_bench(model, generation, spec, pool, &mut progress)?;
    report.load_seconds = load_seconds;
    report.peak_rss_mib = peak_rss_bytes().map(mib);
    Ok(report)
}
