//! Splitting an article into lines and sentences, and putting translations back in the same layout.
//!
//! [`segment`] / [`segment_lang`] turn plain text into a [`Document`]: one [`Line`] per input line, each with
//! a kept prefix (indentation, a leading dialogue dash) and the sentences to translate, separated by the
//! exact whitespace found between them. [`segment_lines`] is the `--lines` mode: one unit per line.
//! [`Document::reassemble`] puts translated sentences back; with the sentences themselves it gives the input
//! back exactly, except that trailing whitespace of each line is dropped and `\r\n` becomes `\n`.
//!
//! Splitting is rule- and table-driven (see [`abbrev`] for the abbreviation lists): it errs on the side of not
//! splitting, since a missed split costs the translator little and a wrong one cuts a sentence in two.
//! This module must never drop or reorder text, never panic on any input, and never see models or tokens
//! (except through the caller's counting closure in [`split_long`]).

pub mod abbrev;
mod long;

pub use abbrev::Abbreviations;
pub use long::{rejoin, split_long, split_long_glued, LongPiece};

use crate::error::{Error, Result};

/// A segmented article.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// The lines, in order; an empty input line is a `Line` with no prefix and no sentences.
    pub lines: Vec<Line>,
    /// The input ended with a line break (reassembly writes one back).
    pub ends_with_newline: bool,
}

/// One input line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// Kept verbatim, never translated: indentation, then a dialogue dash with its spaces. A line with no
    /// letter or digit at all ("***", "—") is all prefix.
    pub prefix: String,
    /// The sentences to translate, trimmed, never empty strings.
    pub sentences: Vec<String>,
    /// The whitespace between sentence `i` and `i + 1` (`sentences.len() - 1` of them, or none); empty
    /// between CJK sentences.
    pub separators: Vec<String>,
}

/// Segment `text` into lines and sentences with the union of all languages' abbreviation lists.
pub fn segment(text: &str) -> Document {
    segment_lang(text, None)
}

/// Segment `text` with the abbreviation list of `lang` ("da", "de", "sv-SE", "deu"...). `None` or an unknown
/// code uses the union of all lists.
pub fn segment_lang(text: &str, lang: Option<&str>) -> Document {
    let abbr = Abbreviations::for_lang(lang);
    build(text, |line| {
        let (prefix, body) = split_prefix(line, true);
        let (sentences, separators) = split_sentences(body, &abbr);
        Line {
            prefix: prefix.to_string(),
            sentences,
            separators,
        }
    })
}

/// The `--lines` mode: every non-empty line is one unit to translate. Only the indentation is kept as the
/// prefix; a dialogue dash stays in the unit (the caller asked for lines as they are). As in [`segment`],
/// a line with no letter or digit is all prefix and is not translated.
pub fn segment_lines(text: &str) -> Document {
    build(text, |line| {
        let (prefix, body) = split_prefix(line, false);
        Line {
            prefix: prefix.to_string(),
            sentences: if body.is_empty() {
                Vec::new()
            } else {
                vec![body.to_string()]
            },
            separators: Vec::new(),
        }
    })
}

fn build(text: &str, mut per_line: impl FnMut(&str) -> Line) -> Document {
    let ends_with_newline = text.ends_with('\n');
    let mut raw: Vec<&str> = text.split('\n').collect();
    if ends_with_newline || text.is_empty() {
        raw.pop();
    }
    let lines = raw
        .into_iter()
        .map(|l| {
            let line = l.trim_end();
            if line.chars().any(char::is_alphanumeric) {
                per_line(line)
            } else {
                Line {
                    prefix: line.to_string(),
                    ..Line::default()
                }
            }
        })
        .collect();
    Document {
        lines,
        ends_with_newline,
    }
}

