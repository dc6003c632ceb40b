//! Smallest useful whatlang program (restricted to tolk's languages), for binary size.
use whatlang::{Detector, Lang};

fn main() {
    let d = Detector::with_allowlist(vec![
        Lang::Eng,
        Lang::Dan,
        Lang::Swe,
        Lang::Nob,
        Lang::Deu,
        Lang::Fra,
        Lang::Spa,
        Lang::Ita,
        Lang::Nld,
        Lang::Pol,
        Lang::Rus,
        Lang::Ukr,
        Lang::Ara,
        Lang::Cmn,
        Lang::Jpn,
        Lang::Kor,
        Lang::Tur,
        Lang::Fin,
    ]);
    let text = std::env::args().nth(1).unwrap_or_default();
    println!("{:?}", d.detect(&text).map(|i| i.lang().code()));
}
