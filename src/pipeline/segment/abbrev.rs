//! Abbreviation and month tables for the sentence splitter, one table per language.
//!
//! Data only, plus the lookup type [`Abbreviations`]. Entries are lower-case and end with the dot.
//! Two kinds of entries:
//! - `never_end`: abbreviations that practically never close a sentence ("bl.a.", "Dr.", "z.B.");
//!   the splitter never splits after them;
//! - `may_end`: abbreviations that often close a sentence ("osv.", "usw.", "etc.", "pct.");
//!   after them the ordinary rule applies (split when the next word starts a sentence).
//!
//! This module must never decide anything about splitting itself: it only answers look-ups.

use std::collections::HashSet;

/// One language's abbreviation lists.
struct LangTable {
    /// Canonical code and aliases (ISO 639-1 / 639-2/3 / OPUS-MT style).
    codes: &'static [&'static str],
    never_end: &'static [&'static str],
    may_end: &'static [&'static str],
    /// Words after which `<number>.` is an ordinal even before a capitalised word
    /// (German "am 3. Oktober", "der 2. Weltkrieg").
    ordinal_cues: &'static [&'static str],
}

const GENERIC_NEVER: &[&str] = &[
    "ca.",
    "nr.",
    "dr.",
    "prof.",
    "st.",
    "vs.",
    "jan.",
    "feb.",
    "mar.",
    "apr.",
    "jun.",
    "jul.",
    "aug.",
    "sep.",
    "sept.",
    "okt.",
    "oct.",
    "nov.",
    "dec.",
    "dez.",
    "mär.",
    "janv.",
    "févr.",
    "fév.",
    "juil.",
    "déc.",
    "ene.",
    "ago.",
    "dic.",
    "giu.",
    "lug.",
    "ott.",
    "sty.",
    "lut.",
    "paź.",
    "gru.",
    "янв.",
    "февр.",
    "авг.",
    "сент.",
    "окт.",
    "нояб.",
    "дек.",
];

const GENERIC_MAY: &[&str] = &["etc."];

