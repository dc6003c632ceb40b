//! `tolk translate`: an article (or lines) in, English out.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use tolk::device::{parse_precision, DeviceSpec};
use tolk::hub::HubOptions;
use tolk::pipeline::report;
use tolk::pipeline::segment::{segment, segment_lines};
use tolk::pipeline::translate::{BatchOptions, LoadOptions, Translation, Translator};

use super::args::{Format, TranslateArgs};
use super::{input, progress, set_threads};

pub fn run(a: TranslateArgs) -> Result<()> {
    set_threads(a.runtime.threads);
    let device = a.runtime.device.parse::<DeviceSpec>()?;
    let precision = parse_precision(&a.runtime.dtype)?;
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

    let started = Instant::now();
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
    let load_seconds = started.elapsed().as_secs_f64();

    let unit = if a.lines { "lines" } else { "sentences" };
    let bar = progress::bar(doc.sentence_count(), unit, a.runtime.quiet);
    let batching = BatchOptions {
        max_batch_tokens: a.batch_tokens,
    };
    let started = Instant::now();
    let mut result = translator.translate_document(&doc, batching, &mut |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let translate_seconds = started.elapsed().as_secs_f64();
    // Line-aligned and per-sentence output shows exactly what the model produced (empty stays
    // empty); an article keeps the source text where the model gave nothing, so no part of it
    // goes missing.
    let exact = a.lines || a.format == Format::Jsonl;
    if exact {
        result.blank_untranslated(&doc)?;
    }
    let untranslated = result.untranslated_positions();
    if !untranslated.is_empty() {
        let what = if a.lines { "line" } else { "sentence" };
        let list = untranslated
            .iter()
            .take(10)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let more = if untranslated.len() > 10 { ", …" } else { "" };
        let kept = if exact {
            "their output is left empty"
        } else {
            "their source text was kept"
        };
        eprintln!(
            "warning: the model produced nothing for {} {unit} ({what} {list}{more}); {kept}",
            untranslated.len()
        );
    }
    if !a.runtime.quiet {
        let n = result.sentences.len();
        eprintln!(
            "translated {n} {unit} in {translate_seconds:.2}s ({:.2} {unit}/s, {:.1} generated tokens/s); model loaded in {load_seconds:.2}s",
            n as f64 / translate_seconds,
            result.counts.generated_tokens as f64 / translate_seconds,
        );
    }
    let meta = serde_json::json!({
        "model": translator.description(),
        "load_seconds": load_seconds,
        "translate_seconds": translate_seconds,
        "source_tokens": result.counts.source_tokens,
        "generated_tokens": result.counts.generated_tokens,
    });
    print(a.format, &result, meta)
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
