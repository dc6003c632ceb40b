//! The fidelity checker against a committed set of source/translation pairs written for it
//! (`tests/fixtures/fidelity/pairs.jsonl`): 60 per language (da, de, fr, zh), half of them
//! with one number, name or quotation broken. A pair is *flagged* when the checker reports
//! anything missing or added; a broken pair should be, a faithful one should not.
//!
//! `TOLK_FIDELITY_REPORT=1` prints every miss and false alarm.

use std::collections::BTreeMap;

use serde::Deserialize;
use tolk::pipeline::fidelity;

#[derive(Deserialize)]
struct Pair {
    id: String,
    lang: String,
    source: String,
    translation: String,
    broken: Option<Broken>,
}

#[derive(Deserialize)]
struct Broken {
    kind: String,
    item: String,
}

/// True and false positives and negatives.
#[derive(Default, Clone, Copy)]
struct Tally {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

impl Tally {
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    fn add(&mut self, broken: bool, flagged: bool) {
        match (broken, flagged) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
}

fn pairs() -> Vec<Pair> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fidelity/pairs.jsonl"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn the_checker_finds_the_broken_pairs_and_passes_the_faithful_ones() {
    let pairs = pairs();
    assert_eq!(pairs.len(), 240, "the committed set has 240 pairs");
    let report = std::env::var_os("TOLK_FIDELITY_REPORT").is_some();
    let mut all = Tally::default();
    let mut by_lang: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    // Broken pairs whose report names the broken item (or a part of it).
    let mut named = 0;
    for p in &pairs {
        let f = fidelity::check(&p.source, &p.lang, &p.translation);
        let flagged = !f.is_clean();
        all.add(p.broken.is_some(), flagged);
        by_lang
            .entry(&p.lang)
            .or_default()
            .add(p.broken.is_some(), flagged);
        if let Some(b) = &p.broken {
            let k = by_kind.entry(&b.kind).or_default();
            k.1 += 1;
            if flagged {
                k.0 += 1;
            }
            let hit = f.missing.iter().any(|m| {
                m.contains(b.item.as_str())
                    || b.item
                        .contains(m.trim_matches(|c: char| !c.is_alphanumeric()))
            });
            if hit {
                named += 1;
            }
        }
        if report && flagged != p.broken.is_some() {
            eprintln!(
                "{} {}: {}\n  {}\n  {}\n  -> {f:?}",
                p.id,
                if flagged { "FALSE ALARM" } else { "MISSED" },
                p.broken
                    .as_ref()
                    .map_or(String::new(), |b| format!("{} {}", b.kind, b.item)),
                p.source,
                p.translation
            );
        }
    }
    eprintln!("| set | precision | recall | flagged broken | false alarms |");
    eprintln!("|---|---:|---:|---:|---:|");
    for (lang, t) in &by_lang {
        eprintln!(
            "| {lang} | {:.3} | {:.3} | {}/{} | {}/{} |",
            t.precision(),
            t.recall(),
            t.tp,
            t.tp + t.fn_,
            t.fp,
            t.fp + t.tn
        );
    }
    eprintln!(
        "| all | {:.3} | {:.3} | {}/{} | {}/{} |",
        all.precision(),
        all.recall(),
        all.tp,
        all.tp + all.fn_,
        all.fp,
        all.fp + all.tn
    );
    for (kind, (hit, n)) in &by_kind {
        eprintln!("broken {kind}: {hit}/{n} flagged");
    }
    eprintln!(
        "broken pairs whose report names the broken item: {named}/{}",
        all.tp + all.fn_
    );
    assert!(
        all.precision() >= 0.95 && all.recall() >= 0.95,
        "precision {:.3}, recall {:.3} (goal 0.95 both); TOLK_FIDELITY_REPORT=1 lists the cases",
        all.precision(),
        all.recall()
    );
}