const LANGS: &[LangTable] = &[
    LangTable {
        codes: &["da", "dan"],
        never_end: &[
            "bl.a.", "bl.", "f.eks.", "ca.", "nr.", "dvs.", "jf.", "jfr.", "hhv.", "mht.", "pga.",
            "kl.", "mio.", "mia.", "mill.", "iflg.", "evt.", "inkl.", "ekskl.", "vedr.", "ang.",
            "hr.", "fr.", "fhv.", "gl.", "tlf.", "ift.", "sml.", "st.", "ndr.", "afd.", "adm.",
            "dir.", "tidl.", "vha.", "cand.", "stud.",
        ],
        may_end: &["osv.", "m.m.", "m.fl.", "mv.", "pct.", "kr.", "etc."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["sv", "swe"],
        never_end: &[
            "bl.a.", "bl.", "t.ex.", "ca.", "kl.", "nr.", "dvs.", "s.k.", "fr.o.m.", "t.o.m.",
            "resp.", "jfr.", "mkr.", "mdkr.", "milj.", "mdr.", "st.", "p.g.a.", "pga.", "enl.",
            "ang.", "inkl.", "exkl.", "f.d.", "f.n.", "obs.",
        ],
        may_end: &["osv.", "m.m.", "m.fl.", "etc.", "kr.", "proc."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["no", "nb", "nn", "nor", "nob", "nno"],
        never_end: &[
            "bl.a.", "bl.", "f.eks.", "ca.", "kl.", "nr.", "dvs.", "mht.", "pga.", "jf.", "iflg.",
            "mill.", "mrd.", "ev.", "evt.", "inkl.", "ekskl.", "vedr.", "ang.", "hr.", "fr.",
            "st.", "tlf.", "sml.", "ift.",
        ],
        may_end: &["osv.", "m.m.", "m.fl.", "mv.", "kr.", "pst.", "etc."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["de", "deu", "ger", "gsw"],
        never_end: &[
            "z.b.", "u.a.", "bzw.", "nr.", "dr.", "prof.", "d.h.", "ca.", "evtl.", "ggf.", "inkl.",
            "vgl.", "sog.", "mio.", "mrd.", "hr.", "fr.", "st.", "z.t.", "u.u.", "o.ä.", "v.a.",
            "gem.", "lt.", "abs.", "art.", "bd.", "geb.", "gest.", "tel.", "zzgl.", "abzgl.",
            "bzgl.", "i.d.r.", "hrsg.", "dipl.", "ing.", "dt.", "max.",
        ],
        may_end: &[
            "usw.", "etc.", "u.ä.", "str.", "v.chr.", "n.chr.", "jh.", "jhd.",
        ],
        ordinal_cues: &[
            "der", "die", "das", "den", "dem", "des", "am", "im", "zum", "zur", "vom", "beim",
            "ins", "ab", "bis", "seit",
        ],
    },
    LangTable {
        codes: &["en", "eng"],
        never_end: &[
            "dr.", "mr.", "mrs.", "ms.", "st.", "u.s.", "e.g.", "i.e.", "prof.", "gen.", "sen.",
            "rep.", "gov.", "lt.", "col.", "sgt.", "capt.", "vs.", "approx.",
        ],
        may_end: &[
            "jr.", "sr.", "inc.", "ltd.", "co.", "corp.", "etc.", "a.m.", "p.m.",
        ],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["fr", "fra", "fre"],
        never_end: &[
            "m.", "mm.", "mme.", "mlle.", "me.", "dr.", "pr.", "st.", "ste.", "p.", "ex.", "cf.",
            "env.", "av.", "apr.", "art.", "vol.", "chap.",
        ],
        may_end: &["etc.", "j.-c."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["es", "spa"],
        never_end: &[
            "sr.", "sra.", "srta.", "dr.", "dra.", "ud.", "uds.", "vd.", "vds.", "p.", "ej.",
            "aprox.", "núm.", "pág.", "sto.", "sta.", "d.", "dña.", "art.", "gral.", "av.",
            "avda.",
        ],
        may_end: &["etc.", "ee.uu.", "a.c.", "d.c."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["it", "ita"],
        never_end: &[
            "sig.", "sigg.", "dott.", "dr.", "prof.", "avv.", "ing.", "on.", "es.", "pag.", "ca.",
            "n.", "art.", "sec.",
        ],
        may_end: &["ecc.", "a.c.", "d.c."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["nl", "nld", "dut"],
        never_end: &[
            "dhr.", "mevr.", "bijv.", "o.a.", "m.b.t.", "d.w.z.", "ca.", "nr.", "blz.", "drs.",
            "ir.", "mr.", "prof.", "dr.", "i.p.v.", "t.a.v.", "vs.", "jl.",
        ],
        may_end: &["enz.", "etc."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["pl", "pol"],
        never_end: &[
            "np.", "tzn.", "tj.", "ok.", "dr.", "prof.", "mgr.", "ul.", "al.", "godz.", "wg.",
            "tys.", "mln.", "mld.", "im.", "św.", "gen.", "płk.", "ks.", "tzw.", "m.in.", "ds.",
            "pkt.", "nr.", "ur.", "zm.", "woj.", "pow.", "gm.",
        ],
        may_end: &["itd.", "itp.", "zł.", "proc."],
        ordinal_cues: &[],
    },
    LangTable {
        codes: &["ru", "rus"],
        never_end: &[
            "т.е.",
            "т.к.",
            "т.н.",
            "т.ч.",
            "г.",
            "гг.",
            "тыс.",
            "млн.",
            "млрд.",
            "им.",
            "ул.",
            "д.",
            "ст.",
            "см.",
            "проф.",
            "акад.",
            "ген.",
            "напр.",
            "пр.",
            "стр.",
            "с.",
        ],
        may_end: &["т.д.", "т.п.", "др.", "руб.", "долл."],
        ordinal_cues: &[],
    },
];

/// Month names and stems (lower-case) that make `<number>.` an ordinal date ("1. januar", "3. Oktober").
const MONTHS: &[&str] = &[
    "januar",
    "januari",
    "jänner",
    "februar",
    "februari",
    "marts",
    "mars",
    "märz",
    "april",
    "maj",
    "mai",
    "juni",
    "juli",
    "august",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
    "desember",
    "dezember",
    "jan",
    "feb",
    "mar",
    "mär",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "okt",
    "oct",
    "nov",
    "dec",
    "dez",
];

/// Abbreviation look-up for one language, or for the union of all languages.
#[derive(Debug, Clone)]
pub struct Abbreviations {
    never_end: HashSet<&'static str>,
    may_end: HashSet<&'static str>,
    ordinal_cues: HashSet<&'static str>,
}

impl Abbreviations {
    /// Tables for `lang` (e.g. "da", "de-DE", "deu", "nb"); `None` or an unknown code gives the union of
    /// every table. Where the union holds an entry as both kinds, "never end" wins (fewer wrong splits).
    pub fn for_lang(lang: Option<&str>) -> Self {
        let tables: Vec<&LangTable> = match lang.and_then(find_table) {
            Some(t) => vec![t],
            None => LANGS.iter().collect(),
        };
        let mut never_end: HashSet<&'static str> = GENERIC_NEVER.iter().copied().collect();
        let mut may_end: HashSet<&'static str> = GENERIC_MAY.iter().copied().collect();
        let mut ordinal_cues = HashSet::new();
        for t in tables {
            never_end.extend(t.never_end.iter().copied());
            may_end.extend(t.may_end.iter().copied());
            ordinal_cues.extend(t.ordinal_cues.iter().copied());
        }
        may_end.retain(|a| !never_end.contains(a));
        Abbreviations {
            never_end,
            may_end,
            ordinal_cues,
        }
    }

    /// `word` (lower-case, with its final dot) never ends a sentence.
    pub fn never_ends(&self, word: &str) -> bool {
        self.never_end.contains(word)
    }

    /// `word` (lower-case, with its final dot) is an abbreviation that may end a sentence.
    pub fn may_end(&self, word: &str) -> bool {
        self.may_end.contains(word)
    }

    /// `word` (lower-case) before `<number>.` marks the number as an ordinal.
    pub fn is_ordinal_cue(&self, word: &str) -> bool {
        self.ordinal_cues.contains(word)
    }
}

/// `word` (any case, without dot) is a month name or month abbreviation.
pub fn is_month(word: &str) -> bool {
    let w = word.to_lowercase();
    MONTHS.contains(&w.as_str())
}

fn find_table(lang: &str) -> Option<&'static LangTable> {
    let code = lang
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    LANGS.iter().find(|t| t.codes.contains(&code.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_lower_case_and_end_with_a_dot() {
        for t in LANGS {
            for e in t.never_end.iter().chain(t.may_end) {
                assert!(e.ends_with('.'), "{e} lacks its dot");
                assert_eq!(*e, e.to_lowercase(), "{e} is not lower-case");
            }
        }
    }

    #[test]
    fn language_codes_and_aliases_resolve() {
        let da = Abbreviations::for_lang(Some("da"));
        assert!(da.never_ends("bl.a."));
        assert!(!da.never_ends("z.b."));
        assert!(Abbreviations::for_lang(Some("de-DE")).never_ends("z.b."));
        assert!(Abbreviations::for_lang(Some("deu")).is_ordinal_cue("am"));
        assert!(!Abbreviations::for_lang(Some("da")).is_ordinal_cue("am"));
        assert!(Abbreviations::for_lang(Some("nb")).may_end("osv."));
        let union = Abbreviations::for_lang(Some("xx"));
        assert!(union.never_ends("z.b.") && union.never_ends("f.eks.") && union.never_ends("т.е."));
        assert!(union.may_end("osv.") && union.may_end("etc."));
    }

    #[test]
    fn months_are_case_insensitive() {
        assert!(is_month("Oktober") && is_month("januar") && is_month("Sept"));
        assert!(!is_month("Obama"));
    }
}
