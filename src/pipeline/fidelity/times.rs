//! Clock times, read as minutes of the day (plus 10,000, so that no count is taken for a time):
//! "kl. 14.30", "14h30", "14:30 Uhr", "2:30 pm", "3 pm", "kl. 10", "18 Uhr", "18h", "下午3点",
//! "晚上8点半". A time written without its half of the day ("3点", "3 o'clock") may be either;
//! a whole hour may also be what a translation writes as a bare number ("kl. 10" as "at 10").

use std::sync::LazyLock;

use regex::Regex;

use super::numbers::Number;

/// 14:30, 14.30 after "kl."/"um"/"at", 14h30, "2:30 pm".
static HM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\b(kl\.|klokken|um|à|at)\s*)?\b(\d{1,2})([:h.])(\d{2})\b(?:\s*(uhr|am|pm|a\.m\.|p\.m\.))?")
        .expect("valid regex")
});

/// A whole hour with its marker: "3 pm", "kl. 10", "18 Uhr", "18h", "3 o'clock".
static HOUR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:(kl\.|klokken)\s*(\d{1,2})\b|(\d{1,2})\s?(?:([ap])\.?m\b\.?|(uhr)\b|(h)\b|(o'clock|o’clock)))")
        .expect("valid regex")
});

/// Chinese: an optional part of the day, the hour, 点 (or 时), then minutes (分) or 半.
static CHINESE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(上午|早上|早晨|凌晨|中午|下午|午后|晚上|傍晚|夜里|夜间)?(\d{1,2})[点时](?:(\d{1,2})分|(半))?")
        .expect("valid regex")
});

fn clock(h: f64, min: f64) -> f64 {
    10_000.0 + h * 60.0 + min
}

/// A time of `h`:`min`; `either_half` adds the other half of the day, `bare` the bare hour.
fn time(text: &str, h: f64, min: f64, either_half: bool) -> Number {
    let mut n = Number::new(text, clock(h, min), true);
    if either_half && h < 12.0 {
        n.alts.push(clock(h + 12.0, min));
    }
    if min == 0.0 {
        n.alts.push(h);
    }
    n
}

/// The clock times of `text` (in `lang`), marking the bytes they cover in `taken`.
pub fn times(text: &str, lang: &str, decimal_comma: bool, taken: &mut [bool]) -> Vec<Number> {
    let mut out = Vec::new();
    let mut push = |n: Number, start: usize, end: usize, taken: &mut [bool]| {
        if !taken[start..end].iter().any(|t| *t) {
            taken[start..end].fill(true);
            out.push(n);
        }
    };
    for m in HM.captures_iter(text) {
        let whole = m.get(0).expect("match");
        let (h, min) = (
            m[2].parse::<f64>().unwrap_or(0.0),
            m[4].parse::<f64>().unwrap_or(0.0),
        );
        // "14.30" is a time where the decimal mark is a comma, or with "kl."/"um" before it
        // or "Uhr" after it; in English it is a decimal.
        let dotted = &m[3] == ".";
        let is_clock = !dotted || decimal_comma || m.get(1).is_some() || m.get(5).is_some();
        if h > 24.0 || min > 59.0 || !is_clock {
            continue;
        }
        let marker = m.get(5).map(|x| x.as_str().to_lowercase());
        let pm = marker.as_deref().is_some_and(|x| x.starts_with('p'));
        let h = if pm && h < 12.0 { h + 12.0 } else { h };
        let n = Number::new(whole.as_str(), clock(h, min), true);
        push(n, whole.start(), whole.end(), taken);
    }
    for m in HOUR.captures_iter(text) {
        let whole = m.get(0).expect("match");
        let digits = m.get(2).or(m.get(3)).expect("an hour");
        let h: f64 = digits.as_str().parse().unwrap_or(99.0);
        if h > 24.0 {
            continue;
        }
        // "18h" is French; in other languages "h" after a number is hours of time spent.
        if m.get(6).is_some() && lang != "fr" {
            continue;
        }
        let n = match m.get(4).map(|x| x.as_str().to_lowercase()) {
            Some(half) => {
                let h = match (half.as_str(), h) {
                    ("p", h) if h < 12.0 => h + 12.0,
                    ("a", 12.0) => 0.0,
                    _ => h,
                };
                Number::new(whole.as_str(), clock(h, 0.0), true)
            }
            None => time(whole.as_str(), h, 0.0, m.get(7).is_some()),
        };
        push(n, whole.start(), whole.end(), taken);
    }
    if matches!(lang, "zh" | "ja") {
        for m in CHINESE.captures_iter(text) {
            let whole = m.get(0).expect("match");
            let h: f64 = m[2].parse().unwrap_or(99.0);
            let min: f64 = match (m.get(3), m.get(4)) {
                (Some(x), _) => x.as_str().parse().unwrap_or(99.0),
                (None, Some(_)) => 30.0,
                _ => 0.0,
            };
            if h > 24.0 || min > 59.0 {
                continue;
            }
            let n = match m.get(1).map(|x| x.as_str()) {
                Some("下午" | "午后" | "晚上" | "傍晚" | "夜里" | "夜间") if h < 12.0 => {
                    time(whole.as_str(), h + 12.0, min, false)
                }
                Some(_) => time(whole.as_str(), h, min, false),
                None => time(whole.as_str(), h, min, true),
            };
            push(n, whole.start(), whole.end(), taken);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, lang: &str) -> Vec<(f64, Vec<f64>)> {
        let mut taken = vec![false; text.len()];
        times(text, lang, lang != "en" && lang != "zh", &mut taken)
            .into_iter()
            .map(|n| (n.value - 10_000.0, n.alts))
            .collect()
    }

    #[test]
    fn clock_times_in_their_forms() {
        assert_eq!(read("kl. 14.30 i dag", "da"), [(870.0, vec![])]);
        assert_eq!(read("at 2:30 pm today", "en"), [(870.0, vec![])]);
        assert_eq!(
            read("à 14h30, puis 18h", "fr"),
            [(870.0, vec![]), (1080.0, vec![18.0])]
        );
        assert_eq!(
            read("from 3 pm to 11 a.m.", "en"),
            [(900.0, vec![]), (660.0, vec![])]
        );
        assert_eq!(
            read("kl. 10 og 18 Uhr", "da"),
            [(600.0, vec![10.0]), (1080.0, vec![18.0])]
        );
        assert_eq!(
            read("下午3点和晚上8点半", "zh"),
            [(900.0, vec![15.0]), (1230.0, vec![])]
        );
        // No half of the day: either.
        assert_eq!(read("3点", "zh"), [(180.0, vec![10_000.0 + 900.0, 3.0])]);
        // "5h" outside French is a duration.
        assert!(read("it took 5h", "en").is_empty());
    }
}
