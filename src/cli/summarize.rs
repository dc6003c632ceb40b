//! `tolk summarize` (English article → short summary) and `tolk brief` (foreign article →
//! English translation → summary).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use tolk::device::{parse_precision, DeviceSpec};
use tolk::hub::HubOptions;
use tolk::pipeline::report;
use tolk::pipeline::segment::segment;
use tolk::pipeline::summarize::{
    self, Bound, DecodeOverrides, Event, Summary, SummaryModel, SummaryOptions,
};
use tolk::pipeline::translate::{BatchOptions, LoadOptions, Translation, Translator};

use super::args::{BriefArgs, RuntimeArgs, SummarizeArgs, SummaryArgs, SummaryFormat};
use super::{input, progress, set_threads};

/// Everything both commands check before loading anything.
struct Prepared {
    bound: Bound,
    device: DeviceSpec,
    overrides: DecodeOverrides,
    load: LoadOptions,
    hub: HubOptions,
}

fn prepare(s: &SummaryArgs, r: &RuntimeArgs) -> Result<Prepared> {
    set_threads(r.threads);
    let bound = Bound::from_flags(s.bound.sentences, s.bound.words)?;
    let device = r.device.parse::<DeviceSpec>()?;
    let precision = parse_precision(&r.dtype)?;
    let mut hub = HubOptions::from_env()?;
    hub.progress &= !r.quiet;
    Ok(Prepared {
        bound,
        device,
        overrides: DecodeOverrides {
            beams: s.beams,
            min_new_tokens: s.min_new_tokens,
            max_new_tokens: s.max_new_tokens,
        },
        load: LoadOptions {
            device: device.open()?,
            dtype: precision.dtype,
            int8: precision.int8,
            int8_as_stored: precision.as_stored,
        },
        hub,
    })
}

/// Load the summarizer named by `reference`.
fn open_summarizer(reference: &str, p: &Prepared) -> Result<(Box<dyn SummaryModel>, f64)> {
    let started = Instant::now();
    let model = summarize::open(reference, &p.hub, &p.device, &p.load, &p.overrides)
        .with_context(|| format!("cannot load summarizer `{reference}`"))?;
    Ok((model, started.elapsed().as_secs_f64()))
}

