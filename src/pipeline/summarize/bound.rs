//! How long a summary may be, and holding a model's output to it.
//!
//! Models are asked for a length in their prompt, but none obeys exactly, so the output is cut
//! afterwards: at a sentence boundary when possible, mid-sentence (marked with `…`) only when the
//! first sentence alone is over a word bound. This module never touches a model.

use crate::error::{Error, Result};
use crate::pipeline::segment::segment_lang;

/// The most a summary may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "unit", content = "limit")]
pub enum Bound {
    /// At most this many sentences.
    Sentences(usize),
    /// At most this many words (whitespace-separated).
    Words(usize),
}

impl Bound {
    /// The bound when the user gives none: three sentences, the length of a briefing paragraph.
    pub const DEFAULT: Bound = Bound::Sentences(3);

    /// Build from the command line's `--sentences` / `--words` (at most one may be set).
    pub fn from_flags(sentences: Option<usize>, words: Option<usize>) -> Result<Bound> {
        match (sentences, words) {
            (Some(_), Some(_)) => Err(Error::InvalidArgument(
                "give either a sentence bound or a word bound, not both".into(),
            )),
            (Some(0), _) | (_, Some(0)) => Err(Error::InvalidArgument(
                "a summary bound must be at least 1".into(),
            )),
            (Some(n), None) => Ok(Bound::Sentences(n)),
            (None, Some(n)) => Ok(Bound::Words(n)),
            (None, None) => Ok(Bound::DEFAULT),
        }
    }

    /// The bound in words, for the prompt ("in at most N sentences" / "in at most N words").
    pub fn phrase(self) -> String {
        match self {
            Bound::Sentences(1) => "one sentence".into(),
            Bound::Sentences(n) => format!("at most {n} sentences"),
            Bound::Words(n) => format!("at most {n} words"),
        }
    }

    /// A generous cap on generated tokens for this bound (about 40 tokens a sentence, 2 a word,
    /// plus room for the end token), so a model that rambles stops early.
    pub fn token_cap(self) -> usize {
        match self {
            Bound::Sentences(n) => 16 + 48 * n,
            Bound::Words(n) => 16 + 2 * n,
        }
    }

    /// Whether `text` is within the bound.
    pub fn holds(self, text: &str) -> bool {
        match self {
            Bound::Sentences(n) => summary_sentences(text).len() <= n,
            Bound::Words(n) => text.split_whitespace().count() <= n,
        }
    }
}

/// The sentences of a summary, in order (lines and bullet marks flattened away).
pub fn summary_sentences(text: &str) -> Vec<String> {
    // List marks go before segmenting, so "1." is never taken for a sentence of its own.
    let plain: Vec<&str> = text.lines().map(strip_bullet).collect();
    let doc = segment_lang(&plain.join("\n"), Some("en"));
    doc.lines
        .iter()
        .flat_map(|l| l.sentences.iter())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A model's raw answer made into summary text within `bound`: bullets and line breaks become
/// running sentences, then the text is cut to the bound. Returns the text and whether anything
/// was cut.
pub fn fit(text: &str, bound: Bound) -> (String, bool) {
    let sentences = summary_sentences(text);
    let total = sentences.len();
    match bound {
        Bound::Sentences(n) => (sentences[..total.min(n)].join(" "), total > n),
        Bound::Words(n) => {
            let mut out: Vec<&str> = Vec::new();
            let mut words = 0;
            for s in &sentences {
                let w = s.split_whitespace().count();
                if words + w > n {
                    break;
                }
                words += w;
                out.push(s);
            }
            if out.len() == total {
                return (out.join(" "), false);
            }
            if out.is_empty() {
                // The first sentence alone is over the bound: keep its first words, marked as cut.
                let first: Vec<&str> = sentences[0].split_whitespace().take(n).collect();
                return (format!("{}…", first.join(" ")), true);
            }
            (out.join(" "), true)
        }
    }
}

/// Remove a leading list mark ("- ", "* ", "• ", "1. ", "2) ") from a line of model output.
fn strip_bullet(s: &str) -> &str {
    let t = s.trim_start();
    for mark in ["- ", "* ", "• ", "– "] {
        if let Some(rest) = t.strip_prefix(mark) {
            return rest.trim();
        }
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 3 {
        let rest = &t[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return r.trim();
        }
    }
    t.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_choose_one_bound() {
        assert_eq!(Bound::from_flags(None, None).unwrap(), Bound::DEFAULT);
        assert_eq!(
            Bound::from_flags(Some(2), None).unwrap(),
            Bound::Sentences(2)
        );
        assert_eq!(Bound::from_flags(None, Some(40)).unwrap(), Bound::Words(40));
        assert!(Bound::from_flags(Some(2), Some(40)).is_err());
        assert!(Bound::from_flags(Some(0), None).is_err());
        assert!(Bound::from_flags(None, Some(0)).is_err());
    }

    #[test]
    fn sentence_bound_cuts_at_sentence_ends() {
        let text = "Dr. Smith met the minister. They agreed on a plan. Talks resume Monday.";
        assert_eq!(
            fit(text, Bound::Sentences(2)),
            (
                "Dr. Smith met the minister. They agreed on a plan.".into(),
                true
            )
        );
        assert!(!fit(text, Bound::Sentences(3)).1);
        assert!(Bound::Sentences(3).holds(text));
        assert!(!Bound::Sentences(2).holds(text));
    }

    #[test]
    fn bullets_and_lines_become_sentences() {
        let text =
            "- Workers struck in Rotterdam.\n- Ships wait at anchor.\n1. Talks resume Thursday.";
        let (out, cut) = fit(text, Bound::Sentences(5));
        assert_eq!(
            out,
            "Workers struck in Rotterdam. Ships wait at anchor. Talks resume Thursday."
        );
        assert!(!cut);
    }

    #[test]
    fn word_bound_keeps_whole_sentences_or_marks_a_cut() {
        let text = "One two three. Four five six seven.";
        assert_eq!(fit(text, Bound::Words(5)), ("One two three.".into(), true));
        assert!(!fit(text, Bound::Words(7)).1);
        assert_eq!(fit(text, Bound::Words(2)), ("One two…".into(), true));
        assert!(Bound::Words(7).holds(text));
        assert!(!Bound::Words(6).holds(text));
    }

    #[test]
    fn empty_output_stays_empty() {
        assert_eq!(fit("", Bound::Sentences(2)), (String::new(), false));
        assert_eq!(fit("  \n ", Bound::Words(3)), (String::new(), false));
    }
}
