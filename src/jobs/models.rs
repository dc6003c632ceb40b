//! The models of a job: which translation model serves a language (the `models/` registry, or
//! one model named for all), loaded on first use and kept while there is room, and the
//! summarizer.
//!
//! A model that cannot be loaded is remembered as failed, so a day of copy in a language whose
//! model is missing gives one clear error per record without retrying the load every time.

use std::collections::HashMap;

use crate::device::DeviceSpec;
use crate::hub::HubOptions;
use crate::pipeline::summarize::{self, DecodeOverrides, SummaryModel};
use crate::pipeline::translate::{LoadOptions, Translator};
use crate::registry::{Registry, Task};

/// The language tolk translates into.
pub const TARGET_LANGUAGE: &str = "en";

/// How a job picks and loads its models.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    pub hub: HubOptions,
    pub load: LoadOptions,
    pub device: DeviceSpec,
    /// One translation model for every language (`--model`); `None`: the registry decides.
    pub translate_model: Option<String>,
    /// The summarizer; `None`: no summaries.
    pub summary_model: Option<String>,
    /// Beam size for translation (default: the registry entry's, else the model's).
    pub beams: Option<usize>,
    /// Longest translation of one sentence, in tokens.
    pub max_new_tokens: Option<usize>,
    /// Decoding overrides for the summarizer.
    pub summary: DecodeOverrides,
    /// Translation models kept loaded at once; the least recently used one goes first.
    pub max_loaded: usize,
    /// The model's decoded text as it is, not tidied (`--raw`; see [`crate::pipeline::tidy`]).
    pub raw: bool,
}

/// Which model translates a language, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The model reference handed to [`Translator::open`].
    pub reference: String,
    /// Text put before every source sentence (e.g. `<2en> ` for MADLAD-400).
    pub prefix: Option<String>,
    /// Beam size from the registry entry.
    pub beams: Option<usize>,
}

struct Loaded {
    reference: String,
    translator: Translator,
    last_used: u64,
}

/// The models of one job.
pub struct Models {
    opts: ModelOptions,
    registry: Registry,
    loaded: Vec<Loaded>,
    failed: HashMap<String, String>,
    summarizer: Option<std::result::Result<Box<dyn SummaryModel>, String>>,
    clock: u64,
}

impl Models {
    pub fn new(opts: ModelOptions, registry: Registry) -> Self {
        Self {
            opts,
            registry,
            loaded: Vec::new(),
            failed: HashMap::new(),
            summarizer: None,
            clock: 0,
        }
    }

    /// Whether summaries are written.
    pub fn summarizes(&self) -> bool {
        self.opts.summary_model.is_some()
    }

    /// The summarizer's reference, when summaries are written.
    pub fn summary_reference(&self) -> Option<&str> {
        self.opts.summary_model.as_deref()
    }

    /// The model that translates `lang` into English, or why there is none.
    pub fn route(&self, lang: &str) -> std::result::Result<Route, String> {
        route(&self.registry, self.opts.translate_model.as_deref(), lang)
    }

    /// The registry's models that would serve `lang`, for error messages.
    pub fn serving(&self, lang: &str) -> String {
        serving(&self.registry, lang)
    }

    /// The loaded translator for `route`, loading it on first use.
    pub fn translator(&mut self, route: &Route) -> std::result::Result<&Translator, String> {
        if let Some(e) = self.failed.get(&route.reference) {
            return Err(e.clone());
        }
        self.clock += 1;
        let now = self.clock;
        if let Some(i) = self
            .loaded
            .iter()
            .position(|l| l.reference == route.reference)
        {
            self.loaded[i].last_used = now;
            return Ok(&self.loaded[i].translator);
        }
        let translator = match open_translator(route, &self.opts) {
            Ok(t) => t,
            Err(message) => {
                self.failed.insert(route.reference.clone(), message.clone());
                return Err(message);
            }
        };
        if self.loaded.len() >= self.opts.max_loaded.max(1) {
            if let Some(oldest) = (0..self.loaded.len()).min_by_key(|&i| self.loaded[i].last_used) {
                self.loaded.swap_remove(oldest);
            }
        }
        self.loaded.push(Loaded {
            reference: route.reference.clone(),
            translator,
            last_used: now,
        });
        Ok(&self.loaded.last().expect("just pushed").translator)
    }

