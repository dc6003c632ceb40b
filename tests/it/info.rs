//! `tolk info` and `tolk::pipeline::info`: languages, architecture, stored dtypes, dims and
//! sizes of the fixture Marian repos (folder and offline HF cache) and of the real Argos zh→en
//! package (skipped with a message when it was not fetched, a failure under `CI`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tolk::hub::HubOptions;
use tolk::pipeline::info::inspect;

use crate::common::{fixture, models_dir, read_json, zh_en_package, ZH_EN_PACKAGE};

fn tolk() -> Command {
    let mut c = Command::cargo_bin("tolk").unwrap();
    c.env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_HOME", std::env::temp_dir().join("tolk-tests-no-cache"));
    c
}

/// `tolk info --model MODEL --format json`, which must succeed.
fn info_json(cmd: &mut Command, model: &Path) -> Value {
    let out = cmd
        .args(["info", "--format", "json", "--model"])
        .arg(model)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("tolk info --format json prints one JSON object")
}

/// `tolk info --model MODEL` as `key -> value`, which must succeed.
fn info_text(cmd: &mut Command, model: &Path) -> BTreeMap<String, String> {
    let out = cmd
        .args(["info", "--model"])
        .arg(model)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("not `key: value`: {l}"));
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

/// Bytes of all files under `dir`, links followed.
fn tree_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let m = std::fs::metadata(&p).unwrap();
            if m.is_dir() {
                tree_bytes(&p)
            } else {
                m.len()
            }
        })
        .sum()
}

/// Expected facts of a fixture repo: from its config.json, plus the stored tensor counts and
/// unique stored elements that torch reports for its weights file
/// (`len(state_dict)`, and the sum of `numel` over distinct storages).
fn expected(repo: &str) -> (Value, &'static str, usize, u64) {
    let cfg = read_json(&fixture(&format!("marian/{repo}/config.json")));
    match repo {
        "tiny-bin" => (cfg, "pytorch_model.bin", 91, 76_354),
        "tiny-st" => (cfg, "model.safetensors", 76, 123_074),
        other => panic!("no expectations for {other}"),
    }
}

#[test]
fn json_on_fixture_repos_matches_their_files() {
    for repo in ["tiny-bin", "tiny-st"] {
        let dir = fixture(&format!("marian/{repo}"));
        let (cfg, weights, tensors, params) = expected(repo);
        let j = info_json(&mut tolk(), &dir);
        assert_eq!(j["format"], "transformers", "{repo}");
        assert_eq!(j["architecture"], "marian", "{repo}");
        assert_eq!(j["ct2"], Value::Null, "{repo}");
        // The fixtures' tokenizer_config.json says da → en.
        assert_eq!(
            (&j["source_lang"], &j["target_lang"], &j["languages_from"]),
            (
                &Value::from("da"),
                &Value::from("en"),
                &Value::from("tokenizer_config.json")
            ),
            "{repo}"
        );
        for (k, c) in [
            ("d_model", "d_model"),
            ("encoder_layers", "encoder_layers"),
            ("decoder_layers", "decoder_layers"),
            ("encoder_heads", "encoder_attention_heads"),
            ("decoder_heads", "decoder_attention_heads"),
            ("ffn_dim", "encoder_ffn_dim"),
            ("source_vocab", "vocab_size"),
        ] {
            assert_eq!(j[k], cfg[c], "{repo}: {k}");
        }
        assert_eq!(
            j["dtypes"],
            serde_json::json!([{"dtype": "float32", "tensors": tensors}]),
            "{repo}"
        );
        assert_eq!(j["parameters"], params, "{repo}");
        let wf = PathBuf::from(j["weights_file"].as_str().unwrap());
        assert_eq!(wf.file_name().unwrap(), weights, "{repo}");
        assert_eq!(
            j["weights_bytes"],
            std::fs::metadata(dir.join(weights)).unwrap().len(),
            "{repo}"
        );
        assert_eq!(j["total_bytes"], tree_bytes(&dir), "{repo}");
        assert_eq!(j["archive_bytes"], Value::Null, "{repo}");
        assert!(
            j["location"].as_str().unwrap().ends_with("(local folder)"),
            "{repo}: {}",
            j["location"]
        );
    }
}

#[test]
fn text_on_fixture_repos_names_every_fact() {
    for repo in ["tiny-bin", "tiny-st"] {
        let (cfg, weights, tensors, params) = expected(repo);
        let t = info_text(&mut tolk(), &fixture(&format!("marian/{repo}")));
        assert_eq!(t["languages"], "da → en (from tokenizer_config.json)");
        assert_eq!(t["architecture"], "marian (transformers)");
        assert_eq!(t["stored dtypes"], format!("float32 ×{tensors}"));
        assert!(t["parameters"].starts_with(&format!("{params} (")), "{t:?}");
        assert_eq!(t["d_model"], cfg["d_model"].to_string());
        assert_eq!(
            t["layers"],
            format!(
                "{} encoder, {} decoder",
                cfg["encoder_layers"], cfg["decoder_layers"]
            )
        );
        assert_eq!(t["heads"], cfg["encoder_attention_heads"].to_string());
        assert_eq!(t["vocabulary"], cfg["vocab_size"].to_string());
        assert!(t["weights"].contains(weights), "{t:?}");
        assert!(t["location"].ends_with("(local folder)"), "{t:?}");
    }
}

#[test]
fn library_and_cli_agree() {
    let dir = fixture("marian/tiny-st");
    let hub = HubOptions::new(std::env::temp_dir().join("tolk-tests-no-cache"));
    let lib = serde_json::to_value(inspect(dir.to_str().unwrap(), &hub).unwrap()).unwrap();
    assert_eq!(lib, info_json(&mut tolk(), &dir));
}

