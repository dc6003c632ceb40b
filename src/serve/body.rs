//! Request bodies and error answers.
//!
//! LibreTranslate clients send fields as JSON (`Content-Type: application/json` or
//! `application/*+json`), as a urlencoded form, or in the query string; [`Fields`] reads them the
//! same way (query first, body fields over it). Whatever is wrong with a body (too big, not UTF-8,
//! not JSON, not an object) is an [`ApiError`]: a status and `{"error": "..."}`, the shape every
//! LibreTranslate error has.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// An error answer: `status` with `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400 Bad Request.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

/// The fields of one request.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    /// Read the query string and body of a request; the body may be at most `limit` bytes.
    pub async fn read(
        headers: &HeaderMap,
        query: Option<&str>,
        body: Body,
        limit: usize,
    ) -> Result<Fields, ApiError> {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Invalid request: the request body is over the server's limit of {limit} bytes"
                ),
            )
        })?;
        Fields::parse(headers, query, &bytes)
    }

    /// [`Fields::read`] on a body already read.
    pub fn parse(
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Fields, ApiError> {
        let mut map = Map::new();
        if let Some(q) = query {
            add_form(&mut map, q.as_bytes(), false);
        }
        if body.is_empty() {
            return Ok(Fields { map });
        }
        let text = std::str::from_utf8(body).map_err(|e| {
            ApiError::bad(format!(
                "Invalid request: the body is not valid UTF-8 (invalid bytes at offset {})",
                e.valid_up_to()
            ))
        })?;
        if is_json(headers) {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                ApiError::bad(format!("Invalid request: the body is not valid JSON ({e})"))
            })?;
            let Value::Object(obj) = value else {
                return Err(ApiError::bad("Invalid JSON format"));
            };
            map.extend(obj);
        } else {
            add_form(&mut map, text.as_bytes(), true);
        }
        Ok(Fields { map })
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A field as text (numbers and booleans as they are written); `None` when absent.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A field that must be a whole number when present.
    pub fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        let bad = || ApiError::bad(format!("Invalid request: {key} parameter is not a number"));
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// A field that must be true or false when present (`"true"`, `"1"`, ... in forms).
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "" | "false" | "0" | "no" => Ok(false),
                "true" | "1" | "yes" => Ok(true),
                _ => Err(ApiError::bad(format!(
                    "Invalid request: {key} must be true or false"
                ))),
            },
            Some(_) => Err(ApiError::bad(format!(
                "Invalid request: {key} must be true or false"
            ))),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Urlencoded pairs into `map`: a key given twice becomes a list (how a form sends several
/// `q`); a form's `q` has its line endings made `\n`.
fn add_form(map: &mut Map<String, Value>, bytes: &[u8], body: bool) {
    let mut seen: Map<String, Value> = Map::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        let v = if body && k == "q" {
            v.lines().collect::<Vec<_>>().join("\n")
        } else {
            v.into_owned()
        };
        match seen.get_mut(k.as_ref()) {
            None => {
                seen.insert(k.into_owned(), Value::String(v));
            }
            Some(Value::Array(list)) => list.push(Value::String(v)),
            Some(first) => {
                let was = first.take();
                *first = Value::Array(vec![was, Value::String(v)]);
            }
        }
    }
    map.extend(seen);
}

/// A response body for `Body` answers that are not JSON errors (kept here so handlers share it).
pub fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, axum::Json(value)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    #[test]
    fn json_and_form_bodies_read_alike() {
        let j = Fields::parse(&json_headers(), None, br#"{"q":"Hej","source":"da"}"#).unwrap();
        let f = Fields::parse(&HeaderMap::new(), None, b"q=Hej&source=da").unwrap();
        for fields in [j, f] {
            assert_eq!(fields.text("q").as_deref(), Some("Hej"));
            assert_eq!(fields.text("source").as_deref(), Some("da"));
        }
    }

    #[test]
    fn the_body_wins_over_the_query_and_repeated_form_keys_make_a_list() {
        let f = Fields::parse(
            &HeaderMap::new(),
            Some("source=de&target=en"),
            b"source=da&q=a&q=b%0D%0Ac",
        )
        .unwrap();
        assert_eq!(f.text("source").as_deref(), Some("da"));
        assert_eq!(f.text("target").as_deref(), Some("en"));
        assert_eq!(f.get("q"), Some(&serde_json::json!(["a", "b\nc"])));
    }

    #[test]
    fn broken_bodies_are_400s_that_say_why() {
        let e = Fields::parse(&json_headers(), None, b"{\"q\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("not valid JSON"), "{e:?}");
        let e = Fields::parse(&json_headers(), None, b"[1]").unwrap_err();
        assert_eq!(e.message, "Invalid JSON format");
        let e = Fields::parse(&HeaderMap::new(), None, b"q=\xff\xfe").unwrap_err();
        assert!(e.message.contains("UTF-8"), "{e:?}");
    }

    #[test]
    fn numbers_and_flags_are_checked() {
        let f = Fields::parse(&HeaderMap::new(), None, b"alternatives=x&lines=true").unwrap();
        assert!(f.number("alternatives").is_err());
        assert!(f.flag("lines").unwrap());
        assert!(!f.flag("missing").unwrap());
        let f = Fields::parse(&json_headers(), None, br#"{"alternatives": 3}"#).unwrap();
        assert_eq!(f.number("alternatives").unwrap(), Some(3));
    }
}
