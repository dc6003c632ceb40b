//! `tolk batch`: a JSONL file or a folder of documents in, one JSONL record per document out,
//! resumable. Progress and the closing summary go to stderr; records go to the output file.

use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tolk::device::{parse_precision, DeviceSpec};
use tolk::hub::HubOptions;
use tolk::jobs::input::RecordReader;
use tolk::jobs::models::{default_summarizer, ModelOptions, Models};
use tolk::jobs::output::OutputLog;
use tolk::jobs::plan::Identify;
use tolk::jobs::run::{run_job, Event, JobOptions};
use tolk::pipeline::summarize::{Bound, DecodeOverrides, SummaryOptions};
use tolk::pipeline::translate::{BatchOptions, LoadOptions};
use tolk::registry::{is_valid_code, normalize_lang, Registry};

use super::args::{BatchArgs, JobArgs};
use super::set_threads;

/// What a job needs, built from the model flags `tolk batch` and `tolk worker` share.
pub(super) struct Setup {
    pub models: Models,
    pub detector: Box<dyn Identify>,
    pub opts: JobOptions,
}

/// Validate the shared job flags and prepare the models (loaded on first use).
pub(super) fn setup(a: &JobArgs) -> Result<Setup> {
    let bound = Bound::from_flags(a.bound.sentences, a.bound.words)?;
    let device = a.runtime.device.parse::<DeviceSpec>()?;
    let precision = parse_precision(&a.runtime.dtype)?;
    let registry = match &a.registry {
        Some(dir) => Registry::builtin()?.with_dir(dir)?,
        None => Registry::builtin()?,
    };
    let from = match a.from.as_str() {
        "auto" => None,
        code => {
            let lang = normalize_lang(code);
            if !is_valid_code(&lang) {
                anyhow::bail!(
                    "--from {code}: not a language code; give an ISO 639-1 code (da, de, zh, ...) or auto"
                );
            }
            Some(lang)
        }
    };
    let summary_model = if a.no_summary {
        None
    } else {
        match &a.summary_model {
            Some(m) => Some(m.clone()),
            None => Some(default_summarizer(&registry).context(
                "the registry names no default summarizer; pass --summary-model or --no-summary",
            )?),
        }
    };
    let mut hub = HubOptions::from_env()?;
    hub.progress &= !a.runtime.quiet;
    let models = Models::new(
        ModelOptions {
            hub,
            load: LoadOptions {
                device: device.open()?,
                dtype: precision.dtype,
                int8: precision.int8,
                int8_as_stored: precision.as_stored,
            },
            device,
            translate_model: a.model.clone(),
            summary_model,
            beams: a.beams,
            max_new_tokens: a.max_new_tokens,
            summary: DecodeOverrides::default(),
            max_loaded: a.max_loaded_models,
            raw: a.raw,
        },
        registry,
    );
    let detector = detector(from.is_some())?;
    let opts = JobOptions {
        from,
        batching: BatchOptions {
            max_batch_tokens: a.batch_tokens,
        },
        window_docs: a.window_docs,
        window_chars: JobOptions::default().window_chars,
        summary: SummaryOptions {
            bound,
            headline: false,
        },
    };
    Ok(Setup {
        models,
        detector,
        opts,
    })
}

pub fn run(a: BatchArgs) -> Result<()> {
    set_threads(a.job.runtime.threads);
    let Setup {
        mut models,
        detector,
        opts,
    } = setup(&a.job)?;
    let quiet = a.job.runtime.quiet;
    let total = RecordReader::count(&a.input)
        .with_context(|| format!("cannot read input {}", a.input.display()))?;
    let records = RecordReader::open(&a.input)?;
    let (mut out, resumed) = OutputLog::open(&a.output, a.retry_failed)?;
    if !quiet && (resumed.records > 0 || resumed.truncated_bytes > 0) {
        eprintln!(
            "resuming {}: {} records already there ({} failed{}){}",
            a.output.display(),
            resumed.records,
            resumed.failed,
            if resumed.dropped_failed > 0 {
                format!(", {} failed ones removed to retry", resumed.dropped_failed)
            } else {
                String::new()
            },
            if resumed.truncated_bytes > 0 {
                format!(
                    "; removed a cut-short last line of {} bytes",
                    resumed.truncated_bytes
                )
            } else {
                String::new()
            },
        );
    }

    let bar = progress_bar(total, quiet);
    let started = Instant::now();
    let mut generated = 0usize;
    let report = run_job(
        records,
        &mut out,
        &mut models,
        detector.as_ref(),
        &opts,
        &mut |e| match e {
            Event::Written { .. } | Event::AlreadyDone => bar.inc(1),
            Event::Duplicate { key, line } => {
                bar.inc(1);
                let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
                bar.suspend(|| eprintln!("warning: duplicate record {key}{at} skipped (its first occurrence is processed)"));
            }
            Event::Tokens(c) => {
                generated += c.generated_tokens;
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!("{:.0} tok/s", generated as f64 / secs));
            }
        },
    )?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if !quiet {
        eprintln!(
            "batch: {} documents written ({} failed), {} already done, {} duplicates skipped; {:.1}s, \
             {:.2} documents/s, {:.1} generated tokens/s ({} source, {} generated) -> {}",
            report.written,
            report.failed,
            report.already_done,
            report.duplicates,
            seconds,
            report.written as f64 / seconds.max(1e-9),
            report.counts.generated_tokens as f64 / seconds.max(1e-9),
            report.counts.source_tokens,
            report.counts.generated_tokens,
            a.output.display(),
        );
    }
    if report.failed > 0 || report.duplicates > 0 {
        anyhow::bail!(
            "{} records failed and {} duplicate ids were skipped; failed records carry an \"error\" \
             field in {} (rerun with --retry-failed to try them again)",
            report.failed,
            report.duplicates,
            a.output.display()
        );
    }
    Ok(())
}

/// The language detector for `--from auto` (`given`: false), or none when every document's
/// language is given.
#[cfg(feature = "detect")]
pub(super) fn detector(_given: bool) -> Result<Box<dyn Identify>> {
    Ok(Box::new(tolk::detect::Detector::new()))
}

/// This build has no detector: `--from auto` is refused up front rather than failing every record.
#[cfg(not(feature = "detect"))]
pub(super) fn detector(given: bool) -> Result<Box<dyn Identify>> {
    struct Given;
    impl Identify for Given {
        fn identify(&self, _: &str) -> Option<(String, bool)> {
            None
        }
    }
    if !given {
        anyhow::bail!(
            "this tolk was built without language detection (cargo feature `detect`); \
             pass --from LANG, or rebuild with default features"
        );
    }
    Ok(Box::new(Given))
}

/// Documents done out of `total`, with documents/s, tokens/s and the time left.
fn progress_bar(total: usize, quiet: bool) -> ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let template =
        "{bar:40} {pos}/{len} documents [{elapsed_precise} < {eta_precise}] {per_sec} {msg}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style);
    }
    pb
}
