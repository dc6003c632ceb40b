//! LibreTranslate's HTTP API (as of LibreTranslate 1.9), field for field.
//!
//! | endpoint | fields | answer |
//! |---|---|---|
//! | `POST /translate` | `q` (text or list), `source` (code or `auto`), `target`, `format` (`text`/`html`), `alternatives`, `api_key` | `translatedText` (text or list), `detectedLanguage {confidence, language}` for `auto`, `alternatives` when asked |
//! | `POST /detect` | `q`, `api_key` | `[{confidence, language}]` |
//! | `GET /languages` | | `[{code, name, targets}]` |
//! | `GET /frontend/settings` | | LibreTranslate's settings object |
//!
//! Fields come as JSON, a form or the query string ([`super::body`]). Errors are LibreTranslate's:
//! 400 with its messages (`Invalid request: missing q parameter`, `xx is not supported`, ...),
//! 403 for a missing or unknown key where keys are required, 429 over a limit, 500 with a message.
//!
//! tolk translates into English; `targets` of a language is English and the language itself
//! (which LibreTranslate offers too: the text comes back as it is). `alternatives` is accepted
//! and answered with empty lists: tolk writes one translation per text.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::Json;
use serde_json::{json, Value};

use super::body::{ApiError, Fields};
use super::keys::request_key;
use super::{html, work, App};
use crate::jobs::models::TARGET_LANGUAGE;
use crate::pipeline::segment::{segment, Document};
use crate::registry::normalize_lang;

/// The request's fields, once its key and rate limit are checked.
pub(crate) async fn checked_fields(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    client: SocketAddr,
    body: Body,
) -> Result<Fields, ApiError> {
    let fields = Fields::read(headers, uri.query(), body, app.limits.body_bytes).await?;
    let key = request_key(fields.text("api_key"), headers);
    app.gate.check(key.as_deref(), client.ip())?;
    Ok(fields)
}

/// `q` as a list of texts, and whether it was a list.
fn texts(fields: &Fields) -> Result<(Vec<String>, bool), ApiError> {
    let missing = || ApiError::bad("Invalid request: missing q parameter");
    match fields.get("q") {
        None => Err(missing()),
        Some(Value::String(s)) if s.is_empty() => Err(missing()),
        Some(Value::String(s)) => Ok((vec![s.clone()], false)),
        Some(Value::Array(items)) if items.is_empty() => Err(missing()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::bad(
                    "Invalid request: q must be a text or a list of texts",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|t| (t, true)),
        Some(_) => Err(ApiError::bad(
            "Invalid request: q must be a text or a list of texts",
        )),
    }
}

/// LibreTranslate's check of each text against `--char-limit` (characters, not bytes).
pub(crate) fn check_chars(app: &App, texts: &[String]) -> Result<(), ApiError> {
    if let Some(limit) = app.limits.char_limit {
        for t in texts {
            let n = t.chars().count();
            if n > limit {
                return Err(ApiError::bad(format!(
                    "Invalid request: request ({n}) exceeds text limit ({limit})"
                )));
            }
        }
    }
    Ok(())
}

fn required(fields: &Fields, name: &str) -> Result<String, ApiError> {
    fields
        .text(name)
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().to_ascii_lowercase())
        .ok_or_else(|| ApiError::bad(format!("Invalid request: missing {name} parameter")))
}

