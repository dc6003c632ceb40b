//! Cutting an over-long sentence into pieces that each fit the model's token limit.
//!
//! Safe cut points, best first: after `;`, after `:`, before a free-standing dash (` – `, ` - `, ` — `),
//! after `,` (and the CJK forms `；：，、`), then any whitespace, then, for text with no whitespace at all
//! (Chinese, Japanese, a long URL), between characters. Each cut is taken near the middle of the text at
//! the best level that has one, and the halves are cut again until they fit.
//! This module must never drop, add or reorder text and never panic, whatever the counting closure says.

/// One piece of a cut sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongPiece {
    /// The text to translate (trimmed, never empty).
    pub text: String,
    /// What stood between this piece and the next in the source: whitespace, or `""` after a cut between
    /// characters or after CJK punctuation; always `""` for the last piece.
    pub after: String,
}

/// Cut `sentence` into pieces of at most `max_tokens` tokens as counted by `count_tokens`.
///
/// Joining the pieces with single spaces gives the sentence back up to whitespace runs, except where a cut
/// fell between characters or after CJK punctuation (join with nothing there; [`split_long_glued`] says
/// which). Empty or whitespace-only input gives an empty vector. A piece of one character that still does
/// not fit is returned as it is.
pub fn split_long(
    sentence: &str,
    max_tokens: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<String> {
    split_long_glued(sentence, max_tokens, count_tokens)
        .into_iter()
        .map(|p| p.text)
        .collect()
}

/// As [`split_long`], keeping what stood between the pieces: [`rejoin`] gives back `sentence.trim()` exactly.
pub fn split_long_glued(
    sentence: &str,
    max_tokens: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<LongPiece> {
    let mut out = Vec::new();
    let trimmed = sentence.trim();
    if trimmed.is_empty() {
        return out;
    }
    // Explicit stack, left piece on top, so order is kept and depth is no concern.
    let mut stack: Vec<(&str, String)> = vec![(trimmed, String::new())];
    while let Some((s, after)) = stack.pop() {
        let cut = if count_tokens(s) > max_tokens {
            best_cut(s)
        } else {
            None
        };
        match cut {
            Some((l_end, r_start)) => {
                stack.push((&s[r_start..], after));
                stack.push((&s[..l_end], s[l_end..r_start].to_string()));
            }
            None => out.push(LongPiece {
                text: s.to_string(),
                after,
            }),
        }
    }
    out
}

/// The pieces joined with what stood between them.
pub fn rejoin(pieces: &[LongPiece]) -> String {
    pieces.iter().fold(String::new(), |mut acc, p| {
        acc.push_str(&p.text);
        acc.push_str(&p.after);
        acc
    })
}

/// A cut as (end of left piece, start of right piece), both byte offsets; left and right are non-empty
/// and the bytes between them are whitespace.
type Cut = (usize, usize);

fn best_cut(s: &str) -> Option<Cut> {
    let mid = s.len() / 2;
    (0..6).find_map(|level| {
        let cuts = match level {
            0 => after_punct(s, ';', &['；']),
            1 => after_punct(s, ':', &['：']),
            2 => before_dash(s),
            3 => after_punct(s, ',', &['，', '、']),
            4 => whitespace(s),
            _ => char_boundaries(s),
        };
        cuts.into_iter()
            .filter(|&(l, r)| l > 0 && r < s.len() && l <= r)
            .min_by_key(|&(l, r)| ((l + r) / 2).abs_diff(mid))
    })
}

/// After `ascii` when whitespace follows, or after `cjk` with or without whitespace.
fn after_punct(s: &str, ascii: char, cjk: &[char]) -> Vec<Cut> {
    let mut cuts = Vec::new();
    for (i, c) in s.char_indices() {
        let is_cjk = cjk.contains(&c);
        if c != ascii && !is_cjk {
            continue;
        }
        let l = i + c.len_utf8();
        let rest = &s[l..];
        let r = l + (rest.len() - rest.trim_start().len());
        if r > l || is_cjk {
            cuts.push((l, r));
        }
    }
    cuts
}

/// Before a dash standing between spaces: "a – b" gives "a" and "– b".
fn before_dash(s: &str) -> Vec<Cut> {
    let cs: Vec<(usize, char)> = s.char_indices().collect();
    let mut cuts = Vec::new();
    for k in 1..cs.len().saturating_sub(1) {
        let (b, c) = cs[k];
        if matches!(c, '-' | '–' | '—')
            && cs[k + 1].1.is_whitespace()
            && cs[k - 1].1.is_whitespace()
        {
            let l = s[..b].trim_end().len();
            cuts.push((l, b));
        }
    }
    cuts
}

fn whitespace(s: &str) -> Vec<Cut> {
    let mut cuts = Vec::new();
    let mut run: Option<usize> = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), run) {
            (true, None) => run = Some(i),
            (false, Some(st)) => {
                cuts.push((st, i));
                run = None;
            }
            _ => {}
        }
    }
    cuts
}

/// Between characters, never before a combining mark, joiner or variation selector.
fn char_boundaries(s: &str) -> Vec<Cut> {
    s.char_indices()
        .skip(1)
        .filter(|&(_, c)| {
            !matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x20D0..=0x20FF | 0x200C | 0x200D
                | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F | 0xE0100..=0xE01EF | 0x3099 | 0x309A)
        })
        .map(|(i, _)| (i, i))
        .collect()
}
