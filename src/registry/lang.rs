//! Language codes as the registry compares them: ISO 639-1, lower case, one code per language.
//!
//! [`normalize_lang`] is the only place that decides which spellings name the same language;
//! registry files and command-line flags both go through it. It never fails: whether the result
//! is a usable code is checked by [`is_valid_code`] where it matters (registry files).

/// The canonical form of a language code, as the registry stores and compares it.
///
/// - trims and lower-cases: `" DA "` → `"da"`;
/// - drops a region or script subtag (`-` or `_`): `"pt-BR"` → `"pt"`, `"zh_Hans"` → `"zh"`;
/// - Norwegian: Bokmål and Nynorsk are one language for the registry, written `"no"`:
///   `nb`, `nn`, `nob`, `nno`, `nor` → `"no"` (OPUS-MT's North Germanic model reads both);
/// - ISO 639-3 / 639-2 codes of the languages tolk has translators for map to their
///   ISO 639-1 code (`deu`/`ger` → `de`, `zho`/`chi`/`cmn` → `zh`, `jpn` → `ja`, ... see the
///   table in the source), and the withdrawn codes `iw` → `he`, `in` → `id`, `ji` → `yi`;
/// - anything else is returned lower-cased as is (so `"xx"` stays `"xx"` and `"english"`
///   stays `"english"`; [`is_valid_code`] rejects the latter).
pub fn normalize_lang(code: &str) -> String {
    let lower = code.trim().to_ascii_lowercase();
    let primary = lower.split(['-', '_']).next().unwrap_or_default();
    let mapped = match primary {
        "nb" | "nn" | "nob" | "nno" | "nor" => "no",
        "dan" => "da",
        "swe" => "sv",
        "isl" | "ice" => "is",
        "fao" => "fo",
        "deu" | "ger" => "de",
        "fra" | "fre" => "fr",
        "spa" => "es",
        "ita" => "it",
        "nld" | "dut" => "nl",
        "pol" => "pl",
        "rus" => "ru",
        "ukr" => "uk",
        "ara" => "ar",
        "zho" | "chi" | "cmn" => "zh",
        "jpn" => "ja",
        "kor" => "ko",
        "tur" => "tr",
        "fin" => "fi",
        "eng" => "en",
        "por" => "pt",
        "iw" => "he",
        "in" => "id",
        "ji" => "yi",
        other => other,
    };
    mapped.to_string()
}

/// Whether `code` is already in canonical form: exactly two ASCII lower-case letters and left
/// unchanged by [`normalize_lang`] (so `nb` is not canonical; `no` is).
pub fn is_valid_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()) && normalize_lang(code) == code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norwegian_spellings_are_one_language() {
        for c in [
            "no", "nb", "nn", "NB", "nob", "nno", "nor", "nb-NO", "nn_NO",
        ] {
            assert_eq!(normalize_lang(c), "no", "{c}");
        }
    }

    #[test]
    fn three_letter_codes_and_subtags() {
        assert_eq!(normalize_lang("deu"), "de");
        assert_eq!(normalize_lang("GER"), "de");
        assert_eq!(normalize_lang("zho"), "zh");
        assert_eq!(normalize_lang("zh-Hant-TW"), "zh");
        assert_eq!(normalize_lang("jpn"), "ja");
        assert_eq!(normalize_lang("kor"), "ko");
        assert_eq!(normalize_lang(" Da "), "da");
        assert_eq!(normalize_lang("pt-BR"), "pt");
        assert_eq!(normalize_lang("iw"), "he");
        // Unknown codes pass through lower-cased, unchanged otherwise.
        assert_eq!(normalize_lang("XX"), "xx");
        assert_eq!(normalize_lang("english"), "english");
    }

    #[test]
    fn valid_codes_are_canonical_two_letter_codes() {
        assert!(is_valid_code("da"));
        assert!(is_valid_code("no"));
        assert!(!is_valid_code("nb"));
        assert!(!is_valid_code("DA"));
        assert!(!is_valid_code("dan"));
        assert!(!is_valid_code("d"));
        assert!(!is_valid_code(""));
        assert!(!is_valid_code("d1"));
    }
}
