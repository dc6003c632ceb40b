//! The input limits the README promises, at their edges, with the peak memory they take:
//! `tolk translate --lines` streams (1 GiB through standard input in bounded memory, output
//! equal to the whole-input run), an article up to 64 MiB is read whole (a 5 MB one is
//! translated), `tolk batch` takes a record up to 64 MiB and fails a longer one by itself.
//! Peak memory is the child's `VmHWM`, sampled while it runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::fixture;

const MIB: usize = 1 << 20;

fn tolk() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("tolk"));
    c.env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_HOME", std::env::temp_dir().join("tolk-tests-no-cache"));
    c
}

fn tiny() -> String {
    fixture("marian/tiny-st").display().to_string()
}

/// The peak resident memory of process `pid` so far, in MiB (Linux `VmHWM`).
fn peak_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct Outcome {
    ok: bool,
    stderr: String,
    peak_mib: f64,
}

/// Run `cmd`, feeding stdin from `feed` and handing stdout to `drain` on their own threads,
/// while sampling its peak memory.
fn run_measured(
    mut cmd: Command,
    feed: impl FnOnce(&mut dyn Write) + Send + 'static,
    drain: impl FnOnce(&mut dyn BufRead) + Send + 'static,
) -> Outcome {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tolk starts");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let writer = std::thread::spawn(move || {
        feed(&mut stdin);
    });
    let reader = std::thread::spawn(move || drain(&mut BufReader::with_capacity(1 << 16, stdout)));
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut peak: f64 = 0.0;
    let status = loop {
        if let Some(p) = peak_mib(child.id()) {
            peak = peak.max(p);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writer.join().expect("feeding stdin");
    reader.join().expect("reading stdout");
    Outcome {
        ok: status.success(),
        stderr: errors.join().unwrap(),
        peak_mib: peak,
    }
}

/// Real sentences, one per line, about `bytes` long in all.
fn sentences(bytes: usize) -> String {
    const WORDS: &[&str] = &[
        "Rusland",
        "og",
        "USA",
        "er",
        "klar",
        "til",
        "at",
        "forhandle",
        "om",
        "Syrien",
        "i",
        "næste",
        "uge,",
        "sagde",
        "ministeren",
        "torsdag",
        "efter",
        "mødet",
        "Genève",
    ];
    let mut rng = crate::common::Rng(17);
    let mut out = String::new();
    while out.len() < bytes {
        for k in 0..8 + rng.below(10) {
            if k > 0 {
                out.push(' ');
            }
            out.push_str(rng.pick(WORDS));
        }
        out.push_str(".\n");
    }
    out
}

#[test]
fn lines_stream_a_gigabyte_in_bounded_memory() {
    // 1 GiB on standard input: blocks of 1 MiB, each a few real sentences (translated) among
    // lines with no letter (kept as they are, not translated). A tool that read it whole would
    // need over 1 GiB.
    const BLOCKS: usize = 1024;
    let filler = "-".repeat(255) + "\n";
    let real = sentences(400);
    let real_lines = real.lines().count();
    let block = {
        let mut b = real.clone();
        while b.len() + filler.len() <= MIB {
            b.push_str(&filler);
        }
        b
    };
    let lines_per_block = block.matches('\n').count();
    let feed_block = block.clone();
    let counts = std::sync::Arc::new(std::sync::Mutex::new((0usize, 0usize, 0usize)));
    let seen = counts.clone();
    let mut cmd = tolk();
    cmd.args([
        "translate",
        "--lines",
        "-q",
        "--max-new-tokens",
        "2",
        "-m",
        &tiny(),
    ]);
    let outcome = run_measured(
        cmd,
        move |w| {
            for _ in 0..BLOCKS {
                w.write_all(feed_block.as_bytes())
                    .expect("tolk reads all of stdin");
            }
        },
        move |r| {
            let (mut lines, mut fillers, mut bytes) = (0, 0, 0);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 {
                lines += 1;
                bytes += line.len();
                fillers += usize::from(line == "-".repeat(255) + "\n");
                line.clear();
            }
            *seen.lock().unwrap() = (lines, fillers, bytes);
        },
    );
    assert!(outcome.ok, "{}", outcome.stderr);
    let (lines, fillers, bytes) = *counts.lock().unwrap();
    eprintln!(
        "1 GiB through --lines: {lines} lines, {bytes} bytes out, peak {:.0} MiB",
        outcome.peak_mib
    );
    assert_eq!(
        lines,
        BLOCKS * lines_per_block,
        "one output line per input line"
    );
    assert_eq!(fillers, BLOCKS * (lines_per_block - real_lines));
    assert!(
        outcome.peak_mib > 0.0 && outcome.peak_mib < 256.0,
        "peak {:.0} MiB streaming 1 GiB",
        outcome.peak_mib
    );
}

#[test]
fn streamed_lines_equal_the_whole_input_run_across_chunks() {
    // Over 2 MiB of lines (three chunks), with blank lines: text and JSONL streams equal the
    // `--format json` run, which reads the input whole.
    let mut text = sentences(2 * MIB + 300 * 1024);
    text.insert_str(text.len() / 2, "\n\n");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, &text).unwrap();
    let run = |format: &str| {
        let out = tolk()
            .args([
                "translate",
                "--lines",
                "-q",
                "--max-new-tokens",
                "3",
                "--format",
                format,
            ])
            .args(["-m", &tiny()])
            .arg(&input)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let whole: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let whole = whole["sentences"].as_array().unwrap().clone();
    let streamed_text = run("text");
    let streamed_rows: Vec<serde_json::Value> = run("jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(whole.len(), text.lines().filter(|l| !l.is_empty()).count());
    assert_eq!(streamed_rows.len(), whole.len());
    let source_lines: Vec<&str> = text.lines().collect();
    for (i, (row, w)) in streamed_rows.iter().zip(&whole).enumerate() {
        assert_eq!(row["index"], i, "row {i}");
        assert_eq!(row["translation"], w["translation"], "row {i}");
        let line = row["line"].as_u64().unwrap() as usize;
        assert_eq!(
            source_lines[line - 1],
            row["source"],
            "row {i} names its input line"
        );
    }
    let out_lines: Vec<&str> = streamed_text.lines().collect();
    assert_eq!(out_lines.len(), source_lines.len());
    for row in &streamed_rows {
        let line = row["line"].as_u64().unwrap() as usize;
        assert_eq!(out_lines[line - 1], row["translation"]);
    }
}

#[test]
fn a_5_mb_article_is_translated_and_larger_inputs_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    // 5 MB of running text in paragraphs of ten sentences.
    let article: String = sentences(5_000_000)
        .lines()
        .collect::<Vec<_>>()
        .chunks(10)
        .map(|p| p.join(" ") + "\n\n")
        .collect();
    let path = dir.path().join("article.txt");
    std::fs::write(&path, &article).unwrap();
    let mut cmd = tolk();
    cmd.args(["translate", "-q", "--max-new-tokens", "2", "-m", &tiny()])
        .arg(&path);
    let paragraphs = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let seen = paragraphs.clone();
    let outcome = run_measured(
        cmd,
        |_| {},
        move |r| {
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            *seen.lock().unwrap() = s.split("\n\n").filter(|p| !p.trim().is_empty()).count();
        },
    );
    assert!(outcome.ok, "{}", outcome.stderr);
    eprintln!("5 MB article: peak {:.0} MiB", outcome.peak_mib);
    let want = article
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .count();
    assert_eq!(*paragraphs.lock().unwrap(), want, "every paragraph kept");
    assert!(
        outcome.peak_mib < 1024.0,
        "peak {:.0} MiB",
        outcome.peak_mib
    );

    // Over 64 MiB as one article: refused before any model is loaded, pointing at --lines.
    let big = dir.path().join("big.txt");
    write_sized(&big, 64 * MIB + 1, b"Hej. ");
    let out = tolk()
        .args(["translate", "-m", &tiny()])
        .arg(&big)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("over 64 MiB") && err.contains("--lines"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // One line over 64 MiB in --lines: refused with its line number, before any output.
    let long = dir.path().join("long.txt");
    {
        let mut f = std::fs::File::create(&long).unwrap();
        f.write_all(b"Hej.\n").unwrap();
        write_into(&mut f, 64 * MIB + 1, b"abcd ");
        f.write_all(b"\nDav.\n").unwrap();
    }
    let out = tolk()
        .args(["translate", "--lines", "-m", &tiny()])
        .arg(&long)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("line 2") && err.contains("64 MiB"), "{err}");
    assert!(out.stdout.is_empty(), "a file is checked before any output");
}

/// Write `n` bytes of `pattern` repeated (whole copies, then a cut one at the end).
fn write_into(w: &mut dyn Write, n: usize, pattern: &[u8]) {
    let chunk = pattern.repeat(MIB / pattern.len());
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        w.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
}

fn write_sized(path: &Path, n: usize, pattern: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    write_into(&mut f, n, pattern);
}

#[test]
fn batch_takes_a_record_up_to_64_mib_and_fails_a_longer_one_alone() {
    // Record "big" is 60 MiB of text (lines with no letter, then one sentence); "huge" is over
    // the limit. The job goes on around the failure and keeps memory bounded.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        writeln!(f, r#"{{"id":"a","text":"Hej med dig."}}"#).unwrap();
        f.write_all(br#"{"id":"big","text":""#).unwrap();
        write_into(&mut f, 60 * MIB, b"---- ---- ---- ---- ---- ---- --\\n");
        f.write_all(b"Rusland og USA er klar.\"}\n").unwrap();
        f.write_all(br#"{"id":"huge","text":""#).unwrap();
        write_into(&mut f, 64 * MIB + 1, b"Hej. ");
        f.write_all(b"\"}\n").unwrap();
        writeln!(f, r#"{{"id":"z","text":"Farvel."}}"#).unwrap();
    }
    let out = dir.path().join("out.jsonl");
    let mut cmd = tolk();
    cmd.args([
        "batch",
        "--quiet",
        "--from",
        "da",
        "--no-summary",
        "--max-new-tokens",
        "2",
    ])
    .args(["--model", &tiny(), "-o"])
    .arg(&out)
    .arg(&input);
    let outcome = run_measured(cmd, |_| {}, |_| {});
    eprintln!(
        "batch with a 60 MiB record: peak {:.0} MiB",
        outcome.peak_mib
    );
    assert!(!outcome.ok, "a failed record makes the exit status 1");
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_id = |id: &str| {
        records
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("record {id} missing"))
    };
    assert_eq!(records.len(), 4);
    for id in ["a", "big", "z"] {
        assert!(by_id(id).get("error").is_none(), "{id}: {}", by_id(id));
    }
    let big = by_id("big")["translation"].as_str().unwrap();
    // 60 MiB of JSON is 58 MiB of text (each `\n` escape is one character).
    assert!(big.len() > 58 * MIB, "big record: {} bytes out", big.len());
    // The over-long line is skipped unread, so its record names the line, not the id.
    let huge = records
        .iter()
        .find(|r| r["line"] == 3)
        .expect("a record for line 3");
    let err = huge["error"].as_str().unwrap();
    assert!(err.contains("line 3") && err.contains("64 MiB"), "{err}");
    assert!(
        outcome.peak_mib < 1024.0,
        "peak {:.0} MiB",
        outcome.peak_mib
    );
}
