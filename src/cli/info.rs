//! `tolk info`: what a model is (languages, architecture, stored dtypes, dims, sizes, where it
//! lives), printed as text or JSON. Never builds the model; all facts come from
//! [`tolk::pipeline::info::inspect`].

use std::io::Write;

use anyhow::{Context, Result};
use tolk::hub::HubOptions;
use tolk::pipeline::info::{human_bytes, inspect, ModelInfo};

use super::args::{InfoArgs, InfoFormat};

pub fn run(a: InfoArgs) -> Result<()> {
    let mut hub = HubOptions::from_env()?;
    // Nothing long-running here but downloads; keep their bars only on a terminal (hf-hub's rule).
    hub.progress &= std::io::IsTerminal::is_terminal(&std::io::stderr());
    let info =
        inspect(&a.model, &hub).with_context(|| format!("cannot inspect model `{}`", a.model))?;
    let mut out = std::io::stdout().lock();
    match a.format {
        InfoFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &info)?;
            out.write_all(b"\n")?;
        }
        InfoFormat::Text => out.write_all(text(&info).as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

/// The text report: one `key: value` line per fact.
fn text(i: &ModelInfo) -> String {
    let lang = |l: &Option<String>| l.clone().unwrap_or_else(|| "?".into());
    let languages = match &i.languages_from {
        Some(from) => format!(
            "{} → {} (from {from})",
            lang(&i.source_lang),
            lang(&i.target_lang)
        ),
        None => {
            "unknown (no metadata.json, tokenizer_config.json languages or opus-mt name)".into()
        }
    };
    let architecture = match &i.ct2 {
        Some(c) => format!(
            "{} (CTranslate2 {} revision {}, binary version {})",
            i.architecture, c.spec, c.revision, c.binary_version
        ),
        None => format!("{} (transformers)", i.architecture),
    };
    let dtypes = i
        .dtypes
        .iter()
        .map(|d| format!("{} ×{}", d.dtype, d.tensors))
        .collect::<Vec<_>>()
        .join(", ");
    let heads = if i.encoder_heads == i.decoder_heads {
        i.encoder_heads.to_string()
    } else {
        format!("{} encoder / {} decoder", i.encoder_heads, i.decoder_heads)
    };
    let vocab = if i.source_vocab == i.target_vocab {
        i.source_vocab.to_string()
    } else {
        format!("{} source / {} target", i.source_vocab, i.target_vocab)
    };
    let mut rows = vec![
        ("model", i.reference.clone()),
        ("location", i.location.clone()),
        ("format", i.format.clone()),
        ("languages", languages),
        ("architecture", architecture),
        ("stored dtypes", dtypes),
        (
            "parameters",
            format!("{} ({:.1} M)", i.parameters, i.parameters as f64 / 1e6),
        ),
        ("d_model", i.d_model.to_string()),
        (
            "layers",
            format!("{} encoder, {} decoder", i.encoder_layers, i.decoder_layers),
        ),
        ("heads", heads),
        ("ffn dim", i.ffn_dim.to_string()),
        ("vocabulary", vocab),
        (
            "weights",
            format!(
                "{} ({})",
                i.weights_file.display(),
                human_bytes(i.weights_bytes)
            ),
        ),
        ("on disk", human_bytes(i.total_bytes)),
    ];
    if let Some(n) = i.archive_bytes {
        rows.push(("archive", human_bytes(n)));
    }
    let width = rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{:<width$}  {v}\n", format!("{k}:")))
        .collect()
}
