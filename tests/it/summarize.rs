//! `tolk summarize` and `tolk brief` end to end on tiny random fixture models: the machinery
//! (chunking, bounds, formats, bad input). What a real model writes is checked in `chat.rs`
//! with SmolLM2's real weights.

use assert_cmd::Command;
use predicates::prelude::*;

use crate::common::fixture;

fn tolk() -> Command {
    let mut c = Command::cargo_bin("tolk").unwrap();
    c.env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_HOME", std::env::temp_dir().join("tolk-tests-no-cache"));
    c
}

fn t5() -> String {
    fixture("t5/tiny-gated-tied").display().to_string()
}

fn news(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("news_en/{name}.txt"))).unwrap()
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).expect("stdout is one JSON object")
}

#[test]
fn a_short_text_is_summarized_in_one_call_within_the_bound() {
    let text = news("central-bank");
    let short: String = text.split("\n\n").take(2).collect::<Vec<_>>().join("\n\n");
    let out = tolk()
        .args([
            "summarize",
            "--model",
            &t5(),
            "--format",
            "json",
            "--words",
            "12",
        ])
        .write_stdin(short)
        .assert()
        .success()
        .stderr(predicate::str::contains("note:").not())
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["chunks"], 1);
    assert_eq!(v["rounds"], 1);
    assert_eq!(v["bound"]["unit"], "words");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.split_whitespace().count() <= 12, "{summary}");
    assert!(v["counts"]["generated_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn a_long_text_is_chunked_and_the_user_is_told() {
    // Four articles joined are well over the fixture's 512-token window.
    let text = [
        "harbour-strike",
        "glacier-study",
        "central-bank",
        "football-final",
    ]
    .map(news)
    .join("\n\n");
    let assert = tolk()
        .args([
            "summarize",
            "--model",
            &t5(),
            "--format",
            "json",
            "--sentences",
            "2",
        ])
        .write_stdin(text)
        .assert()
        .success()
        .stderr(predicate::str::contains("summarizing it in"));
    let v = json(&assert.get_output().stdout);
    assert!(v["chunks"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["rounds"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["sentences"].as_array().unwrap().len() <= 2);
}

#[test]
fn summaries_are_deterministic() {
    let run = || {
        tolk()
            .args(["summarize", "--model", &t5(), "--format", "json"])
            .arg(fixture("news_en/glacier-study.txt"))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let (a, b) = (json(&run()), json(&run()));
    assert_eq!(a["summary"], b["summary"]);
    assert_eq!(a["counts"], b["counts"]);
}

#[test]
fn bad_input_is_a_clear_error() {
    tolk()
        .args(["summarize", "--model", &t5()])
        .write_stdin(vec![b'a', 0xff, b'b'])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("not UTF-8").and(predicate::str::contains("byte offset 1")),
        );
    tolk()
        .args(["summarize", "--model", "/nonexistent/tolk-model"])
        .write_stdin("Some text.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot load summarizer"));
    tolk()
        .args([
            "summarize",
            "--sentences",
            "2",
            "--words",
            "5",
            "--model",
            &t5(),
        ])
        .write_stdin("Some text.")
        .assert()
        .code(2);
    tolk()
        .args(["summarize", "--sentences", "0", "--model", &t5()])
        .write_stdin("Some text.")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("at least 1"));
}

#[test]
fn empty_input_gives_an_empty_summary_without_a_model() {
    let out = tolk()
        .args([
            "summarize",
            "--model",
            "/nonexistent/never-loaded",
            "--format",
            "json",
        ])
        .write_stdin("\n  \n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json(&out)["summary"], "");
}

#[test]
fn brief_translates_then_summarizes() {
    let out = tolk()
        .args(["brief", "--format", "json", "--sentences", "1"])
        .arg("--translate-model")
        .arg(fixture("marian/tiny-st"))
        .args(["--summary-model", &t5()])
        .write_stdin("Hej verden. Det er en god dag.\n\nVi ses i morgen.\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["sentences"].as_array().unwrap().len(), 3);
    assert!(v["translation"].as_str().unwrap().contains("\n\n"));
    assert!(v["summary"]["sentences"].as_array().unwrap().len() <= 1);
    assert!(v["models"]["translate"]
        .as_str()
        .unwrap()
        .contains("tiny-st"));
    assert!(v["models"]["summarize"]
        .as_str()
        .unwrap()
        .contains("tiny-gated-tied"));

    let text = tolk()
        .args(["brief", "--model"])
        .arg(fixture("marian/tiny-st"))
        .args(["--summary-model", &t5(), "--format", "markdown"])
        .write_stdin("Hej verden.\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("## Translation\n\n"), "{text}");
}