impl Document {
    /// All sentences to translate, line by line, in order.
    pub fn sentences(&self) -> impl Iterator<Item = &str> + '_ {
        self.lines
            .iter()
            .flat_map(|l| l.sentences.iter().map(String::as_str))
    }

    /// How many sentences [`Document::sentences`] yields (and [`Document::reassemble`] expects).
    pub fn sentence_count(&self) -> usize {
        self.lines.iter().map(|l| l.sentences.len()).sum()
    }

    /// The 0-based line of each sentence, in [`Document::sentences`] order.
    pub fn sentence_lines(&self) -> Vec<usize> {
        self.lines
            .iter()
            .enumerate()
            .flat_map(|(i, l)| std::iter::repeat_n(i, l.sentences.len()))
            .collect()
    }

    /// The layout with `translated[i]` in place of the `i`-th sentence. Each translation is trimmed; an
    /// empty one is left out with its separator. Where the source had no space between two sentences (CJK)
    /// a single space is put between two translations that are not CJK at the join. Each line's trailing
    /// whitespace is dropped. Errors when `translated` does not hold exactly [`Document::sentence_count`]
    /// items.
    pub fn reassemble<S: AsRef<str>>(&self, translated: &[S]) -> Result<String> {
        let expected = self.sentence_count();
        if translated.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "reassembly needs one translation per sentence: the document has {expected} sentences \
                 but {} translations were given",
                translated.len()
            )));
        }
        let mut out = String::new();
        let mut next = translated.iter().map(|s| s.as_ref().trim());
        for (li, line) in self.lines.iter().enumerate() {
            if li > 0 {
                out.push('\n');
            }
            let mut text = line.prefix.clone();
            let mut prev: Option<&str> = None;
            for (si, _) in line.sentences.iter().enumerate() {
                let piece = next.next().unwrap_or_default();
                if piece.is_empty() {
                    continue;
                }
                if let Some(p) = prev {
                    let sep = line.separators.get(si - 1).map(String::as_str);
                    match sep {
                        Some(s) if !s.is_empty() => text.push_str(s),
                        _ if needs_space(p, piece) => text.push(' '),
                        _ => {}
                    }
                }
                text.push_str(piece);
                prev = Some(piece);
            }
            out.push_str(text.trim_end());
        }
        if self.ends_with_newline {
            out.push('\n');
        }
        Ok(out)
    }

    /// The document with its own sentences: the input, normalised (no trailing whitespace, `\n` endings).
    pub fn to_text(&self) -> String {
        let own: Vec<&str> = self.sentences().collect();
        self.reassemble(&own).unwrap_or_default()
    }
}

/// Characters after which a `.`/`!`/`?` run may be followed by a closing quote or bracket.
fn is_closing(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '”'
            | '“'
            | '’'
            | '»'
            | '«'
            | '›'
            | '‹'
            | ')'
            | ']'
            | '}'
            | '」'
            | '』'
            | '）'
            | '】'
    )
}

/// Characters that may open a sentence (quotes, brackets, Spanish inverted marks).
fn is_opening(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '“'
            | '„'
            | '‘'
            | '‚'
            | '«'
            | '»'
            | '‹'
            | '›'
            | '('
            | '['
            | '{'
            | '¿'
            | '¡'
            | '「'
            | '『'
            | '（'
            | '【'
    )
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '–' | '—' | '―')
}

fn is_latin_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

fn is_cjk_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

/// CJK ideographs, kana, hangul, CJK punctuation and full-width forms: scripts written without spaces.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FFF | 0x3000..=0x303F | 0x3040..=0x30FF | 0x3100..=0x31FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x2FFFF)
}

/// Between two translated pieces whose source had no space: put one unless the join is CJK.
fn needs_space(left: &str, right: &str) -> bool {
    let quote = |c: char| is_closing(c) || is_opening(c) || c.is_whitespace();
    let l = left.chars().rev().find(|&c| !quote(c));
    let r = right.chars().find(|&c| !quote(c));
    matches!((l, r), (Some(l), Some(r)) if !is_cjk(l) && !is_cjk(r))
}

/// Split a trimmed-right line into (kept prefix, body to translate).
fn split_prefix(line: &str, dialogue: bool) -> (&str, &str) {
    let indent = line
        .char_indices()
        .find(|&(_, c)| !(c.is_whitespace() || c == '\u{feff}'))
        .map_or(line.len(), |(i, _)| i);
    if !dialogue {
        return line.split_at(indent);
    }
    let rest = &line[indent..];
    let mut chars = rest.chars();
    let end = match (chars.next(), chars.next()) {
        (Some(d), Some(n)) if is_dash(d) && n.is_whitespace() => {
            let after = &rest[d.len_utf8()..];
            let ws = after.len() - after.trim_start().len();
            indent + d.len_utf8() + ws
        }
        (Some(d), Some(n)) if is_dash(d) && (n.is_alphabetic() || is_opening(n)) => {
            indent + d.len_utf8()
        }
        _ => indent,
    };
    line.split_at(end)
}

