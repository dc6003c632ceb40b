//! Summarizing English text into a short briefing: one algorithm over any model that can
//! summarize a piece of text that fits its input ([`SummaryModel`]).
//!
//! A text within the model's input budget is summarized in one call. A longer one is cut into
//! chunks along sentence and paragraph boundaries ([`chunk`]), each chunk is summarized, and the
//! joined summaries are summarized again until one call covers everything: never silent
//! truncation, and the caller is told (through [`Event`]) when an input was chunked. The model's
//! answer is then held to the user's [`Bound`] ([`bound`]). This module sees text and token
//! counts only; prompts and decoding belong to the models behind the trait.

pub mod bound;
pub mod chat;
pub mod chunk;
mod open;
pub mod seq2seq;
pub mod support;

use serde::Serialize;

pub use bound::Bound;
pub use chunk::chunk_text;
pub use open::{is_gguf, open, DecodeOverrides};

use crate::error::{Error, Result};
use crate::pipeline::translate::TokenCounts;

/// Text a model wrote, with the work it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    pub text: String,
    pub counts: TokenCounts,
}

/// A model that can summarize a text that fits its input budget.
pub trait SummaryModel {
    /// What model this is and where it came from, for reports.
    fn describe(&self) -> String;

    /// The most tokens of text (as [`SummaryModel::count_tokens`] counts them) one call may take,
    /// with the prompt and room for the answer already set aside.
    fn input_budget(&self) -> usize;

    /// Tokens `text` takes in this model's input.
    fn count_tokens(&self, text: &str) -> Result<usize>;

    /// Summarize `text` (within the budget), aiming at `bound`.
    fn summarize(&self, text: &str, bound: Bound) -> Result<Generated>;

    /// A one-line headline for `summary`; `None` when the model cannot write one, in which case
    /// the summary's first sentence serves.
    fn headline(&self, summary: &str) -> Result<Option<Generated>> {
        let _ = summary;
        Ok(None)
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryOptions {
    pub bound: Bound,
    /// Also write a headline (for briefing-note output).
    pub headline: bool,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            bound: Bound::DEFAULT,
            headline: false,
        }
    }
}

/// Things worth telling the user while a summary is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The text (`tokens` long) was over the model's `budget` and was cut into `chunks` pieces;
    /// `round` 1 cuts the input, later rounds cut joined summaries.
    Chunked {
        round: usize,
        tokens: usize,
        budget: usize,
        chunks: usize,
    },
    /// One more model call finished.
    CallDone,
}

/// A finished summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The summary, running text within the bound.
    pub text: String,
    /// Its sentences.
    pub sentences: Vec<String>,
    /// A one-line headline, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    pub bound: Bound,
    /// The model wrote more than the bound allows and its answer was cut.
    pub cut: bool,
    /// Pieces the input was cut into (1: it fit in one call).
    pub chunks: usize,
    /// Summarizing rounds (1: direct; more: chunks, then summaries of summaries).
    pub rounds: usize,
    pub counts: TokenCounts,
    /// Sentences removed because they state numbers or names the source lacks
    /// ([`support::drop_unsupported`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<support::Dropped>,
    /// Numbers and names the summary states that the source lacks, kept because removing their sentences
    /// would leave nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

impl Summary {
    /// The summary of nothing (empty input): no model was called.
    pub fn empty(bound: Bound) -> Summary {
        Summary {
            text: String::new(),
            sentences: Vec::new(),
            headline: None,
            bound,
            cut: false,
            chunks: 0,
            rounds: 0,
            counts: TokenCounts::default(),
            dropped: Vec::new(),
            unsupported: Vec::new(),
        }
    }

    /// A briefing note in Markdown: the headline as a heading, then one bullet per sentence.
    pub fn to_markdown(&self) -> String {
        let mut bullets: &[String] = &self.sentences;
        let headline = match &self.headline {
            Some(h) => h.clone(),
            None => match bullets.split_first() {
                Some((first, rest)) if !rest.is_empty() => {
                    bullets = rest;
                    first.clone()
                }
                Some((first, _)) => first.clone(),
                None => String::new(),
            },
        };
        let mut out = format!("# {}\n", headline.trim_end_matches('.'));
        if !bullets.is_empty() {
            out.push('\n');
        }
        for s in bullets {
            out.push_str("- ");
            out.push_str(s);
            out.push('\n');
        }
        if !self.unsupported.is_empty() {
            out.push_str(&format!(
                "\n> Not in the source: {}\n",
                self.unsupported.join(", ")
            ));
        }
        out
    }

    /// The summary as running text, with the numbers and names the source lacks flagged after it.
    pub fn to_text(&self) -> String {
        if self.unsupported.is_empty() {
            return self.text.clone();
        }
        format!(
            "{} [not in the source: {}]",
            self.text,
            self.unsupported.join(", ")
        )
    }
}

/// Rounds of summarizing summaries before giving up (each round shrinks the text a lot; a model
/// that does not shrink it is reported, not looped on).
const MAX_ROUNDS: usize = 6;

