//! Mutation fuzzing of the readers of untrusted model files, on stable Rust: each target takes
//! a committed fixture, damages it (cut short, bytes flipped, a run of 0xFF written where a
//! length or offset may be, bytes inserted), and hands it to tolk's reader. A reader must
//! return (an error or a value), never panic. A short run is part of `cargo test`;
//! `TOLK_FUZZ_SECS=600` runs each target that long (`TOLK_FUZZ_SEED` picks the start).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tolk::arch::ct2::Ct2Binary;
use tolk::arch::gguf::GgufHeader;
use tolk::arch::{MarianConfig, T5Config, Weights};
use tolk::decode::GenerationConfig;
use tolk::tokenize::GgufTokenizer;

use crate::common::{fixture, zh_en_package, Rng};

/// One damaged copy of `bytes`. Damage is aimed at the first 4 KiB three times in four, where
/// headers, lengths and offsets live.
fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let at = |rng: &mut Rng, len: usize| {
        if rng.below(4) == 0 {
            rng.below(len)
        } else {
            rng.below(len.min(4096))
        }
    };
    for _ in 0..1 + rng.below(3) {
        if b.is_empty() {
            b.push(rng.next() as u8);
        }
        match rng.below(5) {
            0 => b.truncate(at(rng, b.len())),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = at(rng, b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                // A huge little-endian length or offset.
                let i = at(rng, b.len());
                let n = (1 + rng.below(8)).min(b.len() - i);
                b[i..i + n].fill(0xFF);
            }
            3 => {
                let i = at(rng, b.len());
                let n = [0x7F, 0xFF, 0x00, 0x80][rng.below(4)];
                b[i] = n;
            }
            _ => {
                let i = at(rng, b.len());
                let extra: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(i..i, extra);
            }
        }
    }
    b
}

/// How long each target runs: `TOLK_FUZZ_SECS`, else a short run (or `cases` cases, if fewer
/// come first).
fn budget() -> (Duration, usize) {
    match std::env::var("TOLK_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        Some(s) if s > 0.0 => (Duration::from_secs_f64(s), usize::MAX),
        _ => (Duration::from_secs(2), 1000),
    }
}