/// Split one line body (no leading/trailing whitespace) into sentences and the whitespace between them.
pub fn split_sentences(body: &str, abbr: &Abbreviations) -> (Vec<String>, Vec<String>) {
    let cs: Vec<(usize, char)> = body.char_indices().collect();
    let n = cs.len();
    let byte_at = |k: usize| cs.get(k).map_or(body.len(), |&(b, _)| b);
    let mut sentences = Vec::new();
    let mut separators = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    while i < n {
        let c = cs[i].1;
        if !(is_latin_terminator(c) || is_cjk_terminator(c)) {
            i += 1;
            continue;
        }
        let run_start = i;
        let mut j = i;
        while j < n && (is_latin_terminator(cs[j].1) || is_cjk_terminator(cs[j].1)) {
            j += 1;
        }
        let run_end = j;
        let run: String = cs[run_start..run_end].iter().map(|&(_, c)| c).collect();
        let cjk = run.chars().any(is_cjk_terminator);
        // In CJK text “ always opens a quote; in German („Ja.“) it closes one.
        while j < n && is_closing(cs[j].1) && !(cjk && cs[j].1 == '“') {
            j += 1;
        }
        let mut had_close = j > run_end;
        let mut ws_start = j;
        while j < n && cs[j].1.is_whitespace() {
            j += 1;
        }
        // A spaced closing quote (French « Oui. ») belongs to the sentence before it.
        if j > ws_start
            && j < n
            && is_closing(cs[j].1)
            && cs.get(j + 1).is_none_or(|&(_, c)| c.is_whitespace())
        {
            j += 1;
            had_close = true;
            ws_start = j;
            while j < n && cs[j].1.is_whitespace() {
                j += 1;
            }
        }
        let had_ws = j > ws_start;
        if j >= n {
            break;
        }
        let split = if cjk {
            // Without a space, the run must end in 。！？ so that reassembly can tell the join is CJK.
            let ends_cjk = is_cjk_terminator(cs[run_end - 1].1);
            (had_ws || ends_cjk) && (!had_close || had_ws || is_opening(cs[j].1))
        } else {
            had_ws
                && starts_sentence(cs[j].1)
                && !keeps_together(body, &cs, run_start, &run, j, abbr)
        };
        if split {
            sentences.push(body[start..byte_at(ws_start)].to_string());
            separators.push(body[byte_at(ws_start)..byte_at(j)].to_string());
            start = byte_at(j);
        }
        i = j.max(i + 1);
    }
    let last = body[start..].trim_end();
    if !last.is_empty() {
        sentences.push(last.to_string());
    } else if !separators.is_empty() {
        separators.pop();
    }
    (sentences, separators)
}

/// The next word may begin a sentence: upper-case, a digit, a caseless script, a quote, bracket or dash.
fn starts_sentence(c: char) -> bool {
    c.is_uppercase()
        || c.is_numeric()
        || is_opening(c)
        || is_dash(c)
        || (c.is_alphabetic() && !c.is_lowercase())
}

/// A `.`/`…` run at `run_start` that looks like a sentence end must still not split the sentence.
fn keeps_together(
    body: &str,
    cs: &[(usize, char)],
    run_start: usize,
    run: &str,
    next: usize,
    abbr: &Abbreviations,
) -> bool {
    // The word before the run, back to whitespace or an opening quote/bracket.
    let mut w = run_start;
    while w > 0 && !cs[w - 1].1.is_whitespace() && !is_opening(cs[w - 1].1) {
        w -= 1;
    }
    let word = &body[cs.get(w).map_or(body.len(), |p| p.0)..cs[run_start].0];
    if run != "." && run.chars().all(|c| c == '.' || c == '…') {
        // "(...)", "[…]" mark an omission; a free-standing " … " is a pause.
        let before = run_start.checked_sub(1).map(|k| cs[k].1);
        return word.is_empty() && before.is_some_and(|b| b.is_whitespace() || is_opening(b));
    }
    if run != "." || word.is_empty() {
        return false;
    }
    let with_dot = format!("{}.", word.to_lowercase());
    let letters_between_dots = |upper_only: bool| {
        with_dot.trim_end_matches('.').split('.').all(|seg| {
            let mut it = seg.chars();
            matches!((it.next(), it.next()), (Some(c), None) if c.is_alphabetic())
        }) && (!upper_only || word.chars().all(|c| c == '.' || c.is_uppercase()))
    };
    if letters_between_dots(true) {
        return true; // initials: "F.", "J.R.R.", "U.S."
    }
    if abbr.never_ends(&with_dot) {
        return true;
    }
    if abbr.may_end(&with_dot) {
        return false;
    }
    if letters_between_dots(false) {
        return true; // "e.g.", "z.B.", "p." in "p. ex."
    }
    if word.chars().all(|c| c.is_ascii_digit()) {
        // "<number>." before a month ("3. Oktober") or after an ordinal cue ("am 3. Tag") is an ordinal.
        let next_word: String = cs[next..]
            .iter()
            .map(|&(_, c)| c)
            .take_while(|c| c.is_alphabetic())
            .collect();
        if abbrev::is_month(&next_word) {
            return true;
        }
        let mut p = w;
        while p > 0 && cs[p - 1].1.is_whitespace() {
            p -= 1;
        }
        let prev_end = p;
        while p > 0 && cs[p - 1].1.is_alphabetic() {
            p -= 1;
        }
        if p < prev_end {
            let prev =
                body[cs[p].0..cs[prev_end - 1].0 + cs[prev_end - 1].1.len_utf8()].to_lowercase();
            return abbr.is_ordinal_cue(&prev);
        }
    }
    false
}

#[cfg(test)]
mod tests;
