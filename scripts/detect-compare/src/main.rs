//! Compares whatlang and lingua on tolk's labelled evaluation set (tests/fixtures/detect/eval.jsonl)
//! and prints Markdown tables: accuracy per kind and language, da/no/nn/sv confusions, a look at
//! each crate's reliability signal, and detection time.
//!
//! Labels are ISO 639-1 with Norwegian Bokmål as "no" and Nynorsk as "nn". "Overall" counts the 18
//! core languages only; nn is reported on its own row because whatlang has no Nynorsk.
//! Usage: compare EVAL_JSONL

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

/// Our languages, in report order.
const LANGS: [&str; 19] = [
    "en", "da", "sv", "no", "nn", "de", "fr", "es", "it", "nl", "pl", "ru", "uk", "ar", "zh", "ja",
    "ko", "tr", "fi",
];
const KINDS: [&str; 2] = ["paragraph", "sentence"];

struct Sample {
    lang: String,
    text: String,
    kind: String,
    source: String,
}

/// One prediction: label, and a reliability flag / score gap.
struct Pred {
    lang: Option<String>,
    reliable: bool,
    gap: f64,
}

trait Engine {
    fn name(&self) -> String;
    fn predict(&self, text: &str) -> Pred;
}

fn whatlang_label(l: whatlang::Lang) -> String {
    use whatlang::Lang::*;
    match l {
        Eng => "en",
        Dan => "da",
        Swe => "sv",
        Nob => "no",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Nld => "nl",
        Pol => "pl",
        Rus => "ru",
        Ukr => "uk",
        Ara => "ar",
        Cmn => "zh",
        Jpn => "ja",
        Kor => "ko",
        Tur => "tr",
        Fin => "fi",
        other => other.code(),
    }
    .to_string()
}

fn lingua_label(l: Language) -> String {
    match l {
        Language::Bokmal => "no".to_string(),
        #[cfg(feature = "nn")]
        Language::Nynorsk => "nn".to_string(),
        other => other.iso_code_639_1().to_string(),
    }
}

struct Whatlang {
    name: &'static str,
    det: whatlang::Detector,
}

impl Engine for Whatlang {
    fn name(&self) -> String {
        self.name.to_string()
    }
    fn predict(&self, text: &str) -> Pred {
        match self.det.detect(text) {
            Some(info) => Pred {
                lang: Some(whatlang_label(info.lang())),
                reliable: info.is_reliable(),
                gap: info.confidence(),
            },
            None => Pred {
                lang: None,
                reliable: false,
                gap: 0.0,
            },
        }
    }
}

struct Lingua {
    name: &'static str,
    det: LanguageDetector,
}

impl Engine for Lingua {
    fn name(&self) -> String {
        self.name.to_string()
    }
    fn predict(&self, text: &str) -> Pred {
        let vals = self.det.compute_language_confidence_values(text);
        let top = vals.first().copied();
        let second = vals.get(1).map(|v| v.1).unwrap_or(0.0);
        match top {
            Some((lang, conf)) if conf > 0.0 => {
                let gap = conf - second;
                Pred {
                    lang: Some(lingua_label(lang)),
                    reliable: gap >= 0.5,
                    gap,
                }
            }
            _ => Pred {
                lang: None,
                reliable: false,
                gap: 0.0,
            },
        }
    }
}

fn lingua_languages(with_nynorsk: bool) -> Vec<Language> {
    use Language::*;
    let mut v = vec![
        English, Danish, Swedish, Bokmal, German, French, Spanish, Italian, Dutch, Polish, Russian,
        Ukrainian, Arabic, Chinese, Japanese, Korean, Turkish, Finnish,
    ];
    #[cfg(feature = "nn")]
    if with_nynorsk {
        v.push(Nynorsk);
    }
    #[cfg(not(feature = "nn"))]
    let _ = with_nynorsk;
    v
}

