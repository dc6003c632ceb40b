//! The translation pipeline as a library: batching never changes results, long sentences are
//! split instead of truncated, blank input stays blank.

use tolk::hub::{HubOptions, ModelRef, ModelSource};
use tolk::pipeline::segment::split_long;
use tolk::pipeline::translate::{BatchOptions, LoadOptions, Translator};

use crate::common::fixture;

fn translator(repo: &str) -> Translator {
    let r = ModelRef::Local(fixture(&format!("marian/{repo}")));
    let src = ModelSource::open(&r, &HubOptions::new(std::env::temp_dir())).unwrap();
    Translator::load(&src, &LoadOptions::default()).unwrap()
}

const SENTENCES: &[&str] = &[
    "USA og Rusland er klar til at forhandle om Syrien.",
    "",
    "Hej.",
    "Det er første gang siden august 2014, at forsvarsministrene fra USA og Rusland taler sammen.",
    "Vi har aldrig afvist dialog med USA, siger ministeriets talskvinde, Maria Sakharova.",
    "   ",
    "Pentagon oplyser det.",
    "Han tilføjer, at Carter og Sjojgu er enige om at fortsætte samtalerne.",
];

#[test]
fn batch_budget_does_not_change_translations() {
    for repo in ["tiny-bin", "tiny-st"] {
        for beams in [1, 3] {
            let mut t = translator(repo);
            t.generation_mut().num_beams = beams;
            let mut calls = 0;
            let one_by_one = t
                .translate_sentences(
                    SENTENCES,
                    BatchOptions {
                        max_batch_tokens: 1,
                    },
                    &mut |_| calls += 1,
                )
                .unwrap();
            let mut done = 0;
            let batched = t
                .translate_sentences(
                    SENTENCES,
                    BatchOptions {
                        max_batch_tokens: 10_000,
                    },
                    &mut |n| done += n,
                )
                .unwrap();
            assert_eq!(one_by_one, batched, "{repo}, {beams} beams");
            assert_eq!(
                done,
                SENTENCES.len(),
                "progress adds up to the sentence count"
            );
            assert!(calls >= 6, "budget 1 must run one sentence per batch");
            assert_eq!(batched[1], "");
            assert_eq!(batched[5], "");
        }
    }
}

#[test]
fn overlong_sentences_are_split_not_truncated() {
    let t = translator("tiny-bin");
    let max = t.model().max_source_len();
    let long: String = (0..60)
        .map(|i| format!("Sætning nummer {i} handler om forhandlinger, og"))
        .collect::<Vec<_>>()
        .join(" ");
    let count = |s: &str| t.tokenizer().count_tokens(s).unwrap();
    assert!(
        count(&long) > 2 * max,
        "test sentence must be longer than the model's window"
    );
    let pieces = split_long(&long, max, &count);
    assert!(pieces.len() >= 3);
    let mut noop = |_| {};
    let whole = t
        .translate_sentences(&[long.as_str()], BatchOptions::default(), &mut noop)
        .unwrap();
    let parts = t
        .translate_sentences(&pieces, BatchOptions::default(), &mut noop)
        .unwrap();
    let joined: Vec<&str> = parts
        .iter()
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(whole[0], joined.join(" "));
}

#[test]
fn article_translation_round_trips_layout() {
    let t = translator("tiny-st");
    let input = "Titel uden punktum\n\n  - Hej, siger han. Ja.\n\nSlut.\n";
    let out = t
        .translate_text(input, BatchOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(out.sentences.len(), 4);
    let lines: Vec<&str> = out.text.split('\n').collect();
    assert_eq!(lines.len(), input.split('\n').count(), "{:?}", out.text);
    assert!(lines[1].is_empty() && lines[3].is_empty() && lines[5].is_empty());
    assert!(lines[2].starts_with("  -"), "{:?}", lines[2]);
}

#[test]
fn empty_translations_keep_the_source_and_are_marked() {
    // tiny-bin forces end-of-sequence at max_length: one new token allowed means an empty output.
    let mut t = translator("tiny-bin");
    t.generation_mut().max_new_tokens = Some(1);
    let input = "Første linje.\n- Anden linje. Med to sætninger.\n";
    let out = t
        .translate_text(input, BatchOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(out.text, input);
    assert!(out
        .sentences
        .iter()
        .all(|p| p.untranslated && p.translation == p.source));
}
