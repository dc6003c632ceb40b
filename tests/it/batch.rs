//! `tolk batch` end to end on the tiny fixture models: records match one-shot translations, bad
//! records fail alone, a killed job resumes without losing or repeating a record, language
//! routing through a registry folder, summaries, and huge documents.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::common::fixture;

fn tolk() -> Command {
    let mut c = Command::cargo_bin("tolk").unwrap();
    // Never reach for the network or a user's cache.
    c.env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", std::env::temp_dir().join("tolk-batch-test-hf"))
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE");
    c
}

fn model(repo: &str) -> String {
    fixture(&format!("marian/{repo}")).display().to_string()
}

fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output line {l:?}: {e}")))
        .collect()
}

/// `tolk translate` of `text` with `repo`, as text.
fn one_shot(repo: &str, text: &str, extra: &[&str]) -> String {
    let out = tolk()
        .args(["translate", "--quiet", "--model", &model(repo)])
        .args(extra)
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const DA: &[&str] = &[
    "USA og Rusland er klar til at forhandle om Syrien.",
    "Det er første gang siden august 2014, at forsvarsministrene fra USA og Rusland taler sammen.",
    "Vi har aldrig afvist dialog med USA, siger ministeriets talskvinde, Maria Sakharova.",
    "Pentagon oplyser det.",
    "Han tilføjer, at Carter og Sjojgu er enige om at fortsætte samtalerne.",
    "Hej.",
];

/// Document `i`: one or two paragraphs of pool sentences.
fn doc(i: usize) -> String {
    let a = DA[i % DA.len()];
    let b = DA[(i * 7 + 3) % DA.len()];
    if i.is_multiple_of(3) {
        format!("{a} {b}\n\n{b}\n")
    } else {
        format!("{a}\n")
    }
}

#[test]
fn records_match_one_shot_translations_and_bad_records_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let out = dir.path().join("out.jsonl");
    let lines = [
        serde_json::json!({"id": "a", "text": doc(0), "title": "T"}).to_string(),
        "{not json".to_string(),
        serde_json::json!({"id": "e", "text": ""}).to_string(),
        serde_json::json!({"id": "a", "text": "again"}).to_string(),
        serde_json::json!({"id": "en", "text": "The ministers met on Monday.\n", "lang": "en"})
            .to_string(),
        serde_json::json!({"id": 7, "text": doc(1)}).to_string(),
        serde_json::json!({"id": "stars", "text": "***\n"}).to_string(),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let run = tolk()
        .args([
            "batch",
            "--quiet",
            "--from",
            "da",
            "--no-summary",
            "--window-docs",
            "2",
        ])
        .args(["--model", &model("tiny-st"), "-o"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "failures give exit 1: {stderr}");
    assert!(
        stderr.contains("duplicate record id:\"a\" at line 4"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 records failed and 1 duplicate"),
        "{stderr}"
    );
    let recs = read_records(&out);
    let ids: Vec<String> = recs.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(ids, ["\"a\"", "null", "\"e\"", "\"en\"", "7", "\"stars\""]);
    assert_eq!(recs[0]["translation"], one_shot("tiny-st", &doc(0), &[]));
    assert_eq!(recs[0]["title"], "T");
    assert_eq!(recs[0]["lang"], "da");
    assert_eq!(recs[0]["models"]["translate"][0], model("tiny-st"));
    assert!(recs[0]["timings"]["translate_ms"].is_u64());
    assert!(recs[0].get("error").is_none());
    assert_eq!(recs[1]["line"], 2);
    assert!(recs[1]["error"]
        .as_str()
        .unwrap()
        .contains("line 2 is not valid JSON"));
    assert_eq!(recs[2]["translation"], "");
    assert_eq!(recs[3]["translation"], "The ministers met on Monday.\n");
    assert!(
        recs[3]["models"].get("translate").is_none(),
        "English is not translated"
    );
    assert_eq!(recs[4]["translation"], one_shot("tiny-st", &doc(1), &[]));
    assert_eq!(recs[5]["translation"], "***\n");
    assert!(recs.iter().all(|r| r["summary"].is_null()));

    // Running again changes nothing: every record is done.
    let again = tolk()
        .args([
            "batch",
            "--quiet",
            "--from",
            "da",
            "--no-summary",
            "--model",
            &model("tiny-st"),
            "-o",
        ])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        read_records(&out).len(),
        6,
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_killed_job_resumes_without_losing_or_repeating_records() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let n = 90;
    let text: String = (0..n)
        .map(|i| serde_json::json!({"id": format!("d{i}"), "text": doc(i)}).to_string() + "\n")
        .collect();
    std::fs::write(&input, text).unwrap();
    let args = |out: &Path, window: &str| -> Vec<String> {
        vec![
            "batch".into(),
            "--quiet".into(),
            "--from".into(),
            "da".into(),
            "--no-summary".into(),
            "--max-new-tokens".into(),
            "12".into(),
            "--window-docs".into(),
            window.into(),
            "--model".into(),
            model("tiny-bin"),
            "-o".into(),
            out.display().to_string(),
            input.display().to_string(),
        ]
    };
    // The reference: one uninterrupted run.
    let full = dir.path().join("full.jsonl");
    tolk().args(args(&full, "16")).assert().success();
    let expected: BTreeMap<String, Value> = read_records(&full)
        .into_iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["translation"].clone(),
            )
        })
        .collect();
    assert_eq!(expected.len(), n);

    // Kill -9 mid-run, once some records are written.
    let part = dir.path().join("part.jsonl");
    let bin = assert_cmd::cargo::cargo_bin("tolk");
    let mut child = std::process::Command::new(bin)
        .args(args(&part, "1"))
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let written = std::fs::read_to_string(&part)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if written >= 5 || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = read_records(&part).len();
    assert!(
        before >= 5 && before < n,
        "killed with {before} of {n} records written"
    );
    // And a record cut off in the middle of its write.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&part)
        .unwrap();
    f.write_all(b"{\"id\":\"d89\",\"transla").unwrap();
    drop(f);

    tolk().args(args(&part, "4")).assert().success();
    let recs = read_records(&part);
    let mut got: BTreeMap<String, Value> = BTreeMap::new();
    for r in recs {
        let id = r["id"].as_str().unwrap().to_string();
        assert!(
            got.insert(id.clone(), r["translation"].clone()).is_none(),
            "{id} written twice"
        );
    }
    assert_eq!(got, expected);
}

