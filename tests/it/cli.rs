//! The `tolk` binary end to end: layout kept, `--lines`, formats, bad input, exit codes, and
//! the Hub download path against a local server speaking the Hub's URL layout.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

use crate::common::fixture;
use crate::support::hub_server::HubServer;

fn tolk() -> Command {
    let mut c = Command::cargo_bin("tolk").unwrap();
    // Never reach a real Hub from tests, whatever the machine's environment says.
    c.env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_HOME", std::env::temp_dir().join("tolk-tests-no-cache"));
    c
}

/// Run `tolk translate ARGS --model <fixture repo>` on `stdin` and return its stdout; it must succeed.
fn translate_ok(args: &[&str], repo: &str, stdin: &str) -> String {
    let out = tolk()
        .arg("translate")
        .args(args)
        .arg("--model")
        .arg(fixture(&format!("marian/{repo}")))
        .write_stdin(stdin)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).expect("stdout is UTF-8")
}

fn article() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/da/us-russia-syria-talks.txt");
    if p.exists() {
        Some(p)
    } else {
        println!("skipped: {} is not present", p.display());
        None
    }
}

/// Line shape: for each line, whether it is blank and which dash prefix it starts with.
fn shape(text: &str) -> Vec<(bool, bool)> {
    text.lines()
        .map(|l| (l.trim().is_empty(), l.trim_start().starts_with('-')))
        .collect()
}

#[test]
fn article_keeps_its_line_structure() {
    let Some(article) = article() else { return };
    let input = std::fs::read_to_string(&article).unwrap();
    // The file is named on the command line, as a user would.
    let article_arg = article.to_string_lossy().into_owned();
    let out = translate_ok(&["--quiet", &article_arg], "tiny-st", "");
    let non_empty = |t: &str| t.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(non_empty(&input), 14);
    assert_eq!(non_empty(&out), 14, "output:\n{out}");
    assert_eq!(shape(&out), shape(&input));
}

#[test]
fn lines_mode_gives_one_line_per_input_line() {
    let input = "Hej med dig.\n\nDet er en test. Den har to sætninger.\n   \nSlut\n";
    let out = translate_ok(&["--lines", "--beams", "2"], "tiny-bin", input);
    let got: Vec<&str> = out.split('\n').collect();
    let want: Vec<&str> = input.split('\n').collect();
    assert_eq!(got.len(), want.len(), "{out:?}");
    // Blank input lines stay blank (a random model may also translate a sentence to nothing).
    for (g, w) in got.iter().zip(&want) {
        if w.trim().is_empty() {
            assert!(g.trim().is_empty(), "{out:?}");
        }
    }
}

#[test]
fn json_and_jsonl_are_machine_readable() {
    let input = "Hej med dig. Det er en test.\nNy linje.\n";
    let out = translate_ok(&["--format", "json", "--quiet"], "tiny-bin", input);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sentences"].as_array().unwrap().len(), 3);
    assert_eq!(v["sentences"][2]["source"], "Ny linje.");
    assert!(v["translation"].is_string());

    let out = translate_ok(
        &["--format", "jsonl", "--lines", "--quiet"],
        "tiny-bin",
        input,
    );
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["source"], "Ny linje.");
    assert_eq!(rows[1]["index"], 1);
}

#[test]
fn empty_input_is_empty_output() {
    tolk()
        .args(["translate", "--model", "does/not-matter"])
        .write_stdin("")
        .assert()
        .success()
        .stdout("");
    // Blank lines only: the layout comes back, and no model is needed for it.
    tolk()
        .args(["translate", "--lines", "--model", "does/not-matter"])
        .write_stdin("\n  \n\n")
        .assert()
        .success()
        .stdout("\n\n\n");
}

#[test]
fn invalid_utf8_names_the_byte_offset() {
    tolk()
        .args(["translate", "--model"])
        .arg(fixture("marian/tiny-bin"))
        .write_stdin(b"Hej \xff med dig".to_vec())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("byte offset 4"));
    // --lines streams, and still names the line and refuses the chunk before any output.
    tolk()
        .args(["translate", "--lines", "--model"])
        .arg(fixture("marian/tiny-bin"))
        .write_stdin(b"Hej.\nDav.\nbad \xff\n".to_vec())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("line 3").and(predicate::str::contains("byte offset 14")));
}

#[test]
fn usage_errors_exit_2() {
    tolk()
        .args(["translate", "--beams", "many"])
        .assert()
        .code(2);
    tolk()
        .args(["translate", "--no-such-flag"])
        .assert()
        .code(2);
}

