//! `tolk models`: the built-in registry as JSON and as a table, the `cached` column following a
//! fake Hugging Face cache and a fake Argos cache, `--lang`/`--task` filters and `--registry`.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// `tolk` with every cache pointed into `home` (nothing of the machine's caches is seen).
fn tolk(home: &Path) -> Command {
    let mut c = Command::cargo_bin("tolk").unwrap();
    c.env("HF_HOME", home.join("hf"))
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("TOLK_CACHE", home.join("tolk"));
    c
}

/// `tolk models --format json ARGS`, which must succeed, as `[entry]`.
fn models_json(home: &Path, args: &[&str]) -> Vec<Value> {
    let out = tolk(home)
        .args(["models", "--format", "json"])
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).expect("tolk models --format json prints JSON");
    v.as_array().expect("a JSON array").clone()
}

fn names(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

fn cached(list: &[Value]) -> Vec<String> {
    list.iter()
        .filter(|e| e["cached"] == Value::Bool(true))
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn cached_flips_when_a_snapshot_or_an_argos_package_appears() {
    let home = tempfile::tempdir().unwrap();
    let list = models_json(home.path(), &[]);
    let all = names(&list);
    for n in [
        "opus-mt-da-en",
        "opus-mt-gmq-en",
        "opus-mt-mul-en",
        "madlad400-3b-mt",
        "flan-t5-base",
    ] {
        assert!(all.contains(&n.to_string()), "{n} missing from {all:?}");
    }
    assert!(
        cached(&list).is_empty(),
        "empty caches: {:?}",
        cached(&list)
    );
    let da = list.iter().find(|e| e["name"] == "opus-mt-da-en").unwrap();
    assert_eq!(da["model_ref"], "Helsinki-NLP/opus-mt-da-en");
    assert_eq!(da["source_languages"], serde_json::json!(["da"]));

    // The hf-hub layout: refs/main names the snapshot that holds config.json.
    let repo = home
        .path()
        .join("hf/hub/models--Helsinki-NLP--opus-mt-da-en");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), sha).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(sha)).unwrap();
    assert!(
        cached(&models_json(home.path(), &[])).is_empty(),
        "no config.json yet"
    );
    std::fs::write(repo.join("snapshots").join(sha).join("config.json"), "{}").unwrap();
    assert_eq!(cached(&models_json(home.path(), &[])), ["opus-mt-da-en"]);

    // An extracted Argos package, named by its archive's sha256 prefix.
    let pkg = home
        .path()
        .join("tolk/argos/translate-zh_en-1_9-62e7af5a3a48b530/translate-zh_en-1_9/model");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("model.bin"), b"not a model").unwrap();
    let mut now = cached(&models_json(home.path(), &[]));
    now.sort();
    assert_eq!(now, ["argos-zh-en-1.9", "opus-mt-da-en"]);

    let table = tolk(home.path())
        .arg("models")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(table.starts_with("NAME "), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("opus-mt-da-en "))
        .unwrap();
    assert!(
        row.contains(" yes ") && row.contains("Helsinki-NLP/opus-mt-da-en"),
        "{row}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("opus-mt-de-en "))
        .unwrap();
    assert!(row.contains(" no "), "{row}");
}

#[test]
fn lang_and_task_filters() {
    let home = tempfile::tempdir().unwrap();
    // Norwegian in Bokmål spelling: the group model first, then the fallbacks.
    let nb = names(&models_json(home.path(), &["--lang", "nb"]));
    assert_eq!(nb, ["opus-mt-gmq-en", "opus-mt-mul-en", "madlad400-3b-mt"]);
    let summarize = models_json(home.path(), &["--task", "summarize"]);
    assert!(!summarize.is_empty());
    assert!(summarize.iter().all(|e| e["task"] == "summarize"));
    assert!(models_json(home.path(), &["--lang", "xx"]).is_empty());
}

#[test]
fn registry_folder_adds_and_overrides_entries_and_bad_files_are_named() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "name = \"opus-mt-da-en\"\nreference = \"me/my-da-en\"\nrevision = \"v1\"\n\
         architecture = \"marian\"\ntask = \"translate\"\ndefault = true\n\
         source_languages = [\"da\"]\nlicence = \"mit\"\n",
    )
    .unwrap();
    let reg = dir.path().to_str().unwrap();
    let list = models_json(home.path(), &["--registry", reg, "--lang", "da"]);
    assert_eq!(list[0]["name"], "opus-mt-da-en");
    assert_eq!(list[0]["model_ref"], "me/my-da-en@v1");

    std::fs::write(
        dir.path().join("broken.toml"),
        "name = \"x\"\nreference = \"a/b\"\narchitecture = \"gpt\"\ntask = \"translate\"\n\
         source_languages = [\"da\"]\nlicence = \"mit\"\n",
    )
    .unwrap();
    let out = tolk(home.path())
        .args(["models", "--registry", reg])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(
        err.contains("broken.toml") && err.contains("`architecture`"),
        "{err}"
    );
}
