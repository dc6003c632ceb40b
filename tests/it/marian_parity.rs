//! Token-for-token parity of tolk's Marian + decoding with transformers' `generate`, on the
//! tiny random repos and goldens written by scripts/make_fixtures.py.

use candle_core::{DType, Tensor};
use tolk::arch::{Marian, MarianConfig, Weights};
use tolk::decode::{generate, GenerationConfig, Seq2Seq};

use crate::common::{device, fixture, read_json, MARIAN_REPOS};

fn load(repo: &str) -> (Marian, GenerationConfig) {
    let dir = fixture(&format!("marian/{repo}"));
    let cfg = MarianConfig::from_file(&dir.join("config.json")).unwrap();
    let weights = ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .expect("fixture has weights");
    let w = Weights::load(&weights, DType::F32, &device()).unwrap();
    let gen_json = dir.join("generation_config.json");
    let gen = GenerationConfig::from_model_files(
        &dir.join("config.json"),
        gen_json.exists().then_some(gen_json.as_path()),
    )
    .unwrap();
    (Marian::new(cfg, &w).unwrap(), gen)
}

fn ids(v: &serde_json::Value) -> Vec<Vec<u32>> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn generate_matches_transformers_token_for_token() {
    let mut checked = 0;
    for repo in MARIAN_REPOS {
        let golden = read_json(&fixture(&format!("marian/{repo}/golden_generate.json")));
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
            let batched: Vec<Vec<u32>> = generate(&model, &sources, &cfg)
                .unwrap()
                .into_iter()
                .map(|h| h.tokens)
                .collect();
            // scripts/make_fixtures.py refuses near-ties; a precision-sensitive case means stale fixtures.
            assert_eq!(
                case["float64_equals_float32"], true,
                "{repo} / {name}: regenerate the fixtures"
            );
            for (i, (got, want)) in batched.iter().zip(&want).enumerate() {
                assert_eq!(got, want, "{repo} / {name}: sentence {i}, batched");
            }
            for (i, src) in sources.iter().enumerate() {
                let single = generate(&model, std::slice::from_ref(src), &cfg).unwrap();
                assert_eq!(
                    single[0].tokens, want[i],
                    "{repo} / {name}: sentence {i}, alone"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} golden cases found");
}

#[test]
fn step_log_probs_match_transformers_within_5e4() {
    for repo in MARIAN_REPOS {
        let golden = read_json(&fixture(&format!("marian/{repo}/golden_logits.json")));
        let (model, _) = load(repo);
        for case in golden["cases"].as_array().unwrap() {
            let src: Vec<u32> = serde_json::from_value(case["input_ids"].clone()).unwrap();
            let n = src.len();
            let ids = Tensor::from_vec(src, (1, n), &device()).unwrap();
            let mask = Tensor::ones((1, n), DType::U32, &device()).unwrap();
            let mut state = model.encode(&ids, &mask).unwrap();
            for step in case["steps"].as_array().unwrap() {
                let dec: Vec<u32> =
                    serde_json::from_value(step["decoder_input_ids"].clone()).unwrap();
                let last = Tensor::from_vec(vec![*dec.last().unwrap()], 1, &device()).unwrap();
                let logits = model.step(&mut state, &last).unwrap();
                let logp: Vec<f32> = candle_nn::ops::log_softmax(&logits, 1)
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
                        "{repo}: token {id} after {dec:?}: {got} vs {w}"
                    );
                }
            }
        }
    }
}
