//! One registry entry: the typed [`ModelEntry`] and how one TOML file becomes one (parsing and
//! per-file validation). Checks that span several entries (duplicate defaults) live in the
//! parent module.
//!
//! Every error names the file and the field it is about. This module never touches the file
//! system or the network: it is handed the text and the name of its origin.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::lang::{is_valid_code, normalize_lang};
use crate::error::{Error, Result};
use crate::hub::ModelRef;

/// What a model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Source language(s) → `target_language`.
    Translate,
    /// English article → short English summary.
    Summarize,
}

/// The network architecture tolk builds for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Marian (OPUS-MT) encoder-decoder.
    Marian,
    /// T5 family (T5, flan-T5, MADLAD-400).
    T5,
    /// Llama-style decoder-only chat model (GGUF).
    Llama,
    /// Qwen2-style decoder-only chat model (GGUF).
    Qwen2,
}

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A transformers checkpoint (`config.json` + safetensors / pytorch weights).
    Transformers,
    /// A CTranslate2 model (bare folder or inside an Argos package).
    Ct2,
    /// A single GGUF file.
    Gguf,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every accepted spelling, in documentation order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The name used in registry files and on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            /// Parse the lower-case name used in registry files.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(Task { Translate => "translate", Summarize => "summarize" });
names!(Architecture { Marian => "marian", T5 => "t5", Llama => "llama", Qwen2 => "qwen2" });
names!(Format { Transformers => "transformers", Ct2 => "ct2", Gguf => "gguf" });

/// Decoding settings an entry recommends (the `[decode]` table); command-line flags win.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DecodeDefaults {
    /// Text put before every source text (`"summarize: "`, `"<2en> "`).
    pub prefix: Option<String>,
    /// Beam size (1 = greedy).
    pub beams: Option<usize>,
    /// `"greedy"` or `"beam"`.
    pub strategy: Option<String>,
}

/// One known model, as read from a `models/*.toml` file (fields documented in models/README.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelEntry {
    /// Unique name (`opus-mt-da-en`); later entries with the same name replace earlier ones.
    pub name: String,
    /// Hugging Face Hub repo id (`owner/name`); `None` for a package entry.
    pub reference: Option<String>,
    /// Hub branch, tag or commit sha (`main` unless pinned); only with `reference`.
    pub revision: Option<String>,
    /// Where a non-Hub model comes from (`pypi:dist==ver#member`); `None` for a Hub entry.
    pub package: Option<String>,
    /// sha256 of the package file (lower-case hex); required with `package`.
    pub sha256: Option<String>,
    pub architecture: Architecture,
    pub format: Format,
    pub task: Task,
    /// The default for its task and each of its source languages (within dedicated or
    /// fallback entries; see [`super::Registry::translator_for`]).
    pub default: bool,
    /// A multilingual catch-all, used only when no dedicated translator serves a language.
    pub fallback: bool,
    /// Canonical ISO 639-1 codes ([`normalize_lang`]), deduplicated, in file order.
    pub source_languages: Vec<String>,
    /// Canonical ISO 639-1 code of the output language.
    pub target_language: String,
    /// SPDX-style licence id of the weights (`apache-2.0`, `cc-by-4.0`).
    pub licence: String,
    /// Approximate download size in megabytes.
    pub size_mb: Option<u64>,
    pub decode: DecodeDefaults,
    /// Where the entry was read from (`models/opus-mt-da-en.toml` for built-in entries, else
    /// the file's path).
    pub origin: String,
}

impl ModelEntry {
    /// The reference `tolk --model` takes: `owner/name`, or `owner/name@rev` when the revision
    /// is not `main`; `None` for package entries.
    pub fn model_ref(&self) -> Option<String> {
        let repo = self.reference.as_ref()?;
        Some(match self.revision.as_deref() {
            None | Some("main") => repo.clone(),
            Some(rev) => format!("{repo}@{rev}"),
        })
    }

    /// Whether `lang` (any spelling [`normalize_lang`] understands) is a source language.
    pub fn serves(&self, lang: &str) -> bool {
        let lang = normalize_lang(lang);
        self.source_languages.contains(&lang)
    }
}

