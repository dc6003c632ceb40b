//! Smallest useful lingua program (the 19 compiled-in language models), for binary size.
use lingua::LanguageDetectorBuilder;

fn main() {
    let d = LanguageDetectorBuilder::from_all_languages().build();
    let text = std::env::args().nth(1).unwrap_or_default();
    println!(
        "{:?}",
        d.detect_language_of(text)
            .map(|l| l.iso_code_639_1().to_string())
    );
}
