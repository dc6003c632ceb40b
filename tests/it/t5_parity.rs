//! Token-for-token parity of tolk's T5 + decoding with transformers' `generate`, and of both T5
//! tokenizer kinds (`tokenizer.json`, `spiece.model`) with transformers' `T5Tokenizer`, on the
//! tiny random repos and goldens written by scripts/make_t5_fixtures.py.

use candle_core::{DType, Tensor};
use tolk::arch::t5::relative_position_bucket;
use tolk::arch::{T5Config, Weights, T5};
use tolk::decode::{generate, GenerationConfig, Seq2Seq};
use tolk::hub::{HubOptions, ModelRef, ModelSource};
use tolk::pipeline::translate::{BatchOptions, LoadOptions, Translator};
use tolk::Error;

use crate::common::{device, fixture, read_json};

const T5_REPOS: &[&str] = &["tiny-gated-tied", "tiny-relu-untied", "tiny-madlad"];

fn load(repo: &str) -> (T5, GenerationConfig) {
    let dir = fixture(&format!("t5/{repo}"));
    let cfg = T5Config::from_file(&dir.join("config.json")).unwrap();
    let w = Weights::load(&dir.join("model.safetensors"), DType::F32, &device()).unwrap();
    let gen = GenerationConfig::from_model_files(
        &dir.join("config.json"),
        Some(&dir.join("generation_config.json")),
    )
    .unwrap();
    (T5::new(cfg, &w).unwrap(), gen)
}

fn translator(repo: &str) -> Translator {
    let r = ModelRef::Local(fixture(&format!("t5/{repo}")));
    let src = ModelSource::open(&r, &HubOptions::new(std::env::temp_dir())).unwrap();
    let mut t = Translator::load(&src, &LoadOptions::default()).unwrap();
    // Parity is with the model's own decoded text.
    t.set_tidy(false);
    t
}