    /// Load now what every document will need: the one `--model` (when given) and the
    /// summarizer (when summaries are on). A worker calls this before taking work, so a model
    /// that cannot load stops it instead of failing every document it takes.
    pub fn preload(&mut self) -> std::result::Result<(), String> {
        if let Some(reference) = self.opts.translate_model.clone() {
            let route = route(&self.registry, Some(&reference), TARGET_LANGUAGE)?;
            self.translator(&route)?;
        }
        if let Some(Err(e)) = self.summarizer() {
            return Err(e);
        }
        Ok(())
    }

    /// The summarizer, loaded on first use; `None` when summaries are off.
    pub fn summarizer(&mut self) -> Option<std::result::Result<&dyn SummaryModel, String>> {
        let reference = self.opts.summary_model.clone()?;
        if self.summarizer.is_none() {
            let opened = summarize::open(
                &reference,
                &self.opts.hub,
                &self.opts.device,
                &self.opts.load,
                &self.opts.summary,
            )
            .map_err(|e| format!("cannot load summarizer `{reference}`: {e}"));
            self.summarizer = Some(opened);
        }
        match self.summarizer.as_ref()? {
            Ok(m) => Some(Ok(m.as_ref())),
            Err(e) => Some(Err(e.clone())),
        }
    }
}

/// The model that translates `lang` into English: `model` when one is named for every language,
/// else the registry's best entry; or why there is none.
pub fn route(
    registry: &Registry,
    model: Option<&str>,
    lang: &str,
) -> std::result::Result<Route, String> {
    if let Some(reference) = model {
        return Ok(Route {
            reference: reference.to_string(),
            prefix: None,
            beams: None,
        });
    }
    let Some(entry) = registry.translator_for(lang, TARGET_LANGUAGE) else {
        return Err(format!(
            "no model in the registry translates '{lang}' into English; pass --model with one \
             that does, or add an entry for it (--registry DIR)"
        ));
    };
    let Some(reference) = entry.model_ref() else {
        return Err(format!(
            "the registry's model for '{lang}', {}, is a package ({}) that tolk cannot fetch by \
             itself; fetch it and pass its path with --model",
            entry.name,
            entry.package.as_deref().unwrap_or("no reference")
        ));
    };
    Ok(Route {
        reference,
        prefix: entry.decode.prefix.clone(),
        beams: entry.decode.beams,
    })
}

/// The registry's models that would serve `lang`, for error messages.
pub fn serving(registry: &Registry, lang: &str) -> String {
    let names: Vec<String> = registry
        .translators_serving(lang)
        .into_iter()
        .map(|e| match e.model_ref() {
            Some(r) => format!("{} ({r})", e.name),
            None => e.name.clone(),
        })
        .collect();
    if names.is_empty() {
        "none in the registry".to_string()
    } else {
        names.join(", ")
    }
}

/// Open the translator of `route` with a job's decoding settings (`--beams` over the route's,
/// `--max-new-tokens`); the error names the model.
pub fn open_translator(
    route: &Route,
    opts: &ModelOptions,
) -> std::result::Result<Translator, String> {
    let mut translator = Translator::open(&route.reference, &opts.hub, &opts.load)
        .map_err(|e| format!("cannot load model `{}`: {e}", route.reference))?;
    if route.prefix.is_some() {
        translator = translator.with_source_prefix(route.prefix.clone());
    }
    translator.set_tidy(!opts.raw);
    let generation = translator.generation_mut();
    if let Some(b) = opts.beams.or(route.beams) {
        generation.num_beams = b;
    }
    if let Some(n) = opts.max_new_tokens {
        generation.max_new_tokens = Some(n);
    }
    Ok(translator)
}

/// The summarizer a job uses when none is named: the registry's default for summarizing.
pub fn default_summarizer(registry: &Registry) -> Option<String> {
    registry
        .default_for(Task::Summarize)
        .and_then(|e| e.model_ref())
}
