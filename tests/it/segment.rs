//! Integration tests for `tolk::pipeline::{segment, batch}`: the real Danish article, layout-preserving
//! reassembly on pseudo-random documents, long-sentence cutting and batch planning.

use std::path::PathBuf;

use crate::common::Rng;
use tolk::pipeline::batch::{padded_cost, plan_batches, scatter};
use tolk::pipeline::segment::{
    rejoin, segment, segment_lang, segment_lines, split_long, split_long_glued,
};

/// What reassembly with the sentences themselves must give: lines without trailing whitespace, `\n` endings.
fn normalise(text: &str) -> String {
    text.split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn article() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/da/us-russia-syria-talks.txt");
    match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) => {
            println!("skipping: cannot read {}: {e}", path.display());
            None
        }
    }
}

#[test]
fn real_danish_article_round_trips_with_layout() {
    let Some(text) = article() else { return };
    for doc in [segment(&text), segment_lang(&text, Some("da"))] {
        let own: Vec<String> = doc.sentences().map(str::to_string).collect();
        assert_eq!(doc.reassemble(&own).unwrap(), normalise(&text));
        assert_eq!(doc.lines.len(), text.lines().count());
        // Title, then the lead, then the empty lines, kept as they are.
        assert_eq!(
            doc.lines[0].sentences,
            ["USA og Rusland er klar til at forhandle om Syrien"]
        );
        let empty = text.lines().filter(|l| l.trim().is_empty()).count();
        assert_eq!(
            doc.lines.iter().filter(|l| l.sentences.is_empty()).count(),
            empty
        );
        // Dialogue lines keep their dash out of the sentences.
        let dashed = text.lines().filter(|l| l.starts_with("- ")).count();
        assert!(dashed >= 3);
        assert_eq!(
            doc.lines.iter().filter(|l| l.prefix == "- ").count(),
            dashed
        );
        assert!(own.iter().all(|s| !s.starts_with("- ")));
        // A line with two sentences is split, and nothing is split inside a sentence.
        assert!(own.contains(
            &"Vi mener ikke, at det er muligt, så længe præsident Bashar al-Assad er ved magten."
                .to_string()
        ));
        assert!(own.iter().all(|s| s.chars().count() > 10), "{own:#?}");
        assert!(own[1..].iter().all(|s| s.ends_with('.')), "{own:#?}");
        assert!(doc.sentence_count() > text.lines().filter(|l| !l.trim().is_empty()).count());
        // A translation with the same shape goes back in the same layout.
        let upper: Vec<String> = own.iter().map(|s| s.to_uppercase()).collect();
        let back = doc.reassemble(&upper).unwrap();
        assert_eq!(back.lines().count(), normalise(&text).lines().count());
        assert_eq!(back, normalise(&text).to_uppercase());
    }
}

const SENTENCES: &[&str] = &[
    "Han gik hjem.",
    "Hvorfor det?",
    "Det skete bl.a. i Aarhus kl. 14.",
    "Mødet er 1. januar, siger hun.",
    "Prisen steg 3.5 pct. i år.",
    "Er kam am 3. Oktober, z.B. mit Dr. Müller.",
    "»Ja.« sagde han.",
    "„Nein!“ rief sie.",
    "John F. Kennedy døde.",
    "Vent … og se!",
    "Il a vu M. Dupont.",
    "¿Qué pasa?",
    "Он пришёл, т.е. вернулся.",
    "Przyszedł np. wczoraj.",
    "我来了。",
    "今日は晴れです！",
    "Titel uden punktum",
    "De købte æbler osv.",
    "\"Hej.\" sagde han.",
];
const PREFIXES: &[&str] = &["", "", "", "  ", "\t", "- ", "– ", "—", "   - "];
const SEPARATORS: &[&str] = &[" ", " ", " ", "  ", "\t"];
const ENDINGS: &[&str] = &["\n", "\n", "\r\n", "  \n", "\t\r\n"];

#[test]
fn property_reassembly_with_own_sentences_gives_the_input_back() {
    let mut rng = Rng(0xD1CE_5EED);
    for _ in 0..400 {
        let mut text = String::new();
        for _ in 0..rng.below(8) {
            if rng.below(4) == 0 {
                text.push_str(rng.pick(&["", " ", "***", "—"]));
            } else {
                text.push_str(rng.pick(PREFIXES));
                for k in 0..1 + rng.below(4) {
                    if k > 0 {
                        text.push_str(rng.pick(SEPARATORS));
                    }
                    text.push_str(rng.pick(SENTENCES));
                }
            }
            text.push_str(rng.pick(ENDINGS));
        }
        if rng.below(2) == 0 {
            text.push_str(rng.pick(SENTENCES));
        }
        let want = normalise(&text.replace("\r\n", "\n"));
        for doc in [
            segment(&text),
            segment_lang(&text, Some("de")),
            segment_lines(&text),
        ] {
            let own: Vec<&str> = doc.sentences().collect();
            assert!(
                own.iter().all(|s| !s.is_empty() && s.trim() == *s),
                "{own:?}"
            );
            assert_eq!(doc.reassemble(&own).unwrap(), want, "input {text:?}");
            let lines = if want.is_empty() {
                0
            } else {
                want.split('\n').count() - usize::from(want.ends_with('\n'))
            };
            assert_eq!(doc.lines.len(), lines, "line count of {text:?}");
        }
    }
}

