//! Proper names: the persons, bodies, places and codes a translation must carry. Read from the
//! source as it writes them:
//!
//! - **codes**: acronyms and mixed forms copied through ("GDP", "5G", "ChatGPT", "iPhone",
//!   "COVID"), in any script's text;
//! - **Latin-script names in CJK text** ("特斯拉CEO Elon Musk"): every run of capitalized words;
//! - **capitalized runs in Latin text** ("Mette Frederiksen", "Banque de France"): a run is a
//!   name when a word of it is capitalized away from a sentence start, or it has two words
//!   (German, which capitalizes every noun: two words, one of them maybe a title, or a name the
//!   exonym table knows).
//!
//! A name is kept when a word of it reaches the translation (accents and case aside, with the
//! endings "Russia"/"Russian" or "Lavrovs"/"Lavrov" and transliterations within a third of
//! the letters: "Lawrow"/"Lavrov"), or one of its English forms does ([`super::exonyms`]:
//! "Rusland" as "Russia", "FN" as "UN"). Short codes match only as codes ("WHO", not "who").

use strsim::levenshtein;
use unicode_normalization::UnicodeNormalization;

use super::exonyms::english_forms;
use super::numbers::ascii_forms;
use super::wordlists::{common_noun, function_word, title, unit};

/// A word as compared: folded, and whether it is a code (acronym, mixed case, letters with
/// digits) written in capitals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub folded: String,
    /// Every letter a capital ("WHO", "5G"): such a word matches only a word in capitals.
    pub caps: bool,
    pub code: bool,
}

/// A name found in a source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// As the source writes it.
    pub text: String,
    /// Its last word that may match the translation (titles and function words left out):
    /// "Rasmussen" of "Lars Løkke Rasmussen", "Hotspur" of "Harry Kane von Tottenham Hotspur".
    head: Option<Word>,
    /// Its other words that may match.
    others: Vec<Word>,
    /// English forms from the exonym table of the stretches that end the name ("Det Røde Hav"
    /// as "Red Sea"), each as words.
    forms: Vec<Vec<Word>>,
    /// English forms of its other stretches ("Deutsche" of "Deutsche Wetterdienst": "German").
    part_forms: Vec<Vec<Word>>,
    /// Genitive "s" may be dropped ("Ruslands" is "Rusland").
    genitive: bool,
    /// A German name whose head is a long compound ("Wetterdienst", "Bundesamt"): a common
    /// noun the translation translates, so another word of the name may stand for it.
    compound_head: bool,
}

/// Lower case, accents removed, and ø/æ/œ/ß/ł spelled with plain letters.
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        match c {
            'ø' | 'Ø' => out.push('o'),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'ı' => out.push('i'),
            '₂' => out.push('2'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The folded words of a phrase: "États-Unis" is `["etats", "unis"]`.
pub fn fold_phrase(phrase: &str) -> Vec<String> {
    tokens(phrase).into_iter().map(|t| fold(t.text)).collect()
}

/// The words of `text` as compared.
pub fn words(text: &str) -> Vec<Word> {
    tokens(&ascii_forms(text))
        .into_iter()
        .map(|t| word(t.text))
        .collect()
}

fn word(text: &str) -> Word {
    let shape = shape(text);
    let letters = text.chars().filter(|c| c.is_alphabetic());
    let caps = letters.clone().count() >= 1 && letters.clone().all(char::is_uppercase);
    Word {
        folded: fold(text),
        caps: caps && shape == Shape::Code,
        code: shape == Shape::Code,
    }
}

/// Ideographs, kana, hangul and CJK punctuation: they separate Latin words in CJK text.
fn cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FFF | 0x3000..=0x30FF | 0x3100..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x2FFFF)
}