fn ids(v: &serde_json::Value) -> Vec<Vec<u32>> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn generate_matches_transformers_token_for_token() {
    let mut checked = 0;
    for repo in T5_REPOS {
        let golden = read_json(&fixture(&format!("t5/{repo}/golden_generate.json")));
        let (model, defaults) = load(repo);
        let sources = ids(&golden["input_ids"]);
        for case in golden["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let mut cfg = defaults.clone();
            cfg.apply_json(&case["kwargs"]).unwrap();
            let want: Vec<Vec<u32>> = ids(&case["outputs"])
                .into_iter()
                .map(|o| o[1..].to_vec())
                .collect();
            assert_eq!(
                case["float64_equals_float32"], true,
                "{repo} / {name}: regenerate the fixtures"
            );
            let batched = generate(&model, &sources, &cfg).unwrap();
            for (i, (got, want)) in batched.iter().zip(&want).enumerate() {
                assert_eq!(&got.tokens, want, "{repo} / {name}: sentence {i}, batched");
            }
            for (i, src) in sources.iter().enumerate() {
                let single = generate(&model, std::slice::from_ref(src), &cfg).unwrap();
                assert_eq!(
                    single[0].tokens, want[i],
                    "{repo} / {name}: sentence {i}, alone"
                );
            }
            if name == "greedy" {
                assert!(want.iter().all(|w| w.len() >= 30), "{repo}: short goldens");
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} golden cases found");
}

#[test]
fn step_log_probs_match_transformers_past_many_positions() {
    for repo in T5_REPOS {
        let golden = read_json(&fixture(&format!("t5/{repo}/golden_logits.json")));
        let (model, _) = load(repo);
        for case in golden["cases"].as_array().unwrap() {
            let src: Vec<u32> = serde_json::from_value(case["input_ids"].clone()).unwrap();
            let n = src.len();
            let ids = Tensor::from_vec(src, (1, n), &device()).unwrap();
            let mask = Tensor::ones((1, n), DType::U32, &device()).unwrap();
            let mut state = model.encode(&ids, &mask).unwrap();
            let mut fed = 0usize;
            let mut checked_late = false;
            for step in case["steps"].as_array().unwrap() {
                let dec: Vec<u32> =
                    serde_json::from_value(step["decoder_input_ids"].clone()).unwrap();
                let mut logits = None;
                // Feed the cache one token at a time up to this step's last position.
                while fed < dec.len() {
                    let t = Tensor::from_vec(vec![dec[fed]], 1, &device()).unwrap();
                    logits = Some(model.step(&mut state, &t).unwrap());
                    fed += 1;
                }
                let logp: Vec<f32> = candle_nn::ops::log_softmax(&logits.unwrap(), 1)
                    .unwrap()
                    .squeeze(0)
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let top: Vec<u32> = serde_json::from_value(step["top_ids"].clone()).unwrap();
                let want: Vec<f32> = serde_json::from_value(step["top_logprobs"].clone()).unwrap();
                for (id, w) in top.iter().zip(want) {
                    let got = logp[*id as usize];
                    assert!(
                        (got - w).abs() < 5e-4,
                        "{repo}: token {id} at position {}: {got} vs {w}",
                        dec.len() - 1
                    );
                }
                checked_late |= dec.len() > 20;
            }
            assert!(
                checked_late,
                "{repo}: goldens should reach past 20 positions"
            );
        }
    }
}

#[test]
fn tokenizers_match_transformers() {
    for repo in T5_REPOS {
        let dir = fixture(&format!("t5/{repo}"));
        let tok = tolk::tokenize::load(&dir).unwrap();
        let golden = read_json(&dir.join("golden_tokenizer.json"));
        assert_eq!(
            tok.special().decoder_vocab_size as u64,
            golden["vocab_size"].as_u64().unwrap(),
            "{repo}"
        );
        let s = tok.special();
        assert_eq!((s.pad, s.eos, s.unk), (0, 1, 2), "{repo}: T5 special ids");
        let lines = golden["lines"].as_array().unwrap();
        assert!(lines.len() >= 26);
        for line in lines {
            let text = line["text"].as_str().unwrap();
            let want: Vec<u32> = serde_json::from_value(line["ids"].clone()).unwrap();
            assert_eq!(tok.encode(text).unwrap(), want, "{repo}: {text:?}");
            assert_eq!(
                tok.decode(&want).unwrap(),
                line["decoded"].as_str().unwrap(),
                "{repo}: decode of {text:?}"
            );
        }
    }
}

#[test]
fn buckets_match_transformers_over_a_wide_range() {
    let golden = read_json(&fixture("t5/buckets.json"));
    let first = golden["first_relative"].as_i64().unwrap();
    for case in golden["cases"].as_array().unwrap() {
        let bidirectional = case["bidirectional"].as_bool().unwrap();
        let nb = case["num_buckets"].as_u64().unwrap() as usize;
        let md = case["max_distance"].as_u64().unwrap() as usize;
        let want: Vec<u32> = serde_json::from_value(case["buckets"].clone()).unwrap();
        for (i, w) in want.iter().enumerate() {
            let rel = first + i as i64;
            assert_eq!(
                relative_position_bucket(rel, bidirectional, nb, md),
                *w,
                "relative {rel}, bidirectional {bidirectional}, {nb}/{md}"
            );
        }
    }
}

#[test]
fn translator_runs_t5_with_prefixes() {
    let golden = read_json(&fixture("t5/tiny-madlad/golden_generate.json"));
    let mut t = translator("tiny-madlad");
    assert_eq!(t.model().architecture(), "t5");
    // MADLAD-style vocabularies get the English tag by default.
    assert_eq!(t.source_prefix(), Some("<2en> "));
    let greedy = &golden["cases"][0];
    assert_eq!(greedy["name"], "greedy");
    t.generation_mut().apply_json(&greedy["kwargs"]).unwrap();
    let sources: Vec<String> = golden["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().trim_start_matches("<2en> ").to_string())
        .collect();
    let out = t
        .translate_sentences(&sources, BatchOptions::default(), &mut |_| {})
        .unwrap();
    for (got, want) in out.iter().zip(greedy["decoded"].as_array().unwrap()) {
        assert_eq!(got, want.as_str().unwrap().trim());
    }
    // Without the tag the model sees different input and says something else.
    let t = t.with_source_prefix(None);
    let untagged = t
        .translate_sentences(&sources, BatchOptions::default(), &mut |_| {})
        .unwrap();
    assert_ne!(untagged, out);

    let t = translator("tiny-relu-untied");
    assert_eq!(t.source_prefix(), None);
    // Repos that set no length get tolk's T5 default, not transformers' 20.
    assert_eq!(t.generation().max_length, 512);
    let t = t.with_source_prefix(Some("summarize: ".into()));
    assert_eq!(t.source_prefix(), Some("summarize: "));
}

#[test]
fn mt5_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture("t5/tiny-relu-untied");
    for f in [
        "model.safetensors",
        "spiece.model",
        "generation_config.json",
    ] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    let mut cfg = read_json(&src.join("config.json"));
    cfg["model_type"] = "mt5".into();
    std::fs::write(tmp.path().join("config.json"), cfg.to_string()).unwrap();
    let r = ModelRef::Local(tmp.path().to_path_buf());
    let src = ModelSource::open(&r, &HubOptions::new(std::env::temp_dir())).unwrap();
    match Translator::load(&src, &LoadOptions::default()) {
        Err(Error::Unsupported(msg)) => assert!(msg.contains("mt5"), "{msg}"),
        Err(other) => panic!("expected Unsupported, got {other}"),
        Ok(_) => panic!("an mt5 config must be refused"),
    }
}