/// Run `read` on damaged copies of `seed_file` written to `name` in a temp folder (a copy of
/// `folder`, when the reader needs the files around it). Panics, naming the case, if a reader
/// panics.
fn fuzz(target: &str, seed_file: &Path, folder: Option<&Path>, name: &str, read: &dyn Fn(&Path)) {
    let original = std::fs::read(seed_file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    if let Some(folder) = folder {
        for e in std::fs::read_dir(folder).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let path = dir.path().join(name);
    let seed = std::env::var("TOLK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let mut rng = Rng(seed ^ target.len() as u64 ^ 1);
    let (limit, cases) = budget();
    let started = Instant::now();
    let mut n = 0;
    while n < cases && started.elapsed() < limit {
        let state = rng.0;
        let damaged = mutate(&original, &mut rng);
        std::fs::write(&path, &damaged).unwrap();
        if catch_unwind(AssertUnwindSafe(|| read(&path))).is_err() {
            let keep = std::env::temp_dir().join(format!("tolk-fuzz-{target}-{n}"));
            let _ = std::fs::write(&keep, &damaged);
            panic!(
                "{target}: case {n} (rng state {state:#x}) panicked; input kept at {}",
                keep.display()
            );
        }
        n += 1;
    }
    eprintln!(
        "fuzz {target}: {n} cases in {:.1} s, no panic",
        started.elapsed().as_secs_f64()
    );
}

fn marian(name: &str) -> PathBuf {
    fixture(&format!("marian/{name}"))
}

#[test]
fn safetensors_weights() {
    let dir = marian("tiny-st");
    fuzz(
        "safetensors",
        &dir.join("model.safetensors"),
        None,
        "model.safetensors",
        &|p| {
            let _ = Weights::load(p, candle_core::DType::F32, &candle_core::Device::Cpu);
        },
    );
}

#[test]
fn pytorch_weights() {
    let dir = marian("tiny-bin");
    fuzz(
        "pytorch",
        &dir.join("pytorch_model.bin"),
        None,
        "pytorch_model.bin",
        &|p| {
            let _ = Weights::load(p, candle_core::DType::F32, &candle_core::Device::Cpu);
        },
    );
}

#[test]
fn config_files() {
    let dir = marian("tiny-st");
    fuzz(
        "config.json",
        &dir.join("config.json"),
        Some(&dir),
        "config.json",
        &|p| {
            let _ = MarianConfig::from_file(p);
            let _ = T5Config::from_file(p);
            let _ = GenerationConfig::from_model_files(p, None);
        },
    );
    let generation = dir.join("generation_config.json");
    fuzz(
        "generation_config.json",
        &generation,
        Some(&dir),
        "generation_config.json",
        &|p| {
            let _ = GenerationConfig::from_model_files(&p.with_file_name("config.json"), Some(p));
        },
    );
}

#[test]
fn sentencepiece_models() {
    let dir = marian("tiny-st");
    fuzz(
        "source.spm",
        &dir.join("source.spm"),
        Some(&dir),
        "source.spm",
        &|p| {
            if let Ok(t) = tolk::tokenize::load(p.parent().unwrap()) {
                let _ = t.encode("Hej med dig, 3,5 % – «citat» 🙂");
            }
        },
    );
}

#[test]
fn gguf_headers_and_tokenizers() {
    let file = fixture("gguf/tiny_spm.gguf");
    fuzz("gguf", &file, None, "model.gguf", &|p| {
        if let Ok(h) = GgufHeader::read(p) {
            let _ = h.architecture();
            let _ = h.declared_context_length();
            if let Ok(t) = GgufTokenizer::from_metadata(h.metadata(), p) {
                let _ = t.encode("Hello, world: 3.5% 🙂", true);
            }
        }
    });
}

#[test]
fn ctranslate2_model_bin() {
    // The real Argos model's file, cut to its first 256 KiB (its header and variable index
    // come first), damaged further.
    let Some(pkg) = zh_en_package() else { return };
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head.bin");
    let bytes = std::fs::read(pkg.join("model/model.bin")).unwrap();
    std::fs::write(&head, &bytes[..bytes.len().min(256 * 1024)]).unwrap();
    drop(bytes);
    fuzz("ct2 model.bin", &head, None, "model.bin", &|p| {
        let _ = Ct2Binary::load(p);
    });
}

#[test]
fn argos_archives() {
    // A small package zip (CT2 header of the tiny kind, metadata, vocabulary), damaged.
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.argosmodel");
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(&seed).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, bytes) in [
            (
                "pkg/model/model.bin",
                &b"\x06\x00\x00\x00\x10\x00TransformerSpec\x00"[..],
            ),
            ("pkg/model/config.json", b"{\"add_source_bos\": false}"),
            (
                "pkg/metadata.json",
                b"{\"from_code\": \"zh\", \"to_code\": \"en\"}",
            ),
            ("pkg/sentencepiece.model", b"not a model"),
        ] {
            z.start_file(name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    let cache = dir.path().join("cache");
    fuzz("argosmodel", &seed, None, "package.argosmodel", &|p| {
        let _ = tolk::hub::Ct2Package::open(p, &cache);
        let _ = std::fs::remove_dir_all(&cache);
    });
}

/// Arbitrary text: pieces a wire story is made of (sentence ends in several scripts,
/// abbreviations, quotes, dashes, odd whitespace, combining marks, emoji), or raw random bytes
/// read as lossy UTF-8.
fn random_text(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "Hej", " ", "  ", "\n", "\n\n", "\r\n", "\t", ".", "!", "?", "…", "...", "。", "！", "？",
        "z.B.", "bl.a.", "Dr.", "U.S.", "3,5", "1.000", "«", "»", "“", "”", "\"", "'", "–", "—",
        "- ", "(", ")", "中国", "经济", "e\u{301}", "\u{200d}", "\u{2028}", "\u{feff}", "🙂",
        "ABC", "5G", "a", "Z",
    ];
    if rng.below(5) == 0 {
        let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    (0..rng.below(60)).map(|_| rng.pick(PIECES)).collect()
}

#[test]
fn text_readers() {
    // The segmenter, the long-sentence splitter and the JSONL record reader on arbitrary
    // text: no panic, and the invariants the pipeline relies on.
    let (limit, cases) = budget();
    let seed = std::env::var("TOLK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_7E47u64);
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let mut n = 0;
    while n < cases && started.elapsed() < limit {
        let state = rng.0;
        let text = random_text(&mut rng);
        let max = 1 + rng.below(12);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            use tolk::pipeline::segment::{
                rejoin, segment, segment_lang, segment_lines, split_long_glued,
            };
            for doc in [segment(&text), segment_lang(&text, Some("zh"))] {
                let sentences: Vec<&str> = doc.sentences().collect();
                assert_eq!(sentences.len(), doc.sentence_count());
                assert!(doc.reassemble(&sentences).is_ok());
                for s in &sentences {
                    let count = |t: &str| t.chars().count();
                    let pieces = split_long_glued(s, max, &count);
                    assert_eq!(rejoin(&pieces), *s, "split and rejoined");
                }
            }
            let lines = segment_lines(&text);
            let blank_free = lines.sentence_count() <= text.split('\n').count();
            assert!(blank_free, "more sentences than lines in --lines mode");
            let reader = tolk::jobs::input::RecordReader::jsonl(
                std::io::Cursor::new(text.clone().into_bytes()),
                Path::new("fuzz.jsonl"),
            );
            for record in reader.take(1000) {
                let _ = record;
            }
        }));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("text case {n} (rng state {state:#x}) failed on {text:?}: {msg}");
        }
        n += 1;
    }
    eprintln!(
        "fuzz text readers: {n} cases in {:.1} s, no panic",
        started.elapsed().as_secs_f64()
    );
}

/// A chat template with what real ones use: loops, conditions, `namespace`, Python string
/// methods, `tojson`, `raise_exception`, `strftime_now` and the special-token variables.
const RICH_TEMPLATE: &str = "{%- set ns = namespace(sys=false) -%}\
{%- if messages[0]['role'] == 'system' %}{% set ns.sys = true %}{% endif -%}\
{{ bos_token }}{% if not ns.sys %}<|system|>Today is {{ strftime_now('%d %B %Y') }}.\n{% endif %}\
{%- for message in messages -%}\
{%- if message['role'] not in ['system', 'user', 'assistant'] %}{{ raise_exception('role ' + message['role']) }}{% endif -%}\
<|{{ message['role'] }}|>{{ message['content'].strip() | trim }}{% if loop.last and message['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n\
{%- if tools %}{{ tools | tojson(indent=2) }}{% endif -%}\
{%- endfor -%}\
{%- if add_generation_prompt %}<|assistant|>{{ '' if messages|length > 3 else '\\n' }}{% endif -%}";

/// One damaged copy of a template source: spans cut, doubled or moved, and Jinja fragments
/// (including ones that loop long, nest deep or build huge strings) dropped in.
fn mutate_template(src: &str, rng: &mut Rng) -> String {
    const FRAGMENTS: &[&str] = &[
        "{%",
        "%}",
        "{{",
        "}}",
        "{#",
        "#}",
        "{%-",
        "-%}",
        "for m in messages",
        "endfor",
        "if ",
        "endif",
        "else",
        "elif",
        "set x = ",
        "loop.index",
        "loop.cycle(1,2)",
        "| tojson",
        "|tojson(indent=4, sort_keys=true)",
        "raise_exception('no')",
        "range(99999999)",
        "'ab' * 99999999",
        "[1,2] * 99999999",
        "messages * 999",
        "((((((((((((((((",
        "[[[[[[[[[[[[[[[[",
        "}}}}",
        "namespace()",
        "strftime_now('%Y %j %%')",
        ".split('|')",
        ".upper()",
        "[::-1]",
        "[99999999999999999999]",
        "1/0",
        "None",
        "macro m() ",
        "endmacro",
        "m()",
        "caller()",
        "recursive",
        "loop(messages)",
        "break",
        "continue",
        "~",
        "~ messages",
        "\u{0}",
        "é",
        "中",
        "\n",
    ];
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(2) {
        let len = chars.len().max(1);
        let i = rng.below(len).min(chars.len());
        let j = (i + rng.below(40)).min(chars.len());
        match rng.below(4) {
            0 => {
                chars.drain(i..j);
            }
            1 => {
                let span: Vec<char> = chars[i..j].to_vec();
                let at = rng.below(chars.len() + 1);
                chars.splice(at..at, span);
            }
            _ => {
                let f: Vec<char> = rng.pick(FRAGMENTS).chars().collect();
                chars.splice(i..i, f);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn chat_templates() {
    // Compiling and rendering a damaged template from a model file ends in a prompt or a
    // clear error, and in bounded time and memory (fuel and a prompt-size cap).
    use tolk::tokenize::chat_template::{TemplateTokens, CHATML};
    use tolk::tokenize::{ChatMessage, ChatTemplate};
    let (limit, cases) = budget();
    let seed = std::env::var("TOLK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC4A7_7E3Au64);
    let mut rng = Rng(seed | 1);
    let tokens = TemplateTokens {
        bos: Some("<s>".into()),
        eos: Some("</s>".into()),
        unk: None,
        pad: None,
    };
    // TOLK_FUZZ_TRACE=N prints every case from the N-th on (to find one that kills the process).
    let trace_from: Option<usize> = std::env::var("TOLK_FUZZ_TRACE")
        .ok()
        .and_then(|s| s.parse().ok());
    let started = Instant::now();
    let (mut n, mut rendered) = (0, 0);
    while n < cases && started.elapsed() < limit {
        let state = rng.0;
        let src = mutate_template([CHATML, RICH_TEMPLATE][rng.below(2)], &mut rng);
        let roles = ["system", "user", "assistant", "tool", ""];
        let messages: Vec<ChatMessage> = (0..rng.below(5))
            .map(|_| ChatMessage::new(rng.pick(&roles), random_text(&mut rng)))
            .collect();
        if trace_from.is_some_and(|from| n >= from) {
            eprintln!("case {n}: {src:?}");
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            ChatTemplate::new(&src)
                .and_then(|t| t.render(&messages, rng.below(2) == 0, &tokens))
                .is_ok()
        }));
        match outcome {
            Ok(ok) => rendered += ok as usize,
            Err(_) => panic!("template case {n} (rng state {state:#x}) panicked on {src:?}"),
        }
        n += 1;
    }
    eprintln!(
        "fuzz chat templates: {n} cases ({rendered} rendered) in {:.1} s, no panic",
        started.elapsed().as_secs_f64()
    );
}