/// An HF cache holding `owner/name` at one commit, files as blobs behind snapshot links, the
/// way `huggingface_hub` lays it out.
fn fake_cache(root: &Path, repo: &str, from: &Path, files: &[&str]) {
    let repo_dir = root.join(format!("models--{}", repo.replace('/', "--")));
    let commit = "0123456789abcdef0123456789abcdef01234567";
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::create_dir_all(repo_dir.join("blobs")).unwrap();
    let snap = repo_dir.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(repo_dir.join("refs/main"), commit).unwrap();
    for (i, f) in files.iter().enumerate() {
        let blob = repo_dir.join("blobs").join(format!("blob{i}"));
        std::fs::copy(from.join(f), &blob).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/blob{i}"), snap.join(f)).unwrap();
    }
}

#[test]
fn works_offline_from_the_hf_cache_and_reads_languages_from_the_repo_name() {
    let cache = tempfile::tempdir().unwrap();
    let src = fixture("marian/tiny-st");
    // No tokenizer_config.json: the languages must come from `opus-mt-de-fr`.
    let files = [
        "config.json",
        "model.safetensors",
        "source.spm",
        "target.spm",
        "vocab.json",
    ];
    fake_cache(cache.path(), "Helsinki-NLP/opus-mt-de-fr", &src, &files);
    let run = || {
        let mut c = tolk();
        c.env("HF_HUB_OFFLINE", "1")
            .env("HF_HUB_CACHE", cache.path());
        c
    };
    let j = info_json(&mut run(), Path::new("Helsinki-NLP/opus-mt-de-fr"));
    assert_eq!(j["source_lang"], "de");
    assert_eq!(j["target_lang"], "fr");
    assert_eq!(j["languages_from"], "model name");
    assert_eq!(j["parameters"], 123_074);
    let loc = j["location"].as_str().unwrap();
    assert!(
        loc.contains("Helsinki-NLP/opus-mt-de-fr@main") && loc.contains("offline"),
        "{loc}"
    );
    let expect: u64 = files
        .iter()
        .map(|f| std::fs::metadata(src.join(f)).unwrap().len())
        .sum();
    assert_eq!(j["total_bytes"], expect, "snapshot links are followed");

    // A repo the cache does not hold is a clear error, not a download attempt.
    run()
        .args(["info", "--model", "Helsinki-NLP/opus-mt-xx-yy"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("HF_HUB_OFFLINE"));
}

#[test]
fn a_missing_folder_is_a_clear_error() {
    tolk()
        .args(["info", "--model", "./no/such/model"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("does not exist"));
}

fn check_zh_en(j: &Value) {
    assert_eq!(j["format"], "ctranslate2");
    assert_eq!(
        (&j["source_lang"], &j["target_lang"], &j["languages_from"]),
        (
            &Value::from("zh"),
            &Value::from("en"),
            &Value::from("metadata.json")
        )
    );
    assert_eq!(j["ct2"]["spec"], "TransformerSpec");
    let dtypes: Vec<&str> = j["dtypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dtype"].as_str().unwrap())
        .collect();
    assert!(dtypes.contains(&"int8"), "{dtypes:?}");
    // OPUS-MT transformer-base: 6+6 layers, d_model 512, 8 heads, 2048 FFN, 65000 shared tokens.
    for (k, v) in [
        ("d_model", 512),
        ("encoder_layers", 6),
        ("decoder_layers", 6),
        ("encoder_heads", 8),
        ("ffn_dim", 2048),
        ("source_vocab", 65_000),
        ("target_vocab", 65_000),
    ] {
        assert_eq!(j[k], v, "{k}");
    }
    let params = j["parameters"].as_u64().unwrap();
    // Shared embedding (65000 × 512) plus 12 layers of about 3–4 M parameters each.
    assert!((70_000_000..90_000_000).contains(&params), "{params}");
}

#[test]
fn real_argos_package_folder_and_archive() {
    let Some(pkg) = zh_en_package() else { return };
    let t = info_text(&mut tolk(), &pkg);
    assert_eq!(t["languages"], "zh → en (from metadata.json)");
    assert!(
        t["architecture"].contains("CTranslate2 TransformerSpec revision"),
        "{t:?}"
    );
    assert!(t["stored dtypes"].contains("int8 ×"), "{t:?}");

    let j = info_json(&mut tolk(), &pkg);
    check_zh_en(&j);
    assert_eq!(
        j["weights_bytes"],
        std::fs::metadata(pkg.join("model/model.bin"))
            .unwrap()
            .len()
    );
    assert_eq!(j["total_bytes"], tree_bytes(&pkg));
    assert_eq!(j["archive_bytes"], Value::Null);

    let archive = models_dir().join(format!("{ZH_EN_PACKAGE}.argosmodel"));
    if !archive.is_file() {
        eprintln!("SKIPPED: {} is missing", archive.display());
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = tolk();
    cmd.env("TOLK_CACHE", cache.path());
    let a = info_json(&mut cmd, &archive);
    check_zh_en(&a);
    assert_eq!(
        a["archive_bytes"],
        std::fs::metadata(&archive).unwrap().len()
    );
    assert!(
        a["weights_file"]
            .as_str()
            .unwrap()
            .starts_with(cache.path().to_str().unwrap()),
        "the archive is extracted into TOLK_CACHE: {}",
        a["weights_file"]
    );
    for k in [
        "parameters",
        "dtypes",
        "ct2",
        "weights_bytes",
        "total_bytes",
    ] {
        assert_eq!(a[k], j[k], "{k}: archive and extracted folder differ");
    }
}