/// The name of a language code, in English.
pub fn language_name(code: &str) -> String {
    isolang::Language::from_639_1(code)
        .or_else(|| isolang::Language::from_639_3(code))
        .map(|l| l.to_name().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// `POST /translate`.
pub async fn translate(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let fields = checked_fields(&app, &headers, &uri, client, body).await?;
    let (texts, is_list) = texts(&fields)?;
    let source = required(&fields, "source")?;
    let target = required(&fields, "target")?;
    let alternatives = fields.number("alternatives")?.unwrap_or(0);
    check_chars(&app, &texts)?;

    let served = app.pool.languages();
    let detected = if source == "auto" {
        // Like LibreTranslate, the texts of one request are taken to share one language.
        let joined = texts.join("\n");
        match app.detect(&joined)? {
            Some((lang, confidence)) => Some((lang, (confidence * 100.0).round())),
            None => {
                return Err(ApiError::bad(
                    "Cannot tell the language of this text; give source (see GET /languages)",
                ))
            }
        }
    } else {
        None
    };
    let source = match &detected {
        Some((lang, _)) => lang.clone(),
        None => normalize_lang(&source),
    };
    let target = normalize_lang(&target);
    if !served.contains(&source) && source != TARGET_LANGUAGE {
        return Err(ApiError::bad(format!("{source} is not supported")));
    }
    if target != TARGET_LANGUAGE && target != source {
        if served.contains(&target) {
            return Err(ApiError::bad(format!(
                "{} ({target}) is not available as a target language from {} ({source})",
                language_name(&target),
                language_name(&source)
            )));
        }
        return Err(ApiError::bad(format!("{target} is not supported")));
    }
    let format = fields.text("format").map(|f| f.trim().to_ascii_lowercase());
    let is_html = match format.as_deref() {
        None | Some("") | Some("text") => false,
        Some("html") => true,
        Some(other) => return Err(ApiError::bad(format!("{other} format is not supported"))),
    };

    let translated: Vec<String> = if source == target {
        texts.clone()
    } else {
        let worker = app
            .pool
            .worker(&source)
            .map_err(|_| ApiError::bad(format!("{source} is not supported")))?;
        if is_html {
            // Every text node of every document goes to the queue at once.
            let parts: Vec<Vec<String>> = texts
                .iter()
                .map(|t| html::HtmlDoc::parse(t).texts().to_vec())
                .collect();
            let docs: Vec<Document> = parts.iter().flatten().map(|t| segment(t)).collect();
            let done = work::translate_docs(&worker, &docs, app.deadline()).await?;
            let mut done = done.into_iter().map(|t| t.text);
            texts
                .iter()
                .zip(&parts)
                .map(|(t, p)| {
                    let these: Vec<String> = done.by_ref().take(p.len()).collect();
                    html::HtmlDoc::parse(t)
                        .render(&these)
                        .map_err(ApiError::internal)
                })
                .collect::<Result<_, _>>()?
        } else {
            let docs: Vec<Document> = texts.iter().map(|t| segment(t)).collect();
            work::translate_docs(&worker, &docs, app.deadline())
                .await?
                .into_iter()
                .map(|t| t.text)
                .collect()
        }
    };

    let mut answer = json!({});
    answer["translatedText"] = if is_list {
        json!(translated)
    } else {
        json!(translated.into_iter().next().unwrap_or_default())
    };
    if let Some((lang, confidence)) = detected {
        let one = json!({"confidence": confidence, "language": lang});
        answer["detectedLanguage"] = if is_list {
            Value::Array(vec![one; texts.len()])
        } else {
            one
        };
    }
    if alternatives > 0 {
        answer["alternatives"] = if is_list {
            Value::Array(vec![json!([]); texts.len()])
        } else {
            json!([])
        };
    }
    Ok(Json(answer))
}

/// `POST /detect`: the language of `q` (of all its texts together when a list).
pub async fn detect(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let fields = checked_fields(&app, &headers, &uri, client, body).await?;
    let (texts, _) = texts(&fields)?;
    check_chars(&app, &texts)?;
    let found = app.detect(&texts.join("\n"))?;
    // LibreTranslate's answer when nothing can be told.
    let (lang, confidence) = found.unwrap_or_else(|| (TARGET_LANGUAGE.to_string(), 0.0));
    Ok(Json(
        json!([{"confidence": (confidence * 100.0).round(), "language": lang}]),
    ))
}

/// `GET /languages`: what this server translates.
pub async fn languages(State(app): State<Arc<App>>) -> Json<Value> {
    let mut codes = app.pool.languages();
    if !codes.iter().any(|c| c == TARGET_LANGUAGE) {
        codes.push(TARGET_LANGUAGE.to_string());
    }
    codes.sort();
    let list: Vec<Value> = codes
        .iter()
        .map(|code| {
            let mut targets = vec![code.clone()];
            if code != TARGET_LANGUAGE {
                targets.push(TARGET_LANGUAGE.to_string());
            }
            targets.sort();
            json!({"code": code, "name": language_name(code), "targets": targets})
        })
        .collect();
    Json(Value::Array(list))
}

/// `GET /frontend/settings`: LibreTranslate's settings object, with this server's values.
pub async fn settings(State(app): State<Arc<App>>) -> Json<Value> {
    let char_limit = app.limits.char_limit.map_or(-1, |n| n as i64);
    let keys = app.gate.keys_required();
    Json(json!({
        "apiKeys": keys,
        "charLimit": char_limit,
        "filesTranslation": false,
        "frontendTimeout": 500,
        "keyRequired": keys,
        "language": {
            "source": {"code": "auto", "name": "Auto Detect"},
            "target": {"code": TARGET_LANGUAGE, "name": language_name(TARGET_LANGUAGE)},
        },
        "suggestions": false,
        "supportedFilesFormat": [],
    }))
}
