//! CTranslate2 / Argos Translate models: the `model.bin` reader, the TransformerSpec → Marian
//! mapping, the CT2 tokenizer, Argos package handling, and decoding parity with CTranslate2.
//!
//! Synthetic `model.bin` files (built here) always run. Tests on the real Argos zh→en 1.9
//! package need `scripts/fetch-test-models`; without it they are skipped with a message, except
//! under `CI`, where a missing model is a failure.

use std::path::Path;

use candle_core::{DType, Device};
use tolk::arch::ct2::{Ct2Binary, Ct2DType, Ct2Model};
use tolk::arch::Marian;
use tolk::decode::{generate, GenerationConfig};
use tolk::hub::{Ct2Layout, Ct2Package};
use tolk::tokenize::{Ct2TokenConfig, Ct2Tokenizer, TextTokenizer};
use tolk::Error;

use crate::common::{
    fixture, models_dir, read_json, zh_en_package as package, ZH_EN_PACKAGE as PACKAGE,
};

// ---------------------------------------------------------------- synthetic model.bin files

/// One variable for [`write_bin`]: name, shape, CT2 dtype id, raw bytes.
type Var = (String, Vec<u32>, u8, Vec<u8>);

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u16 + 1).to_le_bytes());
    out.extend(s.as_bytes());
    out.push(0);
}

/// A `model.bin` in CT2's serialization (binary version 6 layout).
fn write_bin(
    version: u32,
    spec: &str,
    revision: u32,
    vars: &[Var],
    aliases: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(version.to_le_bytes());
    put_str(&mut out, spec);
    out.extend(revision.to_le_bytes());
    out.extend((vars.len() as u32).to_le_bytes());
    for (name, shape, dtype, data) in vars {
        put_str(&mut out, name);
        out.push(shape.len() as u8);
        for d in shape {
            out.extend(d.to_le_bytes());
        }
        out.push(*dtype);
        out.extend((data.len() as u32).to_le_bytes());
        out.extend(data);
    }
    out.extend((aliases.len() as u32).to_le_bytes());
    for (a, t) in aliases {
        put_str(&mut out, a);
        put_str(&mut out, t);
    }
    out
}

fn f32s(name: &str, shape: &[u32], values: &[f32]) -> Var {
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    (name.into(), shape.to_vec(), 0, bytes)
}

fn i8_scalar(name: &str, v: i8) -> Var {
    (name.into(), vec![], 1, vec![v as u8])
}

fn i16_scalar(name: &str, v: i16) -> Var {
    (name.into(), vec![], 2, v.to_le_bytes().to_vec())
}

/// Deterministic small values.
fn ramp(n: usize, seed: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 * 0.37 + seed).sin()) * 0.5)
        .collect()
}

/// An int8 weight `[rows, cols]` with per-row scales, and the f32 values it stands for.
fn int8_weight(name: &str, rows: usize, cols: usize, seed: f32) -> (Vec<Var>, Vec<f32>) {
    let q: Vec<i8> = (0..rows * cols)
        .map(|i| ((i as f32 * 1.7 + seed).sin() * 127.0) as i8)
        .collect();
    let scales: Vec<f32> = (0..rows).map(|r| 100.0 + r as f32 * 10.0).collect();
    let w = q
        .iter()
        .enumerate()
        .map(|(i, &x)| f32::from(x) / scales[i / cols])
        .collect();
    let vars = vec![
        (
            name.into(),
            vec![rows as u32, cols as u32],
            1,
            q.iter().map(|&x| x as u8).collect(),
        ),
        f32s(&format!("{name}_scale"), &[rows as u32], &scales),
    ];
    (vars, w)
}

const V: usize = 6;
const D: usize = 4;
const FFN: usize = 8;

