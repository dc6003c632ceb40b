use super::*;

fn texts(source: &str, lang: &str) -> Vec<String> {
    names(source, lang).into_iter().map(|n| n.text).collect()
}

#[test]
fn folding_drops_case_and_accents() {
    assert_eq!(fold("København"), "kobenhavn");
    assert_eq!(fold("Élysée"), "elysee");
    assert_eq!(fold("Straße"), "strasse");
    assert_eq!(fold_phrase("États-Unis"), ["etats", "unis"]);
}

#[test]
fn codes_and_latin_names_in_chinese_text() {
    assert_eq!(
        texts(
            "特斯拉CEO Elon Musk表示，5G和ChatGPT推动了GDP增长，占地100km。",
            "zh"
        ),
        ["CEO", "Elon Musk", "5G", "ChatGPT", "GDP"]
    );
}

#[test]
fn capitalized_runs_in_latin_text() {
    assert_eq!(
        texts(
            "Udenrigsminister Lars Løkke Rasmussen mødtes med Sergej Lavrov i København.",
            "da"
        ),
        [
            "Udenrigsminister Lars Løkke Rasmussen",
            "Sergej Lavrov",
            "København"
        ]
    );
    // A sentence-initial word alone is not known to be a name; a connector joins a run.
    assert_eq!(
        texts("Regeringen vil tale med Banque de France.", "da"),
        ["Banque de France"]
    );
    // German capitalizes nouns: one alone is no name, nor are nouns after numbers.
    assert_eq!(
        texts(
            "Die Regierung in Berlin plant 3 Mio. Menschen zu helfen, sagte Kanzler Scholz.",
            "de"
        ),
        ["Kanzler Scholz"]
    );
}

#[test]
fn kept_names_in_their_english_forms() {
    for (src, lang, en) in [
        (
            "Sergej Lavrov besøgte Rusland og FN.",
            "da",
            "Sergei Lavrov visited Russia and the UN.",
        ),
        (
            "Der Außenminister traf Lawrow in Moskau.",
            "de",
            "The foreign minister met Lavrov in Moscow.",
        ),
        (
            "Le PIB de la France a augmenté, selon l'Élysée.",
            "fr",
            "France's GDP has risen, according to the Elysee.",
        ),
        (
            "苹果公司发布了新款iPhone，ChatGPT用户超过1亿。",
            "zh",
            "Apple released new iPhones; ChatGPT has more than 100 million users.",
        ),
        (
            "Ruslands præsident talte.",
            "da",
            "Russia's president spoke.",
        ),
    ] {
        assert!(
            lost(src, lang, en).is_empty(),
            "{src} -> {en}: {:?}",
            lost(src, lang, en)
        );
    }
}

#[test]
fn dropped_or_changed_names_are_lost() {
    assert_eq!(
        lost(
            "Kanzler Scholz besuchte Paris.",
            "de",
            "Chancellor Merkel visited Paris."
        ),
        ["Kanzler Scholz"]
    );
    assert_eq!(
        lost(
            "5G网络覆盖全国。",
            "zh",
            "4G networks cover the whole country."
        ),
        ["5G"]
    );
    assert_eq!(
        lost(
            "Le président Emmanuel Macron a parlé à l'OTAN.",
            "fr",
            "The president spoke to NATO."
        ),
        ["Emmanuel Macron"]
    );
    // A short code matches only a code: the pronoun "who" is not the WHO.
    assert_eq!(
        lost("WHO advarede.", "da", "Those who warned were right."),
        ["WHO"]
    );
}

#[test]
fn spellings_endings_and_exonyms_count_as_kept() {
    let kept = [
        (
            "da",
            "Aktien i Mærsk faldt i går.",
            "Shares in Maersk fell yesterday.",
        ),
        (
            "da",
            "Han talte i Det Hvide Hus.",
            "He spoke at the White House.",
        ),
        (
            "da",
            "Han rejser til Tyskland.",
            "He is travelling to Germany.",
        ),
        (
            "de",
            "Das sagte Angela Merkels Sprecher.",
            "Angela Merkel's spokesman said so.",
        ),
        (
            "de",
            "Er sprach im Deutschen Bundestag.",
            "He spoke in the German parliament.",
        ),
        (
            "fr",
            "Il a parlé avec Ursula von der Leyen.",
            "He spoke to Ursula von der Leyen.",
        ),
    ];
    for (lang, source, translation) in kept {
        assert!(
            !names(source, lang).is_empty(),
            "no name read in {source:?}"
        );
        assert_eq!(
            lost(source, lang, translation),
            Vec::<String>::new(),
            "{source:?}"
        );
    }
    assert_eq!(
        lost(
            "Han rejser til Tyskland.",
            "da",
            "He is travelling to France."
        ),
        ["Tyskland"]
    );
}
