//! Translating text: a [`Translator`] ties a model, its tokenizer and its decoding defaults
//! together, and translates sentences in length-sorted token-budget batches, articles with
//! their layout kept, or one line at a time.
//!
//! Sentences longer than the model's source window are split at safe points first and their
//! translations joined: never a crash, never silent truncation.

use candle_core::{DType, Device};

use super::batch::{plan_batches, scatter};
use super::fidelity::Fidelity;
use super::load::{self, LoadedModel, PackCacheStatus};
use super::segment::{segment, segment_lines, split_long, Document};
use crate::arch::Seq2SeqModel;
use crate::decode::{generate, GenerationConfig};
use crate::error::{Error, Result};
use crate::hub::{HubOptions, ModelSource};
use crate::tokenize::TextTokenizer;

/// Where and in which precision a model runs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    /// The float dtype the model computes in.
    pub dtype: DType,
    /// Int8 matrix products: weights stored as int8 (CTranslate2 models) stay int8, and the
    /// float linear layers of transformers models are quantized to int8 (Q8_0) at load;
    /// `false` dequantizes int8 weights to `dtype` at load.
    pub int8: bool,
    /// With `int8` false: keep int8 matrices int8 anyway where the checkpoint stores them so and
    /// the model runs on the CPU (CTranslate2 int8 packages: CTranslate2's own default compute).
    pub int8_as_stored: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            int8: false,
            int8_as_stored: false,
        }
    }
}

/// The default of [`BatchOptions::max_batch_tokens`]: about 32 decoder rows of news-length
/// sentences, where the CPU kernels run fastest on the real workload (measured on the Argos
/// zh→en package, `docs/bench/argos-zh-en.md`); larger batches only cost memory.
pub const DEFAULT_BATCH_TOKENS: usize = 1024;

/// How sentences are grouped for the model.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Padded source tokens per batch times beams (longest sentence × sentences × beams).
    pub max_batch_tokens: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            max_batch_tokens: DEFAULT_BATCH_TOKENS,
        }
    }
}

/// One sentence and its translation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentencePair {
    pub source: String,
    pub translation: String,
    /// The model produced nothing for this sentence: the source text stands in its place, or
    /// (after [`Translation::blank_untranslated`]) the translation is empty.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub untranslated: bool,
    /// Numbers of the source missing from the translation, and added to it
    /// ([`Translation::check_fidelity`]); `None` until checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<Fidelity>,
}

/// Totals of [`Translation::check_fidelity`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FidelityCounts {
    /// Sentences with something missing or added.
    pub flagged: usize,
    pub missing: usize,
    pub added: usize,
}

/// Work done by the model: source tokens encoded (end-of-sequence included) and tokens generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TokenCounts {
    pub source_tokens: usize,
    pub generated_tokens: usize,
}

/// A translated text: the text in the source's layout, and its sentences.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Translation {
    pub text: String,
    pub sentences: Vec<SentencePair>,
    pub counts: TokenCounts,
}

/// A translation model ready to use.
pub struct Translator {
    model: Seq2SeqModel,
    tokenizer: Box<dyn TextTokenizer>,
    generation: GenerationConfig,
    description: String,
    source_prefix: Option<String>,
    pack_cache: Option<PackCacheStatus>,
    /// Tidy the English the model writes ([`super::tidy::tidy_english`]); on by default.
    tidy: bool,
}

impl Translator {
    /// Open a model reference (Hub repo id, transformers folder, Argos package or CTranslate2
    /// folder; see [`super::load::open`]).
    pub fn open(reference: &str, hub: &HubOptions, opts: &LoadOptions) -> Result<Self> {
        Ok(Self::from_loaded(load::open(reference, hub, opts)?))
    }

    /// Load a transformers repo (Marian or T5) from a resolved model source.
    pub fn load(source: &ModelSource, opts: &LoadOptions) -> Result<Self> {
        Ok(Self::from_loaded(load::load_transformers(source, opts)?))
    }

    fn from_loaded(m: LoadedModel) -> Self {
        Self {
            model: m.model,
            tokenizer: m.tokenizer,
            generation: m.generation,
            description: m.description,
            source_prefix: m.source_prefix,
            pack_cache: m.pack_cache,
            tidy: true,
        }
    }

    /// Whether translations are tidied ([`super::tidy::tidy_english`]: token-split apostrophes
    /// and punctuation joined, full-width punctuation in English written in ASCII). On by
    /// default; off gives the model's decoded text as it is (what reference implementations
    /// print).
    pub fn set_tidy(&mut self, on: bool) {
        self.tidy = on;
    }

    /// Put `prefix` before every source sentence before tokenizing (e.g. `"summarize: "` for
    /// flan-T5, `"<2de> "` for MADLAD-400 into German); `None` removes it. Loading sets
    /// `"<2en> "` for T5 models whose vocabulary has that tag, none otherwise.
    pub fn with_source_prefix(mut self, prefix: Option<String>) -> Self {
        self.source_prefix = prefix;
        self
    }