/// A 1-layer post-norm TransformerSpec with shared int8 embeddings, like the Argos models.
fn tiny_spec() -> Vec<Var> {
    let mut vars: Vec<Var> = Vec::new();
    let (emb, _) = int8_weight("decoder/embeddings/weight", V, D, 0.3);
    vars.extend(emb);
    let mut seed = 1.0;
    let mut linear = |vars: &mut Vec<Var>, name: &str, rows: usize, cols: usize| {
        seed += 1.0;
        vars.push(f32s(
            &format!("{name}/weight"),
            &[rows as u32, cols as u32],
            &ramp(rows * cols, seed),
        ));
        vars.push(f32s(
            &format!("{name}/bias"),
            &[rows as u32],
            &ramp(rows, seed + 0.5),
        ));
    };
    let norm = |vars: &mut Vec<Var>, name: &str| {
        vars.push(f32s(
            &format!("{name}/gamma"),
            &[D as u32],
            &[1.0, 0.9, 1.1, 1.0],
        ));
        vars.push(f32s(
            &format!("{name}/beta"),
            &[D as u32],
            &[0.0, 0.1, -0.1, 0.05],
        ));
    };
    for scope in ["encoder", "decoder"] {
        let l = format!("{scope}/layer_0");
        linear(&mut vars, &format!("{l}/self_attention/linear_0"), 3 * D, D);
        linear(&mut vars, &format!("{l}/self_attention/linear_1"), D, D);
        norm(&mut vars, &format!("{l}/self_attention/layer_norm"));
        if scope == "decoder" {
            linear(&mut vars, &format!("{l}/attention/linear_0"), D, D);
            linear(&mut vars, &format!("{l}/attention/linear_1"), 2 * D, D);
            linear(&mut vars, &format!("{l}/attention/linear_2"), D, D);
            norm(&mut vars, &format!("{l}/attention/layer_norm"));
        }
        linear(&mut vars, &format!("{l}/ffn/linear_0"), FFN, D);
        linear(&mut vars, &format!("{l}/ffn/linear_1"), D, FFN);
        norm(&mut vars, &format!("{l}/ffn/layer_norm"));
        vars.push(i16_scalar(&format!("{scope}/num_heads"), 2));
        vars.push(i8_scalar(&format!("{scope}/pre_norm"), 0));
        vars.push(i8_scalar(&format!("{scope}/activation"), 2));
        vars.push(i8_scalar(&format!("{scope}/scale_embeddings"), 1));
    }
    vars.push(i8_scalar("encoder/embeddings_merge", 0));
    vars.push(i8_scalar("decoder/start_from_zero_embedding", 1));
    vars.push(i8_scalar("decoder/alibi", 0));
    vars.push(f32s(
        "decoder/position_encodings/encodings",
        &[16, D as u32],
        &ramp(16 * D, 9.0),
    ));
    vars.push(f32s("decoder/projection/bias", &[V as u32], &ramp(V, 3.0)));
    vars
}

const TINY_ALIASES: &[(&str, &str)] = &[
    ("decoder/projection/weight", "decoder/embeddings/weight"),
    ("encoder/embeddings_0/weight", "decoder/embeddings/weight"),
    (
        "encoder/position_encodings/encodings",
        "decoder/position_encodings/encodings",
    ),
];

/// Write a CT2 model folder with `vars` and a 6-token shared vocabulary.
fn tiny_folder(dir: &Path, vars: &[Var], spec: &str) {
    std::fs::write(
        dir.join("model.bin"),
        write_bin(6, spec, 7, vars, TINY_ALIASES),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"add_source_eos": true, "decoder_start_token": "<s>", "layer_norm_epsilon": null, "unk_token": "<unk>"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("shared_vocabulary.json"),
        r#"["</s>", "<unk>", "a", "b", "c", "d"]"#,
    )
    .unwrap();
}