fn load(path: &str) -> Vec<Sample> {
    let raw = std::fs::read_to_string(path).expect("read eval.jsonl");
    raw.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            Sample {
                lang: v["lang"].as_str().unwrap().to_string(),
                text: v["text"].as_str().unwrap().to_string(),
                kind: v["kind"].as_str().unwrap().to_string(),
                source: v["source"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

#[derive(Default)]
struct Stats {
    n: usize,
    ok: usize,
    reliable: usize,
    reliable_ok: usize,
    /// confusion: predicted label -> count
    confusion: BTreeMap<String, usize>,
    /// (gap, correct) for threshold analysis
    gaps: Vec<(f64, bool)>,
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}", 100.0 * a as f64 / b as f64)
    }
}

struct Run {
    name: String,
    build: Duration,
    /// (lang, kind) -> stats
    stats: BTreeMap<(String, String), Stats>,
    /// kind -> (total time, count)
    time: BTreeMap<String, (Duration, usize)>,
}

fn run(engine: &dyn Engine, build: Duration, samples: &[Sample]) -> Run {
    let mut stats: BTreeMap<(String, String), Stats> = BTreeMap::new();
    let mut time: BTreeMap<String, (Duration, usize)> = BTreeMap::new();
    // warm-up pass (lazy model loading, caches), then one timed pass
    for s in samples.iter().take(50) {
        engine.predict(&s.text);
    }
    for s in samples {
        let t0 = Instant::now();
        let p = engine.predict(&s.text);
        let dt = t0.elapsed();
        let e = time.entry(s.kind.clone()).or_default();
        e.0 += dt;
        e.1 += 1;
        let st = stats.entry((s.lang.clone(), s.kind.clone())).or_default();
        st.n += 1;
        let label = p.lang.clone().unwrap_or_else(|| "none".into());
        let ok = label == s.lang;
        st.ok += ok as usize;
        if p.reliable {
            st.reliable += 1;
            st.reliable_ok += ok as usize;
        }
        *st.confusion.entry(label.clone()).or_default() += 1;
        st.gaps.push((p.gap, ok));
        if s.source != "udhr" {
            // the news article also gets its own row ("da@corpus"), still scored against "da"
            let st = stats
                .entry((format!("{}@{}", s.lang, s.source), s.kind.clone()))
                .or_default();
            st.n += 1;
            st.ok += ok as usize;
            *st.confusion.entry(label).or_default() += 1;
        }
    }
    Run {
        name: engine.name(),
        build,
        stats,
        time,
    }
}

fn sum_over<'a>(
    r: &'a Run,
    kind: &str,
    langs: &[&str],
) -> impl Iterator<Item = &'a Stats> + use<'a> {
    let keys: Vec<(String, String)> = langs
        .iter()
        .map(|l| (l.to_string(), kind.to_string()))
        .collect();
    keys.into_iter().filter_map(move |k| r.stats.get(&k))
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../../tests/fixtures/detect/eval.jsonl".into());
    let samples = load(&path);
    let core: Vec<&str> = LANGS.iter().copied().filter(|l| *l != "nn").collect();

    let mut runs = Vec::new();
    {
        use whatlang::Lang::*;
        let t0 = Instant::now();
        let det = whatlang::Detector::with_allowlist(vec![
            Eng, Dan, Swe, Nob, Deu, Fra, Spa, Ita, Nld, Pol, Rus, Ukr, Ara, Cmn, Jpn, Kor, Tur,
            Fin,
        ]);
        let e = Whatlang {
            name: "whatlang (18 allowed)",
            det,
        };
        runs.push(run(&e, t0.elapsed(), &samples));
        let t0 = Instant::now();
        let e = Whatlang {
            name: "whatlang (all 70)",
            det: whatlang::Detector::new(),
        };
        runs.push(run(&e, t0.elapsed(), &samples));
    }
    for (name, nn, low) in [
        ("lingua (19 incl. nn)", true, false),
        ("lingua (18, no nn)", false, false),
        ("lingua low-acc (19)", true, true),
    ] {
        let t0 = Instant::now();
        let mut b = LanguageDetectorBuilder::from_languages(&lingua_languages(nn));
        // the models are static byte slices (zero-copy fst maps): preloading is cheap
        b.with_preloaded_language_models();
        if low {
            b.with_low_accuracy_mode();
        }
        let det = b.build();
        let build = t0.elapsed();
        let e = Lingua { name, det };
        runs.push(run(&e, build, &samples));
    }

    let counts: BTreeMap<&str, usize> = KINDS
        .iter()
        .map(|k| (*k, samples.iter().filter(|s| s.kind == *k).count()))
        .collect();
    println!(
        "Samples: {} paragraphs, {} sentences.\n",
        counts["paragraph"], counts["sentence"]
    );

    // 1. overall
    println!("### Overall accuracy (%)\n");
    println!("| engine | paragraphs (18 core) | sentences (18 core) | da/no/sv paragraphs | da/no/sv sentences | nn paragraphs | nn sentences |");
    println!("|---|---|---|---|---|---|---|");
    for r in &runs {
        let mut cells = Vec::new();
        for langs in [&core[..], &["da", "no", "sv"][..], &["nn"][..]] {
            for k in KINDS {
                let (n, ok) = sum_over(r, k, langs).fold((0, 0), |a, s| (a.0 + s.n, a.1 + s.ok));
                cells.push(pct(ok, n));
            }
        }
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
        );
    }

    // 2. per language
    println!("\n### Accuracy per language (%): paragraphs / sentences\n");
    print!("| lang | n (p/s) |");
    for r in &runs {
        print!(" {} |", r.name);
    }
    println!();
    println!("|---|---|{}", "---|".repeat(runs.len()));
    for l in LANGS.iter().copied().chain(["da@corpus"]) {
        let np = runs[0]
            .stats
            .get(&(l.into(), "paragraph".into()))
            .map_or(0, |s| s.n);
        let ns = runs[0]
            .stats
            .get(&(l.into(), "sentence".into()))
            .map_or(0, |s| s.n);
        print!("| {l} | {np}/{ns} |");
        for r in &runs {
            let c: Vec<String> = KINDS
                .iter()
                .map(|k| {
                    r.stats
                        .get(&(l.into(), k.to_string()))
                        .map_or("-".into(), |s| pct(s.ok, s.n))
                })
                .collect();
            print!(" {} / {} |", c[0], c[1]);
        }
        println!();
    }

    // 3. confusions for the Scandinavian languages
    println!("\n### Scandinavian confusions (predicted label: count)\n");
    println!("| engine | kind | da (all) | da (news only) | no | nn | sv |");
    println!("|---|---|---|---|---|---|---|");
    for r in &runs {
        for k in KINDS {
            let cells: Vec<String> = ["da", "da@corpus", "no", "nn", "sv"]
                .iter()
                .map(|l| {
                    r.stats
                        .get(&(l.to_string(), k.to_string()))
                        .map_or("-".into(), |s| {
                            let mut v: Vec<_> = s.confusion.iter().collect();
                            v.sort_by(|a, b| b.1.cmp(a.1));
                            v.iter()
                                .map(|(p, c)| format!("{p} {c}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                })
                .collect();
            println!("| {} | {k} | {} |", r.name, cells.join(" | "));
        }
    }

    // 4. reliability signal
    println!("\n### Reliability signal (18 core languages)\n");
    println!("whatlang: `Info::is_reliable()`. lingua: gap between the top two confidence values >= threshold.\n");
    println!("| engine | rule | kind | flagged reliable (%) | accuracy when reliable (%) | accuracy when not (%) |");
    println!("|---|---|---|---|---|---|");
    for r in &runs {
        let is_lingua = r.name.starts_with("lingua");
        let rules: Vec<(String, Option<f64>)> = if is_lingua {
            [0.1, 0.25, 0.5]
                .iter()
                .map(|t| (format!("gap >= {t}"), Some(*t)))
                .collect()
        } else {
            vec![("is_reliable".into(), None)]
        };
        for (rule, thr) in &rules {
            for k in KINDS {
                let (mut n, mut rel, mut rel_ok, mut unrel_ok) = (0, 0, 0, 0);
                for s in sum_over(r, k, &core) {
                    n += s.n;
                    match thr {
                        None => {
                            rel += s.reliable;
                            rel_ok += s.reliable_ok;
                            unrel_ok += s.ok - s.reliable_ok;
                        }
                        Some(t) => {
                            for (g, ok) in &s.gaps {
                                if g >= t {
                                    rel += 1;
                                    rel_ok += *ok as usize;
                                } else {
                                    unrel_ok += *ok as usize;
                                }
                            }
                        }
                    }
                }
                println!(
                    "| {} | {rule} | {k} | {} | {} | {} |",
                    r.name,
                    pct(rel, n),
                    pct(rel_ok, rel),
                    pct(unrel_ok, n - rel)
                );
            }
        }
    }

    // 5. speed
    println!("\n### Speed (one thread, mean per text, after warm-up)\n");
    println!("| engine | detector build (ms) | per paragraph (µs) | per sentence (µs) |");
    println!("|---|---|---|---|");
    for r in &runs {
        let per = |k: &str| {
            r.time.get(k).map_or("-".into(), |(d, c)| {
                format!("{:.0}", d.as_secs_f64() * 1e6 / *c as f64)
            })
        };
        println!(
            "| {} | {:.1} | {} | {} |",
            r.name,
            r.build.as_secs_f64() * 1e3,
            per("paragraph"),
            per("sentence")
        );
    }
}
