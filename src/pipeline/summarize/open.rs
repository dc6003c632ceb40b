//! Choosing a summarizer backend for a model reference: GGUF chat models by their `.gguf` file,
//! everything else as a seq2seq (T5-family) model.

use super::chat::ChatSummarizer;
use super::seq2seq::{Seq2SeqSummarizer, SUMMARIZE_PREFIX};
use super::SummaryModel;
use crate::device::DeviceSpec;
use crate::error::Result;
use crate::hub::HubOptions;
use crate::pipeline::chat::{ChatModel, ChatModelOptions};
use crate::pipeline::translate::{LoadOptions, Translator};

/// Decoding settings the user may override for a summarizer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOverrides {
    /// Beam size (seq2seq models; chat models decode greedily).
    pub beams: Option<usize>,
    pub min_new_tokens: Option<usize>,
    /// Longest answer in tokens; without it the bound decides ([`super::Bound::token_cap`]).
    pub max_new_tokens: Option<usize>,
}

/// Whether `reference` names a GGUF chat model: a `.gguf` file, or `owner/name:file.gguf`.
pub fn is_gguf(reference: &str) -> bool {
    reference.to_ascii_lowercase().ends_with(".gguf")
}

/// Open the summarizer `reference` names: a GGUF chat model (`device`; weights kept as stored
/// in the file) or a seq2seq model (`load`).
pub fn open(
    reference: &str,
    hub: &HubOptions,
    device: &DeviceSpec,
    load: &LoadOptions,
    overrides: &DecodeOverrides,
) -> Result<Box<dyn SummaryModel>> {
    if is_gguf(reference) {
        let model = ChatModel::open_ref(
            reference,
            &ChatModelOptions {
                device: *device,
                dequantize: false,
                hub: Some(hub.clone()),
            },
        )?;
        return Ok(Box::new(ChatSummarizer::new(model, *overrides)?));
    }
    let translator = Translator::open(reference, hub, load)?;
    Ok(Box::new(Seq2SeqSummarizer::new(
        translator,
        SUMMARIZE_PREFIX,
        *overrides,
    )?))
}
