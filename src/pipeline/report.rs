//! The JSON shapes of results, shared by the CLI's `--format json` and `tolk serve`'s `/v1/*`
//! endpoints, so a client can switch between the two without changing its parser.

use serde_json::{json, Value};

use crate::pipeline::summarize::Summary;
use crate::pipeline::translate::Translation;

/// `tolk translate --format json`: `meta` (model, timings, token counts), then `translation`
/// (the whole text) and `sentences` (source / translation pairs).
pub fn translation_json(result: &Translation, meta: Value) -> Value {
    let mut obj = object(meta);
    obj["translation"] = result.text.clone().into();
    obj["sentences"] = serde_json::to_value(&result.sentences).unwrap_or(Value::Null);
    obj
}

/// `tolk summarize --format json`: `meta`, then the summary's fields (its text as `summary`).
pub fn summary_json(summary: &Summary, meta: Value) -> Value {
    let mut obj = object(meta);
    if let (Some(map), Ok(Value::Object(s))) = (obj.as_object_mut(), serde_json::to_value(summary))
    {
        for (k, v) in s {
            let key = if k == "text" {
                "summary".to_string()
            } else {
                k
            };
            map.insert(key, v);
        }
    }
    obj
}

/// `tolk brief --format json`: `meta`, the summary object, then the translation with its
/// sentences and token counts.
pub fn brief_json(translation: &Translation, summary: &Summary, meta: Value) -> Value {
    let mut obj = object(meta);
    obj["summary"] = summary_json(summary, json!({}));
    obj["translation"] = translation.text.clone().into();
    obj["sentences"] = serde_json::to_value(&translation.sentences).unwrap_or(Value::Null);
    obj["source_tokens"] = translation.counts.source_tokens.into();
    obj["generated_tokens"] = translation.counts.generated_tokens.into();
    obj
}

fn object(meta: Value) -> Value {
    if meta.is_object() {
        meta
    } else {
        json!({})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::summarize::Bound;
    use crate::pipeline::translate::{SentencePair, TokenCounts};

    fn translation() -> Translation {
        Translation {
            text: "Hello.\n".into(),
            sentences: vec![SentencePair {
                source: "Hej.".into(),
                translation: "Hello.".into(),
                untranslated: false,
                fidelity: None,
            }],
            counts: TokenCounts {
                source_tokens: 3,
                generated_tokens: 2,
            },
        }
    }

    #[test]
    fn translation_keeps_meta_and_adds_the_text() {
        let v = translation_json(&translation(), json!({"model": "m"}));
        assert_eq!(v["model"], "m");
        assert_eq!(v["translation"], "Hello.\n");
        assert_eq!(v["sentences"][0]["source"], "Hej.");
    }

    #[test]
    fn a_summary_text_is_called_summary() {
        let s = Summary::empty(Bound::DEFAULT);
        let v = summary_json(&s, json!({}));
        assert_eq!(v["summary"], "");
        assert!(v.get("text").is_none());
        let b = brief_json(&translation(), &s, json!({"x": 1}));
        assert_eq!(b["summary"]["summary"], "");
        assert_eq!(b["generated_tokens"], 2);
        assert_eq!(b["x"], 1);
    }
}
