//! The tokenizer a GGUF file describes in its own metadata (`tokenizer.ggml.*`), rebuilt as a
//! `tokenizers` crate [`Tokenizer`] the way transformers rebuilds it when it loads the same file
//! (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`), so ids match it exactly:
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE from `tokens` and `merges` (tokens not
//!   spelled in the byte alphabet are respelled byte by byte); GPT-2's split regex, or the one
//!   `tokenizer.ggml.pre` names (llama3, qwen2, tekken, gpt-4o families);
//! - `"llama"`: SentencePiece-style BPE with byte fallback and a `▁` prefix on the first word;
//!   merges from the file, or recovered from the token scores as transformers does.
//!
//! Control tokens (type 3) become special added tokens, user-defined ones (type 4) plain added
//! tokens; `add_bos_token`/`add_eos_token` are honoured by [`GgufTokenizer::encode`] with
//! `add_special = true`. This module never touches tensors or the network and never panics on
//! user text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
};

use crate::error::{Error, Result};

const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const TEKKEN_SPLIT: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O_SPLIT: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split regex for a `tokenizer.ggml.pre` name (`None`: GPT-2's own byte-level regex).
fn split_regex(pre: &str) -> Option<&'static str> {
    Some(match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" | "dbrx" | "smaug-bpe" => LLAMA3_SPLIT,
        "tekken" => TEKKEN_SPLIT,
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" => QWEN2_SPLIT,
        "qwen35" => QWEN35_SPLIT,
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => GPT4O_SPLIT,
        _ => return None,
    })
}

/// GGUF token types (llama.cpp's `llama_token_type`).
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

/// A GGUF file's tokenizer with its special tokens and chat template.
pub struct GgufTokenizer {
    inner: Tokenizer,
    tokens: Vec<String>,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    control: Vec<u32>,
    chat_template: Option<String>,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocab", &self.tokens.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .finish_non_exhaustive()
    }
}

struct Meta<'a> {
    md: &'a HashMap<String, Value>,
    path: &'a Path,
}

impl Meta<'_> {
    fn bad(&self, reason: String) -> Error {
        Error::CorruptModel {
            path: self.path.to_path_buf(),
            reason,
        }
    }
    fn get(&self, key: &str) -> Option<&Value> {
        self.md.get(&format!("tokenizer.{key}"))
    }
    fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(format!("metadata `tokenizer.{key}` is not a string"))),
        }
    }
    fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let not = || {
            self.bad(format!(
                "metadata `tokenizer.{key}` is not a list of strings"
            ))
        };
        let items = v.to_vec().map_err(|_| not())?;
        items
            .iter()
            .map(|x| x.to_string().cloned().map_err(|_| not()))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
    fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let not = || {
            self.bad(format!(
                "metadata `tokenizer.{key}` is not a list of numbers"
            ))
        };
        let items = v.to_vec().map_err(|_| not())?;
        items
            .iter()
            .map(|x| number(x).ok_or_else(not))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
    fn id(&self, key: &str, vocab: usize) -> Result<Option<u32>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match number(v) {
                Some(n) if n >= 0.0 && (n as usize) < vocab => Ok(Some(n as u32)),
                _ => Err(self.bad(format!(
                    "metadata `tokenizer.{key}` is not an id below the vocabulary size {vocab}"
                ))),
            },
        }
    }
    fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| v.to_bool().ok())
    }
}

fn number(v: &Value) -> Option<f64> {
    Some(match v {
        Value::U8(x) => *x as f64,
        Value::I8(x) => *x as f64,
        Value::U16(x) => *x as f64,
        Value::I16(x) => *x as f64,
        Value::U32(x) => *x as f64,
        Value::I32(x) => *x as f64,
        Value::U64(x) => *x as f64,
        Value::I64(x) => *x as f64,
        Value::F32(x) => *x as f64,
        Value::F64(x) => *x,
        _ => return None,
    })
}

