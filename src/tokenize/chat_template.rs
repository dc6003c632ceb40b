//! Chat templates: the Jinja program a chat model ships (`tokenizer.chat_template` in a GGUF,
//! `chat_template` in `tokenizer_config.json`) that turns `[{role, content}]` messages into the
//! prompt string, rendered with `minijinja` the way transformers' `apply_chat_template` renders it
//! with Jinja2: `trim_blocks` and `lstrip_blocks` on, loop controls, Python string/dict methods
//! (`.strip()`, `.startswith()`, `.items()`, ...), `raise_exception(msg)`, `strftime_now(fmt)`
//! (UTC here; transformers uses local time), and a `tojson` filter that writes what Python's
//! `json.dumps(ensure_ascii=False)` writes. Variables: `messages`, `add_generation_prompt`,
//! `tools` and `documents` (none), and the `bos_token`/`eos_token`/`unk_token`/`pad_token` strings.
//!
//! [`ChatTemplate::chatml`] is the fallback for models without a template. Transformers' custom
//! `{% generation %}` tag is not supported. This module never touches the model or the network,
//! and a template error is returned, never a panic.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, ErrorKind};

use crate::error::{Error, Result};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (templates may accept others).
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// The special token strings a template may print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateTokens {
    pub bos: Option<String>,
    pub eos: Option<String>,
    pub unk: Option<String>,
    pub pad: Option<String>,
}

/// ChatML, used when a model ships no template.
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .finish()
    }
}

impl ChatTemplate {
    /// Compile a Jinja chat template; a syntax error is [`Error::Tokenizer`], and so is a
    /// template that writes a number of [`MAX_TEMPLATE_NUMBER_DIGITS`] digits or more in its
    /// code (no chat template needs one; repeat counts that large are how a broken template
    /// fills memory, since minijinja bounds each string or list repetition only at 100 million).
    pub fn new(source: &str) -> Result<Self> {
        if let Some(number) = huge_number_in_code(source) {
            return Err(Error::Tokenizer(format!(
                "the chat template computes with the number {number}, larger than any chat \
                 template needs; the model's template is broken"
            )));
        }
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| Error::Tokenizer(format!("chat template syntax settings: {e}")))?;
        env.set_syntax(syntax);
        // A template comes from the model file: bound the work it may do.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| Error::Tokenizer(format!("the chat template does not compile: {e:#}")))?;
        Ok(ChatTemplate {
            env,
            source: source.to_string(),
        })
    }

    /// The ChatML template ([`CHATML`]).
    pub fn chatml() -> Self {
        // CHATML is a fixed, valid template.
        Self::new(CHATML).unwrap_or_else(|e| unreachable!("built-in ChatML template: {e}"))
    }

    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Render `messages` into a prompt string.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        tokens: &TemplateTokens,
    ) -> Result<String> {
        let msgs: Value = messages
            .iter()
            .map(|m| {
                Value::from_pairs([
                    ("role", Value::from(m.role.as_str())),
                    ("content", Value::from(m.content.as_str())),
                ])
            })
            .collect();
        let mut ctx: Vec<(&str, Value)> = vec![
            ("messages", msgs),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("tools", Value::from(())),
            ("documents", Value::from(())),
        ];
        for (name, v) in [
            ("bos_token", &tokens.bos),
            ("eos_token", &tokens.eos),
            ("unk_token", &tokens.unk),
            ("pad_token", &tokens.pad),
        ] {
            if let Some(s) = v {
                ctx.push((name, Value::from(s.as_str())));
            }
        }
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Tokenizer(format!("chat template: {e}")))?;
        let mut out = BoundedWriter(Vec::new(), false);
        let rendered = tmpl.render_captured_to(Value::from_pairs(ctx), &mut out);
        if out.1 {
            return Err(Error::Tokenizer(format!(
                "rendering the chat template failed: the prompt passed {} MiB; \
                 the model's template is broken (pass a model with a working chat template)",
                MAX_PROMPT_BYTES >> 20
            )));
        }
        rendered
            .map_err(|e| Error::Tokenizer(format!("rendering the chat template failed: {e:#}")))?;
        String::from_utf8(out.0)
            .map_err(|_| Error::Tokenizer("the chat template rendered invalid UTF-8".into()))
    }
}

/// Most template instructions one render may execute: real templates take a few thousand for
/// a short chat; a template that loops without end stops with an error instead of hanging.
pub const TEMPLATE_FUEL: u64 = 20_000_000;

/// Largest prompt a template may render (bytes): far past any model's context, small enough
/// that a hostile template cannot fill memory.
pub const MAX_PROMPT_BYTES: usize = 64 << 20;

/// Digits a number in a template's code may have before the template is refused (7: one
/// million and up).
pub const MAX_TEMPLATE_NUMBER_DIGITS: usize = 7;