/// Summarize `text` with `model`; `on_event` hears about chunking and each finished call.
pub fn summarize(
    model: &dyn SummaryModel,
    text: &str,
    opts: &SummaryOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary> {
    let mut counts = TokenCounts::default();
    let mut add = |c: TokenCounts| {
        counts.source_tokens += c.source_tokens;
        counts.generated_tokens += c.generated_tokens;
    };
    let mut current = text.trim().to_string();
    let mut chunks_first = 1;
    let mut rounds = 0;
    let budget = model.input_budget();
    let count = |s: &str| model.count_tokens(s);
    let answer = loop {
        if current.is_empty() {
            break String::new();
        }
        let tokens = model.count_tokens(&current)?;
        rounds += 1;
        if tokens <= budget {
            let g = model.summarize(&current, opts.bound)?;
            on_event(Event::CallDone);
            add(g.counts);
            break g.text;
        }
        if rounds > MAX_ROUNDS {
            return Err(Error::InvalidArgument(format!(
                "the text is still {tokens} tokens after {MAX_ROUNDS} rounds of summarizing chunks; \
                 the model does not shorten it (try a tighter --sentences/--words bound or another model)"
            )));
        }
        let chunks = chunk_text(&current, budget, &count)?;
        if rounds == 1 {
            chunks_first = chunks.len();
        }
        on_event(Event::Chunked {
            round: rounds,
            tokens,
            budget,
            chunks: chunks.len(),
        });
        let mut parts = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            let g = model.summarize(chunk, opts.bound)?;
            on_event(Event::CallDone);
            add(g.counts);
            let (part, _) = bound::fit(&g.text, opts.bound);
            if !part.is_empty() {
                parts.push(part);
            }
        }
        let joined = parts.join("\n\n");
        if !joined.is_empty() && model.count_tokens(&joined)? >= tokens {
            return Err(Error::InvalidArgument(format!(
                "the summaries of {} chunks are no shorter than the text they summarize ({tokens} tokens); \
                 try a tighter --sentences/--words bound or another model",
                chunks.len()
            )));
        }
        current = joined;
    };
    let (summary_text, cut) = bound::fit(&answer, opts.bound);
    let sentences = bound::summary_sentences(&summary_text);
    let headline = if opts.headline && !summary_text.is_empty() {
        match model.headline(&summary_text)? {
            Some(g) => {
                on_event(Event::CallDone);
                add(g.counts);
                let line = g.text.lines().map(str::trim).find(|l| !l.is_empty());
                line.map(clean_headline)
            }
            None => None,
        }
    } else {
        None
    };
    Ok(Summary {
        text: summary_text,
        sentences,
        headline,
        bound: opts.bound,
        cut,
        chunks: chunks_first,
        rounds,
        counts,
        dropped: Vec::new(),
        unsupported: Vec::new(),
    })
}

/// Most words a headline keeps; a longer one is shortened at a clause boundary.
pub const HEADLINE_WORDS: usize = 14;

/// A model's headline line without Markdown marks or wrapping quotes, as a whole clause
/// ([`whole_clause`]).
fn clean_headline(line: &str) -> String {
    let t = line.trim_start_matches('#').trim();
    let t = t.strip_prefix("Headline:").unwrap_or(t).trim();
    let t = t.trim_matches(|c| c == '"' || c == '*' || c == '“' || c == '”');
    whole_clause(t.trim(), HEADLINE_WORDS)
}

/// Words a clause cannot end on: a headline cut after one of them was cut mid-clause.
const DANGLING: &[&str] = &[
    "and", "or", "but", "nor", "of", "the", "a", "an", "to", "in", "on", "at", "for", "with", "by",
    "from", "as", "that", "which", "who", "whose", "while", "after", "before", "amid", "over",
    "into", "its", "their", "his", "her", "than", "is", "are", "was", "were", "has", "have",
    "will", "says", "said",
];

/// `text` without a cut-off tail (a trailing comma, dash or colon, or a last word a clause
/// cannot end on), and at most `max_words` words: a longer text is cut at its last clause
/// boundary (`,` `;` `:` a dash, or before "and"/"but"/"while") within the limit, else at the
/// limit, and the tail is trimmed again.
pub fn whole_clause(text: &str, max_words: usize) -> String {
    let trim_tail = |s: &str| -> String {
        let mut words: Vec<&str> = s.split_whitespace().collect();
        while let Some(last) = words.last_mut() {
            let stripped = last.trim_end_matches([',', ';', ':', '-', '–', '—']);
            if stripped.is_empty() {
                words.pop();
                continue;
            }
            *last = stripped;
            let bare = stripped
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            if words.len() > 1 && DANGLING.contains(&bare.as_str()) {
                words.pop();
                continue;
            }
            break;
        }
        words.join(" ")
    };
    let text = trim_tail(text);
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max_words {
        return text;
    }
    // Clause boundaries: after a word ending in , ; : or before a dash or a conjunction.
    let mut cut = None;
    for i in 3..=max_words.min(words.len() - 1) {
        let before = words[i - 1];
        let next = words[i].to_lowercase();
        let boundary = before.ends_with([',', ';', ':'])
            || matches!(words[i], "-" | "–" | "—")
            || matches!(next.as_str(), "and" | "but" | "while" | "as" | "after");
        if boundary {
            cut = Some(i);
        }
    }
    trim_tail(&words[..cut.unwrap_or(max_words)].join(" "))
}

#[cfg(test)]
mod tests;
