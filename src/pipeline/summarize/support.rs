//! Numbers and names a summary states must be in its source: a summarizer that writes "GDP
//! grew 6.2%" from a text that says 5.2%, or "Merkel said" of a text that quotes Scholz, has
//! invented a fact. [`drop_unsupported`] removes the summary sentences with a number (written
//! with digits) or a proper name ([`names`]; acronyms of things such as "GDP" or "AI" are
//! not names here) that none of the source texts has, and says which;
//! if that would leave nothing, the summary is kept and those items are flagged instead.

use serde::Serialize;

use super::Summary;
use crate::pipeline::fidelity::exonyms;
use crate::pipeline::fidelity::names::{self, words, Word};
use crate::pipeline::fidelity::numbers::{numbers, Number};

/// A summary sentence that was removed, and the numbers and names in it the source lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub sentence: String,
    pub numbers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// What the source texts state: their numbers and their words.
struct Known {
    numbers: Vec<Number>,
    words: Vec<Word>,
}

/// The hard numbers of `sentence` (English) that no number of `known` has the value of, and
/// the names that no source carries.
fn unsupported(sentence: &str, known: &Known) -> (Vec<String>, Vec<String>) {
    let numbers = numbers(sentence, "en")
        .into_iter()
        .filter(|n| n.hard && !known.numbers.iter().any(|k| k.matches(n)))
        .map(|n| n.text)
        .collect();
    let names = names::names(sentence, "en")
        .into_iter()
        .filter(|n| !exonyms::concept(&n.text) && !n.found_in(&known.words))
        .map(|n| n.text)
        .collect();
    (numbers, names)
}

/// Remove from `summary` the sentences stating numbers or names that none of `sources` (text
/// and its language) has, recording them in [`Summary::dropped`]. When every sentence has one,
/// nothing is removed and the items go to [`Summary::unsupported`]. The headline, when it
/// states such an item, is replaced by the first sentence left.
pub fn drop_unsupported(summary: &mut Summary, sources: &[(&str, &str)]) {
    let known = Known {
        numbers: sources
            .iter()
            .flat_map(|(text, lang)| numbers(text, lang))
            .collect(),
        words: sources.iter().flat_map(|(text, _)| words(text)).collect(),
    };
    let verdicts: Vec<(Vec<String>, Vec<String>)> = summary
        .sentences
        .iter()
        .map(|s| unsupported(s, &known))
        .collect();
    let clean = |v: &(Vec<String>, Vec<String>)| v.0.is_empty() && v.1.is_empty();
    if verdicts.iter().all(clean) {
        fix_headline(summary, &known);
        return;
    }
    if !verdicts.iter().any(clean) {
        summary.unsupported = verdicts
            .into_iter()
            .flat_map(|(numbers, names)| numbers.into_iter().chain(names))
            .collect();
        return;
    }
    let mut kept = Vec::new();
    for (sentence, (numbers, names)) in summary.sentences.drain(..).zip(verdicts) {
        if numbers.is_empty() && names.is_empty() {
            kept.push(sentence);
        } else {
            summary.dropped.push(Dropped {
                sentence,
                numbers,
                names,
            });
        }
    }
    summary.text = kept.join(" ");
    summary.sentences = kept;
    fix_headline(summary, &known);
}

fn fix_headline(summary: &mut Summary, known: &Known) {
    let bad = summary.headline.as_deref().is_some_and(|h| {
        let (numbers, names) = unsupported(h, known);
        !numbers.is_empty() || !names.is_empty()
    });
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

    /// A summarizer that answers with fixed text.
    struct Scripted {
        summary: &'static str,
        headline: Option<&'static str>,
    }

    /// One that gets one number wrong, as the one that wrote "6.2%" for 5.2% did.
    const INVENTOR: Scripted = Scripted {
        summary: "Turnout was 67.3 per cent. GDP grew by 6.2% last year.",
        headline: Some("GDP up 6.2%"),
    };

    /// One that brings in a name its source never mentions.
    const NAME_INVENTOR: Scripted = Scripted {
        summary: "The German chancellor met Lavrov in Moscow. Angela Merkel praised the talks.",
        headline: None,
    };

    impl SummaryModel for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn input_budget(&self) -> usize {
            10_000
        }
        fn count_tokens(&self, text: &str) -> crate::error::Result<usize> {
            Ok(text.split_whitespace().count())
        }
        fn summarize(&self, _text: &str, _bound: Bound) -> crate::error::Result<Generated> {
            Ok(Generated {
                text: self.summary.into(),
                counts: TokenCounts::default(),
            })
        }
        fn headline(&self, _summary: &str) -> crate::error::Result<Option<Generated>> {
            Ok(self.headline.map(|h| Generated {
                text: h.into(),
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
        let mut s = summarize(&INVENTOR, source, &opts, &mut |_| {}).unwrap();
        drop_unsupported(&mut s, &[(source, "en")]);
        assert_eq!(s.text, "Turnout was 67.3 per cent.");
        assert_eq!(s.dropped.len(), 1);
        assert_eq!(s.dropped[0].numbers, ["6.2%"]);
        assert_eq!(s.headline.as_deref(), Some("Turnout was 67.3 per cent."));
        assert!(s.unsupported.is_empty());
    }

    #[test]
    fn an_invented_name_is_dropped_and_a_translated_one_is_not() {
        let opts = SummaryOptions {
            bound: Bound::Sentences(2),
            headline: false,
        };
        let mut s = summarize(&NAME_INVENTOR, "x", &opts, &mut |_| {}).unwrap();
        // The English translation says "Moscow"; the Danish source spells Lavrov its own way.
        drop_unsupported(
            &mut s,
            &[
                (
                    "German Chancellor Scholz met the Russian minister in Moscow.",
                    "en",
                ),
                ("Kansler Scholz mødte Lavrov i Moskva.", "da"),
            ],
        );
        assert_eq!(s.text, "The German chancellor met Lavrov in Moscow.");
        assert_eq!(s.dropped.len(), 1);
        assert_eq!(s.dropped[0].names, ["Angela Merkel"]);
        assert!(s.dropped[0].numbers.is_empty());
    }

    #[test]
    fn numbers_in_the_original_language_count_as_support() {
        let opts = SummaryOptions {
            bound: Bound::Sentences(2),
            headline: false,
        };
        let mut s = summarize(&INVENTOR, "x", &opts, &mut |_| {}).unwrap();
        // "GDP" abbreviates 经济增长 (economic growth): not an invented name.
        drop_unsupported(&mut s, &[("投票率为67.3%，经济增长6.2%。", "zh")]);
        assert!(s.dropped.is_empty() && s.unsupported.is_empty(), "{s:?}");
    }

    #[test]
    fn a_summary_with_nothing_supported_is_kept_and_flagged() {
        let opts = SummaryOptions {
            bound: Bound::Sentences(2),
            headline: false,
        };
        let mut s = summarize(&INVENTOR, "x", &opts, &mut |_| {}).unwrap();
        drop_unsupported(&mut s, &[("Nothing to count here.", "en")]);
        assert_eq!(s.sentences.len(), 2);
        assert!(s.dropped.is_empty());
        // "67.3 per cent" is read as 67.3 (shown without its unit word).
        assert_eq!(s.unsupported, ["67.3", "6.2%"]);
    }
}