/// The first number of [`MAX_TEMPLATE_NUMBER_DIGITS`] or more digits inside a `{{ }}` or
/// `{% %}` block of `source` (text outside the blocks, such as a date, does not count).
fn huge_number_in_code(source: &str) -> Option<&str> {
    let mut rest = source;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = match after.as_bytes().first() {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                rest = after;
                continue;
            }
        };
        let end = after.find(close).unwrap_or(after.len());
        let body = &after[1..end.max(1)];
        let mut run_start = None;
        for (i, c) in body.char_indices().chain([(body.len(), ' ')]) {
            match (c.is_ascii_digit(), run_start) {
                (true, None) => run_start = Some(i),
                (false, Some(start)) => {
                    if i - start >= MAX_TEMPLATE_NUMBER_DIGITS {
                        return Some(&body[start..i]);
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    None
}

/// A `Vec` that refuses to grow past [`MAX_PROMPT_BYTES`] (and remembers that it refused).
struct BoundedWriter(Vec<u8>, bool);

impl std::io::Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_PROMPT_BYTES {
            self.1 = true;
            return Err(std::io::Error::other("prompt too long"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn raise_exception(msg: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("the chat template raised: {msg}"),
    ))
}

/// `strftime_now(format)`: the current UTC time formatted with the common `strftime` codes
/// (`%Y %y %m %d %e %B %b %A %a %H %M %S %j %%`).
fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_utc(secs, &format)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn format_utc(secs: i64, format: &str) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_mar + 2) / 153;
    let day = doy_mar - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][(month - 1) as usize];
    let yday = before + day + i64::from(leap && month > 2);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&format!("{day:>2}")),
            Some('B') => out.push_str(MONTHS[(month - 1) as usize]),
            Some('b') => out.push_str(&MONTHS[(month - 1) as usize][..3]),
            Some('A') => out.push_str(DAYS[weekday]),
            Some('a') => out.push_str(&DAYS[weekday][..3]),
            Some('H') => out.push_str(&format!("{:02}", tod / 3600)),
            Some('M') => out.push_str(&format!("{:02}", tod / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", tod % 60)),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=indent)`.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&value, indent, sort_keys.unwrap_or(false), 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    v: &Value,
    indent: Option<usize>,
    sort: bool,
    depth: usize,
    out: &mut String,
) -> std::result::Result<(), minijinja::Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    if out.len() > MAX_PROMPT_BYTES {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("tojson output passed {} MiB", MAX_PROMPT_BYTES >> 20),
        ));
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&v.to_string()),
        ValueKind::String => json_string(v.as_str().unwrap_or_default(), out),
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if sort {
                keys.sort();
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                json_string(&k.to_string(), out);
                out.push_str(": ");
                write_json(&v.get_item(k)?, indent, sort, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        _ => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(item, indent, sort, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
    }
    Ok(())
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, msgs: &[ChatMessage]) -> Result<String> {
        ChatTemplate::new(src)?.render(msgs, true, &TemplateTokens::default())
    }

    #[test]
    fn chatml_fallback() {
        let out = ChatTemplate::chatml()
            .render(&[ChatMessage::user("Hi")], true, &TemplateTokens::default())
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn trim_and_lstrip_blocks_like_transformers() {
        let src = "{% for m in messages %}\n  {% if m.role == 'user' %}\n[{{ m.content | trim }}]\n  {% endif %}\n{% endfor %}";
        let out = render(
            src,
            &[ChatMessage::user(" a "), ChatMessage::assistant("b")],
        )
        .unwrap();
        assert_eq!(out, "[a]\n");
    }

    #[test]
    fn python_methods_loop_controls_and_exceptions() {
        let src = "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m['content'].strip().upper() }}{% endfor %}";
        assert_eq!(
            render(src, &[ChatMessage::user(" x "), ChatMessage::user("y")]).unwrap(),
            "X"
        );
        let err = render("{{ raise_exception('no system role') }}", &[]).unwrap_err();
        assert!(err.to_string().contains("no system role"), "{err}");
        assert!(ChatTemplate::new("{% for %}").is_err());
    }

    #[test]
    fn tools_is_none_and_tokens_are_passed() {
        let src = "{% if tools is not none %}T{% endif %}{{ bos_token }}|{{ eos_token }}";
        let t = TemplateTokens {
            bos: Some("<s>".into()),
            eos: Some("</s>".into()),
            ..Default::default()
        };
        let out = ChatTemplate::new(src)
            .unwrap()
            .render(&[], false, &t)
            .unwrap();
        assert_eq!(out, "<s>|</s>");
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let src = "{{ messages | tojson }}|{{ messages[0] | tojson(indent=2) }}";
        let out = render(src, &[ChatMessage::user("é \"q\"\n")]).unwrap();
        assert_eq!(
            out,
            "[{\"role\": \"user\", \"content\": \"é \\\"q\\\"\\n\"}]|{\n  \"role\": \"user\",\n  \"content\": \"é \\\"q\\\"\\n\"\n}"
        );
    }

    #[test]
    fn endless_or_huge_templates_stop_with_an_error() {
        let msgs = [ChatMessage::user("hi")];
        let long =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let e = render(long, &msgs).unwrap_err().to_string();
        assert!(e.contains("rendering the chat template failed"), "{e}");
        let huge = "{% for i in range(100) %}{{ 'abcdefgh' * 100000 * 100 }}{% endfor %}";
        let e = render(huge, &msgs).unwrap_err().to_string();
        assert!(e.contains("MiB"), "{e}");
        let e = render("{{ 'ab' * 49999999 }}", &msgs)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the number 49999999"), "{e}");
        // Numbers in the text around the code are no concern.
        assert_eq!(
            render("Cutoff 20240101. {{ 1 + 1 }}", &msgs).unwrap(),
            "Cutoff 20240101. 2"
        );
    }

    #[test]
    fn utc_formatting() {
        // 2024-02-29 13:05:09 UTC, a Thursday.
        let t = 1_709_211_909;
        assert_eq!(format_utc(t, "%Y-%m-%d %H:%M:%S"), "2024-02-29 13:05:09");
        assert_eq!(
            format_utc(t, "%d %b %Y, %A (%j) 100%%"),
            "29 Feb 2024, Thursday (060) 100%"
        );
        assert_eq!(format_utc(0, "%a %e %B %y"), "Thu  1 January 70");
    }
}