#[test]
fn property_arbitrary_characters_never_panic_and_round_trip() {
    const ALPHABET: &[&str] = &[
        "a", "B", "ø", "Ж", "1", ".", "!", "?", "…", "。", "！", "“", "”", "„", "»", "«", "\"",
        "'", "(", ")", "-", "–", " ", "  ", "\t", "\n", "\r\n", "\u{3000}", "\u{feff}", "漢", "か",
        "é", "\u{301}",
    ];
    let mut rng = Rng(7);
    for _ in 0..3000 {
        let debug = std::env::var("SEG_DEBUG").is_ok();
        let text: String = (0..rng.below(40)).map(|_| rng.pick(ALPHABET)).collect();
        let want = normalise(&text.replace("\r\n", "\n"));
        for doc in [segment(&text), segment_lines(&text)] {
            let own: Vec<&str> = doc.sentences().collect();
            if debug && doc.reassemble(&own).unwrap() != want {
                println!("{doc:#?}");
            }
            assert_eq!(doc.reassemble(&own).unwrap(), want, "input {text:?}");
            assert!(doc.reassemble(&own[..own.len().saturating_sub(1)]).is_err() || own.is_empty());
        }
    }
}

#[test]
fn property_split_long_fits_and_never_loses_text() {
    const WORDS: &[&str] = &[
        "Rusland",
        "støtter",
        "Assad",
        "–",
        "-",
        "noget",
        "der,",
        "vækker;",
        "bekymring:",
        "i",
        "Washington",
        "我们今天去北京，",
        "明天",
        "、",
        "abcdefghijklmnop",
        "e\u{301}",
    ];
    let words = |s: &str| s.split_whitespace().count();
    let chars = |s: &str| s.chars().count();
    let mut rng = Rng(99);
    for _ in 0..1000 {
        let n = rng.below(30);
        let mut s = String::new();
        for k in 0..n {
            if k > 0 && rng.below(5) > 0 {
                s.push_str(rng.pick(&[" ", " ", "  ", "\t"]));
            }
            s.push_str(rng.pick(WORDS));
        }
        let max = rng.below(12);
        for count in [&words as &dyn Fn(&str) -> usize, &chars] {
            let pieces = split_long_glued(&s, max, count);
            assert_eq!(rejoin(&pieces), s.trim(), "rejoin of {s:?} at {max}");
            for p in &pieces {
                assert!(!p.text.is_empty() && p.text.trim() == p.text, "{pieces:?}");
                let unsplittable = p
                    .text
                    .chars()
                    .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
                    .count()
                    <= 1;
                assert!(
                    count(&p.text) <= max || unsplittable,
                    "{:?} over {max} in {s:?}",
                    p.text
                );
                assert!(p.after.chars().all(char::is_whitespace));
            }
            assert!(pieces.last().is_none_or(|p| p.after.is_empty()));
            let plain = split_long(&s, max, count);
            assert_eq!(
                plain,
                pieces.iter().map(|p| p.text.clone()).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn batches_translate_an_article_and_come_back_in_order() {
    let text = article().unwrap_or_else(|| {
        "Titel\n\n- Han gik. Hun blev.\nDet skete bl.a. i går. Alle kom.\n".to_string()
    });
    let doc = segment(&text);
    let sentences: Vec<&str> = doc.sentences().collect();
    let lengths: Vec<usize> = sentences
        .iter()
        .map(|s| s.split_whitespace().count() + 1)
        .collect();
    let mut rng = Rng(5);
    for _ in 0..50 {
        let budget = rng.below(120);
        let cap = if rng.below(2) == 0 {
            None
        } else {
            Some(rng.below(6))
        };
        let plan = plan_batches(&lengths, budget, cap);
        for b in &plan {
            assert!(b.len() == 1 || padded_cost(&lengths, b) <= budget);
        }
        // "Translate" each batch (upper-case), then put the results back in article order.
        let results: Vec<Vec<String>> = plan
            .iter()
            .map(|b| b.iter().map(|&i| sentences[i].to_uppercase()).collect())
            .collect();
        let back = scatter(&plan, results, sentences.len()).unwrap();
        assert_eq!(
            doc.reassemble(&back).unwrap(),
            normalise(&text).to_uppercase()
        );
    }
}