#[test]
fn summaries_come_from_the_summary_model() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("docs");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::write(input.join("one.txt"), doc(0)).unwrap();
    std::fs::write(input.join("sub/two.md"), doc(2)).unwrap();
    let out = dir.path().join("out.jsonl");
    let t5 = fixture("t5/tiny-gated-tied").display().to_string();
    tolk()
        .args([
            "batch",
            "--quiet",
            "--from",
            "da",
            "--model",
            &model("tiny-st"),
        ])
        .args(["--summary-model", &t5, "--max-new-tokens", "12", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let recs = read_records(&out);
    let ids: Vec<&str> = recs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["one.txt", "sub/two.md"]);
    for r in &recs {
        assert!(r["summary"].is_string(), "{r}");
        assert_eq!(r["models"]["summarize"], t5.as_str());
        assert!(r["timings"]["summarize_ms"].is_u64());
        assert!(r.get("line").is_none());
    }
}

#[test]
fn huge_documents_pass_whole() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let paragraph = "The ministers met again on Monday, and they will meet again next week.\n\n";
    let big: String = paragraph.repeat((5 << 20) / paragraph.len() + 1);
    assert!(big.len() > 5 << 20);
    std::fs::write(
        &input,
        serde_json::json!({"id": "big", "text": big, "lang": "en"}).to_string(),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    tolk()
        .args(["batch", "--quiet", "--no-summary", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let recs = read_records(&out);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["translation"].as_str().unwrap(), big);

    // A long foreign document is translated in many batches, paragraph order kept.
    let da: String = (0..300).map(doc).collect::<Vec<_>>().join("\n");
    std::fs::write(
        &input,
        serde_json::json!({"id": "long", "text": da}).to_string(),
    )
    .unwrap();
    let out2 = dir.path().join("out2.jsonl");
    tolk()
        .args([
            "batch",
            "--quiet",
            "--no-summary",
            "--from",
            "da",
            "--batch-tokens",
            "64",
        ])
        .args(["--max-new-tokens", "6", "--model", &model("tiny-st"), "-o"])
        .arg(&out2)
        .arg(&input)
        .assert()
        .success();
    let recs = read_records(&out2);
    assert_eq!(
        recs[0]["translation"].as_str().unwrap(),
        one_shot("tiny-st", &da, &["--max-new-tokens", "6"])
    );
}

/// An offline Hugging Face cache in `hf_home` holding fixture `repo` as `tolk-test/<name>`.
fn cache_repo(hf_home: &Path, name: &str, repo: &str) {
    let root = hf_home.join(format!("hub/models--tolk-test--{name}"));
    let snap = root.join("snapshots/0000000000000000000000000000000000000001");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(root.join("refs")).unwrap();
    std::fs::write(
        root.join("refs/main"),
        "0000000000000000000000000000000000000001",
    )
    .unwrap();
    for entry in std::fs::read_dir(fixture(&format!("marian/{repo}"))).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_name().to_string_lossy().starts_with("golden") {
            std::fs::copy(entry.path(), snap.join(entry.file_name())).unwrap();
        }
    }
}

