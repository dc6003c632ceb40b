//! Summaries written by a real model: SmolLM2-135M-Instruct (GGUF, Q4_1) through the whole
//! summarizing pipeline, on the English news texts committed for the tests. Each summary must
//! be non-empty, within its bound, shorter than its source, the same on a second run (greedy),
//! and name at least two of the source's proper nouns.

use tolk::device::DeviceSpec;
use tolk::hub::HubOptions;
use tolk::pipeline::summarize::{self, Bound, DecodeOverrides, SummaryOptions};
use tolk::pipeline::translate::LoadOptions;

use crate::common::{fixture, smollm2_gguf};

/// Each text and proper nouns it contains (people, places, organisations).
const TEXTS: &[(&str, &[&str])] = &[
    (
        "harbour-strike",
        &[
            "Rotterdam",
            "FNV",
            "Marieke de Vries",
            "Maasvlakte",
            "Maersk",
            "MSC",
            "Antwerp",
            "Hamburg",
            "Pieter Jansen",
            "The Hague",
            "North Sea",
            "Europe",
        ],
    ),
    (
        "central-bank",
        &[
            "Bank of Canada",
            "Tiff Macklem",
            "Macklem",
            "Ottawa",
            "Statistics Canada",
            "Ontario",
            "Quebec",
            "United States",
            "Royal Bank of Canada",
            "Canada",
            "Canadian",
        ],
    ),
    (
        "glacier-study",
        &[
            "Swiss",
            "Alps",
            "Swiss Academy of Sciences",
            "GLAMOS",
            "Switzerland",
            "Rhone",
            "Valais",
            "Matthias Huss",
            "ETH Zurich",
            "Blatten",
            "Birch Glacier",
        ],
    ),
    (
        "football-final",
        &[
            "Marta Silva",
            "Olympique Lyonnais",
            "Lyon",
            "Barcelona",
            "Champions League",
            "Lisbon",
            "Irene Paredes",
            "Sonia Bompastor",
            "Ingrid Haugen",
            "Pere Romeu",
            "Estádio da Luz",
        ],
    ),
];

#[test]
fn smollm2_summaries_are_bounded_deterministic_and_name_the_actors() {
    let Some(gguf) = smollm2_gguf() else { return };
    let hub = HubOptions::from_env().unwrap();
    let model = summarize::open(
        gguf.to_str().unwrap(),
        &hub,
        &DeviceSpec::Cpu,
        &LoadOptions::default(),
        &DecodeOverrides::default(),
    )
    .unwrap();
    let bound = Bound::Sentences(2);
    let opts = SummaryOptions {
        bound,
        headline: false,
    };
    for (i, (name, nouns)) in TEXTS.iter().enumerate() {
        let text = std::fs::read_to_string(fixture(&format!("news_en/{name}.txt"))).unwrap();
        let s = summarize::summarize(model.as_ref(), &text, &opts, &mut |_| {}).unwrap();
        println!("{name}: {}", s.text);
        assert!(!s.text.trim().is_empty(), "{name}: empty summary");
        assert!(s.sentences.len() <= 2, "{name}: {:?}", s.sentences);
        assert!(bound.holds(&s.text), "{name}");
        assert!(
            s.text.split_whitespace().count() < text.split_whitespace().count() / 2,
            "{name}: the summary is not much shorter than its source"
        );
        let named: Vec<&&str> = nouns.iter().filter(|n| s.text.contains(**n)).collect();
        assert!(named.len() >= 2, "{name}: names only {named:?}: {}", s.text);
        if i == 0 {
            let again = summarize::summarize(model.as_ref(), &text, &opts, &mut |_| {}).unwrap();
            assert_eq!(again, s, "{name}: greedy summaries differ between runs");
        }
    }
}
