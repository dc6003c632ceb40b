//! `tolk bench` end to end (tiny shapes, JSON fields, flag errors), and how often int8 (Q8_0)
//! linear layers give the same translations as f32 on the Marian parity fixtures.

use assert_cmd::Command;
use candle_core::{DType, Device};
use predicates::prelude::*;
use serde_json::Value;
use tolk::decode::{generate, GenerationConfig};
use tolk::hub::HubOptions;
use tolk::pipeline::load::open;
use tolk::pipeline::translate::LoadOptions;

use crate::common::{fixture, read_json, MARIAN_REPOS};

fn tolk() -> Command {
    let mut c = Command::cargo_bin("tolk").unwrap();
    c.env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_HOME", std::env::temp_dir().join("tolk-tests-no-cache"));
    c
}

/// A small Marian config.json (d_model 64 so int8 blocks fit) in a temp dir.
fn small_config() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.json");
    let cfg = serde_json::json!({
        "model_type": "marian", "vocab_size": 300, "d_model": 64, "encoder_layers": 2,
        "decoder_layers": 2, "encoder_attention_heads": 4, "decoder_attention_heads": 4,
        "encoder_ffn_dim": 128, "decoder_ffn_dim": 128, "max_position_embeddings": 64,
        "pad_token_id": 299, "eos_token_id": 0, "decoder_start_token_id": 299,
        "forced_eos_token_id": 0, "bad_words_ids": [[299]], "activation_function": "swish"
    });
    std::fs::write(&p, cfg.to_string()).unwrap();
    (dir, p)
}