fn entry(name: &str, lang: &str) -> String {
    format!(
        "name = \"test-{name}\"\nreference = \"tolk-test/{name}\"\narchitecture = \"marian\"\n\
         task = \"translate\"\ndefault = true\nsource_languages = [\"{lang}\"]\n\
         target_language = \"en\"\nlicence = \"test\"\n"
    )
}

const DE: &str = "Die Verteidigungsminister der Vereinigten Staaten und Russlands haben am Freitag \
                  zum ersten Mal seit über einem Jahr miteinander gesprochen, teilte das Pentagon mit.";

#[test]
fn languages_are_detected_and_routed_through_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    cache_repo(&hf, "tiny-da", "tiny-st");
    cache_repo(&hf, "tiny-de", "tiny-bin");
    let reg = dir.path().join("registry");
    std::fs::create_dir_all(&reg).unwrap();
    std::fs::write(reg.join("da.toml"), entry("tiny-da", "da")).unwrap();
    std::fs::write(reg.join("de.toml"), entry("tiny-de", "de")).unwrap();
    let da = format!("{} {}", DA[1], DA[2]);
    let mixed = format!("{da}\n\n{DE}\n");
    // The language with the most letters is the document's.
    let mixed = format!("{} {}\n\n{mixed}", DA[4], DA[1]);
    let fi = "Yhdysvaltojen ja Venäjän puolustusministerit keskustelivat perjantaina ensimmäistä \
              kertaa yli vuoteen, kertoi Pentagon.";
    let docs = [
        serde_json::json!({"id": "da", "text": da}),
        serde_json::json!({"id": "de", "text": DE}),
        serde_json::json!({"id": "mixed", "text": mixed}),
        serde_json::json!({"id": "en", "text": "The defence ministers of the United States and Russia spoke on Friday for the first time in over a year."}),
        serde_json::json!({"id": "fi", "text": fi}),
        serde_json::json!({"id": "given", "text": DE, "lang": "da"}),
    ];
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        docs.iter()
            .map(|d| d.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let run = tolk()
        .env("HF_HOME", &hf)
        .args([
            "batch",
            "--quiet",
            "--no-summary",
            "--max-new-tokens",
            "8",
            "--registry",
        ])
        .arg(&reg)
        .arg("-o")
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let recs: BTreeMap<String, Value> = read_records(&out)
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r))
        .collect();
    assert_eq!(recs["da"]["lang"], "da");
    assert_eq!(
        recs["da"]["models"]["translate"],
        serde_json::json!(["tolk-test/tiny-da"])
    );
    assert_eq!(recs["de"]["lang"], "de");
    assert_eq!(
        recs["de"]["models"]["translate"],
        serde_json::json!(["tolk-test/tiny-de"])
    );
    assert_eq!(recs["mixed"]["lang"], "da");
    assert_eq!(recs["mixed"]["langs"], serde_json::json!(["da", "de"]));
    let mut used: Vec<&str> = recs["mixed"]["models"]["translate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    used.sort();
    assert_eq!(used, ["tolk-test/tiny-da", "tolk-test/tiny-de"]);
    // Each paragraph of the mixed document is translated by its own model.
    let mixed_out = recs["mixed"]["translation"].as_str().unwrap();
    let paragraphs: Vec<&str> = mixed_out.split("\n\n").collect();
    assert_eq!(paragraphs.len(), 3);
    assert_eq!(
        paragraphs[1],
        recs["da"]["translation"].as_str().unwrap().trim_end()
    );
    assert_eq!(
        paragraphs[2].trim_end(),
        recs["de"]["translation"].as_str().unwrap().trim_end()
    );
    assert_eq!(recs["en"]["lang"], "en");
    assert!(recs["en"]["models"].get("translate").is_none());
    // Finnish's registry model is not in the offline cache: a clear error naming the language
    // and the models that would serve it; the other records are unaffected.
    assert_eq!(recs["fi"]["lang"], "fi");
    let err = recs["fi"]["error"].as_str().unwrap();
    assert!(
        err.contains("'fi'") && err.contains("Helsinki-NLP/opus-mt-fi-en"),
        "{err}"
    );
    assert_eq!(recs["given"]["lang"], "da");
    assert_eq!(
        recs["given"]["models"]["translate"],
        serde_json::json!(["tolk-test/tiny-da"])
    );
    assert_eq!(
        recs.values().filter(|r| r.get("error").is_some()).count(),
        1
    );
}

