//! Tidy English as a translation model's tokens leave it. Models whose vocabularies split
//! apostrophes and punctuation into tokens of their own print "China ' s", "do n't",
//! "profit , up" or "( IMF )"; Chinese-trained models let full-width punctuation and digits
//! ("，", "：", "５") through into English. [`tidy_english`] joins and converts these, and
//! changes nothing else: words, numbers and their order stay as the model wrote them.
//!
//! It is on by default for every translation (tolk translates into English); `--raw` (and
//! [`super::translate::Translator::set_tidy`]) turns it off, as the parity tests do, which
//! compare the model's own output with the reference implementations'.

use std::sync::LazyLock;

use regex::Regex;

struct Rules {
    /// "China ' s", "China 's", "China' s" → "China's" (also 're 've 'll 'd 'm 't).
    clitic: Regex,
    /// "do n't", "do n ' t" → "don't".
    negation: Regex,
    /// A space before closing punctuation.
    before_close: Regex,
    /// A space after an opening bracket.
    after_open: Regex,
    spaces: Regex,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| Rules {
    clitic: Regex::new(r"(\w) ?(['’]) ?(s|re|ve|ll|d|m|t)\b").expect("valid regex"),
    negation: Regex::new(r"(\w) n ?(['’]) ?t\b").expect("valid regex"),
    before_close: Regex::new(r"(\S) +([,.;:!?%)\]}])").expect("valid regex"),
    after_open: Regex::new(r"([(\[{]) +").expect("valid regex"),
    spaces: Regex::new(r" {2,}").expect("valid regex"),
});

/// Full-width and CJK punctuation that English writes in ASCII, with the space that follows it
/// in English.
fn ascii_for(c: char) -> Option<&'static str> {
    Some(match c {
        '，' | '、' => ", ",
        '。' => ". ",
        '；' => "; ",
        '：' => ": ",
        '！' => "! ",
        '？' => "? ",
        '（' => " (",
        '）' => ") ",
        '\u{3000}' => " ",
        _ => return None,
    })
}

/// Whether `text` is mostly written in Latin letters (so CJK punctuation in it is a leak, not
/// part of text the model left untranslated).
fn mostly_latin(text: &str) -> bool {
    let latin = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
    let cjk = text
        .chars()
        .filter(|&c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}'))
        .count();
    latin > cjk
}

/// `text` with token-split apostrophes and punctuation joined, and full-width punctuation and
/// digits written in ASCII where the text is English.
pub fn tidy_english(text: &str) -> String {
    let rules = &*RULES;
    let mut s = String::with_capacity(text.len());
    if mostly_latin(text) {
        for c in text.chars() {
            match (ascii_for(c), c) {
                (Some(a), _) => s.push_str(a),
                // Full-width ASCII forms (digits, letters, signs) → ASCII.
                (None, '\u{ff01}'..='\u{ff5e}') => {
                    s.push(char::from_u32(c as u32 - 0xfee0).unwrap_or(c))
                }
                (None, _) => s.push(c),
            }
        }
    } else {
        s.push_str(text);
    }
    let s = rules.negation.replace_all(&s, "${1}n${2}t");
    let s = rules.clitic.replace_all(&s, "${1}${2}${3}");
    let s = rules.after_open.replace_all(&s, "${1}");
    // Runs like "15 % ," overlap; each pass joins every other one.
    let mut s = s.into_owned();
    while rules.before_close.is_match(&s) {
        s = rules.before_close.replace_all(&s, "${1}${2}").into_owned();
    }
    rules.spaces.replace_all(&s, " ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::tidy_english as tidy;

    #[test]
    fn split_apostrophes_join() {
        assert_eq!(
            tidy("expressed China ' s readiness"),
            "expressed China's readiness"
        );
        assert_eq!(
            tidy("The company 's net profit"),
            "The company's net profit"
        );
        assert_eq!(tidy("People' s Congress"), "People's Congress");
        assert_eq!(
            tidy("We do n't know, they ' re sure"),
            "We don't know, they're sure"
        );
        assert_eq!(tidy("It is n ' t"), "It isn't");
        assert_eq!(tidy("the minister’ s view"), "the minister’s view");
    }

    #[test]
    fn punctuation_spacing() {
        assert_eq!(
            tidy("profit fell 15 % , analysts said . ( IMF ) rose !"),
            "profit fell 15%, analysts said. (IMF) rose!"
        );
        assert_eq!(tidy("Yes ... no ?"), "Yes... no?");
    }

    #[test]
    fn full_width_forms_in_english_become_ascii() {
        assert_eq!(
            tidy("GDP grew ５.２％，turnout was 67.3％。"),
            "GDP grew 5.2%, turnout was 67.3%."
        );
        assert_eq!(tidy("He said：yes（really）"), "He said: yes (really)");
    }

    #[test]
    fn text_that_is_not_english_keeps_its_punctuation() {
        assert_eq!(tidy("国家统计局，今天"), "国家统计局，今天");
    }

    #[test]
    fn clean_english_is_unchanged() {
        for s in [
            "The National Statistics Office published the latest data today.",
            "Rock 'n' roll, the 1990s and the '80s.",
            "\"Quoted,\" she said - and left.",
            "It cost $3.8 billion (2.1 per cent) on 5 May.",
            "",
        ] {
            assert_eq!(tidy(s), s, "{s:?}");
        }
    }
}
