//! The batch loop: records are taken in windows of many documents; within a window every
//! paragraph is routed to the model of its language, and the sentences of all documents that
//! share a model are translated together in length-sorted token-budget batches (so short wire
//! items fill the batches that one item alone would leave mostly empty). Then each document is
//! put back together, summarized, and written as one output record, in input order.
//!
//! One bad record never stops the job: when a shared translation call fails, the documents of
//! that call are translated one by one so only the ones at fault fail. Records already in the
//! output are skipped; a key seen twice in the input is reported, never written twice.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::input::{Doc, Record};
use super::models::{Models, Route, TARGET_LANGUAGE};
use super::output::{OutputLog, RecordSink};
use super::plan::{plan, Identify, Part, Plan};
use crate::error::Result;
use crate::pipeline::fidelity::{self, Fidelity};
use crate::pipeline::segment::{segment_lang, Document};
use crate::pipeline::summarize::{self, SummaryOptions};
use crate::pipeline::translate::{BatchOptions, TokenCounts, Translator};
use crate::registry::normalize_lang;

/// How a job runs.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// The language of every record without its own `lang`; `None`: detect it.
    pub from: Option<String>,
    pub batching: BatchOptions,
    /// Most documents translated together.
    pub window_docs: usize,
    /// Most characters of text translated together (a longer document is a window of its own).
    pub window_chars: usize,
    pub summary: SummaryOptions,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            from: None,
            batching: BatchOptions::default(),
            window_docs: 64,
            window_chars: 1 << 20,
            summary: SummaryOptions::default(),
        }
    }
}

/// What the job tells its caller as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A record was written; `failed` when it carries an error.
    Written { failed: bool },
    /// A record was already in the output.
    AlreadyDone,
    /// A key came a second time in the input (`line` where, when JSONL) and was skipped.
    Duplicate { key: String, line: Option<usize> },
    /// The model did this much more work.
    Tokens(TokenCounts),
}

/// The totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobReport {
    pub written: usize,
    pub failed: usize,
    pub already_done: usize,
    pub duplicates: usize,
    pub counts: TokenCounts,
}

/// Run a job over `records`, appending to `out`.
pub fn run_job(
    records: impl Iterator<Item = Result<Record>>,
    out: &mut OutputLog,
    models: &mut Models,
    identify: &dyn Identify,
    opts: &JobOptions,
    on_event: &mut dyn FnMut(&Event),
) -> Result<JobReport> {
    let mut report = JobReport::default();
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut window: Vec<Record> = Vec::new();
    let mut chars = 0usize;
    let mut emit = |e: Event, report: &mut JobReport| {
        match &e {
            Event::Written { failed } => {
                report.written += 1;
                report.failed += usize::from(*failed);
            }
            Event::AlreadyDone => report.already_done += 1,
            Event::Duplicate { .. } => report.duplicates += 1,
            Event::Tokens(c) => {
                report.counts.source_tokens += c.source_tokens;
                report.counts.generated_tokens += c.generated_tokens;
            }
        }
        on_event(&e);
    };
    for record in records {
        let record = record?;
        if seen.insert(record.key.clone(), ()).is_some() {
            emit(
                Event::Duplicate {
                    key: record.key.clone(),
                    line: record.line,
                },
                &mut report,
            );
            continue;
        }
        if out.is_done(&record.key) {
            emit(Event::AlreadyDone, &mut report);
            continue;
        }
        let len = record.content.as_ref().map_or(0, |d| d.text.len());
        if !window.is_empty()
            && (window.len() >= opts.window_docs.max(1) || chars + len > opts.window_chars)
        {
            process_window(
                std::mem::take(&mut window),
                out,
                models,
                identify,
                opts,
                &mut |e| emit(e, &mut report),
            )?;
            chars = 0;
        }
        chars += len;
        window.push(record);
    }
    if !window.is_empty() {
        process_window(window, out, models, identify, opts, &mut |e| {
            emit(e, &mut report)
        })?;
    }
    Ok(report)
}

