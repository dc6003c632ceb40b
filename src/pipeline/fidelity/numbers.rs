//! Numbers as a news text writes them, read into values so that a source and its translation
//! can be compared: digits in any width ("５,２"), the language's decimal and group marks
//! ("5,2" and "1.234" in Danish, "5.2" and "1,234" in English), scale words ("mia.", "Mrd.",
//! "milliards", "billion", 万, 亿), percent in its spellings ("%", "pct.", "Prozent", "pour cent",
//! "per cent", 百分之), Chinese numerals ("四点八", "三千五百万", "二〇二四"), clock times, and
//! (on the English side) numbers, ordinals and months written as words.
//!
//! A number is *hard* when written with digits (or Chinese numerals): it must survive. Numbers
//! read from words ("three", "third", "May") are *soft*: they can be what a hard number became,
//! but are never reported missing or added themselves.

use std::sync::LazyLock;

use regex::Regex;

use super::{currency, number_words, times};

/// One number found in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// As written (after full-width forms are read as ASCII).
    pub text: String,
    pub value: f64,
    /// Other values it may stand for: a clock time without its half of the day, or its bare
    /// hour ([`super::times`]).
    pub alts: Vec<f64>,
    /// The currency it is an amount of, when one is written next to it ([`super::currency`]).
    pub currency: Option<&'static str>,
    /// Written with digits or numerals, or in a source's words (not read from English words).
    pub hard: bool,
}

impl Number {
    pub fn new(text: &str, value: f64, hard: bool) -> Number {
        Number {
            text: text.to_string(),
            value,
            alts: Vec::new(),
            currency: None,
            hard,
        }
    }

    /// Whether `self` and `other` can be the same number: a value in common, and no two
    /// different currencies.
    pub fn matches(&self, other: &Number) -> bool {
        let values = |n: &Number| std::iter::once(n.value).chain(n.alts.clone());
        let currency = match (self.currency, other.currency) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        currency && values(self).any(|a| values(other).any(|b| super::same(a, b)))
    }
}

/// Languages that write a decimal comma (and group thousands with `.` or a space).
fn decimal_comma(lang: &str) -> bool {
    !matches!(lang, "en" | "zh" | "ja" | "ko" | "th" | "he" | "ar" | "hi")
}

/// Full-width digits, letters and signs as ASCII; the ideographic space as a space.
pub(crate) fn ascii_forms(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

/// Scale words that may follow a number, by their lowercase spelling.
fn scale_of(word: &str) -> Option<f64> {
    let w = word.trim_end_matches('.').to_lowercase();
    Some(match w.as_str() {
        "tusind" | "tausend" | "tsd" | "mille" | "thousand" | "k" => 1e3,
        "mio" | "million" | "millioner" | "millionen" | "millions" | "mln" | "m" | "mn" => 1e6,
        "mia" | "mrd" | "milliard" | "milliarder" | "milliarden" | "milliards" | "billion"
        | "billions" | "bn" | "b" => 1e9,
        "billioner" | "billionen" | "trillion" | "trillions" | "tn" => 1e12,
        _ => return None,
    })
}

/// Digit numbers with the marks of either convention, an optional scale word after them.
static DIGITS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d+(?:[.,\u{a0}\u{202f} ]\d+)*)(?:[ \u{a0}]?(%|[A-Za-zæøåÆØÅ]+\.?))?")
        .expect("valid regex")
});

/// Read one run of digits and marks (`5,2`, `1.234.567`, `3 500`) in `lang`'s convention.
fn read_digits(run: &str, lang: &str) -> Option<f64> {
    let comma = decimal_comma(lang);
    let (group, decimal) = if comma { ('.', ',') } else { (',', '.') };
    let parts: Vec<&str> = run.split(['.', ',', '\u{a0}', '\u{202f}', ' ']).collect();
    let marks: Vec<char> = run.chars().filter(|c| !c.is_ascii_digit()).collect();
    let mut int = String::new();
    let mut frac = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            int.push_str(part);
            continue;
        }
        let mark = marks[i - 1];
        let is_group = part.len() == 3
            && (mark == group || mark == ' ' || mark == '\u{a0}' || mark == '\u{202f}');
        // A lone "other" mark before a non-three-digit part is a decimal in either style.
        if is_group && frac.is_empty() {
            int.push_str(part);
        } else if frac.is_empty() && (mark == decimal || mark == group) && i == parts.len() - 1 {
            frac.push_str(part);
        } else {
            return None;
        }
    }
    let s = if frac.is_empty() {
        int
    } else {
        format!("{int}.{frac}")
    };
    s.parse().ok()
}