fn word_char(c: char) -> bool {
    (c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c) || c == '₂')
        && !cjk(c)
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (word_char(c) && i < text.len(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Token {
                    text: &text[s..i],
                    start: s,
                    end: i,
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Lower,
    /// Capitalized: "Lavrov", "Rusland".
    Cap,
    /// Acronym, mixed case or letters with digits: "GDP", "ChatGPT", "iPhone", "5G".
    Code,
    Digits,
}

fn shape(w: &str) -> Shape {
    let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
    let Some(&first) = letters.first() else {
        return Shape::Digits;
    };
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    let digits = w.chars().any(char::is_numeric);
    if upper >= 2 || (upper >= 1 && (digits || first.is_lowercase())) {
        Shape::Code
    } else if upper == 1 {
        Shape::Cap
    } else {
        Shape::Lower
    }
}

/// Lower-case words that may join the capitalized words of one name ("Banque de France").
const CONNECTORS: &[&str] = &[
    "de", "du", "des", "la", "le", "von", "van", "der", "den", "zu", "af", "di", "da", "del", "of",
    "al", "bin", "ibn",
];

/// Whether the words `gap` separates belong to one run: a space or a hyphen, nothing else.
fn joins(gap: &str) -> bool {
    matches!(gap, " " | "\u{a0}" | "-")
}

/// Whether the token starting at `start` starts a sentence (or a quotation).
fn initial(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end();
    match before.chars().last() {
        None => true,
        Some(c) => ".!?:;…«»„“”\"'‹›([–—".contains(c) || (c == '-' && before.len() < start),
    }
}

fn lang_base(lang: &str) -> &str {
    lang.split(['-', '_']).next().unwrap_or(lang)
}

/// The names of `text`, written in language `lang`.
pub fn names(text: &str, lang: &str) -> Vec<Name> {
    let lang = lang_base(lang);
    let text = ascii_forms(text);
    let cjk_text = matches!(lang, "zh" | "ja" | "ko");
    let toks = tokens(&text);
    let shapes: Vec<Shape> = toks.iter().map(|t| shape(t.text)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if shapes[i] == Shape::Code {
            if !code_unit(t.text) {
                out.push(name_of(&text, &toks[i..=i], lang, &[true]));
            }
            i += 1;
            continue;
        }
        if shapes[i] != Shape::Cap {
            i += 1;
            continue;
        }
        // A run of capitalized words, joined by spaces, hyphens and connectors.
        let mut j = i + 1;
        while j < toks.len() && joins(&text[toks[j - 1].end..toks[j].start]) {
            if shapes[j] == Shape::Cap {
                j += 1;
            } else if j + 1 < toks.len()
                && CONNECTORS.contains(&toks[j].text)
                && shapes[j + 1] == Shape::Cap
                && joins(&text[toks[j].end..toks[j + 1].start])
            {
                j += 2;
            } else {
                break;
            }
        }
        let run = &toks[i..j];
        let counted: Vec<bool> = run
            .iter()
            .map(|t| {
                let f = fold(t.text);
                let sentence_word = initial(&text, t.start) && function_word(&f, lang);
                shape(t.text) == Shape::Cap && !common_noun(&f, lang) && !sentence_word && !unit(&f)
            })
            .collect();
        let name = name_of(&text, run, lang, &counted);
        // Words a hyphen joins are one ("Ja-Stimmen" is one German noun).
        let n = (0..run.len())
            .filter(|&k| counted[k] && (k == 0 || &text[run[k - 1].end..run[k].start] != "-"))
            .count();
        let away_from_start = run
            .iter()
            .zip(&counted)
            .any(|(t, c)| *c && !initial(&text, t.start));
        let is_name = name.head.is_some() || !name.forms.is_empty();
        let qualifies =
            cjk_text || !name.forms.is_empty() || n >= 2 || (lang != "de" && away_from_start);
        if is_name && qualifies {
            out.push(name);
        }
        i = j;
    }
    out
}

/// A code that is a unit after a number ("100MW", "kWh", "DKK"), not a name.
fn code_unit(text: &str) -> bool {
    let letters = text.trim_start_matches(|c: char| c.is_ascii_digit());
    // One capital after digits is a name ("5G", "3D"), not grams or tonnes.
    letters.chars().count() > 1 && unit(&fold(letters))
}

/// The name `run` spells; `counted` says which of its words may be matched (before titles
/// are taken out).
fn name_of(text: &str, run: &[Token], lang: &str, counted: &[bool]) -> Name {
    // Shown from its first counted word: "Efter Lavrovs besøg" names "Lavrovs".
    let first = counted.iter().position(|c| *c).unwrap_or(0);
    let (start, end) = (run[first].start, run[run.len() - 1].end);
    let mut matchable: Vec<Word> = run
        .iter()
        .zip(counted)
        .filter(|(t, c)| **c && !CONNECTORS.contains(&t.text))
        .map(|(t, _)| word(t.text))
        .filter(|w| w.code || !title(&w.folded))
        .collect();
    let head = matchable.pop();
    // Exonym forms of every stretch of the run.
    let folded: Vec<String> = run.iter().map(|t| fold(t.text)).collect();
    let (mut forms, mut part_forms): (Vec<Vec<Word>>, Vec<Vec<Word>>) = (Vec::new(), Vec::new());
    for a in 0..folded.len() {
        for b in a + 1..=folded.len() {
            let into = if b == folded.len() {
                &mut forms
            } else {
                &mut part_forms
            };
            for f in lookup(&folded[a..b], lang) {
                let ws = words(&f);
                if !into.contains(&ws) {
                    into.push(ws);
                }
            }
        }
    }
    let compound_head = lang == "de"
        && head
            .as_ref()
            .is_some_and(|h| !h.code && h.folded.chars().count() >= 9);
    Name {
        text: text[start..end].to_string(),
        head,
        others: matchable,
        forms,
        part_forms,
        genitive: genitive(lang),
        compound_head,
    }
}

/// The English forms of a stretch of words, as written or with the last word's ending
/// changed: a genitive "s" dropped ("Ruslands"), a Scandinavian definite ending added or
/// dropped ("Sikkerhedsråd" / "Sikkerhedsrådet").
fn lookup(stretch: &[String], lang: &str) -> Vec<String> {
    let found = english_forms(stretch, lang);
    if !found.is_empty() || !genitive(lang) {
        return found;
    }
    let last = &stretch[stretch.len() - 1];
    let mut variants: Vec<String> = Vec::new();
    if last.len() > 4 {
        variants.extend(last.strip_suffix('s').map(str::to_string));
    }
    if matches!(lang, "da" | "nb" | "no" | "sv") {
        for ending in ["en", "et", "n", "t", "ne", "ene", "erne"] {
            variants.push(format!("{last}{ending}"));
            if last.len() > ending.len() + 3 {
                variants.extend(last.strip_suffix(ending).map(str::to_string));
            }
        }
    }
    for v in variants {
        let mut s = stretch.to_vec();
        *s.last_mut().expect("a word") = v;
        let found = english_forms(&s, lang);
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

fn genitive(lang: &str) -> bool {
    matches!(lang, "da" | "de" | "nb" | "no" | "sv" | "nl")
}

/// Whether source word `w` is translation word `t`: equal, an ending apart, or (for longer
/// words) within a third of their letters. A code in capitals matches only one in capitals.
fn word_match(w: &Word, t: &Word) -> bool {
    if w.caps && w.folded.chars().count() <= 3 && !t.caps {
        return false;
    }
    let (a, b) = (w.folded.chars().count(), t.folded.chars().count());
    if w.folded == t.folded {
        return true;
    }
    if a >= 3 && b > a && b - a <= 3 && t.folded.starts_with(&w.folded) {
        return true;
    }
    if b >= 4 && a > b && a - b <= 2 && w.folded.starts_with(&t.folded) {
        return true;
    }
    !w.code && a >= 5 && b >= 5 && levenshtein(&w.folded, &t.folded) * 3 <= a.max(b)
}

/// Whether `phrase` occurs as consecutive words of `text`.
fn phrase_in(phrase: &[Word], text: &[Word]) -> bool {
    !phrase.is_empty()
        && text
            .windows(phrase.len())
            .any(|win| phrase.iter().zip(win).all(|(p, t)| word_match(p, t)))
}

impl Name {
    /// Whether `text` (its words) carries this name.
    pub fn found_in(&self, text: &[Word]) -> bool {
        let word_found = |w: &Word| {
            text.iter().any(|t| word_match(w, t))
                || (self.genitive
                    && w.folded.len() > 4
                    && w.folded.strip_suffix('s').is_some_and(|stem| {
                        let stem = Word {
                            folded: stem.to_string(),
                            ..w.clone()
                        };
                        text.iter().any(|t| word_match(&stem, t))
                    }))
        };
        let any_form = |forms: &[Vec<Word>]| forms.iter().any(|f| phrase_in(f, text));
        match &self.head {
            // A name of exonym words only ("Det", "Røde", "Hav" are no names alone).
            None => any_form(&self.forms) || any_form(&self.part_forms),
            Some(head) => {
                word_found(head)
                    || any_form(&self.forms)
                    || (self.compound_head
                        && (self.others.iter().any(word_found) || any_form(&self.part_forms)))
            }
        }
    }
}

/// The names of `source` (in `lang`) that `translation` does not carry, as the source writes them.
pub fn lost(source: &str, lang: &str, translation: &str) -> Vec<String> {
    let have = words(translation);
    names(source, lang)
        .into_iter()
        .filter(|n| !n.found_in(&have))
        .map(|n| n.text)
        .collect()
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
