//! tolk's own API: what LibreTranslate's lacks.
//!
//! | endpoint | body (JSON or form) | answer |
//! |---|---|---|
//! | `POST /v1/translate` | `text`, `source` (code or `auto`, default `auto`), `lines` | `tolk translate --format json` |
//! | `POST /v1/summarize` | `text` (English), `sentences` or `words` | `tolk summarize --format json` |
//! | `POST /v1/brief` | `text`, `source`, `sentences` or `words` | `tolk brief --format json` |
//! | `GET /health` | | 200 `{"status":"ready"}` once the models named at start are loaded, else 503 |
//! | `GET /metrics` | | Prometheus text ([`super::metrics`]) |
//!
//! A key, where keys are required, goes in `api_key` or an `Authorization: Bearer` header.
//! `load_seconds` in an answer is the time this request waited for a model to load (0 when it
//! was loaded already).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::body::{ApiError, Fields};
use super::libre::{check_chars, checked_fields};
use super::queue::WorkerState;
use super::summary::Written;
use super::{work, App};
use crate::pipeline::report;
use crate::pipeline::segment::{segment, segment_lines};
use crate::pipeline::summarize::{self, Bound, SummaryOptions};
use crate::pipeline::translate::Translation;
use crate::registry::normalize_lang;

fn text_field(app: &App, fields: &Fields) -> Result<String, ApiError> {
    let text = match fields.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad("Invalid request: text must be a string")),
        None => return Err(ApiError::bad("Invalid request: missing text parameter")),
    };
    check_chars(app, std::slice::from_ref(&text))?;
    Ok(text)
}

/// The source language: given, or detected (`auto`, the default).
fn source_of(app: &App, fields: &Fields, text: &str) -> Result<String, ApiError> {
    let given = fields.text("source").map(|s| s.trim().to_ascii_lowercase());
    match given.as_deref() {
        None | Some("") | Some("auto") => match app.detect(text)? {
            Some((lang, _)) => Ok(lang),
            None => Err(ApiError::bad(
                "Cannot tell the language of this text; give source (see GET /languages)",
            )),
        },
        Some(code) => Ok(normalize_lang(code)),
    }
}

/// Translate `text` from `source`, with the reference of the model used and the seconds taken.
async fn translate_text(
    app: &App,
    text: &str,
    source: &str,
    lines: bool,
) -> Result<(Translation, String, f64), ApiError> {
    let doc = if lines {
        segment_lines(text)
    } else {
        segment(text)
    };
    let worker = app
        .pool
        .worker(source)
        .map_err(|super::pool::Unserved::NoModel(why)| {
            ApiError::bad(format!("{source} is not supported: {why}"))
        })?;
    let started = Instant::now();
    let mut done =
        work::translate_docs(&worker, std::slice::from_ref(&doc), app.deadline()).await?;
    let seconds = started.elapsed().as_secs_f64();
    let translation = done
        .pop()
        .ok_or_else(|| ApiError::internal("no translation came back"))?;
    Ok((translation, worker.reference.clone(), seconds))
}

fn bound(fields: &Fields) -> Result<Bound, ApiError> {
    let sentences = fields.number("sentences")?.map(|n| n as usize);
    let words = fields.number("words")?.map(|n| n as usize);
    Bound::from_flags(sentences, words).map_err(|e| ApiError::bad(format!("Invalid request: {e}")))
}

async fn summarize_text(
    app: &App,
    text: String,
    opts: SummaryOptions,
) -> Result<Written, ApiError> {
    let Some(summarizer) = &app.summarizer else {
        return Err(ApiError::bad(
            "this server writes no summaries (it was started with --no-summary)",
        ));
    };
    let rx = summarizer.submit(text, opts).map_err(ApiError::internal)?;
    match tokio::time::timeout_at(tokio::time::Instant::from_std(app.deadline()), rx).await {
        Err(_) => Err(work::timed_out()),
        Ok(Err(_)) => Err(ApiError::internal(
            "the summarizer stopped before answering",
        )),
        Ok(Ok(Err(message))) => Err(ApiError::internal(message)),
        Ok(Ok(Ok(written))) => Ok(written),
    }
}