impl GgufTokenizer {
    /// Build the tokenizer from a GGUF file's metadata (`path` is only named in errors).
    pub fn from_metadata(md: &HashMap<String, Value>, path: &Path) -> Result<Self> {
        let m = Meta { md, path };
        let model = m.string("ggml.model")?.ok_or_else(|| {
            m.bad(
                "metadata `tokenizer.ggml.model` is missing (the file carries no tokenizer)".into(),
            )
        })?;
        let tokens = m
            .strings("ggml.tokens")?
            .ok_or_else(|| m.bad("metadata `tokenizer.ggml.tokens` is missing".into()))?;
        let n = tokens.len();
        let types: Vec<i64> = match m.numbers("ggml.token_type")? {
            Some(t) if t.len() == n => t.into_iter().map(|x| x as i64).collect(),
            Some(t) => {
                return Err(m.bad(format!(
                    "`tokenizer.ggml.token_type` has {} entries for {n} tokens",
                    t.len()
                )))
            }
            None => vec![1; n],
        };
        let merges = m.strings("ggml.merges")?;
        let pre = m.string("ggml.pre")?.unwrap_or_default();
        let byte_level = model == "gpt2";
        let mut inner = match model.as_str() {
            "gpt2" => byte_level_bpe(&tokens, merges.as_deref(), &pre, path)?,
            "llama" => {
                let scores = m.numbers("ggml.scores")?;
                sentencepiece_bpe(&tokens, merges.as_deref(), scores.as_deref(), path)?
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "GGUF tokenizer model `{other}` in {} (tolk reads `gpt2` and `llama`)",
                    path.display()
                )))
            }
        };
        let alphabet = byte_alphabet();
        let in_alphabet = |t: &str| t.chars().all(|c| alphabet.contains(&c));
        let mut control = Vec::new();
        let mut specials = Vec::new();
        let mut user = Vec::new();
        for (i, (t, &ty)) in tokens.iter().zip(&types).enumerate() {
            if ty == TYPE_CONTROL && (!byte_level || in_alphabet(t)) {
                control.push(i as u32);
                specials.push(AddedToken::from(t.clone(), true).normalized(false));
            } else if ty == TYPE_USER_DEFINED && (!byte_level || in_alphabet(t)) {
                user.push(AddedToken::from(t.clone(), false).normalized(false));
            }
        }
        let bos = m.id("ggml.bos_token_id", n)?;
        let eos = m.id("ggml.eos_token_id", n)?;
        let unk = m.id("ggml.unknown_token_id", n)?;
        let pad = m.id("ggml.padding_token_id", n)?;
        // transformers also registers the named special tokens as specials.
        for id in [bos, eos, unk, pad].into_iter().flatten() {
            let t = &tokens[id as usize];
            if !specials.iter().any(|a| &a.content == t) && (!byte_level || in_alphabet(t)) {
                specials.push(AddedToken::from(t.clone(), true).normalized(false));
            }
        }
        inner
            .add_special_tokens(specials)
            .map_err(|e| bpe_error(path, e))?;
        inner.add_tokens(user).map_err(|e| bpe_error(path, e))?;
        let add_bos = m.flag("ggml.add_bos_token").unwrap_or(model == "llama");
        let add_eos = m.flag("ggml.add_eos_token").unwrap_or(false);
        let chat_template = m.string("chat_template")?;
        Ok(GgufTokenizer {
            inner,
            tokens,
            bos,
            eos,
            unk,
            pad,
            add_bos,
            add_eos,
            control,
            chat_template,
        })
    }

    /// Text to ids. With `add_special`, the beginning/end tokens are added where the file says
    /// so (`tokenizer.ggml.add_bos_token`, `add_eos_token`), like transformers' default call;
    /// a rendered chat prompt is encoded without (as `apply_chat_template` does).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(format!("encoding failed: {e}")))?;
        let mut ids = Vec::with_capacity(enc.len() + 2);
        if add_special && self.add_bos {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(enc.get_ids());
        if add_special && self.add_eos {
            ids.extend(self.eos);
        }
        Ok(ids)
    }

    /// Ids to text; special tokens are left out when `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= self.tokens.len()) {
            return Err(Error::Tokenizer(format!(
                "id {bad} is outside the vocabulary of {} tokens",
                self.tokens.len()
            )));
        }
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| Error::Tokenizer(format!("decoding failed: {e}")))
    }

    /// The token string of `id` as the file spells it.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Id of a token string, as the file spells it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t == token)
            .map(|i| i as u32)
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Beginning-of-sequence id, when the file names one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }
    /// End-of-sequence id, when the file names one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }
    /// Unknown-token id, when the file names one.
    pub fn unk_id(&self) -> Option<u32> {
        self.unk
    }
    /// Padding id, when the file names one.
    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }
    /// Whether encoding with specials starts with the beginning-of-sequence id.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Ids of the control tokens (type 3).
    pub fn control_ids(&self) -> &[u32] {
        &self.control
    }

    /// Ids that end a generated turn: end-of-sequence plus the well-known end-of-turn control
    /// tokens the vocabulary has (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, `<end_of_turn>`,
    /// `<|end|>`, `</s>`, `<|end_of_text|>`, `<|eom_id|>`).
    pub fn end_ids(&self) -> Vec<u32> {
        const ENDS: &[&str] = &[
            "<|im_end|>",
            "<|eot_id|>",
            "<|endoftext|>",
            "<end_of_turn>",
            "<|end|>",
            "</s>",
            "<|end_of_text|>",
            "<|eom_id|>",
        ];
        let mut out: Vec<u32> = self.eos.into_iter().collect();
        for &id in &self.control {
            if ENDS.contains(&self.tokens[id as usize].as_str()) && !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    /// The Jinja chat template the file carries (`tokenizer.chat_template`).
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }
}