/// A paragraph to translate: (document in the window, part of its plan, language).
type Unit = (usize, usize, String);

/// A document of the window on its way to becoming a record.
struct Work {
    record: Record,
    plan: Option<Plan>,
    /// Translated paragraphs, by part index.
    translated: BTreeMap<usize, String>,
    /// The fidelity check of each translated paragraph's sentences, by part index.
    checks: BTreeMap<usize, Vec<Flagged>>,
    models: Vec<String>,
    translate_seconds: f64,
    error: Option<String>,
}

/// Translate, summarize and write one window of records to `out`, in order: every paragraph
/// routed to its language's model, the sentences of all documents that share a model batched
/// together. Records are assumed distinct (callers drop repeated keys).
pub fn process_window(
    records: Vec<Record>,
    out: &mut dyn RecordSink,
    models: &mut Models,
    identify: &dyn Identify,
    opts: &JobOptions,
    emit: &mut dyn FnMut(Event),
) -> Result<()> {
    let mut work: Vec<Work> = records
        .into_iter()
        .map(|record| {
            let (plan, error) = match &record.content {
                Err(e) => (None, Some(e.clone())),
                Ok(doc) => match plan_doc(doc, opts, identify) {
                    Ok(p) => (Some(p), None),
                    Err(e) => (None, Some(e)),
                },
            };
            Work {
                record,
                plan,
                translated: BTreeMap::new(),
                checks: BTreeMap::new(),
                models: Vec::new(),
                translate_seconds: 0.0,
                error,
            }
        })
        .collect();

    // Which paragraphs go to which model.
    let mut groups: BTreeMap<String, (Route, Vec<Unit>)> = BTreeMap::new();
    for (d, w) in work.iter_mut().enumerate() {
        let Some(plan) = &w.plan else { continue };
        for (p, part) in plan.parts.iter().enumerate() {
            let Part::Paragraph {
                lang: Some(lang), ..
            } = part
            else {
                continue;
            };
            if lang == TARGET_LANGUAGE {
                continue;
            }
            match models.route(lang) {
                Ok(route) => groups
                    .entry(route.reference.clone())
                    .or_insert_with(|| (route, Vec::new()))
                    .1
                    .push((d, p, lang.clone())),
                Err(e) => {
                    w.error.get_or_insert(format!(
                        "{e} (models that would serve '{lang}': {})",
                        models.serving(lang)
                    ));
                }
            }
        }
    }

    for (reference, (route, units)) in groups {
        let units: Vec<Unit> = units
            .into_iter()
            .filter(|(d, _, _)| work[*d].error.is_none())
            .collect();
        if units.is_empty() {
            continue;
        }
        let translator = match models.translator(&route) {
            Ok(t) => t,
            Err(e) => {
                for (d, _, lang) in &units {
                    let hint = models.serving(lang);
                    work[*d]
                        .error
                        .get_or_insert(format!("{e} (models that would serve '{lang}': {hint})"));
                }
                continue;
            }
        };
        let segmented: Vec<Document> = units
            .iter()
            .map(
                |(d, p, lang)| match &work[*d].plan.as_ref().expect("planned").parts[*p] {
                    Part::Paragraph { text, .. } => segment_lang(text, Some(lang)),
                    Part::Gap(_) => Document::default(),
                },
            )
            .collect();
        let group = Group {
            translator,
            reference: &reference,
            units: &units,
            segmented: &segmented,
        };
        let all: Vec<usize> = (0..units.len()).collect();
        if group.translate(&all, &mut work, opts, emit).is_err() {
            // Find the documents at fault: one call per document.
            let mut by_doc: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (u, (d, _, _)) in units.iter().enumerate() {
                by_doc.entry(*d).or_default().push(u);
            }
            for (d, which) in by_doc {
                if let Err(e) = group.translate(&which, &mut work, opts, emit) {
                    work[d]
                        .error
                        .get_or_insert(format!("translation with `{reference}` failed: {e}"));
                }
            }
        }
    }

    for w in work {
        let (failed, record) = finish(w, models, opts);
        out.append(&record)?;
        emit(Event::Written { failed });
    }
    Ok(())
}