/// The numbers of `text` (in `lang`): clock times, digits with their marks, scale words and
/// currencies, Chinese numerals, and numbers in words (soft in English, hard in a source).
pub fn numbers(text: &str, lang: &str) -> Vec<Number> {
    let text = ascii_forms(text);
    let mut taken = vec![false; text.len()];
    let mut out = times::times(&text, lang, decimal_comma(lang), &mut taken);
    for m in DIGITS.captures_iter(&text) {
        let run = m.get(1).expect("digits");
        if taken[run.start()] {
            continue;
        }
        // "1,5" at a sentence end is "1,5", not "1,5" + "," of the sentence.
        let digits = run.as_str().trim_end_matches([',', '.', ' ']);
        let Some(mut value) = read_digits(digits, lang) else {
            continue;
        };
        let mut shown = digits.to_string();
        let mut end = run.start() + digits.len();
        let mut percent = false;
        if let Some(unit) = m.get(2) {
            if unit.as_str() == "%" {
                shown.push('%');
                percent = true;
                end = unit.end();
            } else if let Some(scale) = scale_of(unit.as_str()) {
                value *= scale;
                shown = format!("{} {}", digits, unit.as_str().trim_end_matches('.'));
                end = unit.end();
            }
        }
        // Chinese scale characters straight after the digits: 5.2万, 3.8亿, 1万亿.
        for c in text[end..].chars() {
            let Some(s) = cjk_unit(c) else { break };
            value *= s;
            shown.push(c);
            end += c.len_utf8();
        }
        let mut n = Number::new(&shown, value, true);
        if !percent {
            n.currency =
                currency::after(&text[end..]).or_else(|| currency::before(&text[..run.start()]));
        }
        out.push(n);
    }
    out.extend(chinese_numerals(&text));
    if lang == "en" {
        out.extend(number_words::english(&text));
    } else {
        out.extend(number_words::source(&text, lang));
    }
    out
}

fn cjk_unit(c: char) -> Option<f64> {
    Some(match c {
        '万' | '萬' => 1e4,
        '亿' | '億' => 1e8,
        _ => return None,
    })
}

