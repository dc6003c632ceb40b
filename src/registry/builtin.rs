//! The registry files compiled into the binary, so an installed `tolk` knows its models
//! without the source tree.
//!
//! Adding a file to models/ means adding one line here; a unit test fails when a `.toml` in
//! models/ is missing from the list (or differs from what was compiled in). This module only
//! holds text; parsing is elsewhere.

macro_rules! builtin {
    ($file:literal) => {
        (
            concat!("models/", $file),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/", $file)),
        )
    };
}

/// `(origin, TOML text)` of every built-in entry, in file-name order.
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    builtin!("argos-zh-en-1.9.toml"),
    builtin!("flan-t5-base.toml"),
    builtin!("madlad400-3b-mt.toml"),
    builtin!("opus-mt-ar-en.toml"),
    builtin!("opus-mt-da-en.toml"),
    builtin!("opus-mt-de-en.toml"),
    builtin!("opus-mt-es-en.toml"),
    builtin!("opus-mt-fi-en.toml"),
    builtin!("opus-mt-fr-en.toml"),
    builtin!("opus-mt-gmq-en.toml"),
    builtin!("opus-mt-it-en.toml"),
    builtin!("opus-mt-ja-en.toml"),
    builtin!("opus-mt-ko-en.toml"),
    builtin!("opus-mt-mul-en.toml"),
    builtin!("opus-mt-nl-en.toml"),
    builtin!("opus-mt-pl-en.toml"),
    builtin!("opus-mt-ru-en.toml"),
    builtin!("opus-mt-sv-en.toml"),
    builtin!("opus-mt-tr-en.toml"),
    builtin!("opus-mt-uk-en.toml"),
    builtin!("opus-mt-zh-en.toml"),
    builtin!("smollm2-135m-instruct.toml"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_models_file_is_compiled_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let listed: Vec<String> = BUILTIN
            .iter()
            .map(|(origin, _)| origin.trim_start_matches("models/").to_string())
            .collect();
        assert_eq!(
            listed, on_disk,
            "src/registry/builtin.rs must list every models/*.toml, in file-name order"
        );
        for (origin, text) in BUILTIN {
            let disk =
                std::fs::read_to_string(dir.join(origin.trim_start_matches("models/"))).unwrap();
            assert_eq!(*text, disk, "{origin} differs from the compiled-in copy");
        }
    }
}
