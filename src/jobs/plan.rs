//! Which language each part of a document is in: the document is cut into paragraphs (runs of
//! non-blank lines). A language given by the record or the job's `--from` holds for all of
//! them. Otherwise each paragraph of at least [`MIN_LETTERS_FOR_OWN_LANGUAGE`] letters that is
//! reliably detected keeps its language; the document's language is the one with the most
//! letters among those (the whole text's detection when there are none), and the other
//! paragraphs take it.
//!
//! This module sees text and language codes only; which model serves a language is decided by
//! the caller. It must never lose text: the paragraphs and the blank runs between them always
//! join back to the input.

/// Tells which language a text is in.
pub trait Identify {
    /// The language (ISO 639-1, as the registry spells it) and whether the call is reliable;
    /// `None` when nothing can be said.
    fn identify(&self, text: &str) -> Option<(String, bool)>;
}

#[cfg(feature = "detect")]
impl Identify for crate::detect::Detector {
    fn identify(&self, text: &str) -> Option<(String, bool)> {
        self.detect(text).map(|d| (d.lang.to_string(), d.reliable))
    }
}

/// A paragraph needs at least this many letters before it may differ from its document's
/// language: shorter ones (bylines, datelines, names) are too easily mistaken.
pub const MIN_LETTERS_FOR_OWN_LANGUAGE: usize = 60;

/// A document cut into paragraphs, each with a language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The document's language; `None` when it has no letters at all.
    pub lang: Option<String>,
    /// Paragraphs and the blank runs between them, in order.
    pub parts: Vec<Part>,
}

/// A piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Lines to translate from `lang` (`None`: nothing to translate, e.g. "***").
    Paragraph { text: String, lang: Option<String> },
    /// Line breaks and blank lines, kept as they are.
    Gap(String),
}

impl Plan {
    /// The languages of the paragraphs, first-seen order, each once.
    pub fn languages(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Paragraph { lang: Some(l), .. } = p {
                if !out.contains(&l.as_str()) {
                    out.push(l);
                }
            }
        }
        out
    }
}

/// Why a document could not be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undetected;

/// Plan `text` (see the module docs). Errors when the text has letters but no language can be
/// told.
pub fn plan(text: &str, given: Option<&str>, identify: &dyn Identify) -> Result<Plan, Undetected> {
    let pieces = split_paragraphs(text);
    let has_letters = |s: &str| s.chars().any(char::is_alphabetic);
    if !has_letters(text) {
        return Ok(Plan {
            lang: None,
            parts: pieces
                .into_iter()
                .map(|(t, gap)| {
                    if gap {
                        Part::Gap(t.to_string())
                    } else {
                        Part::Paragraph {
                            text: t.to_string(),
                            lang: None,
                        }
                    }
                })
                .collect(),
        });
    }
    let letters = |s: &str| s.chars().filter(|c| c.is_alphabetic()).count();
    if let Some(lang) = given {
        let parts = pieces
            .into_iter()
            .map(|(t, gap)| match gap {
                true => Part::Gap(t.to_string()),
                false => Part::Paragraph {
                    text: t.to_string(),
                    lang: has_letters(t).then(|| lang.to_string()),
                },
            })
            .collect();
        return Ok(Plan {
            lang: Some(lang.to_string()),
            parts,
        });
    }
    // Paragraphs long enough to be told apart keep a reliable detection of their own.
    let own: Vec<Option<String>> = pieces
        .iter()
        .map(|&(t, gap)| {
            if gap || letters(t) < MIN_LETTERS_FOR_OWN_LANGUAGE {
                return None;
            }
            identify
                .identify(t)
                .and_then(|(l, reliable)| reliable.then_some(l))
        })
        .collect();
    // The document's language: the one with the most letters among those paragraphs, else
    // what the whole text looks like.
    let mut weight: Vec<(&str, usize)> = Vec::new();
    for (&(t, _), lang) in pieces.iter().zip(&own) {
        if let Some(l) = lang {
            match weight.iter_mut().find(|(w, _)| w == l) {
                Some((_, n)) => *n += letters(t),
                None => weight.push((l, letters(t))),
            }
        }
    }
    let majority = weight
        .iter()
        .fold(None::<(&str, usize)>, |best, &(l, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((l, n)),
        })
        .map(|(l, _)| l.to_string());
    let doc_lang = match majority {
        Some(l) => l,
        None => identify.identify(text).map(|(l, _)| l).ok_or(Undetected)?,
    };
    let parts = pieces
        .into_iter()
        .zip(own)
        .map(|((t, gap), own)| {
            if gap {
                return Part::Gap(t.to_string());
            }
            let lang = has_letters(t).then(|| own.unwrap_or_else(|| doc_lang.clone()));
            Part::Paragraph {
                text: t.to_string(),
                lang,
            }
        })
        .collect();
    Ok(Plan {
        lang: Some(doc_lang),
        parts,
    })
}