#[test]
fn records_carry_the_numbers_their_translation_lost() {
    // The tiny model's output is noise without digits: the source's numbers are missing.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let out = dir.path().join("out.jsonl");
    let lines = [
        serde_json::json!({"id": "n", "text": "Prisen steg 5,2 pct. i 2024.\n\nDer kom 1.234 gæster.\n"}),
        serde_json::json!({"id": "en", "text": "Prices rose 5.2 per cent.\n", "lang": "en"}),
    ];
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&input, text.join("\n") + "\n").unwrap();
    let run = tolk()
        .args(["batch", "--quiet", "--from", "da", "--no-summary"])
        .args(["--max-new-tokens", "6", "--model", &model("tiny-sep"), "-o"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let recs = read_records(&out);
    assert_eq!(
        recs[0]["fidelity"]["missing"],
        serde_json::json!(["5,2", "2024", "1.234"])
    );
    // Each flagged sentence is named by its paragraph and its place there.
    let flagged = recs[0]["fidelity"]["sentences"].as_array().unwrap();
    assert_eq!(flagged.len(), 2, "{flagged:?}");
    assert_eq!(flagged[0]["paragraph"], 0);
    assert_eq!(flagged[0]["source"], "Prisen steg 5,2 pct. i 2024.");
    assert_eq!(flagged[0]["missing"], serde_json::json!(["5,2", "2024"]));
    assert_eq!(flagged[1]["paragraph"], 1);
    assert_eq!(flagged[1]["sentence"], 0);
    assert_eq!(flagged[1]["missing"], serde_json::json!(["1.234"]));
    assert_eq!(
        recs[1]["fidelity"],
        serde_json::json!({"missing": [], "added": [], "sentences": []}),
        "English is not translated, so nothing can go missing"
    );
}
