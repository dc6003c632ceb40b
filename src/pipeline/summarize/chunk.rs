//! Cutting a text that is too long for a model into consecutive chunks that each fit.
//!
//! Chunks follow the text's own structure: whole sentences (paragraph breaks kept as line
//! breaks) are packed greedily in order; a sentence longer than the budget is cut at safe points
//! by [`split_long`]. Nothing is dropped, added or reordered; only whitespace between sentences
//! may change. This module never touches a model; it only calls the token counter it is given.

use crate::error::{Error, Result};
use crate::pipeline::segment::{segment_lang, split_long};

/// Cut `text` into chunks of at most `budget` tokens as `count` measures them.
///
/// Errors when a single piece cannot be brought under the budget (a budget smaller than one
/// word, say) rather than truncating it.
pub fn chunk_text(
    text: &str,
    budget: usize,
    count: &dyn Fn(&str) -> Result<usize>,
) -> Result<Vec<String>> {
    if budget == 0 {
        return Err(Error::InvalidArgument(
            "the model leaves no room for input text; use a model with a longer context".into(),
        ));
    }
    let counted = |s: &str| count(s).unwrap_or(usize::MAX);
    // Units in order, each with what joins it to the previous unit.
    let mut units: Vec<(String, &'static str)> = Vec::new();
    let doc = segment_lang(text, Some("en"));
    let mut paragraph_break = false;
    for line in &doc.lines {
        if line.sentences.is_empty() {
            paragraph_break = true;
            continue;
        }
        let mut first = true;
        for s in &line.sentences {
            let joiner = match (units.is_empty(), first, paragraph_break) {
                (true, _, _) => "",
                (false, true, true) => "\n\n",
                (false, true, false) => "\n",
                (false, false, _) => " ",
            };
            first = false;
            let prefix = line.prefix.trim();
            let full = if prefix.is_empty() {
                s.clone()
            } else {
                format!("{prefix} {s}")
            };
            if counted(&full) <= budget {
                units.push((full, joiner));
            } else {
                for (k, piece) in split_long(&full, budget, &counted).into_iter().enumerate() {
                    if count(&piece)? > budget {
                        return Err(Error::InvalidArgument(format!(
                            "a piece of text ({} characters) cannot be cut below the model's input budget of {budget} tokens",
                            piece.chars().count()
                        )));
                    }
                    units.push((piece, if k == 0 { joiner } else { " " }));
                }
            }
        }
        paragraph_break = false;
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for (unit, joiner) in units {
        if current.is_empty() {
            current = unit;
            continue;
        }
        let candidate = format!("{current}{joiner}{unit}");
        if count(&candidate)? <= budget {
            current = candidate;
        } else {
            chunks.push(std::mem::replace(&mut current, unit));
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Result<usize> {
        Ok(s.split_whitespace().count())
    }

    #[test]
    fn short_text_is_one_chunk() {
        let text = "First sentence here. Second one.\n\nA new paragraph.";
        let chunks = chunk_text(text, 100, &words).unwrap();
        assert_eq!(
            chunks,
            vec!["First sentence here. Second one.\n\nA new paragraph."]
        );
    }

    #[test]
    fn sentences_are_packed_in_order_within_budget() {
        let text = "One two three. Four five six. Seven eight nine. Ten eleven twelve.";
        let chunks = chunk_text(text, 7, &words).unwrap();
        assert_eq!(
            chunks,
            vec![
                "One two three. Four five six.",
                "Seven eight nine. Ten eleven twelve."
            ]
        );
        for c in &chunks {
            assert!(words(c).unwrap() <= 7);
        }
    }

    #[test]
    fn a_long_sentence_is_cut_and_nothing_is_lost() {
        let sentence = (1..=30)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
            + ".";
        let chunks = chunk_text(&sentence, 8, &words).unwrap();
        assert!(chunks.len() >= 4);
        let joined: Vec<String> = chunks
            .iter()
            .flat_map(|c| c.split_whitespace().map(str::to_string))
            .collect();
        let original: Vec<String> = sentence.split_whitespace().map(str::to_string).collect();
        assert_eq!(joined, original);
        assert!(chunks.iter().all(|c| words(c).unwrap() <= 8));
    }

    #[test]
    fn zero_budget_is_an_error() {
        assert!(chunk_text("Some text.", 0, &words).is_err());
    }

    #[test]
    fn empty_text_has_no_chunks() {
        assert!(chunk_text("", 10, &words).unwrap().is_empty());
        assert!(chunk_text("\n\n  \n", 10, &words).unwrap().is_empty());
    }
}
