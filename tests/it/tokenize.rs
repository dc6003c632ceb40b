//! Marian tokenizer against goldens made by transformers' `MarianTokenizer` (5.x) from the
//! tiny fixture repos under `tests/fixtures/marian/` (see `scripts/make_fixtures.py`).
//! Every line of `tests/fixtures/tokenizer_text.txt` must give identical source ids, source
//! pieces, target ids and decoded text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tolk::tokenize::{self, TextTokenizer};

#[derive(Deserialize)]
struct Golden {
    lines: Vec<Line>,
    /// Optional extra cases: arbitrary target ids and their decoded text.
    #[serde(default)]
    decode_cases: Vec<DecodeCase>,
}

#[derive(Deserialize)]
struct DecodeCase {
    ids: Vec<u32>,
    decoded: String,
}

#[derive(Deserialize)]
struct Line {
    text: String,
    ids: Vec<u32>,
    pieces: Vec<String>,
    target_ids: Vec<u32>,
    decoded: String,
}

fn repo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/marian")
        .join(name)
}

fn golden(dir: &Path) -> Golden {
    let text = std::fs::read_to_string(dir.join("golden_tokenizer.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    serde_json::from_str(&text).expect("golden_tokenizer.json parses")
}

fn vocab(path: &Path) -> HashMap<String, u32> {
    serde_json::from_str(&std::fs::read_to_string(path).expect("vocab readable")).expect("vocab")
}

/// Compare every golden line of one fixture repo; returns how many lines were checked.
fn check_repo(name: &str) -> usize {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_text.txt"),
    )
    .expect("tokenizer_text.txt");
    let expected = text.strip_suffix('\n').unwrap_or(&text).split('\n').count();
    let checked = check_dir(&repo(name), name);
    assert_eq!(checked, expected, "{name}: one golden entry per text line");
    checked
}

/// Compare every golden entry of `dir/golden_tokenizer.json` with our tokenizer.
fn check_dir(dir: &Path, name: &str) -> usize {
    let tok = tokenize::load_marian(dir).expect("tokenizer loads");
    let source_vocab = vocab(&dir.join("vocab.json"));
    let golden = golden(dir);
    let unk = tok.special().unk;
    let eos = tok.special().eos;
    for (n, line) in golden.lines.iter().enumerate() {
        let ctx = format!("{name} line {n} {:?}", line.text);
        let ids = tok.encode(&line.text).expect("encode");
        assert_eq!(ids, line.ids, "{ctx}: source ids");
        assert_eq!(
            tok.count_tokens(&line.text).expect("count"),
            line.ids.len(),
            "{ctx}: count"
        );
        // Our tokens are the pieces before id mapping: unknown pieces keep their surface text
        // where the golden (an id -> piece lookup) says <unk>.
        let mut tokens = tok.tokenize(&line.text);
        tokens.push("</s>".into());
        assert_eq!(tokens.len(), line.pieces.len(), "{ctx}: piece count");
        for (i, (ours, theirs)) in tokens.iter().zip(&line.pieces).enumerate() {
            if theirs == "<unk>" && line.ids[i] == unk {
                assert!(
                    ours == "<unk>" || !source_vocab.contains_key(ours),
                    "{ctx}: piece {i} {ours:?} should be unknown"
                );
            } else {
                assert_eq!(ours, theirs, "{ctx}: piece {i}");
            }
        }
        let target = tok.encode_target(&line.text).expect("encode_target");
        assert_eq!(target, line.target_ids, "{ctx}: target ids");
        assert_eq!(target.last(), Some(&eos), "{ctx}: target ends with eos");
        let decoded = tok.decode(&line.target_ids).expect("decode");
        assert_eq!(decoded, line.decoded, "{ctx}: decoded");
    }
    for case in &golden.decode_cases {
        let decoded = tok.decode(&case.ids).expect("decode");
        assert_eq!(decoded, case.decoded, "{name}: decode {:?}", case.ids);
    }
    golden.lines.len()
}

/// Goldens made elsewhere (e.g. fuzzed text, or real OPUS-MT models): set
/// `TOLK_TOKENIZER_GOLDEN_DIRS` to model folders (separated by `:`) that each hold a
/// `golden_tokenizer.json` in the fixture format, then run with `--ignored`.
#[test]
#[ignore = "needs TOLK_TOKENIZER_GOLDEN_DIRS"]
fn external_goldens_match() {
    let dirs = std::env::var("TOLK_TOKENIZER_GOLDEN_DIRS").expect("TOLK_TOKENIZER_GOLDEN_DIRS");
    for dir in dirs.split(':').filter(|d| !d.is_empty()) {
        let n = check_dir(Path::new(dir), dir);
        eprintln!("{dir}: {n} lines identical");
    }
}

#[test]
fn shared_vocab_matches_transformers() {
    assert!(check_repo("tiny-bin") > 10);
    assert!(check_repo("tiny-st") > 10);
}

#[test]
fn separate_vocabs_match_transformers() {
    let tok = tokenize::load_marian(&repo("tiny-sep")).expect("loads");
    assert!(tok.separate_vocabs());
    let target_vocab = vocab(&repo("tiny-sep").join("target_vocab.json"));
    assert_eq!(tok.special().decoder_vocab_size, target_vocab.len());
    assert_eq!(tok.special().target_pad, target_vocab["<pad>"]);
    assert!(check_repo("tiny-sep") > 10);
}

#[test]
fn load_prefers_marian_files_without_tokenizer_json() {
    let dir = repo("tiny-bin");
    let any = tokenize::load(&dir).expect("load");
    let marian = tokenize::load_marian(&dir).expect("load_marian");
    let text = "Han købte bl.a. æbler.";
    assert_eq!(any.encode(text).unwrap(), marian.encode(text).unwrap());
    assert_eq!(any.special(), marian.special());
    let batch = any.encode_batch(&[text, "", "  "]).unwrap();
    assert_eq!(batch[0], marian.encode(text).unwrap());
    assert_eq!(batch[1], vec![marian.special().eos]);
    assert_eq!(batch[2], vec![marian.special().eos]);
}

#[test]
fn missing_folder_and_files_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let err = tokenize::load(&tmp.path().join("nope"))
        .err()
        .expect("error");
    assert!(matches!(err, tolk::Error::MissingFile { .. }), "{err}");
    // Copy a repo without target.spm.
    let src = repo("tiny-bin");
    for f in ["source.spm", "vocab.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    let err = tokenize::load(tmp.path()).err().expect("error");
    match &err {
        tolk::Error::MissingFile { file, location, .. } => {
            assert_eq!(file, "target.spm");
            assert!(location.contains(&tmp.path().display().to_string()));
        }
        other => panic!("expected MissingFile, got {other}"),
    }
}
