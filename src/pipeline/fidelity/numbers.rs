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

/// One number found in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// As written (after full-width forms are read as ASCII).
    pub text: String,
    pub value: f64,
    /// Written with digits or numerals (not read from words).
    pub hard: bool,
}

/// Languages that write a decimal comma (and group thousands with `.` or a space).
fn decimal_comma(lang: &str) -> bool {
    !matches!(lang, "en" | "zh" | "ja" | "ko" | "th" | "he" | "ar" | "hi")
}

/// Full-width digits, letters and signs as ASCII; the ideographic space as a space.
fn ascii_forms(text: &str) -> String {
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

/// A clock time: 14:30, 14.30 after "kl."/"um"/"at", 14h30, "2:30 pm".
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\b(kl\.|klokken|um|à|at)\s*)?\b(\d{1,2})([:h.])(\d{2})\b(?:\s*(uhr|am|pm|a\.m\.|p\.m\.))?")
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

/// The numbers written with digits (or Chinese numerals) and, for English, with words.
pub fn numbers(text: &str, lang: &str) -> Vec<Number> {
    let text = ascii_forms(text);
    let mut out = Vec::new();
    let mut taken = vec![false; text.len()];
    for m in TIME.captures_iter(&text) {
        let whole = m.get(0).expect("match");
        let (h, min) = (
            m[2].parse::<f64>().unwrap_or(0.0),
            m[4].parse::<f64>().unwrap_or(0.0),
        );
        // "14.30" is a time where the decimal mark is a comma, or with "kl."/"um" before it
        // or "Uhr" after it; in English it is a decimal.
        let dotted = &m[3] == ".";
        let clock = !dotted || decimal_comma(lang) || m.get(1).is_some() || m.get(5).is_some();
        if h > 24.0 || min > 59.0 || !clock {
            continue;
        }
        let pm = m
            .get(5)
            .is_some_and(|x| x.as_str().to_lowercase().starts_with('p'));
        let h = if pm && h < 12.0 { h + 12.0 } else { h };
        out.push(Number {
            text: whole.as_str().to_string(),
            value: 10_000.0 + h * 60.0 + min,
            hard: true,
        });
        taken[whole.start()..whole.end()].fill(true);
    }
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
        if let Some(unit) = m.get(2) {
            if unit.as_str() == "%" {
                shown.push('%');
            } else if let Some(scale) = scale_of(unit.as_str()) {
                value *= scale;
                shown = format!("{} {}", digits, unit.as_str().trim_end_matches('.'));
            }
        }
        // Chinese scale characters straight after the digits: 5.2万, 3.8亿, 1万亿.
        for c in text[run.end()..].chars() {
            let Some(s) = cjk_unit(c) else { break };
            value *= s;
            shown.push(c);
        }
        out.push(Number {
            text: shown,
            value,
            hard: true,
        });
    }
    out.extend(chinese_numerals(&text));
    if lang == "en" {
        out.extend(words::english(&text));
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
        if lone && (matches!(chars[start], '千' | '百') || !(percent_of || score || counted)) {
            continue;
        }
        if let Some(value) = read_chinese(&run) {
            out.push(Number {
                text: run,
                value,
                hard: true,
            });
        }
    }
    out
}

mod words {
    use super::Number;

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
            "dozen" => Some(12.0),
            "hundred" => Some(100.0),
            "thousand" => Some(1e3),
            "million" => Some(1e6),
            "billion" => Some(1e9),
            "half" => Some(0.5),
            _ => None,
        }
    }

    /// Numbers English writes in words: "three", "twenty-five", "third", "May" (5), and
    /// digits with ordinal endings ("14th" is read as digits already).
    pub fn english(text: &str) -> Vec<Number> {
        let mut out = Vec::new();
        for raw in text.split(|c: char| !c.is_alphanumeric() && c != '-') {
            let lower = raw.to_lowercase();
            if let Some(m) = MONTHS.iter().position(|&m| m == lower) {
                // "may" the verb is lowercase; the month is capitalized.
                if raw.starts_with(char::is_uppercase) {
                    out.push(Number {
                        text: raw.to_string(),
                        value: (m + 1) as f64,
                        hard: false,
                    });
                }
                continue;
            }
            let parts: Vec<&str> = lower.split('-').collect();
            let value = match parts.as_slice() {
                [one] => word_value(one),
                [tens, unit] => match (word_value(tens), word_value(unit)) {
                    (Some(t), Some(u)) if t >= 20.0 && u < 10.0 => Some(t + u),
                    _ => None,
                },
                _ => None,
            };
            if let Some(value) = value {
                out.push(Number {
                    text: raw.to_string(),
                    value,
                    hard: false,
                });
            }
        }
        out
    }
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