#[test]
fn synthetic_transformer_spec_maps_onto_marian() {
    let dir = tempfile::tempdir().unwrap();
    tiny_folder(dir.path(), &tiny_spec(), "TransformerSpec");
    let m = Ct2Model::load(dir.path()).unwrap();
    assert_eq!(m.binary().aliases().len(), 3);
    assert_eq!(
        m.binary().resolve("encoder/embeddings_0/weight_scale"),
        Some("decoder/embeddings/weight_scale")
    );
    let (cfg, w) = m.to_marian(DType::F32, &Device::Cpu).unwrap();
    assert_eq!(
        (
            cfg.vocab_size,
            cfg.d_model,
            cfg.encoder_layers,
            cfg.decoder_layers
        ),
        (V, D, 1, 1)
    );
    assert_eq!((cfg.encoder_attention_heads, cfg.encoder_ffn_dim), (2, FFN));
    assert_eq!(cfg.activation_function, "swish");
    assert!(cfg.share_encoder_decoder_embeddings && cfg.tie_word_embeddings);
    assert!(cfg.start_from_zero_embedding && cfg.stored_positions && cfg.scale_embedding);
    assert_eq!((cfg.eos_token_id, cfg.decoder_start_token_id), (0, Some(1)));
    assert_eq!(cfg.max_position_embeddings, 16);
    assert_eq!(cfg.layer_norm_eps, 1e-5);
    // int8 dequantization: w = q / scale, per row.
    let (_, expected) = int8_weight("x", V, D, 0.3);
    let got: Vec<f32> = w
        .get("model.shared.weight", &[V, D])
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-7, "{g} vs {e}");
    }
    // Fused QKV rows split in order q, k, v.
    let qkv = ramp(3 * D * D, 2.0);
    let k: Vec<f32> = w
        .get("model.encoder.layers.0.self_attn.k_proj.weight", &[D, D])
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(k, qkv[D * D..2 * D * D].to_vec());
    // And the Marian code accepts it and runs a step.
    let model = Marian::new(cfg.clone(), &w).unwrap();
    let mut g = GenerationConfig::new(cfg.eos_token_id, cfg.pad_token_id, 1);
    g.max_length = 4;
    let out = generate(&model, &[vec![2, 3, 0]], &g).unwrap();
    assert!(!out[0].tokens.is_empty());
    // With int8 asked for on the CPU, the int8 matrices stay int8 rows, whatever their width:
    // here the output projection (tied to the int8 embedding, which is looked up in place).
    let (_, w8) = m.to_marian_with(DType::F32, &Device::Cpu, true).unwrap();
    assert_eq!(w8.quantized_count(), 1);
    let out8 = generate(
        &Marian::new(cfg.clone(), &w8).unwrap(),
        &[vec![2, 3, 0]],
        &g,
    )
    .unwrap();
    assert!(!out8[0].tokens.is_empty());
    let summary = m.summary().unwrap();
    assert_eq!(
        (summary.spec.as_str(), summary.revision, summary.heads),
        ("TransformerSpec", 7, 2)
    );
}

#[test]
fn truncated_and_corrupt_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    let full = write_bin(6, "TransformerSpec", 7, &tiny_spec(), TINY_ALIASES);
    for cut in [3, 10, full.len() / 2, full.len() - 3] {
        let err = Ct2Binary::from_bytes(full[..cut].to_vec(), &path).unwrap_err();
        assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
    let mut extra = full.clone();
    extra.extend(b"junk");
    let err = Ct2Binary::from_bytes(extra, &path).unwrap_err().to_string();
    assert!(err.contains("unexpected bytes"), "{err}");
    let bad_dtype = write_bin(
        6,
        "TransformerSpec",
        7,
        &[("x".into(), vec![1], 9, vec![0])],
        &[],
    );
    let err = Ct2Binary::from_bytes(bad_dtype, &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown data type id 9"), "{err}");
    let bad_size = write_bin(
        6,
        "TransformerSpec",
        7,
        &[("x".into(), vec![2], 0, vec![0; 4])],
        &[],
    );
    let err = Ct2Binary::from_bytes(bad_size, &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bytes of data"), "{err}");
    let err =
        Ct2Binary::from_bytes(write_bin(7, "TransformerSpec", 7, &[], &[]), &path).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported(_)) && err.to_string().contains("binary version 7"),
        "{err}"
    );
}