/// `POST /v1/translate`.
pub async fn translate(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let fields = checked_fields(&app, &headers, &uri, client, body).await?;
    let text = text_field(&app, &fields)?;
    let lines = fields.flag("lines")?;
    let source = source_of(&app, &fields, &text)?;
    let (mut translation, model, seconds) = translate_text(&app, &text, &source, lines).await?;
    // The same numbers and quotations check as `tolk translate --format json`.
    let fidelity = translation.check_fidelity(&source);
    let meta = json!({
        "model": model,
        "source": source,
        "load_seconds": 0.0,
        "translate_seconds": seconds,
        "source_tokens": translation.counts.source_tokens,
        "generated_tokens": translation.counts.generated_tokens,
        "fidelity": fidelity,
    });
    Ok(Json(report::translation_json(&translation, meta)))
}

/// `POST /v1/summarize`.
pub async fn summarize(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let fields = checked_fields(&app, &headers, &uri, client, body).await?;
    let text = text_field(&app, &fields)?;
    let opts = SummaryOptions {
        bound: bound(&fields)?,
        headline: fields.flag("headline")?,
    };
    let mut w = summarize_text(&app, text.clone(), opts).await?;
    // As the CLI: summary sentences stating numbers the text lacks are dropped.
    summarize::support::drop_unsupported(&mut w.summary, &[(&text, "en")]);
    app.metrics.tokens(
        w.summary.counts.source_tokens,
        w.summary.counts.generated_tokens,
    );
    let meta = json!({
        "model": w.model,
        "load_seconds": w.load_seconds,
        "summarize_seconds": w.seconds,
    });
    Ok(Json(report::summary_json(&w.summary, meta)))
}

/// `POST /v1/brief`: translate, then summarize the English.
pub async fn brief(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let fields = checked_fields(&app, &headers, &uri, client, body).await?;
    let text = text_field(&app, &fields)?;
    let opts = SummaryOptions {
        bound: bound(&fields)?,
        headline: fields.flag("headline")?,
    };
    if app.summarizer.is_none() {
        return Err(ApiError::bad(
            "this server writes no summaries (it was started with --no-summary)",
        ));
    }
    let source = source_of(&app, &fields, &text)?;
    let (translation, model, translate_seconds) =
        translate_text(&app, &text, &source, false).await?;
    let mut w = summarize_text(&app, translation.text.clone(), opts).await?;
    summarize::support::drop_unsupported(
        &mut w.summary,
        &[(&translation.text, "en"), (&text, &source)],
    );
    app.metrics.tokens(
        w.summary.counts.source_tokens,
        w.summary.counts.generated_tokens,
    );
    let meta = json!({
        "models": {"translate": model, "summarize": w.model},
        "source": source,
        "translate_load_seconds": 0.0,
        "translate_seconds": translate_seconds,
        "summary_load_seconds": w.load_seconds,
        "summarize_seconds": w.seconds,
    });
    Ok(Json(report::brief_json(&translation, &w.summary, meta)))
}

fn state_name(s: &WorkerState) -> (&'static str, Option<String>) {
    match s {
        WorkerState::Loading => ("loading", None),
        WorkerState::Ready => ("ready", None),
        WorkerState::Failed(e) => ("failed", Some(e.clone())),
    }
}

/// `GET /health`: 200 when the models named at start are loaded, 503 while loading or failed.
pub async fn health(State(app): State<Arc<App>>) -> Response {
    let mut models = Vec::new();
    for (lang, w) in app.pool.workers() {
        let (state, error) = state_name(&w.batcher.state());
        models
            .push(json!({"language": lang, "model": w.reference, "state": state, "error": error}));
    }
    let summarizer = app.summarizer.as_ref().map(|s| {
        let (state, error) = state_name(&s.state());
        json!({"model": s.reference(), "state": state, "error": error})
    });
    let summarizer_state = app.summarizer.as_ref().map(|s| s.state());
    let (status, code) = match (app.pool.readiness(), &summarizer_state) {
        (Err(_), _) | (_, Some(WorkerState::Failed(_))) => {
            ("failed", StatusCode::SERVICE_UNAVAILABLE)
        }
        (Ok(true), None | Some(WorkerState::Ready)) => ("ready", StatusCode::OK),
        _ => ("loading", StatusCode::SERVICE_UNAVAILABLE),
    };
    let body = json!({
        "status": status,
        "languages": app.pool.languages(),
        "models": models,
        "summarizer": summarizer,
        "queue": app.metrics_depth(),
    });
    (code, Json(body)).into_response()
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}
