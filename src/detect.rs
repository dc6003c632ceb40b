//! Language detection for incoming wire copy: which of tolk's source languages is a text in?
//!
//! Built on the `lingua` crate (n-gram models trained on news corpora) with only the language
//! models of [`LANGUAGES`] compiled in. Why lingua over whatlang, and the measured accuracy, is in
//! `docs/detect/accuracy.md`.
//!
//! - Labels are ISO 639-1 codes; Norwegian Bokmål is reported as `"no"`. Nynorsk has no model of
//!   its own here: Nynorsk text comes out as `"no"` (measured 39/40 on UDHR paragraphs), which is
//!   what a translation route for Norwegian wants.
//! - [`Detector::new`] is cheap (lingua's models are zero-copy views of static bytes, shared by
//!   every detector in the process), and a [`Detector`] is `Send + Sync`: build one and share it.
//! - Work is bounded: only the first [`MAX_BYTES`] bytes of a text are looked at (cut back to a
//!   word boundary), so a 1 MB article costs the same as a 4 KB one (about 10 ms).
//! - Reliability rule: lingua gives a probability per language (summing to 1). A detection is
//!   `reliable` when the top probability beats the runner-up by at least [`RELIABLE_GAP`] and the
//!   text has at least [`MIN_RELIABLE_LETTERS`] letters. On the evaluation set, detections flagged
//!   reliable were right 99.7% (paragraphs) and 99.9% (sentences) of the time.
//! - [`Detector::detect`] returns `None` when the text has no letters, when no model recognises it
//!   (e.g. Greek or Hebrew script), or when the top two languages tie exactly.
//!
//! This module must never panic on any input, never allocate more than a few times
//! [`MAX_BYTES`] per call, and never touch the network or the file system.

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

/// Only this many bytes from the start of a text are examined (see module docs).
pub const MAX_BYTES: usize = 4096;

/// Minimum gap between the top two language probabilities for a detection to be `reliable`.
pub const RELIABLE_GAP: f64 = 0.5;

/// Texts with fewer letters than this are never `reliable`, whatever the probabilities say.
pub const MIN_RELIABLE_LETTERS: usize = 10;

/// The languages tolk detects: lingua's language and the code [`Detection::lang`] reports.
pub const LANGUAGES: [(Language, &str); 18] = [
    (Language::English, "en"),
    (Language::Danish, "da"),
    (Language::Swedish, "sv"),
    (Language::Bokmal, "no"),
    (Language::German, "de"),
    (Language::French, "fr"),
    (Language::Spanish, "es"),
    (Language::Italian, "it"),
    (Language::Dutch, "nl"),
    (Language::Polish, "pl"),
    (Language::Russian, "ru"),
    (Language::Ukrainian, "uk"),
    (Language::Arabic, "ar"),
    (Language::Chinese, "zh"),
    (Language::Japanese, "ja"),
    (Language::Korean, "ko"),
    (Language::Turkish, "tr"),
    (Language::Finnish, "fi"),
];

/// The language of a text, as far as the detector can tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// ISO 639-1 code (Norwegian as `"no"`), one of [`Detector::languages`].
    pub lang: &'static str,
    /// Probability of `lang` among the detector's languages, 0..=1.
    pub confidence: f64,
    /// Whether the detection passes the reliability rule (module docs).
    pub reliable: bool,
}

/// A language detector over tolk's [`LANGUAGES`]; build once, share freely (`Send + Sync`).
pub struct Detector {
    inner: LanguageDetector,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("languages", &self.languages())
            .finish()
    }
}

impl Detector {
    /// A detector for [`LANGUAGES`], with every model loaded up front (no latency on first use).
    pub fn new() -> Detector {
        let langs: Vec<Language> = LANGUAGES.iter().map(|(l, _)| *l).collect();
        let inner = LanguageDetectorBuilder::from_languages(&langs)
            .with_preloaded_language_models()
            .build();
        Detector { inner }
    }

    /// The codes this detector can report, in [`LANGUAGES`] order.
    pub fn languages(&self) -> Vec<&'static str> {
        LANGUAGES.iter().map(|(_, code)| *code).collect()
    }

    /// The language of `text` (its first [`MAX_BYTES`] bytes), or `None` when there is nothing to
    /// go on: no letters, no recognisable language, or an exact tie.
    pub fn detect(&self, text: &str) -> Option<Detection> {
        let head = head(text, MAX_BYTES);
        let letters = head.chars().filter(|c| c.is_alphabetic()).count();
        if letters == 0 {
            return None;
        }
        let values = self.inner.compute_language_confidence_values(head);
        let (top, confidence) = *values.first()?;
        let second = values.get(1).map_or(0.0, |v| v.1);
        let gap = confidence - second;
        if !(confidence > 0.0 && gap > 0.0) {
            return None;
        }
        Some(Detection {
            lang: code(top)?,
            confidence: confidence.clamp(0.0, 1.0),
            reliable: gap >= RELIABLE_GAP && letters >= MIN_RELIABLE_LETTERS,
        })
    }
}