#[test]
fn unsupported_specs_name_the_field() {
    let cases: Vec<(Vec<Var>, &str, &str)> = vec![
        (tiny_spec(), "WhisperSpec", "WhisperSpec"),
        (
            tiny_spec()
                .into_iter()
                .map(|v| {
                    if v.0 == "encoder/pre_norm" {
                        i8_scalar("encoder/pre_norm", 1)
                    } else {
                        v
                    }
                })
                .collect(),
            "TransformerSpec",
            "encoder/pre_norm",
        ),
        (
            tiny_spec()
                .into_iter()
                .map(|v| {
                    if v.0 == "decoder/alibi" {
                        i8_scalar("decoder/alibi", 1)
                    } else {
                        v
                    }
                })
                .collect(),
            "TransformerSpec",
            "alibi",
        ),
        (
            tiny_spec()
                .into_iter()
                .map(|v| {
                    if v.0 == "encoder/activation" {
                        i8_scalar("encoder/activation", 6)
                    } else {
                        v
                    }
                })
                .collect(),
            "TransformerSpec",
            "activation id 6",
        ),
        (
            tiny_spec()
                .into_iter()
                .chain([f32s(
                    "encoder/layer_0/self_attention/relative_position_keys",
                    &[3, 2],
                    &[0.0; 6],
                )])
                .collect(),
            "TransformerSpec",
            "relative_position_keys",
        ),
    ];
    for (vars, spec, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        tiny_folder(dir.path(), &vars, spec);
        let err = Ct2Model::load(dir.path())
            .unwrap()
            .to_marian(DType::F32, &Device::Cpu)
            .unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

// ---------------------------------------------------------------- the real Argos package

#[test]
fn real_model_bin_is_parsed() {
    let Some(pkg) = package() else { return };
    let b = Ct2Binary::load(&pkg.join("model/model.bin")).unwrap();
    assert_eq!(
        (b.binary_version, b.spec.as_str(), b.revision),
        (6, "TransformerSpec", 7)
    );
    assert_eq!(b.variable_count(), 277);
    assert_eq!(b.aliases().len(), 3);
    let emb = b.get("encoder/embeddings_0/weight").unwrap();
    assert_eq!(
        (emb.shape.as_slice(), emb.dtype),
        (&[65000, 512][..], Ct2DType::I8)
    );
    assert_eq!(
        b.resolve("decoder/projection/weight"),
        Some("decoder/embeddings/weight")
    );
    assert_eq!(b.scalar_i64("decoder/num_heads"), Some(8));
    assert_eq!(b.scalar_i64("decoder/start_from_zero_embedding"), Some(1));
    let m = Ct2Model::load(&pkg.join("model")).unwrap();
    let (cfg, w) = m.to_marian(DType::F32, &Device::Cpu).unwrap();
    // A float load keeps the int8 matrices as they are stored and widens one only when asked,
    // to exactly CTranslate2's dequantized values (here the k part of a fused QKV, and the
    // shared embedding).
    let deq = |name: &str| -> Vec<f32> {
        b.dequantized(name)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let flat = |t: candle_core::Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
    let qkv = deq("decoder/layer_2/self_attention/linear_0/weight");
    let k = w
        .get(
            "model.decoder.layers.2.self_attn.k_proj.weight",
            &[512, 512],
        )
        .unwrap();
    assert!(flat(k) == qkv[512 * 512..2 * 512 * 512]);
    let emb = w
        .deferred("model.shared.weight")
        .expect("the embedding stays int8");
    assert!(flat(emb.to_tensor().unwrap()) == deq("decoder/embeddings/weight"));
    assert_eq!(
        (
            cfg.vocab_size,
            cfg.d_model,
            cfg.encoder_layers,
            cfg.decoder_layers
        ),
        (65000, 512, 6, 6)
    );
    assert_eq!(
        (
            cfg.encoder_attention_heads,
            cfg.encoder_ffn_dim,
            cfg.max_position_embeddings
        ),
        (8, 2048, 2048)
    );
    assert_eq!(cfg.activation_function, "swish");
    assert!(
        cfg.start_from_zero_embedding
            && cfg.share_encoder_decoder_embeddings
            && cfg.tie_word_embeddings
    );
    // `<s>` is not in the vocabulary: CT2 maps it to `<unk>` (1); its embedding is zeroed anyway.
    assert_eq!((cfg.eos_token_id, cfg.decoder_start_token_id), (0, Some(1)));
    for (name, shape) in [
        ("model.shared.weight", vec![65000, 512]),
        (
            "model.encoder.layers.5.self_attn.v_proj.weight",
            vec![512, 512],
        ),
        ("model.decoder.layers.0.encoder_attn.k_proj.bias", vec![512]),
        ("model.decoder.layers.5.fc1.weight", vec![2048, 512]),
        ("final_logits_bias", vec![65000]),
        ("model.encoder.embed_positions.weight", vec![2048, 512]),
    ] {
        assert_eq!(
            w.get(name, &shape).unwrap().dims(),
            shape.as_slice(),
            "{name}"
        );
    }
    let s = m.summary().unwrap();
    assert!(s.dtypes.contains("int8"), "{}", s.dtypes);
    assert_eq!(s.file_bytes, 82_713_318);
}

fn tokenizer(pkg: &Path, m: &Ct2Model) -> Ct2Tokenizer {
    Ct2Tokenizer::new(
        &pkg.join("sentencepiece.model"),
        m.source_vocab().clone(),
        m.target_vocab().clone(),
        &Ct2TokenConfig::from(m.config()),
    )
    .unwrap()
}

#[test]
fn tokenizer_matches_argos_and_ct2() {
    let Some(pkg) = package() else { return };
    let m = Ct2Model::load(&pkg.join("model")).unwrap();
    let tok = tokenizer(&pkg, &m);
    let golden = read_json(&fixture("argos/golden_ct2.json"));
    for case in golden["cases"].as_array().unwrap() {
        let src = case["source"].as_str().unwrap();
        let pieces: Vec<String> = serde_json::from_value(case["source_pieces"].clone()).unwrap();
        assert_eq!(tok.pieces(src), pieces, "{src}");
        let ids: Vec<u32> = serde_json::from_value(case["source_ids"].clone()).unwrap();
        assert_eq!(tok.encode(src).unwrap(), ids, "{src}");
        for beam in ["1", "4"] {
            let out = &case["outputs"][beam];
            let ids: Vec<u32> = serde_json::from_value(out["ids"].clone()).unwrap();
            assert_eq!(
                tok.decode(&ids).unwrap(),
                out["text"].as_str().unwrap(),
                "{src}"
            );
        }
    }
}

#[test]
fn argos_archive_and_folder_open() {
    let Some(pkg) = package() else { return };
    let archive = models_dir().join(format!("{PACKAGE}.argosmodel"));
    let cache = tempfile::tempdir().unwrap();
    let a = Ct2Package::open(&archive, cache.path()).unwrap();
    assert_eq!(a.layout, Ct2Layout::ArgosArchive);
    let meta = a.metadata.clone().unwrap();
    assert_eq!(
        (meta.from_code.as_deref(), meta.to_code.as_deref()),
        (Some("zh"), Some("en"))
    );
    assert_eq!(meta.package_version.as_deref(), Some("1.9"));
    assert!(a.model_dir.join("model.bin").is_file() && a.sentencepiece.is_some());
    // The second open reuses the extraction.
    let stamp = std::fs::metadata(a.model_dir.join("model.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let again = Ct2Package::open(&archive, cache.path()).unwrap();
    assert_eq!(again.model_dir, a.model_dir);
    assert_eq!(
        std::fs::metadata(again.model_dir.join("model.bin"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp
    );
    assert!(a.describe().contains("zh→en 1.9"), "{}", a.describe());
    let f = Ct2Package::open(&pkg, cache.path()).unwrap();
    assert_eq!(
        (f.layout, f.model_dir.clone()),
        (Ct2Layout::ArgosFolder, pkg.join("model"))
    );
    let bare = Ct2Package::open(&pkg.join("model"), cache.path()).unwrap();
    assert_eq!(bare.layout, Ct2Layout::Ct2Folder);
    assert!(bare.metadata.is_none());
}

/// CT2's decoding defaults, with the beam size of the golden case.
fn ct2_generation(eos: u32, pad: u32, start: u32, beams: usize) -> GenerationConfig {
    GenerationConfig {
        num_beams: beams,
        ..GenerationConfig::ctranslate2(eos, pad, start)
    }
}

/// One beam size's agreement with CTranslate2: the share (%) of identical outputs, and for each
/// difference the golden's margin that explains it (beam 1: the top-2 log-prob margin of CT2's
/// greedy step where the outputs part; beam 4: the score margin of CT2's best two hypotheses).
struct Parity {
    beam: usize,
    pct: f64,
    margins: Vec<f64>,
}

/// Decode the 36 golden sources at beam 1 and 4 with f32 weights (`int8` false: int8 dequantized
/// at load) or int8 matrices, and compare with CTranslate2's outputs in `golden` (its
/// `compute_type=float32` or `int8` run).
fn parity_with_ctranslate2(pkg: &Path, int8: bool, golden: &str) -> Vec<Parity> {
    let m = Ct2Model::load(&pkg.join("model")).unwrap();
    let (cfg, w) = m.to_marian_with(DType::F32, &Device::Cpu, int8).unwrap();
    // The int8 path keeps every linear layer and the output projection int8: 6×4 encoder,
    // 6×8 decoder attention/FFN matrices (fused QKV split in three), plus the projection.
    assert_eq!(
        w.quantized_count(),
        if int8 { 6 * 6 + 6 * 10 + 1 } else { 0 }
    );
    let start = cfg.decoder_start();
    let (eos, pad) = (cfg.eos_token_id, cfg.pad_token_id);
    let model = Marian::new(cfg, &w).unwrap();
    drop(w);
    let golden = read_json(&fixture(golden));
    let cases = golden["cases"].as_array().unwrap();
    let sources: Vec<Vec<u32>> = cases
        .iter()
        .map(|c| serde_json::from_value(c["source_ids"].clone()).unwrap())
        .collect();
    let mut report = Vec::new();
    for (beam, key) in [(1usize, "1"), (4, "4")] {
        let g = ct2_generation(eos, pad, start, beam);
        let hyps = generate(&model, &sources, &g).unwrap();
        let mut same = 0;
        let mut margins = Vec::new();
        for (case, h) in cases.iter().zip(&hyps) {
            let want: Vec<u32> =
                serde_json::from_value(case["outputs"][key]["ids"].clone()).unwrap();
            let got: Vec<u32> = h.tokens.iter().copied().filter(|&t| t != eos).collect();
            if got == want {
                same += 1;
                // CT2's beam score: sum of log-probs / tokens (end token excluded), as tolk's.
                // int8 products shift log-probs slightly more than f32 rounding does.
                if beam > 1 {
                    let score = case["outputs"][key]["score"].as_f64().unwrap();
                    let tol = if int8 { 5e-2 } else { 2e-3 };
                    assert!(
                        (f64::from(h.score) - score).abs() < tol,
                        "score {} vs CT2 {score}",
                        h.score
                    );
                }
            } else {
                let first = got
                    .iter()
                    .zip(&want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                let margin = case["outputs"]["1"]["step_margins"]
                    .get(first)
                    .and_then(|v| v.as_f64());
                let hyp_margin = case["outputs"]["4"]["hypothesis_margin"].as_f64();
                let explaining = if beam == 1 { margin } else { hyp_margin };
                margins.push(explaining.unwrap_or(f64::INFINITY));
                eprintln!(
                    "int8={int8} beam {beam}: differs at step {first} (greedy top-2 margin there {margin:?}, beam-4 hypothesis margin {hyp_margin:?}): {}",
                    case["source"]
                );
            }
        }
        let pct = 100.0 * same as f64 / cases.len() as f64;
        eprintln!(
            "int8={int8} beam {beam}: {same}/{} identical to CTranslate2 ({pct:.1}%)",
            cases.len()
        );
        report.push(Parity { beam, pct, margins });
    }
    report
}

#[test]
fn decoding_matches_ctranslate2() {
    let Some(pkg) = package() else { return };
    let report = parity_with_ctranslate2(&pkg, false, "argos/golden_ct2.json");
    let pct: Vec<f64> = report.iter().map(|p| p.pct).collect();
    assert!(pct.iter().all(|&p| p >= 95.0), "parity below 95%: {pct:?}");
}

/// How often CTranslate2's own int8 run (`golden_ct2_int8.json`) gives its float32 run's output,
/// per beam size, and the largest float32 near-tie margin where the two part.
fn ct2_int8_against_float32() -> Vec<(usize, f64, f64)> {
    let f32s = read_json(&fixture("argos/golden_ct2.json"));
    let int8s = read_json(&fixture("argos/golden_ct2_int8.json"));
    let (f32s, int8s) = (
        f32s["cases"].as_array().unwrap(),
        int8s["cases"].as_array().unwrap(),
    );
    [(1usize, "1"), (4, "4")]
        .into_iter()
        .map(|(beam, key)| {
            let (mut same, mut widest) = (0, 0f64);
            for (a, b) in f32s.iter().zip(int8s) {
                let (x, y) = (&a["outputs"][key]["ids"], &b["outputs"][key]["ids"]);
                if x == y {
                    same += 1;
                    continue;
                }
                let (x, y) = (x.as_array().unwrap(), y.as_array().unwrap());
                let first = x
                    .iter()
                    .zip(y)
                    .position(|(p, q)| p != q)
                    .unwrap_or(x.len().min(y.len()));
                let margin = if beam == 1 {
                    a["outputs"]["1"]["step_margins"]
                        .get(first)
                        .and_then(|v| v.as_f64())
                } else {
                    a["outputs"]["4"]["hypothesis_margin"].as_f64()
                };
                widest = widest.max(margin.unwrap_or(0.0));
            }
            (beam, 100.0 * same as f64 / f32s.len() as f64, widest)
        })
        .collect()
}

/// tolk's int8 compute is CTranslate2's: int8 weights with one scale per row times activations
/// quantized per row, summed in integers. Quantized activations move log-probs by a few
/// hundredths, so decoding parts from the float32 reference at near-ties, as CTranslate2's own
/// int8 run does (16/36 identical at beam 1, 22/36 at beam 4 on AVX2, differing where the
/// float32 margin is up to 0.31 and 0.05). The bar: against CTranslate2's float32 outputs, tolk
/// int8 agrees at least as often as CTranslate2 int8 does, and parts only where the float32
/// margin is within 1.5× the widest margin where CTranslate2 int8 parts (one sentence of slack
/// on the count). (tolk and CTranslate2
/// int8 also agree with each other about as often as either agrees with float32: their
/// rounding differs in detail, so each tips different near-ties.)
#[test]
fn int8_decoding_is_as_faithful_as_ctranslate2_int8() {
    let Some(pkg) = package() else { return };
    let ct2 = ct2_int8_against_float32();
    for p in parity_with_ctranslate2(&pkg, true, "argos/golden_ct2.json") {
        let &(_, floor, widest) = ct2.iter().find(|(b, _, _)| *b == p.beam).unwrap();
        eprintln!(
            "int8 beam {}: tolk {:.1}% identical to CT2 float32, CT2 int8 {floor:.1}% (widest margin {widest:.3})",
            p.beam, p.pct
        );
        // One sentence of slack for other CPUs' float kernels around the int8 products.
        let floor = floor - 100.0 / 36.0;
        assert!(
            p.pct >= floor,
            "int8 beam {}: {:.1}% < CT2 int8's {floor:.1}%",
            p.beam,
            p.pct
        );
        assert!(
            p.margins.iter().all(|&m| m <= 1.5 * widest),
            "int8 beam {}: a difference is not at a near-tie (margins {:?}, CT2 int8 parts up to {widest})",
            p.beam,
            p.margins
        );
    }
}
