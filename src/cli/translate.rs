//! `tolk translate`: an article (or lines) in, English out.
//!
//! An article, and `--format json`, are read whole ([`input::read_text`]); `--lines` with text
//! or JSONL output streams: chunks of whole lines are translated and written one after another
//! ([`input::LineChunks`]), so memory stays bounded on inputs of any size and the output equals
//! what one pass over the whole input gives.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use tolk::device::{parse_precision, DeviceSpec};
use tolk::hub::HubOptions;
use tolk::pipeline::report;
use tolk::pipeline::segment::{segment, segment_lines, Document};
use tolk::pipeline::translate::{
    BatchOptions, FidelityCounts, LoadOptions, TokenCounts, Translation, Translator,
};

use super::args::{Format, TranslateArgs};
use super::{input, progress, set_threads};

pub fn run(a: TranslateArgs) -> Result<()> {
    set_threads(a.runtime.threads);
    if a.lines && a.format != Format::Json {
        return stream_lines(&a);
    }
    let text = input::read_text(a.input.as_deref())?;
    let doc = if a.lines {
        segment_lines(&text)
    } else {
        segment(&text)
    };
    if doc.sentence_count() == 0 {
        // Nothing to translate (empty or blank input): the layout alone, no model loaded.
        let result = Translation {
            text: doc.reassemble::<String>(&[])?,
            sentences: Vec::new(),
            counts: Default::default(),
        };
        return print(a.format, &result, serde_json::json!({}));
    }
    let (translator, load_seconds) = load(&a)?;
    let unit = unit(&a);
    let bar = progress::bar(doc.sentence_count(), unit, a.runtime.quiet);
    let started = Instant::now();
    let mut result =
        translator.translate_document(&doc, batching(&a), &mut |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let translate_seconds = started.elapsed().as_secs_f64();
    // Line-aligned and per-sentence output shows exactly what the model produced (empty stays
    // empty); an article keeps the source text where the model gave nothing, so no part of it
    // goes missing.
    let exact = a.lines || a.format == Format::Jsonl;
    if exact {
        result.blank_untranslated(&doc)?;
    }
    let positions = untranslated(&a, &doc, &result, 0, 0);
    warn_untranslated(&a, &positions, positions.len());
    let mut fidelity = FidelityCheck::new(&a);
    fidelity.check(&a, &doc, &mut result, 0, 0);
    report_speed(
        &a,
        result.sentences.len(),
        result.counts,
        translate_seconds,
        load_seconds,
    );
    let meta = serde_json::json!({
        "model": translator.description(),
        "load_seconds": load_seconds,
        "translate_seconds": translate_seconds,
        "source_tokens": result.counts.source_tokens,
        "generated_tokens": result.counts.generated_tokens,
        "fidelity": fidelity.counts,
    });
    print(a.format, &result, meta)?;
    fidelity.finish(&a)
}

/// `--lines` with text or JSONL output: chunk by chunk, the model loaded at the first line
/// that has something to translate.
fn stream_lines(a: &TranslateArgs) -> Result<()> {
    let (mut chunks, total) = input::LineChunks::open(a.input.as_deref())?;
    let bar = match total {
        Some(n) => progress::bar(n, "lines", a.runtime.quiet),
        None => progress::counter("lines", a.runtime.quiet),
    };
    let mut out = std::io::stdout().lock();
    let mut translator: Option<(Translator, f64)> = None;
    let (mut sentences, mut counts, mut seconds) = (0usize, TokenCounts::default(), 0.0);
    let (mut shown, mut untranslated_count) = (Vec::new(), 0);
    let mut fidelity = FidelityCheck::new(a);
    while let Some(chunk) = chunks.next_chunk()? {
        let doc = segment_lines(&chunk.text);
        let line_count = doc.lines.len();
        if doc.sentence_count() == 0 {
            out.write_all(doc.reassemble::<String>(&[])?.as_bytes())?;
            bar.inc(line_count as u64);
            continue;
        }
        if translator.is_none() {
            translator = Some(load(a)?);
        }
        let Some((t, _)) = translator.as_mut() else {
            unreachable!("loaded above")
        };
        let started = Instant::now();
        let mut result = t.translate_document(&doc, batching(a), &mut |_| {})?;
        seconds += started.elapsed().as_secs_f64();
        result.blank_untranslated(&doc)?;
        let positions = untranslated(a, &doc, &result, chunk.first_line - 1, sentences);
        untranslated_count += positions.len();
        fidelity.check(a, &doc, &mut result, chunk.first_line - 1, sentences);
        shown.extend(
            positions
                .into_iter()
                .take(11usize.saturating_sub(shown.len())),
        );
        match a.format {
            Format::Jsonl => {
                let lines = doc.sentence_lines();
                for (k, p) in result.sentences.iter().enumerate() {
                    let mut row = serde_json::to_value(p)?;
                    row["index"] = (sentences + k).into();
                    row["line"] = (chunk.first_line + lines[k]).into();
                    serde_json::to_writer(&mut out, &row)?;
                    out.write_all(b"\n")?;
                }
            }
            _ => out.write_all(result.text.as_bytes())?,
        }
        out.flush()?;
        sentences += result.sentences.len();
        counts.source_tokens += result.counts.source_tokens;
        counts.generated_tokens += result.counts.generated_tokens;
        bar.inc(line_count as u64);
    }
    bar.finish_and_clear();
    warn_untranslated(a, &shown, untranslated_count);
    if let Some((_, load_seconds)) = translator {
        report_speed(a, sentences, counts, seconds, load_seconds);
    }
    fidelity.finish(a)
}

/// The fidelity check of a run: each sentence's numbers against its source, the first
/// flagged sentences said on stderr, totals kept for JSON and `--strict`.
struct FidelityCheck {
    lang: Option<String>,
    counts: FidelityCounts,
}

/// Flagged sentences said one by one on stderr before only the total is.
const FIDELITY_WARNINGS: usize = 10;

impl FidelityCheck {
    fn new(a: &TranslateArgs) -> Self {
        FidelityCheck {
            lang: a.from.as_deref().map(tolk::registry::normalize_lang),
            counts: FidelityCounts::default(),
        }
    }

    /// The source language: `--from`, else the model's (read once), else unknown.
    fn lang(&mut self, a: &TranslateArgs) -> String {
        self.lang
            .get_or_insert_with(|| {
                HubOptions::from_env()
                    .ok()
                    .and_then(|hub| tolk::pipeline::info::inspect(&a.model, &hub).ok())
                    .and_then(|i| i.source_lang)
                    .unwrap_or_else(|| "und".into())
            })
            .clone()
    }

    fn check(
        &mut self,
        a: &TranslateArgs,
        doc: &Document,
        result: &mut Translation,
        line_offset: usize,
        sentence_offset: usize,
    ) {
        let lang = self.lang(a);
        let before = self.counts.flagged;
        let c = result.check_fidelity(&lang);
        self.counts.flagged += c.flagged;
        self.counts.missing += c.missing;
        self.counts.added += c.added;
        let lines = doc.sentence_lines();
        let mut said = before;
        for (i, p) in result.sentences.iter().enumerate() {
            let Some(f) = p.fidelity.as_ref().filter(|f| !f.is_clean()) else {
                continue;
            };
            said += 1;
            if said > FIDELITY_WARNINGS {
                break;
            }
            let at = if a.lines {
                format!("line {}", line_offset + lines[i] + 1)
            } else {
                format!("sentence {}", sentence_offset + i + 1)
            };
            let mut what = Vec::new();
            if !f.missing.is_empty() {
                what.push(format!(
                    "{} missing from the translation",
                    f.missing.join(", ")
                ));
            }
            if !f.added.is_empty() {
                what.push(format!("{} not in the source", f.added.join(", ")));
            }
            eprintln!("warning: {at}: {}", what.join("; "));
        }
    }

    /// Say the total when more was flagged than shown; with `--strict`, fail when a number
    /// went missing.
    fn finish(&self, a: &TranslateArgs) -> Result<()> {
        let c = self.counts;
        if c.flagged > FIDELITY_WARNINGS {
            eprintln!(
                "warning: {} sentences in all lost or added something ({} items missing, {} numbers added)",
                c.flagged, c.missing, c.added
            );
        }
        if a.strict && c.missing > 0 {
            anyhow::bail!(
                "--strict: {} items of the source (numbers, names, quotations) are missing from the translation (see the warnings)",
                c.missing
            );
        }
        Ok(())
    }
}

/// Open the model `--model` names, with the generation flags applied; also the seconds it took.
fn load(a: &TranslateArgs) -> Result<(Translator, f64)> {
    let started = Instant::now();
    let device = a.runtime.device.parse::<DeviceSpec>()?;
    let precision = parse_precision(&a.runtime.dtype)?;
    let mut hub = HubOptions::from_env()?;
    hub.progress &= !a.runtime.quiet;
    let options = LoadOptions {
        device: device.open()?,
        dtype: precision.dtype,
        int8: precision.int8,
        int8_as_stored: precision.as_stored,
    };
    let mut translator = Translator::open(&a.model, &hub, &options)
        .with_context(|| format!("cannot load model `{}`", a.model))?;
    translator.set_tidy(!a.raw);
    let generation = translator.generation_mut();
    if let Some(b) = a.beams {
        generation.num_beams = b;
    }
    if let Some(n) = a.max_new_tokens {
        generation.max_new_tokens = Some(n);
    }
    if let Some(n) = a.min_new_tokens {
        generation.min_new_tokens = n;
    }
    Ok((translator, started.elapsed().as_secs_f64()))
}

fn batching(a: &TranslateArgs) -> BatchOptions {
    BatchOptions {
        max_batch_tokens: a.batch_tokens,
    }
}

fn unit(a: &TranslateArgs) -> &'static str {
    if a.lines {
        "lines"
    } else {
        "sentences"
    }
}

