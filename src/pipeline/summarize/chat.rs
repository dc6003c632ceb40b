//! Summaries from a decoder-only chat model (GGUF): the article goes into a user message that
//! asks for a summary of the bounded length, rendered with the model's own chat template, and
//! the model answers greedily.
//!
//! The input budget is the context window minus the prompt's fixed text and room for the
//! answer, capped at [`MAX_INPUT_TOKENS`]: long prompts are slow to prefill on a CPU and small
//! chat models summarize shorter inputs better, so longer articles go through chunking.

use super::{Bound, DecodeOverrides, Generated, SummaryModel};
use crate::error::{Error, Result};
use crate::pipeline::chat::{ChatMessage, ChatModel, ChatOptions};
use crate::pipeline::translate::TokenCounts;

/// Most article tokens one prompt carries.
pub const MAX_INPUT_TOKENS: usize = 1536;

/// Room kept for the answer when no `--max-new-tokens` is given.
const ANSWER_ROOM: usize = 400;

/// The request put before the article.
fn instruction(bound: Bound) -> String {
    format!(
        "Summarize the following news article in {}. Name the key people, places and \
         organisations. Reply with the summary only, in English.",
        bound.phrase()
    )
}

/// The user message for `text`.
fn summary_request(text: &str, bound: Bound) -> String {
    format!("{}\n\nArticle:\n{}", instruction(bound), text.trim())
}

/// A GGUF chat model used as a summarizer.
pub struct ChatSummarizer {
    model: ChatModel,
    overrides: DecodeOverrides,
    budget: usize,
}

impl ChatSummarizer {
    /// Wrap an opened chat model; `--beams` above 1 is refused (chat models decode greedily).
    pub fn new(model: ChatModel, overrides: DecodeOverrides) -> Result<Self> {
        if overrides.beams.is_some_and(|b| b > 1) {
            return Err(Error::InvalidArgument(
                "chat models summarize with greedy decoding; --beams applies to seq2seq summarizers only"
                    .into(),
            ));
        }
        // The prompt with an empty article: the template, the instruction, the labels.
        let fixed = model
            .prompt_ids(&[ChatMessage::user(summary_request("", Bound::Words(1000)))])?
            .len();
        let answer = overrides.max_new_tokens.unwrap_or(ANSWER_ROOM);
        let room = model.context_length().saturating_sub(fixed + answer + 8);
        if room < 64 {
            return Err(Error::Unsupported(format!(
                "{} has a context of {} tokens, too short for a prompt and a summary",
                model.path().display(),
                model.context_length()
            )));
        }
        Ok(Self {
            budget: room.min(MAX_INPUT_TOKENS),
            model,
            overrides,
        })
    }

    fn ask(&self, message: String, max_new_tokens: usize) -> Result<Generated> {
        let reply = self.model.chat(
            &[ChatMessage::user(message)],
            &ChatOptions {
                max_new_tokens,
                min_new_tokens: self.overrides.min_new_tokens.unwrap_or(0),
                repetition_penalty: 1.0,
            },
        )?;
        Ok(Generated {
            text: strip_label(&reply.text).to_string(),
            counts: TokenCounts {
                source_tokens: reply.prompt_tokens,
                generated_tokens: reply.generated_tokens(),
            },
        })
    }
}

impl SummaryModel for ChatSummarizer {
    fn describe(&self) -> String {
        format!(
            "{} ({} chat model, GGUF)",
            self.model.path().display(),
            self.model.architecture()
        )
    }

    fn input_budget(&self) -> usize {
        self.budget
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.model.count_tokens(text)
    }

    fn summarize(&self, text: &str, bound: Bound) -> Result<Generated> {
        let cap = self.overrides.max_new_tokens.unwrap_or(bound.token_cap());
        self.ask(summary_request(text, bound), cap)
    }

    fn headline(&self, summary: &str) -> Result<Option<Generated>> {
        let message = format!(
            "Write a headline of at most 12 words for this news summary. Reply with the headline only.\n\nSummary:\n{}",
            summary.trim()
        );
        self.ask(message, 32).map(Some)
    }
}

/// Drop a leading "Summary:" label a model may put before its answer.
fn strip_label(text: &str) -> &str {
    let t = text.trim();
    for label in ["Summary:", "**Summary:**", "Summary -"] {
        if let Some(rest) = t.strip_prefix(label) {
            return rest.trim();
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_states_the_bound() {
        let r = summary_request("  Text here.  ", Bound::Sentences(2));
        assert!(r.contains("at most 2 sentences"), "{r}");
        assert!(r.ends_with("Article:\nText here."), "{r}");
        assert!(summary_request("x", Bound::Words(40)).contains("at most 40 words"));
    }

    #[test]
    fn labels_are_stripped() {
        assert_eq!(strip_label("Summary: A and B."), "A and B.");
        assert_eq!(strip_label("  A and B. "), "A and B.");
    }
}
