//! Which model worker translates a language: models named at start (`--model [LANG=]REF`,
//! loaded at once), or the registry's model for each language, loaded on its first request and
//! kept while there is room (`--max-loaded-models`; the least recently used one is closed first:
//! it finishes what it accepted, then frees its memory).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::jobs::models::{open_translator, route, serving, ModelOptions, Route};
use crate::pipeline::translate::{BatchOptions, Translator};
use crate::registry::{normalize_lang, Registry};

use super::queue::{Batcher, BatcherOptions, Depth, Engine, Translated, WorkerState};

/// One model worker and what it serves.
pub struct Worker {
    pub batcher: Arc<Batcher>,
    /// The model reference.
    pub reference: String,
}

/// A model named for a language at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub lang: String,
    pub reference: String,
}

/// Why a language cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// No model for it (the message names what would serve it).
    NoModel(String),
}

struct Slot {
    route: Route,
    worker: Arc<Worker>,
    last_used: u64,
}

enum Source {
    Fixed(Vec<(String, Arc<Worker>)>),
    Registry {
        registry: Registry,
        slots: Mutex<Vec<Slot>>,
        clock: AtomicU64,
    },
}

/// The translation workers of a server.
pub struct Pool {
    source: Source,
    opts: ModelOptions,
    batching: BatcherOptions,
    depth: Arc<Depth>,
}

impl Pool {
    /// Workers for the `fixed` models (their loading starts now, one thread each).
    pub fn fixed(
        fixed: &[Fixed],
        opts: ModelOptions,
        batching: BatcherOptions,
        depth: Arc<Depth>,
    ) -> Pool {
        let mut workers: Vec<(String, Arc<Worker>)> = Vec::new();
        let mut by_reference: Vec<Arc<Worker>> = Vec::new();
        for f in fixed {
            let route = Route {
                reference: f.reference.clone(),
                prefix: None,
                beams: None,
            };
            // Two languages served by one model share its worker.
            let worker = match by_reference.iter().find(|w| w.reference == f.reference) {
                Some(w) => Arc::clone(w),
                None => {
                    let w = Arc::new(start(&route, &opts, &batching, &depth));
                    by_reference.push(Arc::clone(&w));
                    w
                }
            };
            workers.push((normalize_lang(&f.lang), worker));
        }
        Pool {
            source: Source::Fixed(workers),
            opts,
            batching,
            depth,
        }
    }

    /// Workers started on demand from `registry`.
    pub fn registry(
        registry: Registry,
        opts: ModelOptions,
        batching: BatcherOptions,
        depth: Arc<Depth>,
    ) -> Pool {
        Pool {
            source: Source::Registry {
                registry,
                slots: Mutex::new(Vec::new()),
                clock: AtomicU64::new(0),
            },
            opts,
            batching,
            depth,
        }
    }

    /// The source languages this server translates (canonical codes, sorted).
    pub fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = match &self.source {
            Source::Fixed(workers) => workers.iter().map(|(l, _)| l.clone()).collect(),
            Source::Registry { registry, .. } => registry
                .languages()
                .into_iter()
                .filter(|l| route(registry, None, l).is_ok())
                .collect(),
        };
        langs.sort();
        langs.dedup();
        langs
    }

    /// The worker for `lang` (started now if it is the first request for it).
    pub fn worker(&self, lang: &str) -> Result<Arc<Worker>, Unserved> {
        let lang = normalize_lang(lang);
        match &self.source {
            Source::Fixed(workers) => workers
                .iter()
                .find(|(l, _)| *l == lang)
                .map(|(_, w)| Arc::clone(w))
                .ok_or_else(|| {
                    let served: Vec<&str> = workers.iter().map(|(l, _)| l.as_str()).collect();
                    Unserved::NoModel(format!(
                        "this server translates {} into English (its --model flags)",
                        served.join(", ")
                    ))
                }),
            Source::Registry {
                registry,
                slots,
                clock,
            } => {
                let r = route(registry, None, &lang).map_err(|e| {
                    Unserved::NoModel(format!(
                        "{e} (registry models for it: {})",
                        serving(registry, &lang)
                    ))
                })?;
                let now = clock.fetch_add(1, Ordering::Relaxed) + 1;
                let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = slots.iter_mut().find(|s| s.route == r) {
                    slot.last_used = now;
                    return Ok(Arc::clone(&slot.worker));
                }
                if slots.len() >= self.opts.max_loaded.max(1) {
                    if let Some(oldest) = (0..slots.len()).min_by_key(|&i| slots[i].last_used) {
                        let gone = slots.swap_remove(oldest);
                        gone.worker.batcher.close();
                    }
                }
                let worker = Arc::new(start(&r, &self.opts, &self.batching, &self.depth));
                slots.push(Slot {
                    route: r,
                    worker: Arc::clone(&worker),
                    last_used: now,
                });
                Ok(worker)
            }
        }
    }

    /// Every worker started so far, with the language it was started for.
    pub fn workers(&self) -> Vec<(String, Arc<Worker>)> {
        match &self.source {
            Source::Fixed(workers) => workers.clone(),
            Source::Registry { slots, .. } => slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|s| (s.route.reference.clone(), Arc::clone(&s.worker)))
                .collect(),
        }
    }

    /// Whether every model named at start is loaded; the first load error when one failed.
    pub fn readiness(&self) -> Result<bool, String> {
        let mut ready = true;
        for (_, w) in self.workers() {
            match w.batcher.state() {
                WorkerState::Ready => {}
                WorkerState::Loading => ready = false,
                WorkerState::Failed(m) => {
                    if matches!(self.source, Source::Fixed(_)) {
                        return Err(m);
                    }
                }
            }
        }
        Ok(ready)
    }

    /// Close every worker and wait for each to finish what it accepted.
    pub fn shutdown(&self) {
        let workers = self.workers();
        for (_, w) in &workers {
            w.batcher.close();
        }
        for (_, w) in &workers {
            w.batcher.shutdown();
        }
    }
}

/// Start the worker of `route`: its model loads on the worker thread.
fn start(
    route: &Route,
    opts: &ModelOptions,
    batching: &BatcherOptions,
    depth: &Arc<Depth>,
) -> Worker {
    let r = route.clone();
    let o = opts.clone();
    let budget = batching.max_batch_tokens;
    let make = move || {
        open_translator(&r, &o).map(|t| TranslatorEngine {
            translator: t,
            batching: BatchOptions {
                max_batch_tokens: budget,
            },
        })
    };
    let name = format!("tolk-model-{}", short_name(&route.reference));
    Worker {
        batcher: Arc::new(Batcher::spawn(
            &name,
            make,
            batching.clone(),
            Arc::clone(depth),
        )),
        reference: route.reference.clone(),
    }
}

fn short_name(reference: &str) -> String {
    let last = reference
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(reference);
    last.chars().take(24).collect()
}

/// A [`Translator`] as a queue's engine.
struct TranslatorEngine {
    translator: Translator,
    batching: BatchOptions,
}

impl Engine for TranslatorEngine {
    fn count_tokens(&self, text: &str) -> usize {
        self.translator.count_source_tokens(text)
    }

    fn rows_per_sentence(&self) -> usize {
        self.translator.generation().num_beams.max(1)
    }

    fn translate(&self, sentences: &[String]) -> Result<Vec<Translated>, String> {
        self.translator
            .translate_each(sentences, self.batching, &mut |_| {})
            .map_err(|e| format!("translation failed: {e}"))
    }
}
