//! Criterion benches of the model's compute at opus-mt-da-en size (random weights built from
//! the model's dimensions, nothing downloaded): one encoder forward, one decoder step over a
//! growing cache, and one beam-search step (model step plus beam bookkeeping), in f32 and with
//! int8 (Q8_0) linear layers. `TOLK_BENCH_CONFIG=path/config.json` measures another Marian
//! shape instead. Building the model is timed apart, once per dtype.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use candle_core::{DType, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use tolk::arch::Marian;
use tolk::bench::forced_config;
use tolk::bench::random::random_marian;
use tolk::bench::SourcePool;
use tolk::decode::{encode_batch, generate_from, GenerationConfig, Seq2Seq};

use common::BenchDevice;

/// Helsinki-NLP/opus-mt-da-en's dimensions (its config.json, generation keys included).
const DA_EN: &str = r#"{"model_type": "marian", "vocab_size": 58930, "d_model": 512,
 "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 8,
 "decoder_attention_heads": 8, "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048,
 "activation_function": "swish", "max_position_embeddings": 512, "scale_embedding": true,
 "pad_token_id": 58929, "eos_token_id": 0, "decoder_start_token_id": 58929,
 "forced_eos_token_id": 0, "bad_words_ids": [[58929]], "num_beams": 4, "max_length": 512}"#;

/// Decoder steps before the cache is rebuilt (the step benches average over cache lengths 0..32).
const CACHE_STEPS: usize = 32;

fn config_path(dir: &tempfile::TempDir) -> PathBuf {
    match std::env::var_os("TOLK_BENCH_CONFIG") {
        Some(p) => PathBuf::from(p),
        None => {
            let p = dir.path().join("config.json");
            std::fs::write(&p, DA_EN).expect("write config");
            p
        }
    }
}

fn build(dev: &BenchDevice, config: &std::path::Path, int8: bool) -> (Marian, GenerationConfig) {
    let started = Instant::now();
    let m = random_marian(config, 0, DType::F32, dev.device(), int8).expect("build model");
    let tag = if int8 { "int8" } else { "f32" };
    eprintln!(
        "{}: {:.2} s",
        dev.name(&format!("build_random_da_en_{tag}")),
        started.elapsed().as_secs_f64()
    );
    m
}

fn sources(model: &Marian, batch: usize, len: usize) -> Vec<Vec<u32>> {
    let cfg = model.config();
    SourcePool::range(cfg.vocab_size, &[cfg.pad_token_id], cfg.eos_token_id)
        .expect("pool")
        .sample(batch, len, 1)
}

fn model_benches(
    c: &mut Criterion,
    dev: &BenchDevice,
    model: &Marian,
    gen: &GenerationConfig,
    tag: &str,
) {
    // Encoder: 4 sentences of 32 tokens + end of sequence.
    let src = sources(model, 4, 32);
    c.bench_function(&dev.name(&format!("encoder_forward_b4_s33_{tag}")), |b| {
        b.iter(|| dev.run(|| encode_batch(model, &src).unwrap()))
    });

    // One decoder step for 8 rows; the cache grows to CACHE_STEPS, then the batch is re-encoded (untimed).
    let src = sources(model, 8, 32);
    let tokens = Tensor::from_vec(vec![5u32; 8], 8, dev.device()).unwrap();
    c.bench_function(
        &dev.name(&format!("decoder_step_b8_cache0-32_{tag}")),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut state = None;
                let mut done = 0;
                for _ in 0..iters {
                    if state.is_none() || done == CACHE_STEPS {
                        state = Some(encode_batch(model, &src).unwrap());
                        done = 0;
                        dev.sync();
                    }
                    let s = state.as_mut().expect("state set above");
                    let started = Instant::now();
                    dev.run(|| model.step(s, &tokens).unwrap());
                    total += started.elapsed();
                    done += 1;
                }
                total
            })
        },
    );

    // One beam-search step (4 beams for 2 sentences): model step, log-softmax, top-k, reorder.
    let src = sources(model, 2, 32);
    c.bench_function(&dev.name(&format!("beam4_step_b2_{tag}")), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(CACHE_STEPS);
                let cfg = forced_config(gen, 4, n);
                let state = encode_batch(model, &src).unwrap();
                dev.sync();
                let started = Instant::now();
                dev.run(|| generate_from(model, state, src.len(), &cfg).unwrap());
                total += started.elapsed();
                left -= n;
            }
            total
        })
    });
}

fn benches(c: &mut Criterion) {
    let dev = BenchDevice::from_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_path(&dir);
    for (int8, tag) in [(false, "f32"), (true, "int8")] {
        let (model, gen) = build(&dev, &config, int8);
        model_benches(c, &dev, &model, &gen, tag);
    }
}

criterion_group! {
    name = model;
    config = common::criterion();
    targets = benches
}
criterion_main!(model);
