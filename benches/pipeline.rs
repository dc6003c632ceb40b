//! Criterion benches of the translation path on the committed tiny Marian fixture: tokenizer
//! encode, sentence segmentation, and greedy / beam generation. Names carry the device
//! (`cpu_...`) so results from different machines are never mixed up. Model loading is timed
//! apart from inference. (Throughput at real model sizes: see the README's benchmark section.)

use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use tolk::decode::generate;
use tolk::hub::{HubOptions, ModelRef, ModelSource};
use tolk::pipeline::segment::segment;
use tolk::pipeline::translate::{LoadOptions, Translator};

const ARTICLE: &str = "USA og Rusland melder begge klar til snarlige militære forhandlinger om Syrien, \
siger den amerikanske udenrigsminister, John Kerry.\n- Præsident Obama mener, at samtaler på militært \
niveau vil være et vigtigt næste skridt. Forhåbentlig vil sådanne samtaler finde sted meget snart.\n\
Pentagon oplyser, at forsvarsministeren talte i telefon med sin russiske kollega, bl.a. om Ukraine.\n";

/// Prefix a bench name with the device it runs on.
fn bench_name(device: &candle_core::Device, name: &str) -> String {
    let d = if device.is_cuda() { "cuda" } else { "cpu" };
    format!("{d}_{name}")
}

fn load() -> Translator {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/marian/tiny-st");
    let src = ModelSource::open(
        &ModelRef::Local(dir),
        &HubOptions::new(std::env::temp_dir()),
    )
    .expect("fixture");
    let started = Instant::now();
    let t = Translator::load(&src, &LoadOptions::default()).expect("load fixture model");
    eprintln!(
        "model load: {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    t
}

fn benches(c: &mut Criterion) {
    let t = load();
    let device = candle_core::Device::Cpu;
    let doc = segment(ARTICLE);
    let sentences: Vec<&str> = doc.sentences().collect();
    c.bench_function(&bench_name(&device, "segment_article"), |b| {
        b.iter(|| segment(ARTICLE))
    });
    c.bench_function(&bench_name(&device, "tokenize_sentences"), |b| {
        b.iter(|| t.tokenizer().encode_batch(&sentences).unwrap())
    });
    let ids = t.tokenizer().encode_batch(&sentences).unwrap();
    for beams in [1, 4] {
        let mut cfg = t.generation().clone();
        cfg.num_beams = beams;
        cfg.max_new_tokens = Some(32);
        cfg.min_new_tokens = 32;
        c.bench_function(
            &bench_name(
                &device,
                &format!("generate_batch{}_beam{beams}_32tok", ids.len()),
            ),
            |b| b.iter(|| generate(t.model(), &ids, &cfg).unwrap()),
        );
    }
}

criterion_group! {
    name = pipeline;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(pipeline);
