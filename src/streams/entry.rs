//! Records as stream entries and back. An entry has fields `key` (the record key, as `tolk
//! batch` computes it) and `record`: a JSON object with `key`, `id` (when the input had one),
//! `line` (JSONL inputs) and either `doc` (`text`, `lang`, `title`) or `error` (why the input
//! unit cannot be used; the worker writes it as a failed record, as `tolk batch` would).
//!
//! An entry that is not in this form (written by something else, or damaged) becomes a failed
//! record keyed `entry:<stream id>`, never a crash.

use serde_json::{json, Map, Value};

use crate::jobs::input::{Doc, Record};

/// The `record` field of `r`'s entry.
pub fn encode(r: &Record) -> String {
    let mut obj = Map::new();
    obj.insert("key".into(), r.key.clone().into());
    if let Some(id) = &r.id {
        obj.insert("id".into(), id.clone());
    }
    if let Some(line) = r.line {
        obj.insert("line".into(), line.into());
    }
    match &r.content {
        Ok(doc) => {
            obj.insert(
                "doc".into(),
                json!({"text": doc.text, "lang": doc.lang, "title": doc.title}),
            );
        }
        Err(e) => {
            obj.insert("error".into(), e.clone().into());
        }
    }
    Value::Object(obj).to_string()
}

/// The record of entry `entry_id` whose `record` field is `raw` (`None`: no such field).
pub fn decode(entry_id: &str, raw: Option<&[u8]>) -> Record {
    match raw.ok_or_else(|| "it has no \"record\" field".to_string()).and_then(parse) {
        Ok(r) => r,
        Err(why) => Record {
            key: format!("entry:{entry_id}"),
            id: None,
            line: None,
            content: Err(format!(
                "stream entry {entry_id} is not a tolk record ({why}); queue documents with `tolk enqueue`"
            )),
        },
    }
}

fn parse(raw: &[u8]) -> std::result::Result<Record, String> {
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| format!("its record is not JSON: {e}"))?;
    let Value::Object(mut obj) = value else {
        return Err("its record is not a JSON object".into());
    };
    let key = match obj.remove("key") {
        Some(Value::String(k)) if !k.is_empty() => k,
        _ => return Err("its record has no \"key\"".into()),
    };
    let id = obj
        .remove("id")
        .filter(|v| matches!(v, Value::String(_) | Value::Number(_)));
    let line = obj
        .remove("line")
        .and_then(|v| v.as_u64())
        .map(|l| l as usize);
    let content = match (obj.remove("doc"), obj.remove("error")) {
        (Some(Value::Object(mut doc)), None) => {
            let mut field = |name: &str| match doc.remove(name) {
                Some(Value::String(s)) => Ok(Some(s)),
                None | Some(Value::Null) => Ok(None),
                Some(_) => Err(format!("its \"doc.{name}\" is not a string")),
            };
            let text = field("text")?.ok_or("its record has no \"doc.text\"")?;
            Ok(Doc {
                text,
                lang: field("lang")?.filter(|l| !l.trim().is_empty()),
                title: field("title")?,
            })
        }
        (None, Some(Value::String(e))) => Err(e),
        _ => return Err("its record has neither a \"doc\" object nor an \"error\"".into()),
    };
    Ok(Record {
        key,
        id,
        line,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content: std::result::Result<Doc, String>) -> Record {
        Record {
            key: "id:\"a\"".into(),
            id: Some("a".into()),
            line: Some(3),
            content,
        }
    }

    #[test]
    fn records_round_trip() {
        let doc = Doc {
            text: "Hej med dig.\n\nFarvel.".into(),
            lang: Some("da".into()),
            title: None,
        };
        for r in [
            record(Ok(doc)),
            record(Err("line 3 has no \"text\"".into())),
        ] {
            assert_eq!(decode("1-0", Some(encode(&r).as_bytes())), r);
        }
    }

    #[test]
    fn malformed_entries_become_failed_records() {
        for raw in [
            None,
            Some(&b"not json"[..]),
            Some(b"[1]"),
            Some(br#"{"doc":{"text":"x"}}"#),
            Some(br#"{"key":"k","doc":{"text":5}}"#),
            Some(br#"{"key":"k"}"#),
            Some(b"\xff\xfe"),
        ] {
            let r = decode("7-1", raw);
            assert_eq!(r.key, "entry:7-1");
            let e = r.content.unwrap_err();
            assert!(e.contains("stream entry 7-1 is not a tolk record"), "{e}");
        }
    }
}
