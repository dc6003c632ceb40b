//! `tolk translate`: an article (or lines) in, English out.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use tolk::device::{parse_dtype, DeviceSpec};
use tolk::hub::{HubOptions, ModelRef, ModelSource};
use tolk::pipeline::segment::{segment, segment_lines};
use tolk::pipeline::translate::{BatchOptions, LoadOptions, Translator};

use super::args::{Format, TranslateArgs};
use super::{input, progress, set_threads};

pub fn run(a: TranslateArgs) -> Result<()> {
    set_threads(a.runtime.threads);
    if a.batch_tokens == 0 {
        anyhow::bail!("--batch-tokens must be at least 1");
    }
    if a.beams == Some(0) {
        anyhow::bail!("--beams must be at least 1");
    }
    let text = input::read_text(a.input.as_deref())?;
    let doc = if a.lines {
        segment_lines(&text)
    } else {
        segment(&text)
    };
    if doc.sentence_count() == 0 && text.trim().is_empty() && !a.lines {
        // Empty input: empty output, nothing loaded.
        return print(&a.format, "", &[], &text);
    }
    let device = a.runtime.device.parse::<DeviceSpec>()?.open()?;
    let dtype = parse_dtype(&a.runtime.dtype)?;
    let model_ref: ModelRef = a.model.parse()?;
    let started = Instant::now();
    let source = ModelSource::open(&model_ref, &HubOptions::from_env()?)
        .with_context(|| format!("cannot open model `{}`", a.model))?;
    let mut translator = Translator::load(&source, &LoadOptions { device, dtype })
        .with_context(|| format!("cannot load model {}", source.describe()))?;
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
    let load_time = started.elapsed();

    let bar = progress::bar(
        doc.sentence_count(),
        if a.lines { "lines" } else { "sentences" },
        a.runtime.quiet,
    );
    let batching = BatchOptions {
        max_batch_tokens: a.batch_tokens,
    };
    let started = Instant::now();
    let result = translator.translate_document(&doc, batching, &mut |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    if !a.runtime.quiet && !matches!(a.format, Format::Text) {
        eprintln!(
            "translated {} sentences in {:.2}s (model loaded in {:.2}s)",
            result.sentences.len(),
            elapsed.as_secs_f64(),
            load_time.as_secs_f64()
        );
    }
    let meta = serde_json::json!({
        "model": translator.description(),
        "load_seconds": load_time.as_secs_f64(),
        "translate_seconds": elapsed.as_secs_f64(),
    });
    let pairs: Vec<serde_json::Value> = result
        .sentences
        .iter()
        .map(|p| serde_json::json!({"source": p.source, "translation": p.translation}))
        .collect();
    let _ = meta.clone();
    print_with_meta(&a.format, &result.text, &pairs, meta)
}

fn print(format: &Format, text: &str, pairs: &[serde_json::Value], _src: &str) -> Result<()> {
    print_with_meta(format, text, pairs, serde_json::json!({}))
}

fn print_with_meta(
    format: &Format,
    text: &str,
    pairs: &[serde_json::Value],
    meta: serde_json::Value,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Text => out.write_all(text.as_bytes())?,
        Format::Json => {
            let mut obj = meta;
            obj["translation"] = text.into();
            obj["sentences"] = pairs.to_vec().into();
            serde_json::to_writer_pretty(&mut out, &obj)?;
            out.write_all(b"\n")?;
        }
        Format::Jsonl => {
            for (i, p) in pairs.iter().enumerate() {
                let mut p = p.clone();
                p["index"] = i.into();
                serde_json::to_writer(&mut out, &p)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
