//! Criterion benches of the text side and of whole articles, on the committed tiny Marian
//! fixture: sentence segmentation, tokenizer encode, and translating an article end to end.
//! Model loading is timed apart, once. (Model-sized compute: benches/model.rs and `tolk bench`.)

mod common;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use tolk::hub::{HubOptions, ModelRef, ModelSource};
use tolk::pipeline::segment::segment;
use tolk::pipeline::translate::{BatchOptions, LoadOptions, Translator};

use common::{fixture, BenchDevice};

const ARTICLE: &str = "USA og Rusland melder begge klar til snarlige militære forhandlinger om Syrien, \
siger den amerikanske udenrigsminister, John Kerry.\n- Præsident Obama mener, at samtaler på militært \
niveau vil være et vigtigt næste skridt. Forhåbentlig vil sådanne samtaler finde sted meget snart.\n\
Pentagon oplyser, at forsvarsministeren talte i telefon med sin russiske kollega, bl.a. om Ukraine.\n";

fn load(dev: &BenchDevice) -> Translator {
    let src = ModelSource::open(
        &ModelRef::Local(fixture("marian/tiny-st")),
        &HubOptions::new(std::env::temp_dir()),
    )
    .expect("fixture");
    let opts = LoadOptions {
        device: dev.device().clone(),
        ..LoadOptions::default()
    };
    let started = Instant::now();
    let t = Translator::load(&src, &opts).expect("load fixture model");
    eprintln!(
        "{}: {:.1} ms",
        dev.name("model_load"),
        started.elapsed().as_secs_f64() * 1e3
    );
    t
}

fn benches(c: &mut Criterion) {
    let dev = BenchDevice::from_env();
    let t = load(&dev);
    let doc = segment(ARTICLE);
    let sentences: Vec<&str> = doc.sentences().collect();
    c.bench_function(&dev.name("segment_article"), |b| {
        b.iter(|| segment(ARTICLE))
    });
    c.bench_function(&dev.name("tokenizer_encode_article"), |b| {
        b.iter(|| t.tokenizer().encode_batch(&sentences).unwrap())
    });
    c.bench_function(&dev.name("translate_article_tiny_fixture"), |b| {
        b.iter(|| {
            dev.run(|| {
                t.translate_document(&doc, BatchOptions::default(), &mut |_| {})
                    .unwrap()
            })
        })
    });
}

criterion_group! {
    name = pipeline;
    config = common::criterion();
    targets = benches
}
criterion_main!(pipeline);
