//! [`ChatModel`]: a decoder-only chat model from one GGUF file — its weights
//! ([`crate::arch::gguf`]), its tokenizer and chat template ([`crate::tokenize::gguf`]) and greedy
//! generation ([`crate::decode::causal`]) behind one type that turns messages into a reply.
//!
//! Where the file comes from ([`ChatModel::open_ref`]):
//! - a path to an existing file (`models/smollm2.gguf`);
//! - a Hub reference `owner/name[@revision]:file.gguf` (e.g.
//!   `HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:smollm2-135m-instruct-q8_0.gguf`), fetched into the
//!   Hugging Face cache through [`crate::hub::ModelSource`] (offline use reads only the cache).
//!
//! The model keeps its key/value cache inside itself, so generation holds a [`Mutex`]: one
//! chat at a time per [`ChatModel`], callable from several threads. This module never prints,
//! and a prompt that does not fit the context is an error before any compute.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::arch::gguf::{GgufHeader, GgufLoadOptions, GgufModel};
use crate::decode::causal::{self, CausalConfig, CausalLm, StopReason};
use crate::device::DeviceSpec;
use crate::error::{Error, Result};
use crate::hub::{HubOptions, ModelRef, ModelSource};
use crate::tokenize::chat_template::{ChatTemplate, TemplateTokens};
use crate::tokenize::GgufTokenizer;

pub use crate::tokenize::chat_template::ChatMessage;

/// How to open a chat model.
#[derive(Debug, Clone, Default)]
pub struct ChatModelOptions {
    /// Where to run (CPU by default; CUDA needs a `cuda` build).
    pub device: DeviceSpec,
    /// Dequantize the weights to f32 (slower, about 4 bytes per parameter, closer to
    /// transformers' numbers); see [`GgufLoadOptions::dequantize`].
    pub dequantize: bool,
    /// Hub settings for `owner/name:file.gguf` references; [`HubOptions::from_env`] when `None`.
    pub hub: Option<HubOptions>,
}

/// How to generate one reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOptions {
    /// Most tokens to generate (the end-of-turn token included).
    pub max_new_tokens: usize,
    /// The end-of-turn tokens are banned until this many tokens exist.
    pub min_new_tokens: usize,
    /// transformers' repetition penalty (1.0 = off); it counts the prompt's tokens too.
    pub repetition_penalty: f32,
}

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions {
            max_new_tokens: 256,
            min_new_tokens: 0,
            repetition_penalty: 1.0,
        }
    }
}

/// Where the time of one reply went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChatTimings {
    /// Rendering and tokenizing the prompt.
    pub tokenize: Duration,
    /// Running the prompt through the model (first token's logits).
    pub prefill: Duration,
    /// All later decoding steps.
    pub decode: Duration,
}

impl ChatTimings {
    /// Generated tokens per second of decoding (after the first), 0 when there were none.
    pub fn decode_tokens_per_second(&self, generated: usize) -> f64 {
        let s = self.decode.as_secs_f64();
        if generated > 1 && s > 0.0 {
            (generated - 1) as f64 / s
        } else {
            0.0
        }
    }
}

/// One generated reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    /// The reply text: generated tokens decoded without special tokens, trimmed.
    pub text: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Generated ids (the end-of-turn token, when produced, is the last).
    pub tokens: Vec<u32>,
    /// Why generation stopped.
    pub stop: StopReason,
    /// Timings.
    pub timings: ChatTimings,
}

impl ChatReply {
    /// Number of generated tokens.
    pub fn generated_tokens(&self) -> usize {
        self.tokens.len()
    }
}

/// A GGUF chat model, ready to answer.
pub struct ChatModel {
    model: Mutex<GgufModel>,
    tokenizer: GgufTokenizer,
    template: ChatTemplate,
    template_fallback: bool,
    template_tokens: TemplateTokens,
    end_ids: Vec<u32>,
    path: PathBuf,
    architecture: String,
    context_length: usize,
}

impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel")
            .field("path", &self.path)
            .field("architecture", &self.architecture)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl ChatModel {
    /// Open a GGUF file on disk.
    pub fn open(path: &Path, opts: &ChatModelOptions) -> Result<Self> {
        let header = GgufHeader::read(path)?;
        header.supported_architecture()?;
        let tokenizer = GgufTokenizer::from_metadata(header.metadata(), path)?;
        let (template, template_fallback) = match tokenizer.chat_template() {
            Some(src) => (ChatTemplate::new(src)?, false),
            None => (ChatTemplate::chatml(), true),
        };
        let name = |id: Option<u32>| id.and_then(|i| tokenizer.token(i)).map(str::to_string);
        let template_tokens = TemplateTokens {
            bos: name(tokenizer.bos_id()),
            eos: name(tokenizer.eos_id()),
            unk: name(tokenizer.unk_id()),
            pad: name(tokenizer.pad_id()),
        };
        let end_ids = tokenizer.end_ids();
        let device = opts.device.open()?;
        let model = GgufModel::load(
            header,
            &device,
            &GgufLoadOptions {
                dequantize: opts.dequantize,
            },
        )?;
        Ok(ChatModel {
            architecture: model.architecture().to_string(),
            context_length: model.context_length(),
            model: Mutex::new(model),
            tokenizer,
            template,
            template_fallback,
            template_tokens,
            end_ids,
            path: path.to_path_buf(),
        })
    }

    /// Open a model named by a string: an existing file, or `owner/name[@revision]:file.gguf`
    /// on the Hugging Face Hub.
    pub fn open_ref(reference: &str, opts: &ChatModelOptions) -> Result<Self> {
        let path = resolve(reference, opts)?;
        Self::open(&path, opts)
    }

    /// Tokens `text` takes inside a prompt (no beginning/end tokens added).
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.tokenizer.encode(text, false)?.len())
    }

    /// Most positions (prompt plus reply) the model handles.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// `general.architecture` of the file (`llama`, `qwen2`).
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The file the model was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// True when the file has no chat template and ChatML is used instead.
    pub fn uses_fallback_template(&self) -> bool {
        self.template_fallback
    }

    /// Ids that end a reply.
    pub fn end_ids(&self) -> &[u32] {
        &self.end_ids
    }

    /// The prompt string for `messages`, ending with the assistant's turn opener.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        self.template.render(messages, true, &self.template_tokens)
    }

    /// The prompt ids for `messages` (the rendered string encoded without added specials,
    /// as transformers' `apply_chat_template` does).
    pub fn prompt_ids(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        self.tokenizer.encode(&self.render(messages)?, false)
    }

    /// Generate the assistant's reply to `messages` (greedy).
    pub fn chat(&self, messages: &[ChatMessage], opts: &ChatOptions) -> Result<ChatReply> {
        if messages.is_empty() {
            return Err(Error::InvalidArgument(
                "a chat needs at least one message".into(),
            ));
        }
        let start = Instant::now();
        let prompt = self.prompt_ids(messages)?;
        let tokenize = start.elapsed();
        if prompt.len() >= self.context_length {
            return Err(Error::InvalidArgument(format!(
                "the prompt takes {} tokens but {} holds {} in all (prompt and reply); shorten the input",
                prompt.len(),
                self.path.display(),
                self.context_length
            )));
        }
        let cfg = CausalConfig {
            max_new_tokens: opts.max_new_tokens,
            min_new_tokens: opts.min_new_tokens,
            repetition_penalty: opts.repetition_penalty,
            end_ids: self.end_ids.clone(),
        };
        let out = {
            let mut model = self.model.lock().map_err(|_| {
                Error::InvalidArgument(
                    "the chat model is unusable: an earlier generation panicked; open it again"
                        .into(),
                )
            })?;
            causal::generate(&mut *model, &prompt, &cfg)?
        };
        let body = match out.tokens.last() {
            Some(t) if self.end_ids.contains(t) => &out.tokens[..out.tokens.len() - 1],
            _ => &out.tokens[..],
        };
        let text = self.tokenizer.decode(body, true)?.trim().to_string();
        Ok(ChatReply {
            text,
            prompt_tokens: prompt.len(),
            stop: out.stop,
            timings: ChatTimings {
                tokenize,
                prefill: out.prefill,
                decode: out.decode,
            },
            tokens: out.tokens,
        })
    }
}

/// A reference to a local path: an existing file, or `owner/name[@rev]:file` fetched via the hub.
fn resolve(reference: &str, opts: &ChatModelOptions) -> Result<PathBuf> {
    let as_path = Path::new(reference);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let looks_like_path = reference.starts_with(['/', '.', '~'])
        || reference.contains('\\')
        || !reference.contains(':')
        || as_path.is_dir();
    if looks_like_path {
        return Err(Error::MissingFile {
            file: reference.to_string(),
            location: "the file system".into(),
            hint:
                "give the path to a .gguf file, or a Hub reference owner/name[@revision]:file.gguf"
                    .into(),
        });
    }
    let (repo_part, file) = reference.rsplit_once(':').unwrap_or((reference, ""));
    if file.is_empty() || repo_part.is_empty() {
        return Err(Error::BadModelRef {
            reference: reference.to_string(),
            reason: "expected owner/name[@revision]:file.gguf".into(),
        });
    }
    let (repo, revision) = repo_part.split_once('@').unwrap_or((repo_part, "main"));
    let model_ref = ModelRef::hub(repo, revision)?;
    let hub = match &opts.hub {
        Some(h) => h.clone(),
        None => HubOptions::from_env()?,
    };
    ModelSource::open(&model_ref, &hub)?.file(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_that_are_neither_files_nor_hub_refs() {
        let opts = ChatModelOptions::default();
        let err = resolve("./no/such/model.gguf", &opts).unwrap_err();
        assert!(matches!(err, Error::MissingFile { .. }), "{err}");
        let err = resolve("owner/name:", &opts).unwrap_err();
        assert!(matches!(err, Error::BadModelRef { .. }), "{err}");
        let err = resolve("bad--repo/x:f.gguf", &opts).unwrap_err();
        assert!(matches!(err, Error::BadModelRef { .. }), "{err}");
    }

    #[test]
    fn default_options() {
        let o = ChatOptions::default();
        assert_eq!(o.max_new_tokens, 256);
        assert_eq!(o.repetition_penalty, 1.0);
        let t = ChatTimings {
            tokenize: Duration::ZERO,
            prefill: Duration::ZERO,
            decode: Duration::from_secs(2),
        };
        assert_eq!(t.decode_tokens_per_second(5), 2.0);
        assert_eq!(t.decode_tokens_per_second(1), 0.0);
    }
}