/// 1-based input lines (`--lines`) or sentence numbers of the sentences the model left empty;
/// `line_offset` and `sentence_offset` place a chunk in the whole input.
fn untranslated(
    a: &TranslateArgs,
    doc: &Document,
    result: &Translation,
    line_offset: usize,
    sentence_offset: usize,
) -> Vec<usize> {
    let positions = result.untranslated_positions();
    if a.lines {
        let lines = doc.sentence_lines();
        positions
            .into_iter()
            .map(|i| line_offset + lines[i] + 1)
            .collect()
    } else {
        positions
            .into_iter()
            .map(|i| sentence_offset + i + 1)
            .collect()
    }
}

/// Say on stderr which lines or sentences the model produced nothing for (the first ten of
/// `count`).
fn warn_untranslated(a: &TranslateArgs, positions: &[usize], count: usize) {
    if count == 0 {
        return;
    }
    let what = if a.lines { "line" } else { "sentence" };
    let list = positions
        .iter()
        .take(10)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let more = if count > 10 { ", …" } else { "" };
    let kept = if a.lines || a.format == Format::Jsonl {
        "their output is left empty"
    } else {
        "their source text was kept"
    };
    eprintln!(
        "warning: the model produced nothing for {count} {} ({what} {list}{more}); {kept}",
        unit(a)
    );
}

fn report_speed(a: &TranslateArgs, n: usize, counts: TokenCounts, seconds: f64, load: f64) {
    if a.runtime.quiet {
        return;
    }
    let unit = unit(a);
    eprintln!(
        "translated {n} {unit} in {seconds:.2}s ({:.2} {unit}/s, {:.1} generated tokens/s); model loaded in {load:.2}s",
        n as f64 / seconds,
        counts.generated_tokens as f64 / seconds,
    );
}

/// Write the result to stdout in the chosen format; `meta` adds fields to the JSON object.
fn print(format: Format, result: &Translation, meta: serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => out.write_all(result.text.as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report::translation_json(result, meta))?;
            out.write_all(b"\n")?;
        }
        Format::Jsonl => {
            for (i, p) in result.sentences.iter().enumerate() {
                let mut row = serde_json::to_value(p)?;
                row["index"] = i.into();
                serde_json::to_writer(&mut out, &row)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