#[test]
fn bad_flag_values_are_usage_errors() {
    // Refused while the flags are read (exit 2, clap's message naming the flag), before any
    // model is looked for or input read.
    for args in [
        &["translate", "--device", "tpu"][..],
        &["translate", "--dtype", "int4"],
        &["translate", "--beams", "0"],
        &["translate", "--batch-tokens", "0"],
        &["translate", "--max-new-tokens", "0"],
        &["summarize", "--beams", "0"],
        &["brief", "--translate-beams", "0"],
        &["batch", "in.jsonl", "-o", "out.jsonl", "--window-docs", "0"],
        &["batch", "in.jsonl", "-o", "out.jsonl", "--device", "tpu"],
        &["serve", "--max-queue", "0"],
        &["serve", "--timeout", "0"],
        &["serve", "--char-limit", "0"],
        &["serve", "--req-limit", "0"],
        &["serve", "--max-body-bytes", "0"],
        &["translate", "--threads", "0"],
        &["bench", "--device", "tpu"],
    ] {
        let flag = args.iter().find(|a| a.starts_with("--")).unwrap();
        tolk()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(*flag));
    }
}

#[test]
fn lines_and_jsonl_show_empty_model_output_as_empty() {
    // tiny-bin forces end-of-sequence at max_length: one new token allowed means an empty output.
    let input = "Første linje.\nAnden linje.\n";
    let run = |extra: &[&str]| {
        tolk()
            .args(["translate", "--max-new-tokens", "1", "--quiet"])
            .args(extra)
            .arg("--model")
            .arg(fixture("marian/tiny-bin"))
            .write_stdin(input)
            .assert()
            .success()
            .stderr(predicate::str::contains("produced nothing for 2"))
    };
    // --lines: one empty line per input line, not the Danish source.
    let out = run(&["--lines"])
        .stderr(predicate::str::contains("line 1, 2"))
        .stderr(predicate::str::contains("left empty"))
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap(), "\n\n");
    // jsonl: the empty translation, marked.
    let out = run(&["--format", "jsonl"]).get_output().stdout.clone();
    let rows: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["translation"], "");
        assert_eq!(row["untranslated"], true);
    }
    // An article keeps its source where the model gave nothing, and says so.
    let out = run(&[])
        .stderr(predicate::str::contains("source text was kept"))
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap(), input);
}

