//! Translating whole texts through a model worker: every sentence of every text of a request is
//! queued at once (so they share batches with other requests' sentences), then each text is put
//! back in its layout as the answers come in.

use std::time::Instant;

use axum::http::StatusCode;

use crate::pipeline::segment::Document;
use crate::pipeline::translate::{TokenCounts, Translation};

use super::body::ApiError;
use super::pool::Worker;
use super::queue::SubmitError;

/// Translate `docs` on `worker` by `deadline`; one translation per document, in order.
pub async fn translate_docs(
    worker: &Worker,
    docs: &[Document],
    deadline: Instant,
) -> Result<Vec<Translation>, ApiError> {
    let sentences: Vec<String> = docs
        .iter()
        .flat_map(|d| d.sentences().map(str::to_string))
        .collect();
    let mut answers = Vec::with_capacity(sentences.len());
    if !sentences.is_empty() {
        let receivers = worker
            .batcher
            .submit(sentences, deadline)
            .map_err(submit_error)?;
        let until = tokio::time::Instant::from_std(deadline);
        for rx in receivers {
            // Leaving early (deadline, client gone) drops the rest: they are withdrawn unrun.
            match tokio::time::timeout_at(until, rx).await {
                Err(_) => return Err(timed_out()),
                Ok(Err(_)) => {
                    return Err(ApiError::internal(
                        "the model worker stopped before answering",
                    ))
                }
                Ok(Ok(Err(message))) => return Err(ApiError::internal(message)),
                Ok(Ok(Ok(answer))) => answers.push(answer),
            }
        }
    }
    let mut answers = answers.into_iter();
    docs.iter()
        .map(|doc| {
            let mut counts = TokenCounts::default();
            let texts: Vec<String> = answers
                .by_ref()
                .take(doc.sentence_count())
                .map(|(text, c)| {
                    counts.source_tokens += c.source_tokens;
                    counts.generated_tokens += c.generated_tokens;
                    text
                })
                .collect();
            Translation::assemble(doc, texts, counts).map_err(|e| ApiError::internal(e.to_string()))
        })
        .collect()
}

/// The answer for sentences the queue would not take.
pub fn submit_error(e: SubmitError) -> ApiError {
    match e {
        SubmitError::Full { limit } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Slowdown: the translation queue is full ({limit} sentences waiting); retry shortly"),
        ),
        SubmitError::Failed(message) => ApiError::internal(message),
        SubmitError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
    }
}

/// The answer for a request whose deadline passed.
pub fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the request took longer than the server's --timeout; send less text at once or retry later",
    )
}