/// Cut `text` into paragraphs (`false`) and the line breaks / blank lines between them (`true`).
/// A paragraph is a run of lines with a non-whitespace character; it holds no line break at its
/// ends. Joining the pieces gives `text` back.
pub fn split_paragraphs(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut start = 0; // start of the current piece
    let mut in_para = false;
    let mut pos = 0;
    let mut para_end = 0; // end of the last non-blank line of the current paragraph
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        let body_end = pos + line.trim_end_matches(['\n', '\r']).len();
        if blank {
            if in_para {
                out.push((&text[start..para_end], false));
                start = para_end;
                in_para = false;
            }
        } else {
            if !in_para {
                if start < pos {
                    out.push((&text[start..pos], true));
                }
                start = pos;
                in_para = true;
            }
            para_end = body_end;
        }
        pos += line.len();
    }
    if in_para {
        out.push((&text[start..para_end], false));
        start = para_end;
    }
    if start < text.len() {
        out.push((&text[start..], true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Says "xx" for texts containing "ø", "de" for texts containing "ß", "en" otherwise;
    /// reliable when the text has 60 letters or more.
    struct Fake;
    impl Identify for Fake {
        fn identify(&self, text: &str) -> Option<(String, bool)> {
            let letters = text.chars().filter(|c| c.is_alphabetic()).count();
            if letters == 0 {
                return None;
            }
            let lang = if text.contains('ø') {
                "da"
            } else if text.contains('ß') {
                "de"
            } else {
                "en"
            };
            Some((lang.to_string(), letters >= 60))
        }
    }

    fn join(plan: &Plan) -> String {
        plan.parts
            .iter()
            .map(|p| match p {
                Part::Paragraph { text, .. } => text.as_str(),
                Part::Gap(g) => g.as_str(),
            })
            .collect()
    }

    #[test]
    fn paragraphs_join_back_exactly() {
        for text in [
            "",
            "a",
            "a\n",
            "\n\na\r\nb\n\n\n  \nc\n",
            "  \n",
            "a\n \n\tb",
            "x\r\n\r\ny\r\n",
        ] {
            let pieces = split_paragraphs(text);
            let joined: String = pieces.iter().map(|(t, _)| *t).collect();
            assert_eq!(joined, text, "{text:?}");
            for (t, gap) in pieces {
                assert_eq!(gap, t.trim().is_empty(), "{t:?} in {text:?}");
                if !gap {
                    assert!(!t.ends_with('\n') && !t.starts_with('\n'));
                }
            }
        }
        assert_eq!(
            split_paragraphs("a\nb\n\nc\n"),
            [("a\nb", false), ("\n\n", true), ("c", false), ("\n", true)]
        );
    }

    #[test]
    fn given_languages_win_and_mixed_documents_are_split() {
        let da = "Den danske regering har i dag fremlagt et forslag om skøn og støtte til landbruget i år. \
                  Forslaget skal behandles i Folketinget i næste uge.";
        let de = "Die Bundesregierung hat heute einen Vorschlag zur Förderung der Straßen vorgelegt, sagte er.";
        let text = format!("{da}\n\n{de}\n\nKort: ø\n");
        let p = plan(&text, None, &Fake).unwrap();
        assert_eq!(p.lang.as_deref(), Some("da"));
        assert_eq!(p.languages(), ["da", "de"]);
        assert_eq!(join(&p), text);
        // The short paragraph keeps the document's language even though it is unreliable.
        let last = p.parts.iter().rev().find_map(|x| match x {
            Part::Paragraph { lang, .. } => Some(lang.clone()),
            _ => None,
        });
        assert_eq!(last, Some(Some("da".to_string())));

        let p = plan(&text, Some("sv"), &Fake).unwrap();
        assert_eq!(p.languages(), ["sv"]);

        // The language with the most letters is the document's.
        let text = format!("{de}\n\n{da}\n");
        assert_eq!(
            plan(&text, None, &Fake).unwrap().lang.as_deref(),
            Some("da")
        );
        let text = format!("{de} {de}\n\n{da}\n");
        assert_eq!(
            plan(&text, None, &Fake).unwrap().lang.as_deref(),
            Some("de")
        );
    }

    #[test]
    fn texts_without_letters_need_no_language() {
        let p = plan("2024\n\n***\n", None, &Fake).unwrap();
        assert_eq!(p.lang, None);
        assert!(p.languages().is_empty());
        assert_eq!(join(&p), "2024\n\n***\n");
        struct Never;
        impl Identify for Never {
            fn identify(&self, _: &str) -> Option<(String, bool)> {
                None
            }
        }
        assert_eq!(plan("hm", None, &Never), Err(Undetected));
        assert!(plan("hm", Some("da"), &Never).is_ok());
    }
}