#[test]
fn missing_model_folder_is_a_clear_error() {
    tolk()
        .args(["translate", "--model", "./no/such/folder"])
        .write_stdin("Hej.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn corrupt_and_truncated_weights_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    copy_dir(&fixture("marian/tiny-st"), &st);
    std::fs::write(
        st.join("model.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json",
    )
    .unwrap();
    tolk()
        .args(["translate", "--model"])
        .arg(&st)
        .write_stdin("Hej.")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("corrupt").and(predicate::str::contains("model.safetensors")),
        );

    let bin = dir.path().join("bin");
    copy_dir(&fixture("marian/tiny-bin"), &bin);
    let full = std::fs::read(bin.join("pytorch_model.bin")).unwrap();
    std::fs::write(bin.join("pytorch_model.bin"), &full[..full.len() / 2]).unwrap();
    tolk()
        .args(["translate", "--model"])
        .arg(&bin)
        .write_stdin("Hej.")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("corrupt").and(predicate::str::contains("pytorch_model.bin")),
        );

    std::fs::remove_file(bin.join("vocab.json")).unwrap();
    tolk()
        .args(["translate", "--model"])
        .arg(&bin)
        .write_stdin("Hej.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("vocab.json"));
}

#[test]
fn downloads_from_the_hub_then_works_offline() {
    let home = tempfile::tempdir().unwrap();
    let input = "Hej med dig. Det er en test.\n\n- Ja, siger han.\n";
    let run = |endpoint: &str, offline: bool| {
        let mut c = tolk();
        c.env("HF_HOME", home.path()).env("HF_ENDPOINT", endpoint);
        if offline {
            c.env("HF_HUB_OFFLINE", "1");
        }
        c.args([
            "translate",
            "--quiet",
            "--model",
            "Helsinki-NLP/opus-mt-da-en",
        ])
        .write_stdin(input)
        .assert()
    };
    let server = HubServer::start(&[("Helsinki-NLP/opus-mt-da-en", &fixture("marian/tiny-bin"))]);
    let endpoint = server.endpoint();
    let online = run(&endpoint, false).success().get_output().stdout.clone();
    assert!(server.request_count() > 0);
    assert!(home
        .path()
        .join("hub/models--Helsinki-NLP--opus-mt-da-en")
        .is_dir());
    drop(server);
    let offline = run(&endpoint, true).success().get_output().stdout.clone();
    assert_eq!(online, offline);
    assert_eq!(String::from_utf8(offline).unwrap().lines().count(), 3);
    // Online, but the Hub is gone: the complete cached snapshot is used, with a warning.
    let fallback = run(&endpoint, false)
        .success()
        .stderr(predicate::str::contains("using the cached snapshot"))
        .get_output()
        .stdout
        .clone();
    assert_eq!(online, fallback);
    // With nothing cached for the repo, the network error stands.
    let empty = tempfile::tempdir().unwrap();
    tolk()
        .env("HF_HOME", empty.path())
        .env("HF_ENDPOINT", &endpoint)
        .args(["translate", "--model", "Helsinki-NLP/opus-mt-da-en"])
        .write_stdin("Hej.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cached snapshot").not());

    // A repo the Hub does not have, and a repo missing a file the model needs.
    let incomplete = tempfile::tempdir().unwrap();
    copy_dir(&fixture("marian/tiny-bin"), incomplete.path());
    std::fs::remove_file(incomplete.path().join("source.spm")).unwrap();
    let server = HubServer::start(&[("Helsinki-NLP/opus-mt-xx-en", incomplete.path())]);
    let fresh = tempfile::tempdir().unwrap();
    tolk()
        .env("HF_HOME", fresh.path())
        .env("HF_ENDPOINT", server.endpoint())
        .args(["translate", "--model", "Helsinki-NLP/opus-mt-nope-en"])
        .write_stdin("Hej.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("404").or(predicate::str::contains("not found")));
    tolk()
        .env("HF_HOME", fresh.path())
        .env("HF_ENDPOINT", server.endpoint())
        .args(["translate", "--model", "Helsinki-NLP/opus-mt-xx-en"])
        .write_stdin("Hej.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("source.spm"));
    // Offline with nothing cached.
    tolk()
        .env("HF_HOME", fresh.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(["translate", "--model", "Helsinki-NLP/opus-mt-de-en"])
        .write_stdin("Hallo.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("HF_HUB_OFFLINE"));
}

/// `dir`'s tensors split into shards (`names` sorted, dealt round-robin), written with an index
/// in transformers' layout; the single weights file is removed.
fn shard(dir: &Path, shards: usize) {
    let single = dir.join("model.safetensors");
    let tensors = candle_core::safetensors::load(&single, &candle_core::Device::Cpu).unwrap();
    std::fs::remove_file(&single).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut map = serde_json::Map::new();
    for s in 0..shards {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", s + 1);
        let part: std::collections::HashMap<String, candle_core::Tensor> = names
            .iter()
            .skip(s)
            .step_by(shards)
            .map(|n| ((*n).clone(), tensors[*n].clone()))
            .collect();
        for n in part.keys() {
            map.insert(n.clone(), file.clone().into());
        }
        candle_core::safetensors::save(&part, dir.join(&file)).unwrap();
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn sharded_checkpoints_load_from_the_hub_and_folders() {
    let input = "Hej med dig. Det er en test.\n";
    let translate = |model: &str, home: &Path, endpoint: &str| {
        tolk()
            .env("HF_HOME", home)
            .env("HF_ENDPOINT", endpoint)
            .args([
                "translate",
                "--quiet",
                "--format",
                "jsonl",
                "--model",
                model,
            ])
            .write_stdin(input)
            .assert()
    };
    let home = tempfile::tempdir().unwrap();
    let whole = fixture("marian/tiny-st");
    let want = translate(whole.to_str().unwrap(), home.path(), "http://127.0.0.1:9")
        .success()
        .get_output()
        .stdout
        .clone();

    // Three safetensors shards served by the local Hub: every shard is fetched, same output.
    let sharded = tempfile::tempdir().unwrap();
    copy_dir(&whole, sharded.path());
    shard(sharded.path(), 3);
    let server = HubServer::start(&[("Helsinki-NLP/opus-mt-da-en", sharded.path())]);
    let got = translate(
        "Helsinki-NLP/opus-mt-da-en",
        home.path(),
        &server.endpoint(),
    )
    .success()
    .get_output()
    .stdout
    .clone();
    assert_eq!(got, want);
    let requests = server.requests().join("\n");
    for s in 1..=3 {
        assert!(
            requests.contains(&format!("model-{s:05}-of-00003.safetensors")),
            "{requests}"
        );
    }
    // `tolk info` counts the parameters of every shard.
    let info = |model: &str| -> serde_json::Value {
        let out = tolk()
            .env("HF_HOME", home.path())
            .env("HF_ENDPOINT", server.endpoint())
            .args(["info", "--format", "json", "--model", model])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    assert_eq!(
        info("Helsinki-NLP/opus-mt-da-en")["parameters"],
        info(whole.to_str().unwrap())["parameters"]
    );
    drop(server);

    // A local folder with shards, and one whose index names a tensor no shard holds.
    let got = translate(
        sharded.path().to_str().unwrap(),
        home.path(),
        "http://127.0.0.1:9",
    )
    .success()
    .get_output()
    .stdout
    .clone();
    assert_eq!(got, want);
    let index_path = sharded.path().join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["weight_map"]["no.such.tensor"] = "model-00001-of-00003.safetensors".into();
    std::fs::write(&index_path, index.to_string()).unwrap();
    translate(
        sharded.path().to_str().unwrap(),
        home.path(),
        "http://127.0.0.1:9",
    )
    .code(1)
    .stderr(predicate::str::contains("no.such.tensor"));
    // A shard the index names but the folder lacks.
    std::fs::remove_file(sharded.path().join("model-00002-of-00003.safetensors")).unwrap();
    translate(
        sharded.path().to_str().unwrap(),
        home.path(),
        "http://127.0.0.1:9",
    )
    .code(1)
    .stderr(predicate::str::contains("model-00002-of-00003.safetensors"));
}

#[test]
fn an_interrupted_download_is_never_left_looking_complete() {
    let home = tempfile::tempdir().unwrap();
    let repo = fixture("marian/tiny-bin");
    let weights = std::fs::read(repo.join("pytorch_model.bin")).unwrap();
    let server = HubServer::start(&[("Helsinki-NLP/opus-mt-da-en", &repo)]);
    let run = || {
        tolk()
            .env("HF_HOME", home.path())
            .env("HF_ENDPOINT", server.endpoint())
            .args([
                "translate",
                "--quiet",
                "--model",
                "Helsinki-NLP/opus-mt-da-en",
            ])
            .write_stdin("Hej med dig.\n")
            .assert()
    };
    // Every file body ends after 1 KiB, as a dropped connection would: the run fails, saying
    // what broke off, on the first file larger than that.
    server.cut_downloads_after(Some(1024));
    run()
        .code(1)
        .stderr(predicate::str::contains("the download broke off"));
    // Whatever the cache holds under a file's name is the whole file.
    let snapshots = home
        .path()
        .join("hub/models--Helsinki-NLP--opus-mt-da-en/snapshots");
    let mut cached = 0;
    for snap in std::fs::read_dir(&snapshots).into_iter().flatten() {
        for file in std::fs::read_dir(snap.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_owned();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                std::fs::read(repo.join(&name)).unwrap(),
                "{} is cut short",
                path.display()
            );
            cached += 1;
        }
    }
    assert!(
        !weights.is_empty() && cached < 9,
        "{cached} files looked complete"
    );
    // The connection comes back: the next run completes the download and translates as the
    // folder itself does.
    server.cut_downloads_after(None);
    let got = run().success().get_output().stdout.clone();
    let want = tolk()
        .args(["translate", "--quiet", "--model"])
        .arg(&repo)
        .write_stdin("Hej med dig.\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(got, want);
}

#[test]
fn numbers_the_translation_drops_are_flagged_and_strict_fails() {
    // The Argos model drops the emergency number 110 from this sentence (and keeps the rest).
    let Some(pkg) = crate::common::zh_en_package() else {
        return;
    };
    let input = "警方提醒：切勿轻信陌生来电；如有疑问，请拨打110报警。\n该公司第二季度净利润为38亿美元，同比下降15%。\n";
    let run = |args: &[&str]| {
        tolk()
            .args(["translate", "--lines", "-q"])
            .args(args)
            .arg("--model")
            .arg(&pkg)
            .write_stdin(input)
            .output()
            .unwrap()
    };
    let out = run(&["--format", "jsonl"]);
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["fidelity"]["missing"], serde_json::json!(["110"]));
    assert_eq!(
        rows[1]["fidelity"],
        serde_json::json!({"missing": [], "added": []})
    );
    assert!(rows[1]["translation"]
        .as_str()
        .unwrap()
        .contains("$3.8 billion"));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 1: 110 missing from the translation"),
        "{err}"
    );
    let strict = run(&["--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(strict.stdout).unwrap().lines().count(),
        2,
        "output still printed"
    );
    assert!(String::from_utf8_lossy(&strict.stderr).contains("--strict: 1 items"));
    // An article, as one JSON object: per-sentence objects and the totals.
    let out = tolk()
        .args(["translate", "-q", "--format", "json", "--model"])
        .arg(&pkg)
        .write_stdin(input.replace('\n', ""))
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["fidelity"],
        serde_json::json!({"flagged": 1, "missing": 1, "added": 0})
    );
    let flagged: Vec<&serde_json::Value> = doc["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["fidelity"]["missing"] == serde_json::json!(["110"]))
        .collect();
    assert_eq!(flagged.len(), 1, "{doc}");
}
