//! Numbers written as words. In English ("three", "twenty-five", "third", "twice",
//! "thirtyfold", "May") they are *soft*: what a source number may have become, never reported
//! themselves. In a Danish, German or French source ("tre", "vier", "quatre", "marts", "Mai",
//! "novembre") they are *hard*: a translation that drops "trois heures" or turns "1er novembre"
//! into "December 1" has lost them.

use super::numbers::Number;

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const ORDINALS: [&str; 13] = [
    "", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn word_value(w: &str) -> Option<f64> {
    if let Some(i) = UNITS.iter().position(|&u| u == w) {
        return Some(i as f64);
    }
    if let Some(i) = TENS.iter().position(|&t| t == w) {
        return Some(20.0 + 10.0 * i as f64);
    }
    if let Some(i) = ORDINALS.iter().position(|&o| o == w && !o.is_empty()) {
        return Some(i as f64);
    }
    match w {
        "both" | "twice" | "pair" | "couple" | "double" => Some(2.0),
        "thrice" | "triple" => Some(3.0),
        "dozen" => Some(12.0),
        "hundred" => Some(100.0),
        "thousand" => Some(1e3),
        "million" => Some(1e6),
        "billion" => Some(1e9),
        "half" => Some(0.5),
        // "thirtyfold", "twofold"
        _ => w
            .strip_suffix("fold")
            .filter(|n| !n.is_empty())
            .and_then(|n| number_word(n.trim_end_matches('-'))),
    }
}

/// A cardinal in words: "seven", "twenty-five".
fn number_word(w: &str) -> Option<f64> {
    let parts: Vec<&str> = w.split('-').collect();
    match parts.as_slice() {
        [one] => word_value(one),
        [tens, unit] => match (word_value(tens), word_value(unit)) {
            (Some(t), Some(u)) if t >= 20.0 && u < 10.0 => Some(t + u),
            _ => None,
        },
        _ => None,
    }
}

/// Numbers English writes in words: "three", "twenty-five", "third", "twice", "May" (5).
pub fn english(text: &str) -> Vec<Number> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric() && c != '-') {
        let lower = raw.to_lowercase();
        if let Some(m) = MONTHS.iter().position(|&m| m == lower) {
            // "may" the verb is lowercase; the month is capitalized.
            if raw.starts_with(char::is_uppercase) {
                out.push(Number::new(raw, (m + 1) as f64, false));
            }
            continue;
        }
        if let Some(value) = compound_lead(&lower) {
            out.push(Number::new(raw, value, false));
        }
    }
    out
}

/// The number a word or hyphenated compound starts with: "seven", "twenty-five",
/// "two-year", "twenty-five-year-old".
fn compound_lead(w: &str) -> Option<f64> {
    let parts: Vec<&str> = w.split('-').collect();
    (1..=parts.len().min(2))
        .rev()
        .find_map(|n| number_word(&parts[..n].join("-")))
}

/// A language's month names, January first.
type Months = &'static [&'static str];

/// Cardinals from two up, tens, and month names of a source language. "One" is left out: it
/// is also the article ("en", "ein", "un"); so are words with a second sense ("neuf" is "new").
fn source_words(lang: &str) -> Option<(&'static [(&'static str, f64)], Months)> {
    Some(match lang {
        "da" | "nb" | "no" => (
            &[
                ("to", 2.0),
                ("tre", 3.0),
                ("fire", 4.0),
                ("fem", 5.0),
                ("seks", 6.0),
                ("syv", 7.0),
                ("otte", 8.0),
                ("ni", 9.0),
                ("ti", 10.0),
                ("elleve", 11.0),
                ("tolv", 12.0),
                ("tyve", 20.0),
                ("tredive", 30.0),
                ("fyrre", 40.0),
                ("halvtreds", 50.0),
                ("tres", 60.0),
                ("halvfjerds", 70.0),
                ("firs", 80.0),
                ("halvfems", 90.0),
            ],
            &[
                "januar",
                "februar",
                "marts",
                "april",
                "maj",
                "juni",
                "juli",
                "august",
                "september",
                "oktober",
                "november",
                "december",
            ],
        ),
        "de" => (
            &[
                ("zwei", 2.0),
                ("drei", 3.0),
                ("vier", 4.0),
                ("fünf", 5.0),
                ("sechs", 6.0),
                ("sieben", 7.0),
                ("acht", 8.0),
                ("neun", 9.0),
                ("zehn", 10.0),
                ("elf", 11.0),
                ("zwölf", 12.0),
                ("zwanzig", 20.0),
                ("dreißig", 30.0),
                ("vierzig", 40.0),
                ("fünfzig", 50.0),
                ("sechzig", 60.0),
                ("siebzig", 70.0),
                ("achtzig", 80.0),
                ("neunzig", 90.0),
            ],
            &[
                "Januar",
                "Februar",
                "März",
                "April",
                "Mai",
                "Juni",
                "Juli",
                "August",
                "September",
                "Oktober",
                "November",
                "Dezember",
            ],
        ),
        "fr" => (
            &[
                ("deux", 2.0),
                ("trois", 3.0),
                ("quatre", 4.0),
                ("cinq", 5.0),
                ("six", 6.0),
                ("sept", 7.0),
                ("huit", 8.0),
                ("dix", 10.0),
                ("onze", 11.0),
                ("douze", 12.0),
                ("treize", 13.0),
                ("quatorze", 14.0),
                ("quinze", 15.0),
                ("seize", 16.0),
                ("vingt", 20.0),
                ("trente", 30.0),
                ("quarante", 40.0),
                ("cinquante", 50.0),
                ("soixante", 60.0),
            ],
            &[
                "janvier",
                "février",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "août",
                "septembre",
                "octobre",
                "novembre",
                "décembre",
            ],
        ),
        _ => return None,
    })
}

/// The numbers a Danish, German or French source writes as words, and its month names (as
/// the month's number), all hard. Words are matched as written: lower case, except German
/// month names, which are capitalized.
pub fn source(text: &str, lang: &str) -> Vec<Number> {
    let Some((cardinals, months)) = source_words(lang) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        if let Some(&(_, v)) = cardinals.iter().find(|(w, _)| *w == raw) {
            out.push(Number::new(raw, v, true));
        } else if let Some(m) = months.iter().position(|&m| m == raw) {
            out.push(Number::new(raw, (m + 1) as f64, true));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: Vec<Number>) -> Vec<f64> {
        n.into_iter().map(|n| n.value).collect()
    }

    #[test]
    fn english_words_and_folds() {
        assert_eq!(
            values(english(
                "twice as many, a thirtyfold rise, twenty-five in May"
            )),
            [2.0, 30.0, 25.0, 5.0]
        );
        assert_eq!(
            values(english("a two-year term for a twenty-five-year-old")),
            [2.0, 25.0]
        );
    }

    #[test]
    fn source_words_are_read_as_written() {
        assert_eq!(values(source("tre døde den 4. marts", "da")), [3.0, 3.0]);
        assert_eq!(values(source("vier Tote im Mai", "de")), [4.0, 5.0]);
        // The planet is capitalized; the month is not. "un" is the article.
        assert_eq!(values(source("un vol vers Mars le 3 mars", "fr")), [3.0]);
        assert!(source("tre", "zh").is_empty());
    }
}
