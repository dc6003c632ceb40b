//! Unit tests of the GGUF tokenizer readers.

use super::*;

fn strs(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect())
}

fn tiny_gpt2() -> HashMap<String, Value> {
    let mut md = HashMap::new();
    md.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
    md.insert(
        "tokenizer.ggml.tokens".into(),
        strs(&["<|end|>", "h", "i", "Ġ", "hi", "Ġhi", "!", "Ċ"]),
    );
    md.insert("tokenizer.ggml.merges".into(), strs(&["h i", "Ġ hi"]));
    md.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(
            [3, 1, 1, 1, 1, 1, 1, 1]
                .into_iter()
                .map(Value::I32)
                .collect(),
        ),
    );
    md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(0));
    md.insert(
        "tokenizer.chat_template".into(),
        Value::String("{{ x }}".into()),
    );
    md
}

#[test]
fn byte_level_bpe_with_control_tokens() {
    let tok = GgufTokenizer::from_metadata(&tiny_gpt2(), Path::new("t.gguf")).unwrap();
    assert_eq!(tok.encode("hi hi!", true).unwrap(), vec![4, 5, 6]);
    assert_eq!(tok.encode("hi<|end|>\n", true).unwrap(), vec![4, 0, 7]);
    assert_eq!(tok.decode(&[4, 5, 0], true).unwrap(), "hi hi");
    assert_eq!(tok.decode(&[4, 0], false).unwrap(), "hi<|end|>");
    assert_eq!(tok.end_ids(), vec![0]);
    assert_eq!(tok.chat_template(), Some("{{ x }}"));
    assert!(tok.decode(&[99], true).is_err());
}

#[test]
fn missing_tokenizer_and_unknown_model() {
    let mut md = tiny_gpt2();
    md.remove("tokenizer.ggml.tokens");
    assert!(matches!(
        GgufTokenizer::from_metadata(&md, Path::new("t.gguf")),
        Err(Error::CorruptModel { .. })
    ));
    let mut md = tiny_gpt2();
    md.insert("tokenizer.ggml.model".into(), Value::String("rwkv".into()));
    let err = GgufTokenizer::from_metadata(&md, Path::new("t.gguf")).unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported(m) if m.contains("rwkv")),
        "{err}"
    );
}

#[test]
fn merges_recovered_from_scores_best_first() {
    let tokens: Vec<String> = ["a", "b", "ab", "abb", "bb"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let scores = [0.0, 0.0, -1.0, -3.0, -2.0];
    let vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let m = merges_from_scores(&tokens, &scores, &vocab);
    let want: Vec<(String, String)> = [("a", "b"), ("b", "b"), ("ab", "b"), ("a", "bb")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(m, want);
}

#[test]
fn byte_table_matches_gpt2() {
    let t = byte_table();
    assert_eq!(t[b'a' as usize], 'a');
    assert_eq!(t[b' ' as usize], 'Ġ');
    assert_eq!(t[b'\n' as usize], 'Ċ');
    assert_eq!(byte_alphabet().len(), 256);
}

#[test]
fn merge_order_is_total_even_with_nan_scores() {
    // A comparison that is not a total order makes the sort panic (a damaged file's NaN
    // scores once did): every pair and triple must be consistent.
    let keys: Vec<(String, String, f64)> = [f64::NAN, -f64::NAN, 1.0, -2.0, 0.0, -0.0]
        .iter()
        .flat_map(|&s| [("a", "b"), ("ab", "b")].map(|(l, r)| (l.to_string(), r.to_string(), s)))
        .collect();
    for a in &keys {
        for b in &keys {
            assert_eq!(
                merge_order(a, b),
                merge_order(b, a).reverse(),
                "{a:?} {b:?}"
            );
            for c in &keys {
                if merge_order(a, b).is_le() && merge_order(b, c).is_le() {
                    assert!(merge_order(a, c).is_le(), "{a:?} {b:?} {c:?}");
                }
            }
        }
    }
    // −0 and +0 tie; higher scores first.
    let k = |s: f64| ("a".to_string(), "b".to_string(), s);
    assert!(merge_order(&k(0.0), &k(-0.0)).is_eq());
    assert!(merge_order(&k(1.0), &k(-2.0)).is_lt());
}
