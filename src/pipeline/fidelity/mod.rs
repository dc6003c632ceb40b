//! Fidelity checks: do the items that must survive translation (numbers, proper names,
//! quotations) reach the translation, and does the translation add numbers the source lacks?
//! No model is involved: numbers are read from both texts ([`numbers`]) and matched by value;
//! names ([`names`]) are matched by their words or their English forms ([`exonyms`]); quoted
//! spans ([`quotes`]) are counted.
//!
//! A hard source number (written with digits or numerals) is *missing* when no number of the
//! translation, hard or soft ("three" for 3, "May" for 5), has its value; a hard number of the
//! translation is *added* when no source number has its value.

pub mod currency;
pub mod exonyms;
pub mod names;
pub mod number_words;
pub mod numbers;
pub mod quotes;
pub mod times;
mod wordlists;

use numbers::{numbers, Number};

/// What a comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fidelity {
    /// Source items the translation lacks, as the source writes them: numbers with nothing of
    /// the same value in the translation, names it does not carry, and quoted spans it does
    /// not quote.
    pub missing: Vec<String>,
    /// Translation items the source has no value for, as the translation writes them.
    pub added: Vec<String>,
}

impl Fidelity {
    /// Nothing missing, nothing added.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.added.is_empty()
    }
}

/// Whether two number values are the same (to a relative 1e-9).
pub(crate) fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Match numbers one to one: each of `want` (hard ones) takes an unused equal one of `have`.
fn unmatched<'a>(want: &'a [Number], have: &[Number]) -> Vec<&'a Number> {
    let mut used = vec![false; have.len()];
    let mut out = Vec::new();
    for w in want.iter().filter(|n| n.hard) {
        // Prefer a hard partner, so a soft one stays free for a later number.
        let pick = (0..have.len())
            .filter(|&i| !used[i] && have[i].matches(w))
            .max_by_key(|&i| have[i].hard);
        match pick {
            Some(i) => used[i] = true,
            None => out.push(w),
        }
    }
    out
}

/// Compare the numbers, names and quotations of `source` (in language `lang`) with those of
/// its English `translation`.
pub fn check(source: &str, lang: &str, translation: &str) -> Fidelity {
    let src = numbers(source, lang);
    let dst = numbers(translation, "en");
    let mut missing: Vec<String> = unmatched(&src, &dst)
        .into_iter()
        .map(|n| n.text.clone())
        .collect();
    missing.extend(names::lost(source, lang, translation));
    missing.extend(quotes::lost(source, translation));
    Fidelity {
        missing,
        added: unmatched(&dst, &src)
            .into_iter()
            .map(|n| n.text.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_numbers_are_clean_in_any_form() {
        for (src, lang, en) in [
            (
                "BNP steg 5,2 pct. i 2024.",
                "da",
                "GDP rose 5.2 per cent in 2024.",
            ),
            (
                "Tre andre blev såret, 3 døde.",
                "da",
                "Three others were injured, three died.",
            ),
            (
                "国内生产总值增长百分之五点二。",
                "zh",
                "GDP grew by 5.2 per cent.",
            ),
            ("净利润3.8亿美元", "zh", "a net profit of $380 million"),
            (
                "Der Umsatz stieg auf 3,8 Mrd. Euro.",
                "de",
                "Sales rose to 3.8 billion euros.",
            ),
            ("2024年5月3日", "zh", "3 May 2024"),
        ] {
            let f = check(src, lang, en);
            assert!(f.is_clean(), "{src} -> {en}: {f:?}");
        }
    }

    #[test]
    fn a_changed_number_is_missing_and_added() {
        let f = check(
            "投票率为67.3%，国内生产总值增长5.2%。",
            "zh",
            "Turnout was 67.3 per cent and GDP grew by 6.2 per cent.",
        );
        assert_eq!(f.missing, ["5.2%"]);
        assert_eq!(f.added, ["6.2"]);
    }

    #[test]
    fn a_quotation_left_unquoted_is_missing() {
        let f = check(
            "受台风“杜苏芮”影响，航班被取消。",
            "zh",
            "Flights were cancelled as a result of Typhoon Dosuri.",
        );
        assert_eq!(f.missing, ["“杜苏芮”"]);
        let kept = check("他说：“我们准备好了。”", "zh", "He said: \"We are ready.\"");
        assert!(kept.is_clean(), "{kept:?}");
    }

    #[test]
    fn a_dropped_number_is_missing() {
        let f = check(
            "Mødet varer kl. 14.30 til 16.00.",
            "da",
            "The meeting lasts until 16:00.",
        );
        assert_eq!(f.missing, ["kl. 14.30"]);
        assert!(f.added.is_empty());
    }
}