/// The file layout, before validation. Unknown keys are an error (typos would be silent).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: Option<String>,
    reference: Option<String>,
    revision: Option<String>,
    package: Option<String>,
    sha256: Option<String>,
    architecture: Option<String>,
    format: Option<String>,
    task: Option<String>,
    default: Option<bool>,
    fallback: Option<bool>,
    source_languages: Option<Vec<String>>,
    target_language: Option<String>,
    #[serde(alias = "license")]
    licence: Option<String>,
    size_mb: Option<u64>,
    decode: Option<RawDecode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecode {
    prefix: Option<String>,
    beams: Option<usize>,
    strategy: Option<String>,
}

/// An error about `field` of the file `origin`.
pub(crate) fn field_error(origin: &str, field: &str, reason: impl fmt::Display) -> Error {
    Error::Config {
        path: PathBuf::from(origin),
        reason: format!("field `{field}`: {reason}"),
    }
}

/// Parse and validate one registry file; `origin` names it in errors and in [`ModelEntry::origin`].
pub(crate) fn parse_entry(origin: &str, text: &str) -> Result<ModelEntry> {
    let raw: RawEntry = toml::from_str(text).map_err(|e| Error::Config {
        path: PathBuf::from(origin),
        reason: format!("not a valid registry entry: {}", e.to_string().trim_end()),
    })?;
    let err = |field: &str, reason: String| field_error(origin, field, reason);
    let required = |field: &str, v: Option<String>| {
        v.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| err(field, "missing; it is required".into()))
    };

    let (reference, revision, package, sha256) = source_fields(origin, &raw)?;
    let name = required("name", raw.name)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(err(
            "name",
            format!("`{name}` may only contain letters, digits, `.`, `_` and `-`"),
        ));
    }

    let architecture = parse_enum(
        origin,
        "architecture",
        raw.architecture,
        Architecture::parse,
        Architecture::NAMES,
    )?;
    let format = match raw.format {
        None => Format::Transformers,
        f => parse_enum(origin, "format", f, Format::parse, Format::NAMES)?,
    };
    let task = parse_enum(origin, "task", raw.task, Task::parse, Task::NAMES)?;
    let fallback = raw.fallback.unwrap_or(false);
    if fallback && task != Task::Translate {
        return Err(err(
            "fallback",
            format!("only translate entries can be fallbacks, this one is `{task}`"),
        ));
    }

    let codes = raw
        .source_languages
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            err(
                "source_languages",
                "missing or empty; list ISO 639-1 codes like [\"da\"]".into(),
            )
        })?;
    let mut source_languages: Vec<String> = Vec::with_capacity(codes.len());
    for code in &codes {
        let canonical = language(origin, "source_languages", code)?;
        if !source_languages.contains(&canonical) {
            source_languages.push(canonical);
        }
    }
    let target_language = match raw.target_language {
        Some(code) => language(origin, "target_language", &code)?,
        None => "en".to_string(),
    };
    let licence = required("licence", raw.licence)?;

    let decode = match raw.decode {
        None => DecodeDefaults::default(),
        Some(d) => {
            if d.beams == Some(0) {
                return Err(err(
                    "decode.beams",
                    "must be at least 1 (1 = greedy)".into(),
                ));
            }
            if let Some(s) = d
                .strategy
                .as_deref()
                .filter(|s| !["greedy", "beam"].contains(s))
            {
                return Err(err(
                    "decode.strategy",
                    format!("`{s}` is not one of greedy, beam"),
                ));
            }
            DecodeDefaults {
                prefix: d.prefix,
                beams: d.beams,
                strategy: d.strategy,
            }
        }
    };

    Ok(ModelEntry {
        name,
        reference,
        revision,
        package,
        sha256,
        architecture,
        format,
        task,
        default: raw.default.unwrap_or(false),
        fallback,
        source_languages,
        target_language,
        licence,
        size_mb: raw.size_mb,
        decode,
        origin: origin.to_string(),
    })
}

