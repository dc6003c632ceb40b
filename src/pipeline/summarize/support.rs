//! Numbers a summary states must be in its source: a summarizer that writes "GDP grew 6.2%"
//! from a text that says 5.2% has invented a fact. [`drop_unsupported`] removes the summary
//! sentences with a number (written with digits) that none of the source texts has, and says
//! which; if that would leave nothing, the summary is kept and its numbers are flagged instead.

use serde::Serialize;

use super::Summary;
use crate::pipeline::fidelity::numbers::{numbers, Number};
use crate::pipeline::fidelity::same;

/// A summary sentence that was removed, and the numbers in it the source lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub sentence: String,
    pub numbers: Vec<String>,
}

/// The hard numbers of `sentence` (English) that no number of `known` has the value of.
fn unsupported(sentence: &str, known: &[Number]) -> Vec<String> {
    numbers(sentence, "en")
        .into_iter()
        .filter(|n| n.hard && !known.iter().any(|k| same(k.value, n.value)))
        .map(|n| n.text)
        .collect()
}

/// Remove from `summary` the sentences stating numbers that none of `sources` (text and its
/// language) has, recording them in [`Summary::dropped`]. When every sentence has one, nothing
/// is removed and the numbers go to [`Summary::unsupported`]. The headline, when it states
/// such a number, is replaced by the first sentence left.
pub fn drop_unsupported(summary: &mut Summary, sources: &[(&str, &str)]) {
    let known: Vec<Number> = sources
        .iter()
        .flat_map(|(text, lang)| numbers(text, lang))
        .collect();
    let verdicts: Vec<Vec<String>> = summary
        .sentences
        .iter()
        .map(|s| unsupported(s, &known))
        .collect();
    if verdicts.iter().all(Vec::is_empty) {
        fix_headline(summary, &known);
        return;
    }
    if verdicts.iter().all(|v| !v.is_empty()) {
        summary.unsupported = verdicts.into_iter().flatten().collect();
        return;
    }
    let mut kept = Vec::new();
    for (sentence, numbers) in summary.sentences.drain(..).zip(verdicts) {
        if numbers.is_empty() {
            kept.push(sentence);
        } else {
            summary.dropped.push(Dropped { sentence, numbers });
        }
    }
    summary.text = kept.join(" ");
    summary.sentences = kept;
    fix_headline(summary, &known);
}

fn fix_headline(summary: &mut Summary, known: &[Number]) {
    let bad = summary
        .headline
        .as_deref()
        .is_some_and(|h| !unsupported(h, known).is_empty());
    if bad {
        summary.headline = summary.sentences.first().cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::summarize::bound::Bound;
    use crate::pipeline::summarize::{summarize, Generated, SummaryModel, SummaryOptions};
    use crate::pipeline::translate::TokenCounts;

    /// A summarizer that gets one number wrong, as the one that wrote "6.2%" for 5.2% did.
    struct Inventor;

    impl SummaryModel for Inventor {
        fn describe(&self) -> String {
            "inventor".into()
        }
        fn input_budget(&self) -> usize {
            10_000
        }
        fn count_tokens(&self, text: &str) -> crate::error::Result<usize> {
            Ok(text.split_whitespace().count())
        }
        fn summarize(&self, _text: &str, _bound: Bound) -> crate::error::Result<Generated> {
            Ok(Generated {
                text: "Turnout was 67.3 per cent. GDP grew by 6.2% last year.".into(),
                counts: TokenCounts::default(),
            })
        }
        fn headline(&self, _summary: &str) -> crate::error::Result<Option<Generated>> {
            Ok(Some(Generated {
                text: "GDP up 6.2%".into(),
                counts: TokenCounts::default(),
            }))
        }
    }

    #[test]
    fn an_invented_number_is_dropped_and_said() {
        let source = "Turnout was 67.3%. The economy grew 5.2% in 2024.";
        let opts = SummaryOptions {
            bound: Bound::Sentences(2),
            headline: true,
        };
        let mut s = summarize(&Inventor, source, &opts, &mut |_| {}).unwrap();
        drop_unsupported(&mut s, &[(source, "en")]);
        assert_eq!(s.text, "Turnout was 67.3 per cent.");
        assert_eq!(s.dropped.len(), 1);
        assert_eq!(s.dropped[0].numbers, ["6.2%"]);
        assert_eq!(s.headline.as_deref(), Some("Turnout was 67.3 per cent."));
        assert!(s.unsupported.is_empty());
    }

    #[test]
    fn numbers_in_the_original_language_count_as_support() {
        let opts = SummaryOptions {
            bound: Bound::Sentences(2),
            headline: false,
        };
        let mut s = summarize(&Inventor, "x", &opts, &mut |_| {}).unwrap();
        drop_unsupported(&mut s, &[("投票率为67.3%，经济增长6.2%。", "zh")]);
        assert!(s.dropped.is_empty() && s.unsupported.is_empty(), "{s:?}");
    }

    #[test]
    fn a_summary_with_nothing_supported_is_kept_and_flagged() {
        let opts = SummaryOptions {
            bound: Bound::Sentences(2),
            headline: false,
        };
        let mut s = summarize(&Inventor, "x", &opts, &mut |_| {}).unwrap();
        drop_unsupported(&mut s, &[("Nothing to count here.", "en")]);
        assert_eq!(s.sentences.len(), 2);
        assert!(s.dropped.is_empty());
        // "67.3 per cent" is read as 67.3 (shown without its unit word).
        assert_eq!(s.unsupported, ["67.3", "6.2%"]);
    }
}