/// GPT-2's byte-to-character table (printable bytes map to themselves, others to U+0100..).
fn byte_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..=255u32 {
        let printable =
            (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap_or('\0')
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap_or('\0')
        };
    }
    table
}

fn byte_alphabet() -> std::collections::HashSet<char> {
    byte_table().into_iter().collect()
}

fn bpe_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::CorruptModel {
        path: PathBuf::from(path),
        reason: format!("its tokenizer cannot be built ({e})"),
    }
}

fn split_merges(merges: &[String]) -> Vec<(String, String)> {
    merges
        .iter()
        .filter_map(|m| m.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn byte_level_bpe(
    tokens: &[String],
    merges: Option<&[String]>,
    pre: &str,
    path: &Path,
) -> Result<Tokenizer> {
    let table = byte_table();
    let alphabet = byte_alphabet();
    let mut vocab = Vocab::new();
    for (i, t) in tokens.iter().enumerate() {
        let spelled = if t.chars().all(|c| alphabet.contains(&c)) {
            t.clone()
        } else {
            t.bytes().map(|b| table[b as usize]).collect()
        };
        vocab.insert(spelled, i as u32);
    }
    let merges = match merges {
        Some(m) => split_merges(m),
        None => {
            return Err(bpe_error(
                path,
                "a byte-level vocabulary needs `tokenizer.ggml.merges`",
            ))
        }
    };
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| bpe_error(path, e))?;
    let mut tok = Tokenizer::new(bpe);
    let pre_tok: PreTokenizerWrapper = match split_regex(pre) {
        Some(re) => {
            let split = Split::new(
                SplitPattern::Regex(re.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| bpe_error(path, e))?;
            PreSequence::new(vec![
                split.into(),
                ByteLevel::new(false, true, false).into(),
            ])
            .into()
        }
        None => ByteLevel::new(false, true, true).into(),
    };
    tok.with_pre_tokenizer(Some(pre_tok));
    tok.with_decoder(Some(ByteLevel::default()));
    Ok(tok)
}

fn sentencepiece_bpe(
    tokens: &[String],
    merges: Option<&[String]>,
    scores: Option<&[f64]>,
    path: &Path,
) -> Result<Tokenizer> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let merges = match (merges, scores) {
        (Some(m), _) => split_merges(m),
        (None, Some(s)) if s.len() == tokens.len() => merges_from_scores(tokens, s, &vocab),
        _ => {
            return Err(bpe_error(
                path,
                "a sentencepiece vocabulary needs `tokenizer.ggml.merges` or `tokenizer.ggml.scores` (one per token)",
            ))
        }
    };
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(|e| bpe_error(path, e))?;
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::First, false)));
    let decoders: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ")
            .map_err(|e| bpe_error(path, e))?
            .into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
        Strip::new(' ', 1, 0).into(),
    ];
    tok.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tok)
}

/// Merges implied by a scored vocabulary, as transformers' `generate_merges` recovers them:
/// every split of every token into two vocabulary tokens, ordered by (score, left length, right
/// length) from highest to lowest, ties kept in vocabulary order.
fn merges_from_scores(tokens: &[String], scores: &[f64], vocab: &Vocab) -> Vec<(String, String)> {
    let mut all: Vec<(String, String, f64)> = Vec::new();
    for (token, &score) in tokens.iter().zip(scores) {
        let chars: Vec<(usize, char)> = token.char_indices().collect();
        let mut local = Vec::new();
        for &(at, _) in chars.iter().skip(1) {
            let (l, r) = token.split_at(at);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                local.push((li, ri, l.to_string(), r.to_string()));
            }
        }
        local.sort_by_key(|x| (x.0, x.1));
        all.extend(local.into_iter().map(|(_, _, l, r)| (l, r, score)));
    }
    // Python's sorted(..., reverse=True) is stable: equal keys keep their order.
    all.sort_by(merge_order);
    all.into_iter().map(|(l, r, _)| (l, r)).collect()
}

/// Highest (score, left length, right length) first. A total order even on damaged scores:
/// NaN sorts above every number (found by fuzzing: a comparison that is not a total order
/// makes the sort panic); −0 and +0 tie, as in Python.
fn merge_order(a: &(String, String, f64), b: &(String, String, f64)) -> std::cmp::Ordering {
    let score = |x: f64| if x == 0.0 { 0.0 } else { x };
    let lens = |t: &(String, String, f64)| (t.0.chars().count(), t.1.chars().count());
    score(b.2)
        .total_cmp(&score(a.2))
        .then_with(|| lens(b).cmp(&lens(a)))
}

#[cfg(test)]
mod tests;