fn cjk_digit(c: char) -> Option<u32> {
    Some(match c {
        '〇' | '零' => 0,
        '一' => 1,
        '二' | '两' | '兩' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn cjk_multiplier(c: char) -> Option<f64> {
    Some(match c {
        '十' => 10.0,
        '百' => 100.0,
        '千' => 1000.0,
        '万' | '萬' => 1e4,
        '亿' | '億' => 1e8,
        _ => return None,
    })
}

/// Read a run of Chinese numerals: positional ("二〇二四"), or with multipliers ("三千五百万",
/// "十四"), with a decimal part after 点 ("四点八").
fn read_chinese(run: &str) -> Option<f64> {
    let (int_part, frac_part) = match run.split_once('点') {
        Some((a, b)) => (a, Some(b)),
        None => (run, None),
    };
    let positional = !int_part.chars().any(|c| cjk_multiplier(c).is_some());
    let int = if positional {
        let mut v = 0.0;
        for c in int_part.chars() {
            v = v * 10.0 + f64::from(cjk_digit(c)?);
        }
        v
    } else {
        // Sections by 亿 and 万; within a section, digit × 十/百/千.
        let (mut total, mut section, mut digit) = (0.0f64, 0.0f64, None::<f64>);
        for c in int_part.chars() {
            if let Some(d) = cjk_digit(c) {
                digit = Some(f64::from(d));
            } else {
                let m = cjk_multiplier(c)?;
                if m >= 1e4 {
                    section += digit.take().unwrap_or(0.0);
                    let base = if section == 0.0 { 1.0 } else { section };
                    total = (total + base) * m;
                    section = 0.0;
                } else {
                    section += digit.take().unwrap_or(1.0) * m;
                }
            }
        }
        total + section + digit.unwrap_or(0.0)
    };
    let Some(frac) = frac_part else {
        return Some(int);
    };
    let mut f = String::from("0.");
    for c in frac.chars() {
        f.push(char::from_digit(cjk_digit(c)?, 10)?);
    }
    Some(int + f.parse::<f64>().ok()?)
}

/// Characters after a lone numeral that show it counts something (so 一 in 统一 is no number).
fn counts_something(c: Option<char>) -> bool {
    matches!(
        c,
        Some(
            '年' | '月'
                | '日'
                | '号'
                | '个'
                | '名'
                | '人'
                | '届'
                | '次'
                | '倍'
                | '岁'
                | '天'
                | '周'
                | '家'
                | '项'
                | '位'
                | '比'
                | '点'
                | '成'
                | '季'
                | '％'
                | '%'
        )
    )
}

fn chinese_numerals(text: &str) -> Vec<Number> {
    let chars: Vec<char> = text.chars().collect();
    let is_numeral = |c: char| cjk_digit(c).is_some() || cjk_multiplier(c).is_some() || c == '点';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !(cjk_digit(chars[i]).is_some() || matches!(chars[i], '十' | '百' | '千')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_numeral(chars[i]) {
            i += 1;
        }
        let mut run: String = chars[start..i].iter().collect();
        if run.ends_with('点') {
            run.pop();
        }
        // A lone numeral is a number only where it counts something (三年, 五名), is a
        // percentage (百分之三) or a score (三比一): 一 in 统一 or 一些 is not.
        let lone = run.chars().count() == 1;
        let percent_of =
            start >= 3 && chars[start - 3..start].iter().collect::<String>() == "百分之";
        let score = start >= 1 && chars[start - 1] == '比';
        let counted = counts_something(chars.get(i).copied());
        // 第一 is an ordinal: "No. 1", "first".
        let ordinal = start >= 1 && chars[start - 1] == '第';
        if lone
            && (matches!(chars[start], '千' | '百') || !(percent_of || score || counted || ordinal))
        {
            continue;
        }
        if let Some(value) = read_chinese(&run) {
            let mut n = Number::new(&run, value, true);
            let rest: String = chars[i..].iter().take(3).collect();
            n.currency = currency::after(&rest);
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, lang: &str) -> Vec<f64> {
        numbers(text, lang)
            .into_iter()
            .filter(|n| n.hard)
            .map(|n| n.value)
            .collect()
    }

    #[test]
    fn decimal_and_group_marks_follow_the_language() {
        assert_eq!(
            values("BNP steg 5,2 pct. og 1.234 ansøgere", "da"),
            [5.2, 1234.0]
        );
        assert_eq!(
            values("GDP rose 5.2 per cent, 1,234 applicants", "en"),
            [5.2, 1234.0]
        );
        assert_eq!(
            values("Es kostet 3 500 Euro, 1.5 Prozent", "de"),
            [3500.0, 1.5]
        );
        assert_eq!(values("La croissance est de 5,2 %.", "fr"), [5.2]);
    }

    #[test]
    fn scales_multiply() {
        assert_eq!(values("et underskud på 5,2 mia. kr.", "da"), [5.2e9]);
        assert_eq!(values("a deficit of DKK 5.2 billion", "en"), [5.2e9]);
        assert_eq!(values("3,8 Mrd. Euro", "de"), [3.8e9]);
        assert_eq!(values("净利润3.8亿美元，5.2万人", "zh"), [3.8e8, 5.2e4]);
        assert_eq!(values("成交额突破1万亿元", "zh"), [1e12]);
    }

    #[test]
    fn full_width_digits_and_chinese_numerals() {
        assert_eq!(values("增长５．２％", "zh"), [5.2]);
        assert_eq!(values("增长百分之四点八", "zh"), [4.8]);
        assert_eq!(values("二〇二四年第十四届", "zh"), [2024.0, 14.0]);
        assert_eq!(values("三千五百万人", "zh"), [3.5e7]);
        assert_eq!(values("三比一战胜对手", "zh"), [3.0, 1.0]);
        // 一 inside words is no number.
        assert!(values("统一和一些一直", "zh").is_empty());
    }

    #[test]
    fn clock_times() {
        assert_eq!(
            values("kl. 14.30 i dag", "da"),
            [10_000.0 + 14.0 * 60.0 + 30.0]
        );
        assert_eq!(
            values("at 2:30 pm today", "en"),
            [10_000.0 + 14.0 * 60.0 + 30.0]
        );
        assert_eq!(values("à 14h30", "fr"), [10_000.0 + 14.0 * 60.0 + 30.0]);
    }

    #[test]
    fn english_words_are_soft() {
        let n = numbers("three others died on 5 May, the third such attack", "en");
        let soft: Vec<f64> = n.iter().filter(|n| !n.hard).map(|n| n.value).collect();
        assert_eq!(soft, [3.0, 5.0, 3.0]);
        assert_eq!(values("three others died on 5 May", "en"), [5.0]);
        assert_eq!(numbers("twenty-five people may come", "en").len(), 1);
    }
}
