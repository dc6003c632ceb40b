//! Unit tests of [`super::Registry`]: the built-in entries, loading folders, overrides, and
//! choosing translators.

use std::path::Path;

use super::*;

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

/// A translate entry `name` for `langs`, with extra lines appended.
fn translator(name: &str, langs: &[&str], extra: &str) -> String {
    let langs: Vec<String> = langs.iter().map(|l| format!("\"{l}\"")).collect();
    format!(
        "name = \"{name}\"\nreference = \"test/{name}\"\narchitecture = \"marian\"\n\
         task = \"translate\"\nsource_languages = [{}]\nlicence = \"mit\"\n{extra}",
        langs.join(", ")
    )
}

#[test]
fn every_builtin_entry_is_valid_and_uniquely_named() {
    let r = Registry::builtin().unwrap();
    // Merging by name would hide a duplicate: one entry per compiled-in file.
    assert_eq!(r.entries().len(), builtin::BUILTIN.len());
    for e in r.entries() {
        assert!(e.origin.starts_with("models/"), "{}", e.origin);
        assert!(e.size_mb.is_some(), "{} has no size_mb", e.name);
        assert!(e.reference.is_some() != e.package.is_some(), "{}", e.name);
        if let Some(rev) = &e.revision {
            // Never an invented sha: `main` or a full 40-hex commit that a comment justifies.
            assert!(
                rev == "main" || (rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())),
                "{}: {rev}",
                e.name
            );
        }
    }
}

#[test]
fn builtin_choices_for_the_wire_languages() {
    let r = Registry::builtin().unwrap();
    let pick = |lang: &str| r.translator_for(lang, "en").map(|e| e.name.as_str());
    for lang in [
        "da", "sv", "de", "fr", "es", "it", "nl", "pl", "ru", "uk", "ar", "zh", "ja", "ko", "tr",
        "fi",
    ] {
        assert_eq!(
            pick(lang),
            Some(format!("opus-mt-{lang}-en").as_str()),
            "{lang}"
        );
    }
    // Norwegian in any spelling goes to the North Germanic group model.
    for lang in ["no", "nb", "nn", "nob", "NB"] {
        assert_eq!(pick(lang), Some("opus-mt-gmq-en"), "{lang}");
    }
    // No dedicated model: the default fallback, then MADLAD for what it alone covers.
    assert_eq!(pick("pt"), Some("opus-mt-mul-en"));
    assert_eq!(pick("fa"), Some("madlad400-3b-mt"));
    assert_eq!(pick("xx"), None);
    assert_eq!(r.translator_for("da", "de"), None);

    let serving: Vec<&str> = r
        .translators_serving("da")
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        serving,
        [
            "opus-mt-da-en",
            "opus-mt-gmq-en",
            "opus-mt-mul-en",
            "madlad400-3b-mt"
        ]
    );
    assert_eq!(r.default_for(Task::Summarize).unwrap().name, "flan-t5-base");
    assert_eq!(
        r.default_for(Task::Translate).unwrap().name,
        "opus-mt-mul-en"
    );

    let langs = r.languages();
    assert!(langs.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    for l in ["da", "no", "ko", "zh", "fa"] {
        assert!(langs.contains(&l.to_string()), "{l}");
    }
    assert!(!langs.contains(&"nb".to_string()) && !langs.contains(&"en".to_string()));

    let madlad = r.get("madlad400-3b-mt").unwrap();
    assert_eq!(madlad.architecture, Architecture::T5);
    assert_eq!(madlad.decode.prefix.as_deref(), Some("<2en> "));
    let argos = r.get("argos-zh-en-1.9").unwrap();
    assert_eq!((argos.format, argos.model_ref()), (Format::Ct2, None));
}

#[test]
fn dedicated_beats_fallback_and_default_beats_specialised() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", &translator("wide", &["da", "sv"], ""));
    write(dir.path(), "b.toml", &translator("narrow", &["da"], ""));
    write(
        dir.path(),
        "c.toml",
        &translator("fb", &["da", "is"], "fallback = true\ndefault = true\n"),
    );
    let r = Registry::load_dir(dir.path()).unwrap();
    // No default among the dedicated: the more specialised one.
    assert_eq!(r.translator_for("da", "en").unwrap().name, "narrow");
    assert_eq!(r.translator_for("sv", "en").unwrap().name, "wide");
    assert_eq!(r.translator_for("is", "en").unwrap().name, "fb");
    write(
        dir.path(),
        "a.toml",
        &translator("wide", &["da", "sv"], "default = true\n"),
    );
    let r = Registry::load_dir(dir.path()).unwrap();
    assert_eq!(r.translator_for("da", "en").unwrap().name, "wide");
}

#[test]
fn duplicate_defaults_are_an_error_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.toml",
        &translator("one", &["da"], "default = true\n"),
    );
    write(
        dir.path(),
        "b.toml",
        &translator("two", &["sv", "nb", "da"], "default = true\n"),
    );
    let msg = Registry::load_dir(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("b.toml") && msg.contains("a.toml"), "{msg}");
    assert!(msg.contains("`default`") && msg.contains("`da`"), "{msg}");
    // A default fallback does not clash with a default dedicated entry.
    write(
        dir.path(),
        "b.toml",
        &translator("two", &["da"], "default = true\nfallback = true\n"),
    );
    assert!(Registry::load_dir(dir.path()).is_ok());
}

#[test]
fn a_user_folder_overrides_by_name_and_takes_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    // Same name as a built-in: replaced in place.
    write(
        dir.path(),
        "da.toml",
        &translator(
            "opus-mt-da-en",
            &["da"],
            "default = true\nrevision = \"v2\"\n",
        ),
    );
    // A new default for Swedish: the built-in opus-mt-sv-en stops being the default.
    write(
        dir.path(),
        "sv.toml",
        &translator("my-sv", &["sv"], "default = true\n"),
    );
    let builtin = Registry::builtin().unwrap();
    let n = builtin.entries().len();
    let r = builtin.with_dir(dir.path()).unwrap();
    assert_eq!(r.entries().len(), n + 1);
    let da = r.get("opus-mt-da-en").unwrap();
    assert_eq!(da.model_ref().as_deref(), Some("test/opus-mt-da-en@v2"));
    assert!(da.origin.ends_with("da.toml"));
    assert_eq!(r.translator_for("sv", "en").unwrap().name, "my-sv");
    assert!(!r.get("opus-mt-sv-en").unwrap().default);
    assert!(
        r.get("opus-mt-de-en").unwrap().default,
        "unrelated defaults stay"
    );
}

#[test]
fn load_dir_reports_the_bad_file_and_ignores_other_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "notes.txt", "not toml");
    write(dir.path(), "ok.toml", &translator("ok", &["da"], ""));
    assert_eq!(Registry::load_dir(dir.path()).unwrap().entries().len(), 1);
    write(
        dir.path(),
        "bad.toml",
        &translator("bad", &["da"], "task = 3\n"),
    );
    let msg = Registry::load_dir(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("bad.toml"), "{msg}");
    let missing = dir.path().join("nope");
    let msg = Registry::load_dir(&missing).unwrap_err().to_string();
    assert!(msg.contains("nope"), "{msg}");
}