type SourceFields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// `reference` (+ `revision`) or `package` (+ `sha256`): exactly one source.
fn source_fields(origin: &str, raw: &RawEntry) -> Result<SourceFields> {
    let err = |field: &str, reason: String| field_error(origin, field, reason);
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    match (nonempty(&raw.reference), nonempty(&raw.package)) {
        (None, None) => Err(err(
            "reference",
            "missing, and no `package` either; give a Hub repo id (reference = \"owner/name\") \
             or a package (package = \"pypi:dist==version#file\" with its sha256)"
                .into(),
        )),
        (Some(_), Some(_)) => Err(err(
            "package",
            "given together with `reference`; an entry has one source, keep one of them".into(),
        )),
        (Some(reference), None) => {
            let revision = nonempty(&raw.revision).unwrap_or_else(|| "main".into());
            ModelRef::hub(&reference, &revision).map_err(|e| err("reference", e.to_string()))?;
            if raw.sha256.is_some() {
                return Err(err(
                    "sha256",
                    "only package entries carry a sha256; Hub entries pin a `revision`".into(),
                ));
            }
            Ok((Some(reference), Some(revision), None, None))
        }
        (None, Some(package)) => {
            if raw.revision.is_some() {
                return Err(err(
                    "revision",
                    "only Hub entries (`reference`) have a revision".into(),
                ));
            }
            let sha = nonempty(&raw.sha256).ok_or_else(|| {
                err(
                    "sha256",
                    "missing; a package entry must pin the sha256 of its file".into(),
                )
            })?;
            if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(err(
                    "sha256",
                    format!("`{sha}` is not 64 lower-case hexadecimal digits"),
                ));
            }
            Ok((None, None, Some(package), Some(sha)))
        }
    }
}

fn parse_enum<T>(
    origin: &str,
    field: &str,
    value: Option<String>,
    parse: fn(&str) -> Option<T>,
    names: &[&str],
) -> Result<T> {
    let one_of = names.join(", ");
    let value =
        value.ok_or_else(|| field_error(origin, field, format!("missing; use one of {one_of}")))?;
    parse(value.trim()).ok_or_else(|| {
        field_error(
            origin,
            field,
            format!("unknown value `{value}`; use one of {one_of}"),
        )
    })
}

