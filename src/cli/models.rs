//! `tolk models`: the model registry ([`tolk::registry`]) as a table or JSON, with each
//! entry's cache state. Looks at cache folders only; never downloads anything.

use std::io::Write;

use anyhow::{Context, Result};
use tolk::hub::HubOptions;
use tolk::registry::{is_cached, normalize_lang, ModelEntry, Registry, Task};

use super::args::{ModelsArgs, ModelsFormat, ModelsTask};

pub fn run(a: ModelsArgs) -> Result<()> {
    let mut registry = Registry::builtin().context("the built-in model registry is invalid")?;
    if let Some(dir) = &a.registry {
        registry = registry
            .with_dir(dir)
            .with_context(|| format!("cannot read the registry folder {}", dir.display()))?;
    }
    let hub = HubOptions::from_env()?;
    let task = a.task.map(|t| match t {
        ModelsTask::Translate => Task::Translate,
        ModelsTask::Summarize => Task::Summarize,
    });
    let selected = select(&registry, task, a.lang.as_deref());
    if selected.is_empty() {
        if let Some(lang) = &a.lang {
            eprintln!(
                "tolk models: no model in the registry serves `{}` (known source languages: {})",
                normalize_lang(lang),
                registry.languages().join(", ")
            );
        }
    }
    let rows: Vec<(&ModelEntry, bool)> = selected
        .into_iter()
        .map(|e| (e, is_cached(e, &hub)))
        .collect();

    let mut out = std::io::stdout().lock();
    match a.format {
        ModelsFormat::Json => {
            let list = rows
                .iter()
                .map(|(e, cached)| json_row(e, *cached))
                .collect::<Result<Vec<_>>>()?;
            serde_json::to_writer_pretty(&mut out, &list)?;
            out.write_all(b"\n")?;
        }
        ModelsFormat::Table => out.write_all(table(&rows).as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

/// The entries to show: by task, and with a language, those serving it (translators best
/// first, as `translator_for` ranks them, then other tasks in registry order).
fn select<'r>(r: &'r Registry, task: Option<Task>, lang: Option<&str>) -> Vec<&'r ModelEntry> {
    let list: Vec<&ModelEntry> = match lang {
        None => r.entries().iter().collect(),
        Some(lang) => {
            let mut list = r.translators_serving(lang);
            list.extend(
                r.entries()
                    .iter()
                    .filter(|e| e.task != Task::Translate && e.serves(lang)),
            );
            list
        }
    };
    list.into_iter()
        .filter(|e| task.is_none_or(|t| e.task == t))
        .collect()
}

/// One JSON object: every entry field, plus `model_ref` and `cached`.
fn json_row(e: &ModelEntry, cached: bool) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(e)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("model_ref".into(), e.model_ref().into());
        obj.insert("cached".into(), cached.into());
    }
    Ok(v)
}

fn table(rows: &[(&ModelEntry, bool)]) -> String {
    let header = [
        "NAME",
        "TASK",
        "ROLE",
        "LANGUAGES",
        "ARCH/FORMAT",
        "SIZE",
        "LICENCE",
        "CACHED",
        "REFERENCE",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for (e, cached) in rows {
        let role = match (e.default, e.fallback) {
            (true, true) => "default fallback",
            (true, false) => "default",
            (false, true) => "fallback",
            (false, false) => "-",
        };
        cells.push(vec![
            e.name.clone(),
            e.task.to_string(),
            role.to_string(),
            languages(e),
            format!("{}/{}", e.architecture, e.format),
            e.size_mb.map(size).unwrap_or_else(|| "?".into()),
            e.licence.clone(),
            if *cached { "yes" } else { "no" }.to_string(),
            e.model_ref()
                .or_else(|| e.package.clone())
                .unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for row in &cells {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// `da→en`, or the first few codes and a count for long lists: `ab,af,am,an,ar +113→en`.
fn languages(e: &ModelEntry) -> String {
    const SHOWN: usize = 5;
    let l = &e.source_languages;
    let src = if l.len() <= SHOWN + 1 {
        l.join(",")
    } else {
        format!("{} +{}", l[..SHOWN].join(","), l.len() - SHOWN)
    };
    format!("{src}→{}", e.target_language)
}

fn size(mb: u64) -> String {
    if mb >= 1000 {
        format!("{:.1} GB", mb as f64 / 1000.0)
    } else {
        format!("{mb} MB")
    }
}