/// Our code for a lingua language (None for one we did not ask for, which lingua never returns).
fn code(lang: Language) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, code)| *code)
}

/// The first `max` bytes of `text`, cut at a char boundary and, when one is near, before the last
/// whitespace so no word is split.
fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &text[..end];
    match cut.rfind(char::is_whitespace) {
        Some(ws) if ws + 64 >= end => &cut[..ws],
        _ => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn lang(d: &Detector, text: &str) -> Option<&'static str> {
        d.detect(text).map(|x| x.lang)
    }

    #[test]
    fn detects_our_examples() {
        let d = Detector::new();
        let cases = [
            ("da", "Regeringen vil fremlægge et nyt forslag om skattelettelser efter sommerferien."),
            ("no", "Regjeringen vil legge fram et nytt forslag om skattelette etter sommerferien."),
            ("sv", "Regeringen kommer att lägga fram ett nytt förslag om skattesänkningar efter sommaren."),
            ("de", "Die Bundesregierung will nach der Sommerpause einen neuen Vorschlag vorlegen."),
            ("zh", "政府表示将在夏季休会后提出新的减税方案。"),
            ("en", "The government will present a new proposal on tax cuts after the summer break."),
        ];
        for (want, text) in cases {
            let got = d.detect(text).expect("a detection");
            assert_eq!(got.lang, want, "{text}");
            assert!(got.confidence > 0.0 && got.confidence <= 1.0);
            assert!(got.reliable, "{text}: {got:?}");
        }
    }

    #[test]
    fn nothing_to_go_on_gives_none() {
        let d = Detector::new();
        assert_eq!(d.detect(""), None);
        assert_eq!(d.detect("12345 !!!"), None);
        assert_eq!(d.detect("   \n\t "), None);
        assert_eq!(d.detect("😀🎉👍"), None);
    }

    #[test]
    fn odd_input_does_not_panic() {
        let d = Detector::new();
        for text in [
            "Hello мир 世界 مرحبا こんにちは 안녕",
            "a",
            "ø",
            "\u{0}\u{feff}\u{200b}x",
            "Καλημέρα κόσμε",
            "e\u{301}e\u{301}e\u{301}",
            "@@@ #tolk https://example.com/a?b=c",
        ] {
            if let Some(x) = d.detect(text) {
                assert!(d.languages().contains(&x.lang));
                assert!((0.0..=1.0).contains(&x.confidence));
            }
        }
    }

    #[test]
    fn one_word_is_not_reliable() {
        let d = Detector::new();
        if let Some(x) = d.detect("Syrien") {
            assert!(!x.reliable, "{x:?}");
        }
    }

    #[test]
    fn long_text_is_bounded() {
        let d = Detector::new();
        let para = "Forhandlingerne om en ny aftale fortsætter i næste uge i København. ";
        let text: String = para.repeat(1_000_000 / para.len() + 1);
        assert!(text.len() >= 1_000_000);
        let h = head(&text, MAX_BYTES);
        assert!(h.len() <= MAX_BYTES && h.len() > MAX_BYTES - 64);
        let t0 = Instant::now();
        assert_eq!(lang(&d, &text), Some("da"));
        // generous: the head alone takes ~10 ms; the whole megabyte would take ~2 s
        assert!(t0.elapsed().as_secs_f64() < 1.0, "{:?}", t0.elapsed());
    }

    #[test]
    fn head_respects_char_boundaries() {
        let text = "æøå".repeat(3000); // 2-byte chars, no whitespace
        let h = head(&text, 4095);
        assert!(h.len() <= 4095);
        assert_eq!(h.len() % 2, 0);
        assert_eq!(head("short", 4096), "short");
        assert_eq!(head("ab cd", 4), "ab");
    }

    #[test]
    fn languages_are_ours() {
        let d = Detector::new();
        let langs = d.languages();
        assert_eq!(langs.len(), 18);
        for want in [
            "en", "da", "sv", "no", "de", "zh", "ja", "ko", "ar", "uk", "fi",
        ] {
            assert!(langs.contains(&want), "{want}");
        }
        assert!(!langs.contains(&"nb") && !langs.contains(&"nn"));
    }

    #[test]
    fn shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Detector>();
        let d = std::sync::Arc::new(Detector::new());
        let handles: Vec<_> = [
            "Det regner i København i dag.",
            "It is raining in London today.",
        ]
        .into_iter()
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || lang(&d, t))
        })
        .collect();
        let got: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect();
        assert_eq!(got, vec![Some("da"), Some("en")]);
    }

    #[test]
    fn new_is_cheap() {
        let _warm = Detector::new();
        let t0 = Instant::now();
        for _ in 0..20 {
            let _ = Detector::new();
        }
        assert!(t0.elapsed().as_secs_f64() < 2.0, "{:?}", t0.elapsed());
    }
}