/// Summarize `text`, telling the user on stderr when it had to be chunked.
/// The numbers of the summary are checked against `sources` (text, language): sentences
/// stating one none of them has are dropped, and said on stderr.
fn run_summary(
    model: &dyn SummaryModel,
    text: &str,
    sources: &[(&str, &str)],
    bound: Bound,
    format: SummaryFormat,
    quiet: bool,
) -> Result<(Summary, f64)> {
    let spinner = if quiet {
        ProgressBar::hidden()
    } else {
        progress::spinner("summarizing")
    };
    let started = Instant::now();
    let mut calls = 0;
    let opts = SummaryOptions {
        bound,
        headline: format == SummaryFormat::Markdown,
    };
    let summary = summarize::summarize(model, text, &opts, &mut |event| match event {
        Event::Chunked {
            round,
            tokens,
            budget,
            chunks,
        } => {
            let what = if round == 1 {
                "the input"
            } else {
                "the joined chunk summaries"
            };
            spinner.suspend(|| {
                eprintln!(
                    "note: {what} is {tokens} tokens, over the summarizer's {budget}-token input; \
                     summarizing it in {chunks} chunks, then summarizing their summaries"
                )
            });
        }
        Event::CallDone => {
            calls += 1;
            spinner.set_message(format!("summarizing ({calls} model calls done)"));
        }
    })?;
    spinner.finish_and_clear();
    let mut summary = summary;
    summarize::support::drop_unsupported(&mut summary, sources);
    for d in &summary.dropped {
        eprintln!(
            "note: dropped a summary sentence stating {} that the source does not: \"{}\"",
            d.numbers
                .iter()
                .chain(&d.names)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            d.sentence
        );
    }
    if !summary.unsupported.is_empty() {
        eprintln!(
            "warning: the summary states {} that the source does not (flagged in the output)",
            summary.unsupported.join(", ")
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    if summary.text.is_empty() && !text.trim().is_empty() {
        eprintln!("warning: the summarizer produced nothing for this text");
    }
    Ok((summary, seconds))
}

pub fn run_summarize(a: SummarizeArgs) -> Result<()> {
    let p = prepare(&a.summary, &a.runtime)?;
    let text = input::read_text(a.input.as_deref())?;
    if text.trim().is_empty() {
        // Nothing to summarize: an empty summary, no model loaded.
        return print_summary(
            a.summary.format,
            &Summary::empty(p.bound),
            serde_json::json!({}),
        );
    }
    let (model, load_seconds) = open_summarizer(&a.model, &p)?;
    let (summary, seconds) = run_summary(
        model.as_ref(),
        &text,
        &[(&text, "en")],
        p.bound,
        a.summary.format,
        a.runtime.quiet,
    )?;
    report(&summary, seconds, load_seconds, a.runtime.quiet);
    let meta = serde_json::json!({
        "model": model.describe(),
        "load_seconds": load_seconds,
        "summarize_seconds": seconds,
    });
    print_summary(a.summary.format, &summary, meta)
}

pub fn run_brief(a: BriefArgs) -> Result<()> {
    let p = prepare(&a.summary, &a.runtime)?;
    let text = input::read_text(a.input.as_deref())?;
    let doc = segment(&text);
    if doc.sentence_count() == 0 {
        let translation = Translation {
            text: doc.reassemble::<String>(&[])?,
            sentences: Vec::new(),
            counts: Default::default(),
        };
        return print_brief(
            a.summary.format,
            &translation,
            &Summary::empty(p.bound),
            serde_json::json!({}),
        );
    }
    let started = Instant::now();
    let mut translator = Translator::open(&a.translate_model, &p.hub, &p.load)
        .with_context(|| format!("cannot load translation model `{}`", a.translate_model))?;
    if let Some(b) = a.translate_beams {
        translator.generation_mut().num_beams = b;
    }
    let translate_load = started.elapsed().as_secs_f64();
    let bar = progress::bar(doc.sentence_count(), "sentences", a.runtime.quiet);
    let started = Instant::now();
    let translation = translator.translate_document(
        &doc,
        BatchOptions {
            max_batch_tokens: a.batch_tokens,
        },
        &mut |n| bar.inc(n as u64),
    )?;
    bar.finish_and_clear();
    let translate_seconds = started.elapsed().as_secs_f64();
    let untranslated = translation
        .sentences
        .iter()
        .filter(|s| s.untranslated)
        .count();
    if untranslated > 0 {
        eprintln!("warning: the model produced nothing for {untranslated} sentences; their source text was kept");
    }
    // The translation model is no longer needed: free its memory before the summarizer loads.
    let translate_description = translator.description().to_string();
    drop(translator);

    let (model, summary_load) = open_summarizer(&a.summary_model, &p)?;
    let (summary, summary_seconds) = run_summary(
        model.as_ref(),
        &translation.text,
        &[(&translation.text, "en"), (&text, "und")],
        p.bound,
        a.summary.format,
        a.runtime.quiet,
    )?;
    if !a.runtime.quiet {
        eprintln!(
            "translated {} sentences in {translate_seconds:.2}s; model loaded in {translate_load:.2}s",
            translation.sentences.len()
        );
    }
    report(&summary, summary_seconds, summary_load, a.runtime.quiet);
    let meta = serde_json::json!({
        "models": {"translate": translate_description, "summarize": model.describe()},
        "translate_load_seconds": translate_load,
        "translate_seconds": translate_seconds,
        "summary_load_seconds": summary_load,
        "summarize_seconds": summary_seconds,
    });
    print_brief(a.summary.format, &translation, &summary, meta)
}

/// The one-line summary of the work on stderr.
fn report(summary: &Summary, seconds: f64, load_seconds: f64, quiet: bool) {
    if quiet {
        return;
    }
    if summary.cut {
        eprintln!("note: the summarizer wrote more than the bound; its answer was cut to fit");
    }
    eprintln!(
        "summarized in {seconds:.2}s ({} model rounds, {:.1} generated tokens/s); model loaded in {load_seconds:.2}s",
        summary.rounds,
        summary.counts.generated_tokens as f64 / seconds.max(1e-9),
    );
}

fn print_summary(format: SummaryFormat, summary: &Summary, meta: serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        SummaryFormat::Text => {
            if !summary.text.is_empty() {
                writeln!(out, "{}", summary.to_text())?;
            }
        }
        SummaryFormat::Markdown => {
            if !summary.text.is_empty() {
                out.write_all(summary.to_markdown().as_bytes())?;
            }
        }
        SummaryFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report::summary_json(summary, meta))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn print_brief(
    format: SummaryFormat,
    translation: &Translation,
    summary: &Summary,
    meta: serde_json::Value,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let english = translation.text.trim_end();
    match format {
        SummaryFormat::Text => {
            writeln!(
                out,
                "SUMMARY\n{}\n\nTRANSLATION\n{english}",
                summary.to_text()
            )?;
        }
        SummaryFormat::Markdown => {
            if !summary.text.is_empty() {
                out.write_all(summary.to_markdown().as_bytes())?;
                writeln!(out)?;
            }
            writeln!(out, "## Translation\n\n{english}")?;
        }
        SummaryFormat::Json => {
            let obj = report::brief_json(translation, summary, meta);
            serde_json::to_writer_pretty(&mut out, &obj)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}