/// A language code from a file, in canonical form, or an error naming the field.
fn language(origin: &str, field: &str, code: &str) -> Result<String> {
    let canonical = normalize_lang(code);
    if is_valid_code(&canonical) {
        Ok(canonical)
    } else {
        Err(field_error(
            origin,
            field,
            format!("`{code}` is not an ISO 639-1 language code (two letters, like \"da\")"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "opus-mt-nb-en"
reference = "Helsinki-NLP/opus-mt-gmq-en"
architecture = "marian"
task = "translate"
source_languages = ["nb", "NN", "da"]
licence = "apache-2.0"
"#;

    fn parse(text: &str) -> Result<ModelEntry> {
        parse_entry("models/test.toml", text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_entry_gets_defaults_and_canonical_languages() {
        let e = parse(MINIMAL).unwrap();
        assert_eq!(e.name, "opus-mt-nb-en");
        assert_eq!(e.revision.as_deref(), Some("main"));
        assert_eq!(e.format, Format::Transformers);
        assert_eq!(e.task, Task::Translate);
        assert!(!e.default && !e.fallback);
        // nb and NN both become "no", kept once.
        assert_eq!(e.source_languages, ["no", "da"]);
        assert_eq!(e.target_language, "en");
        assert_eq!(e.decode, DecodeDefaults::default());
        assert_eq!(e.origin, "models/test.toml");
        assert_eq!(
            e.model_ref().as_deref(),
            Some("Helsinki-NLP/opus-mt-gmq-en")
        );
        assert!(e.serves("nb") && e.serves("nob") && e.serves("no") && e.serves("DA"));
        assert!(!e.serves("sv"));
    }

    #[test]
    fn pinned_revision_shows_in_model_ref_and_decode_is_read() {
        let text = format!(
            "{MINIMAL}revision = \"0123abc\"\nformat = \"ct2\"\n[decode]\nprefix = \"<2en> \"\nbeams = 4\nstrategy = \"beam\"\n"
        );
        let e = parse(&text).unwrap();
        assert_eq!(
            e.model_ref().as_deref(),
            Some("Helsinki-NLP/opus-mt-gmq-en@0123abc")
        );
        assert_eq!(e.format, Format::Ct2);
        assert_eq!(e.decode.prefix.as_deref(), Some("<2en> "));
        assert_eq!(e.decode.beams, Some(4));
        assert_eq!(e.decode.strategy.as_deref(), Some("beam"));
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("task = \"translate\"", "task = \"paraphrase\"", "`task`"),
            (
                "architecture = \"marian\"",
                "architecture = \"bert\"",
                "`architecture`",
            ),
            (
                "reference = \"Helsinki-NLP/opus-mt-gmq-en\"",
                "",
                "`reference`",
            ),
            (
                "reference = \"Helsinki-NLP/opus-mt-gmq-en\"",
                "reference = \"a/b/c d\"",
                "`reference`",
            ),
            (
                "[\"nb\", \"NN\", \"da\"]",
                "[\"danish\"]",
                "`source_languages`",
            ),
            ("[\"nb\", \"NN\", \"da\"]", "[]", "`source_languages`"),
            ("licence = \"apache-2.0\"", "", "`licence`"),
            ("name = \"opus-mt-nb-en\"", "name = \"has space\"", "`name`"),
        ];
        for (from, to, field) in cases {
            let text = MINIMAL.replace(from, to);
            assert_ne!(text, MINIMAL, "case {from} did not apply");
            let msg = error(&text);
            assert!(msg.contains("models/test.toml"), "{msg}");
            assert!(msg.contains(field), "expected {field} in: {msg}");
        }
        let msg = error(&format!("{MINIMAL}target_language = \"english\"\n"));
        assert!(
            msg.contains("`target_language`") && msg.contains("english"),
            "{msg}"
        );
        let msg = error(&format!("{MINIMAL}fallback = true\n").replace("translate", "summarize"));
        assert!(msg.contains("`fallback`"), "{msg}");
        let msg = error(&format!("{MINIMAL}[decode]\nbeams = 0\n"));
        assert!(msg.contains("`decode.beams`"), "{msg}");
        let msg = error(&format!("{MINIMAL}[decode]\nstrategy = \"sample\"\n"));
        assert!(msg.contains("`decode.strategy`"), "{msg}");
    }

    #[test]
    fn package_entries_need_a_sha256_and_no_revision() {
        let pkg = MINIMAL.replace(
            "reference = \"Helsinki-NLP/opus-mt-gmq-en\"",
            "package = \"pypi:x==1#m.argosmodel\"",
        );
        assert!(error(&pkg).contains("`sha256`"));
        let sha = "62e7af5a3a48b530e47b7b3e5c78c2de79073ecd815750d2bf3ab35b4a67da2d";
        let ok = format!("{pkg}sha256 = \"{sha}\"\n");
        let e = parse(&ok).unwrap();
        assert_eq!(e.model_ref(), None);
        assert_eq!(e.sha256.as_deref(), Some(sha));
        assert!(error(&format!("{ok}revision = \"main\"\n")).contains("`revision`"));
        assert!(error(&format!("{pkg}sha256 = \"ABC\"\n")).contains("`sha256`"));
        let both = format!("{ok}reference = \"a/b\"\n");
        assert!(error(&both).contains("`package`"));
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_rejected_with_the_file_named() {
        let msg = error(&format!("{MINIMAL}lisence = \"mit\"\n"));
        assert!(
            msg.contains("models/test.toml") && msg.contains("lisence"),
            "{msg}"
        );
        let msg = error(&format!("{MINIMAL}default = \"yes\"\n"));
        assert!(
            msg.contains("models/test.toml") && msg.contains("default"),
            "{msg}"
        );
        // `license` (US spelling) is accepted for `licence`.
        let us = MINIMAL.replace("licence", "license");
        assert_eq!(parse(&us).unwrap().licence, "apache-2.0");
    }
}