fn bench_json(args: &[&str]) -> Value {
    let out = tolk()
        .arg("bench")
        .args(args)
        .args(["--format", "json", "--quiet", "--threads", "1"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("bench prints one JSON object")
}

#[test]
fn bench_on_a_random_config_reports_every_shape() {
    let (_dir, cfg) = small_config();
    let cfg = cfg.to_str().unwrap();
    let args = [
        "--config",
        cfg,
        "--batch",
        "1,3",
        "--beams",
        "1,2",
        "--src-len",
        "9",
        "--new-tokens",
        "6",
        "--warmup",
        "0",
        "--repeat",
        "2",
    ];
    for dtype in ["f32", "int8"] {
        let mut a = args.to_vec();
        a.extend(["--dtype", dtype]);
        let r = bench_json(&a);
        assert_eq!(r["dtype"], dtype);
        assert_eq!(r["device"], "cpu");
        assert_eq!(r["threads"], 1);
        assert_eq!(r["tolk_version"], env!("CARGO_PKG_VERSION"));
        assert!(r["model"].as_str().unwrap().contains("config.json"));
        assert!(r["machine"]["logical_cores"].as_u64().unwrap() >= 1);
        assert!(r["load_seconds"].as_f64().unwrap() > 0.0);
        assert!(r["peak_rss_mib"].as_f64().unwrap() > 1.0);
        assert_eq!(
            (r["src_len"].as_u64(), r["new_tokens"].as_u64()),
            (Some(9), Some(6))
        );
        let results = r["results"].as_array().unwrap();
        let shapes: Vec<(u64, u64)> = results
            .iter()
            .map(|m| (m["beams"].as_u64().unwrap(), m["batch"].as_u64().unwrap()))
            .collect();
        assert_eq!(shapes, vec![(1, 1), (1, 3), (2, 1), (2, 3)]);
        for m in results {
            assert_eq!(m["steps"], 6, "{m}");
            assert_eq!(m["generated_tokens"], m["batch"].as_u64().unwrap() * 6);
            assert_eq!(m["runs"], 2);
            let tps = m["tokens_per_second"].as_f64().unwrap();
            let total = m["total_ms"].as_f64().unwrap();
            assert!(tps > 0.0 && total > 0.0, "{m}");
            let expect = m["generated_tokens"].as_f64().unwrap() / (total / 1e3);
            assert!((tps - expect).abs() <= 1e-6 * expect, "{m}");
            let per_step = m["decoder_ms_per_step"].as_f64().unwrap();
            assert!((per_step * 6.0 - m["decoder_ms"].as_f64().unwrap()).abs() < 1e-6);
            assert!(m["encoder_ms"].as_f64().unwrap() > 0.0);
        }
    }
}

#[test]
fn bench_on_a_fixture_model_prints_a_table() {
    let repo = fixture("marian/tiny-bin");
    let out = tolk()
        .arg("bench")
        .arg("--model")
        .arg(&repo)
        .args([
            "--batch",
            "2",
            "--beams",
            "1",
            "--src-len",
            "5",
            "--new-tokens",
            "4",
        ])
        .args([
            "--warmup", "0", "--repeat", "1", "--quiet", "--dtype", "int8",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("tiny-bin"), "{table}");
    assert!(table.contains("dtype int8"), "{table}");
    let row = table.lines().last().unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[..2], &["2", "1"], "{table}");
}

#[test]
fn bad_bench_flags_are_clear_errors() {
    let (_dir, cfg) = small_config();
    let cfg = cfg.to_str().unwrap();
    tolk()
        .args(["bench", "--config", cfg, "--batch", "1,0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("batch sizes must be at least 1"));
    tolk()
        .args(["bench", "--config", cfg, "--dtype", "int4"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown dtype `int4`"));
    tolk()
        .args(["bench", "--config", "/nonexistent/tolk/config.json"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("/nonexistent/tolk/config.json")
                .and(predicate::str::contains("not found")),
        );
    tolk()
        .args(["bench", "--config", cfg, "--src-len", "100", "--batch", "1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--src-len"));
    tolk()
        .args(["bench", "--config", cfg, "--model", "x/y"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used with"));
}

/// Agreement of int8 (Q8_0 linear layers, quantized at load) with f32 on every golden source of
/// the parity fixtures, greedy cases and beam cases apart: (identical, total).
fn int8_agreement() -> ((usize, usize), (usize, usize)) {
    let hub = HubOptions::new(std::env::temp_dir());
    let (mut greedy, mut beam) = ((0, 0), (0, 0));
    for repo in MARIAN_REPOS {
        let dir = fixture(&format!("marian/{repo}"));
        let reference = dir.to_str().unwrap();
        let opts = |int8| LoadOptions {
            device: Device::Cpu,
            dtype: DType::F32,
            int8,
            int8_as_stored: false,
        };
        let f32_model = open(reference, &hub, &opts(false)).unwrap();
        let int8_model = open(reference, &hub, &opts(true)).unwrap();
        let golden = read_json(&dir.join("golden_generate.json"));
        let mut per_repo = (0, 0);
        let sources: Vec<Vec<u32>> = serde_json::from_value(golden["input_ids"].clone()).unwrap();
        for case in golden["cases"].as_array().unwrap() {
            let mut cfg: GenerationConfig = f32_model.generation.clone();
            cfg.apply_json(&case["kwargs"]).unwrap();
            let want = generate(&f32_model.model, &sources, &cfg).unwrap();
            let got = generate(&int8_model.model, &sources, &cfg).unwrap();
            let same = want
                .iter()
                .zip(&got)
                .filter(|(a, b)| a.tokens == b.tokens)
                .count();
            let tally = if cfg.num_beams == 1 {
                &mut greedy
            } else {
                &mut beam
            };
            tally.0 += same;
            tally.1 += sources.len();
            per_repo.0 += same;
            per_repo.1 += sources.len();
        }
        println!(
            "int8 vs f32 on {repo}: {}/{} identical",
            per_repo.0, per_repo.1
        );
    }
    (greedy, beam)
}

#[test]
fn int8_mostly_agrees_with_f32_on_the_parity_fixtures() {
    let ((g_same, g_all), (b_same, b_all)) = int8_agreement();
    let pct = |s: usize, n: usize| 100.0 * s as f64 / n as f64;
    println!(
        "int8 vs f32 identical sentences: greedy {g_same}/{g_all} ({:.1}%), beam {b_same}/{b_all} ({:.1}%)",
        pct(g_same, g_all),
        pct(b_same, b_all)
    );
    assert!(
        g_all >= 24 && b_all >= 24,
        "too few cases: {g_all} greedy, {b_all} beam"
    );
    assert!(
        pct(g_same, g_all) >= FLOOR_PCT,
        "greedy agreement below {FLOOR_PCT}%"
    );
    assert!(
        pct(b_same, b_all) >= FLOOR_PCT,
        "beam agreement below {FLOOR_PCT}%"
    );
}

/// Smallest share of identical sentences accepted (measured values are printed by the test).
const FLOOR_PCT: f64 = 50.0;