    /// The text put before every source sentence, if any.
    pub fn source_prefix(&self) -> Option<&str> {
        self.source_prefix.as_deref()
    }

    /// Decoding settings used by every call (the model's defaults until changed).
    pub fn generation_mut(&mut self) -> &mut GenerationConfig {
        &mut self.generation
    }

    /// Decoding settings.
    pub fn generation(&self) -> &GenerationConfig {
        &self.generation
    }

    /// What the packed-weights cache did at load, when one was used.
    pub fn pack_cache(&self) -> Option<&PackCacheStatus> {
        self.pack_cache.as_ref()
    }

    /// Where the model came from.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &dyn TextTokenizer {
        self.tokenizer.as_ref()
    }

    /// The model.
    pub fn model(&self) -> &Seq2SeqModel {
        &self.model
    }

    /// Source tokens `text` takes with the source prefix (what the batch budget counts);
    /// `usize::MAX` when it cannot be tokenized.
    pub fn count_source_tokens(&self, text: &str) -> usize {
        let prefix = self.source_prefix.as_deref().unwrap_or("");
        self.tokenizer
            .count_tokens(&format!("{prefix}{}", text.trim()))
            .unwrap_or(usize::MAX)
    }

    /// Translate independent sentences; `progress` is called with how many more sentences are
    /// done (adding up to `sentences.len()`). Blank sentences translate to empty strings.
    pub fn translate_sentences<S: AsRef<str>>(
        &self,
        sentences: &[S],
        batching: BatchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<String>> {
        Ok(self.translate_counted(sentences, batching, progress)?.0)
    }

    /// [`Translator::translate_sentences`], also counting the tokens the model processed.
    pub fn translate_counted<S: AsRef<str>>(
        &self,
        sentences: &[S],
        batching: BatchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Vec<String>, TokenCounts)> {
        let each = self.translate_each(sentences, batching, progress)?;
        let mut counts = TokenCounts::default();
        let texts = each
            .into_iter()
            .map(|(text, c)| {
                counts.source_tokens += c.source_tokens;
                counts.generated_tokens += c.generated_tokens;
                text
            })
            .collect();
        Ok((texts, counts))
    }

    /// [`Translator::translate_sentences`], with the tokens each sentence took (all of its
    /// pieces, when it had to be split).
    pub fn translate_each<S: AsRef<str>>(
        &self,
        sentences: &[S],
        batching: BatchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(String, TokenCounts)>> {
        // Cut every sentence into pieces the encoder can take, and remember which sentence each piece is from.
        // The source prefix goes before every piece and counts against the model's budget.
        let max_src = self.model.max_source_len();
        let prefix = self.source_prefix.as_deref().unwrap_or("");
        let with_prefix = |s: &str| format!("{prefix}{s}");
        let count = |s: &str| {
            self.tokenizer
                .count_tokens(&with_prefix(s))
                .unwrap_or(usize::MAX)
        };
        let mut owner = Vec::new();
        let mut pieces = Vec::new();
        for (i, s) in sentences.iter().enumerate() {
            let s = s.as_ref().trim();
            if s.is_empty() {
                continue;
            }
            let ids = self.tokenizer.encode(&with_prefix(s))?;
            if ids.len() <= max_src {
                owner.push(i);
                pieces.push(ids);
                continue;
            }
            for part in split_long(s, max_src, &count) {
                let ids = self.tokenizer.encode(&with_prefix(&part))?;
                if ids.len() > max_src {
                    return Err(Error::InvalidArgument(format!(
                        "a piece of {} tokens cannot be split below the model's {max_src}-token limit",
                        ids.len()
                    )));
                }
                owner.push(i);
                pieces.push(ids);
            }
        }
        let vocab = self.model.source_vocab_size();
        if let Some(bad) = pieces.iter().flatten().find(|&&id| id as usize >= vocab) {
            return Err(Error::Tokenizer(format!(
                "token id {bad} is outside the model's vocabulary of {vocab}; the tokenizer files do not belong to this model"
            )));
        }
        // Blank sentences are done already.
        progress(
            sentences.len()
                - owner
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
        );
        let lengths: Vec<usize> = pieces.iter().map(Vec::len).collect();
        // The budget counts decoder rows: a sentence decoded with 4 beams costs 4 rows.
        let budget = (batching.max_batch_tokens / self.generation.num_beams.max(1)).max(1);
        let batches = plan_batches(&lengths, budget, None);
        let mut results = Vec::with_capacity(batches.len());
        for batch in &batches {
            let sources: Vec<Vec<u32>> = batch.iter().map(|&i| pieces[i].clone()).collect();
            let hyps = generate(&self.model, &sources, &self.generation)?;
            let texts = hyps
                .iter()
                .map(|h| Ok((self.tokenizer.decode(&h.tokens)?, h.tokens.len())))
                .collect::<Result<Vec<_>>>()?;
            let mut done_sentences = 0;
            for &i in batch {
                // A sentence counts as done when its last piece is translated.
                if owner.get(i + 1) != Some(&owner[i]) {
                    done_sentences += 1;
                }
            }
            progress(done_sentences);
            results.push(texts);
        }
        let translated = scatter(&batches, results, pieces.len())?;
        let mut out = vec![(String::new(), TokenCounts::default()); sentences.len()];
        for ((i, (text, generated)), source_len) in owner.into_iter().zip(translated).zip(lengths) {
            let (slot, counts) = &mut out[i];
            counts.source_tokens += source_len;
            counts.generated_tokens += generated;
            if !slot.is_empty() && !text.is_empty() {
                slot.push(' ');
            }
            // A translation is one line of output whatever the model produced.
            slot.push_str(&text.trim().replace(['\n', '\r'], " "));
        }
        if self.tidy {
            for (text, _) in &mut out {
                *text = super::tidy::tidy_english(text);
            }
        }
        Ok(out)
    }

    /// Translate an article: sentences are found, translated in batches, and put back in the
    /// article's layout (lines, blank lines, indentation, dialogue dashes).
    pub fn translate_text(
        &self,
        text: &str,
        batching: BatchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Translation> {
        self.translate_document(&segment(text), batching, progress)
    }

    /// Translate each line on its own: exactly one output line per input line.
    pub fn translate_lines(
        &self,
        text: &str,
        batching: BatchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Translation> {
        self.translate_document(&segment_lines(text), batching, progress)
    }

    /// Translate an already-segmented document. A sentence the model translates to nothing keeps
    /// its source text (marked `untranslated`), so no line of the article goes missing.
    pub fn translate_document(
        &self,
        doc: &Document,
        batching: BatchOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Translation> {
        let sources: Vec<&str> = doc.sentences().collect();
        let (translations, counts) = self.translate_counted(&sources, batching, progress)?;
        Translation::assemble(doc, translations, counts)
    }
}

impl Translation {
    /// Put the translations of `doc`'s sentences (in order) back in its layout. A sentence
    /// translated to nothing keeps its source text, marked `untranslated`, so no line of the
    /// article goes missing.
    pub fn assemble(
        doc: &Document,
        translations: Vec<String>,
        counts: TokenCounts,
    ) -> Result<Translation> {
        let sources: Vec<&str> = doc.sentences().collect();
        if sources.len() != translations.len() {
            return Err(Error::InvalidArgument(format!(
                "{} translations for {} sentences",
                translations.len(),
                sources.len()
            )));
        }
        let sentences: Vec<SentencePair> = sources
            .into_iter()
            .zip(translations)
            .map(|(s, t)| {
                let untranslated = t.is_empty() && !s.trim().is_empty();
                SentencePair {
                    source: s.to_string(),
                    translation: if untranslated {
                        s.trim().to_string()
                    } else {
                        t
                    },
                    untranslated,
                    fidelity: None,
                }
            })
            .collect();
        let texts: Vec<&str> = sentences.iter().map(|p| p.translation.as_str()).collect();
        let text = doc.reassemble(&texts)?;
        Ok(Translation {
            text,
            sentences,
            counts,
        })
    }

    /// Show exactly what the model produced: every `untranslated` sentence's translation
    /// becomes empty again (still marked) and the text is put back together from `doc`, the
    /// document this translation was assembled from. For line-aligned output, where a source
    /// line standing in for a translation would corrupt what reads it (scoring, a downstream
    /// system).
    pub fn blank_untranslated(&mut self, doc: &Document) -> Result<()> {
        for p in self.sentences.iter_mut().filter(|p| p.untranslated) {
            p.translation.clear();
        }
        let texts: Vec<&str> = self
            .sentences
            .iter()
            .map(|p| p.translation.as_str())
            .collect();
        self.text = doc.reassemble(&texts)?;
        Ok(())
    }

    /// Check every sentence's numbers against its source (in language `lang`; see
    /// [`super::fidelity`]) and keep the result in it; returns the totals.
    pub fn check_fidelity(&mut self, lang: &str) -> FidelityCounts {
        let mut counts = FidelityCounts::default();
        for p in &mut self.sentences {
            let f = if p.untranslated && p.translation.is_empty() {
                Fidelity::default()
            } else {
                super::fidelity::check(&p.source, lang, &p.translation)
            };
            counts.flagged += usize::from(!f.is_clean());
            counts.missing += f.missing.len();
            counts.added += f.added.len();
            p.fidelity = Some(f);
        }
        counts
    }

    /// 0-based indices of the `untranslated` sentences.
    pub fn untranslated_positions(&self) -> Vec<usize> {
        self.sentences
            .iter()
            .enumerate()
            .filter(|(_, p)| p.untranslated)
            .map(|(i, _)| i)
            .collect()
    }
}