/// The paragraphs of a window that one model translates.
struct Group<'a> {
    translator: &'a Translator,
    reference: &'a str,
    units: &'a [Unit],
    /// `units[i]` segmented into sentences.
    segmented: &'a [Document],
}

impl Group<'_> {
    /// Translate the units `which` in one call (sentences of all of them in shared batches)
    /// and store each paragraph's translation in its document.
    fn translate(
        &self,
        which: &[usize],
        work: &mut [Work],
        opts: &JobOptions,
        emit: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let sources: Vec<&str> = which
            .iter()
            .flat_map(|&u| self.segmented[u].sentences())
            .collect();
        let started = Instant::now();
        let (texts, counts) =
            self.translator
                .translate_counted(&sources, opts.batching, &mut |_| {})?;
        emit(Event::Tokens(counts));
        let seconds = started.elapsed().as_secs_f64();
        let total_chars = sources.iter().map(|s| s.len()).sum::<usize>().max(1) as f64;
        let mut at = 0;
        for &u in which {
            let doc = &self.segmented[u];
            let src: Vec<&str> = doc.sentences().collect();
            let n = src.len();
            let share = src.iter().map(|s| s.len()).sum::<usize>() as f64 / total_chars;
            let (d, p, lang) = &self.units[u];
            put_back(
                &mut work[*d],
                (*p, lang),
                doc,
                &src,
                &texts[at..at + n],
                self.reference,
                seconds * share,
            );
            at += n;
        }
        Ok(())
    }
}

/// Decide the languages of a document.
fn plan_doc(
    doc: &Doc,
    opts: &JobOptions,
    identify: &dyn Identify,
) -> std::result::Result<Plan, String> {
    let given = doc
        .lang
        .as_deref()
        .or(opts.from.as_deref())
        .map(normalize_lang);
    plan(&doc.text, given.as_deref(), identify).map_err(|_| {
        "the language could not be told (too little text?); give the record a \"lang\" or pass --from".to_string()
    })
}

/// A sentence of a paragraph whose translation the fidelity check flagged.
struct Flagged {
    /// Its index among the paragraph's sentences.
    sentence: usize,
    source: String,
    fidelity: Fidelity,
}

/// Store the translation of paragraph `p` (in language `lang`) of a document, and check each
/// of its sentences.
fn put_back(
    w: &mut Work,
    (p, lang): (usize, &str),
    doc: &Document,
    sources: &[&str],
    texts: &[String],
    reference: &str,
    seconds: f64,
) {
    // A sentence the model translated to nothing keeps its source (so no text goes missing)
    // and is not checked.
    let flagged = sources
        .iter()
        .zip(texts)
        .enumerate()
        .filter(|(_, (_, t))| !t.trim().is_empty())
        .filter_map(|(sentence, (s, t))| {
            let fidelity = fidelity::check(s, lang, t);
            (!fidelity.is_clean()).then(|| Flagged {
                sentence,
                source: s.trim().to_string(),
                fidelity,
            })
        })
        .collect();
    w.checks.insert(p, flagged);
    let texts: Vec<&str> = texts
        .iter()
        .zip(sources)
        .map(|(t, s)| {
            if t.trim().is_empty() {
                s.trim()
            } else {
                t.as_str()
            }
        })
        .collect();
    match doc.reassemble(&texts) {
        Ok(text) => {
            w.translated
                .insert(p, text.trim_end_matches('\n').to_string());
        }
        Err(e) => {
            w.error.get_or_insert(e.to_string());
        }
    }
    if !w.models.iter().any(|m| m == reference) {
        w.models.push(reference.to_string());
    }
    w.translate_seconds += seconds;
}

/// The output record of a document: translation put together, summary written.
fn finish(w: Work, models: &mut Models, opts: &JobOptions) -> (bool, Value) {
    let mut rec = Map::new();
    match &w.record.id {
        Some(id) => {
            rec.insert("id".into(), id.clone());
        }
        None => {
            rec.insert("id".into(), Value::Null);
        }
    }
    if let Some(line) = w.record.line {
        rec.insert("line".into(), line.into());
    }
    if let Ok(Doc { title: Some(t), .. }) = &w.record.content {
        rec.insert("title".into(), t.clone().into());
    }
    let mut error = w.error;
    let mut translation = None;
    if let (Some(plan), None) = (&w.plan, &error) {
        rec.insert("lang".into(), plan.lang.clone().into());
        let langs = plan.languages();
        if langs.len() > 1 {
            rec.insert("langs".into(), json!(langs));
        }
        let mut text = String::new();
        let mut fidelity = Fidelity::default();
        let mut sentences = Vec::new();
        let mut paragraph = 0;
        for (i, part) in plan.parts.iter().enumerate() {
            match part {
                Part::Gap(g) => text.push_str(g),
                Part::Paragraph { text: t, .. } => {
                    for f in w.checks.get(&i).into_iter().flatten() {
                        fidelity.missing.extend(f.fidelity.missing.iter().cloned());
                        fidelity.added.extend(f.fidelity.added.iter().cloned());
                        sentences.push(json!({
                            "paragraph": paragraph,
                            "sentence": f.sentence,
                            "source": f.source,
                            "missing": f.fidelity.missing,
                            "added": f.fidelity.added,
                        }));
                    }
                    text.push_str(w.translated.get(&i).map_or(t, String::as_str));
                    paragraph += 1;
                }
            }
        }
        let mut fidelity = json!(fidelity);
        fidelity["sentences"] = json!(sentences);
        rec.insert("fidelity".into(), fidelity);
        translation = Some(text);
    } else if let Some(plan) = &w.plan {
        rec.insert("lang".into(), plan.lang.clone().into());
    }
    let mut timings = Map::new();
    timings.insert(
        "translate_ms".into(),
        json!((w.translate_seconds * 1000.0).round() as u64),
    );
    let mut used = Map::new();
    if !w.models.is_empty() {
        used.insert("translate".into(), json!(w.models));
    }
    let mut summary = Value::Null;
    if let Some(text) = &translation {
        if let Some(reference) = models.summary_reference().map(str::to_string) {
            used.insert("summarize".into(), reference.into());
            // Loading (on first use) is not part of a document's time.
            let summarizer = models.summarizer();
            let started = Instant::now();
            match summarizer {
                Some(Ok(model)) => {
                    match summarize::summarize(model, text, &opts.summary, &mut |_| {}) {
                        Ok(mut s) => {
                            // Sentences stating numbers neither the translation nor the
                            // source has are dropped; said in the record's `fidelity`.
                            let source = w.record.content.as_ref().map_or("", |d| d.text.as_str());
                            let lang = w.plan.as_ref().and_then(|p| p.lang.clone());
                            let lang = lang.as_deref().unwrap_or("und");
                            summarize::support::drop_unsupported(
                                &mut s,
                                &[(text, "en"), (source, lang)],
                            );
                            if let Some(f) = rec.get_mut("fidelity") {
                                if !s.dropped.is_empty() {
                                    f["summary_dropped"] = json!(s.dropped);
                                }
                                if !s.unsupported.is_empty() {
                                    f["summary_unsupported"] = json!(s.unsupported);
                                }
                            }
                            summary = s.text.into();
                        }
                        Err(e) => error = Some(format!("summarizing failed: {e}")),
                    }
                }
                Some(Err(e)) => error = Some(e),
                None => {}
            }
            timings.insert(
                "summarize_ms".into(),
                json!(started.elapsed().as_millis() as u64),
            );
        }
    }
    rec.insert(
        "translation".into(),
        translation.map_or(Value::Null, Value::String),
    );
    rec.insert("summary".into(), summary);
    rec.insert("models".into(), Value::Object(used));
    rec.insert("timings".into(), Value::Object(timings));
    let failed = error.is_some();
    if let Some(e) = error {
        rec.insert("error".into(), e.into());
    }
    (failed, Value::Object(rec))
}
