//! Unit tests for sentence splitting, prefixes, reassembly and long-sentence cutting.

use super::*;

fn split(text: &str) -> Vec<String> {
    segment(text).sentences().map(str::to_string).collect()
}

fn split_in(lang: &str, text: &str) -> Vec<String> {
    segment_lang(text, Some(lang))
        .sentences()
        .map(str::to_string)
        .collect()
}

#[track_caller]
fn assert_split(text: &str, want: &[&str]) {
    assert_eq!(split(text), want, "splitting {text:?}");
    assert_eq!(segment(text).to_text(), text, "identity of {text:?}");
}

#[test]
fn plain_sentences_in_several_languages() {
    assert_split("Han gik hjem. Hun blev.", &["Han gik hjem.", "Hun blev."]);
    assert_split("Kommer du? Ja! Godt.", &["Kommer du?", "Ja!", "Godt."]);
    assert_split("Er kam. Sie ging.", &["Er kam.", "Sie ging."]);
    assert_split("Il pleut. Elle part.", &["Il pleut.", "Elle part."]);
    assert_split("¿Vienes? ¡Sí! Bueno.", &["¿Vienes?", "¡Sí!", "Bueno."]);
    assert_split("Он пришёл. Она ушла.", &["Он пришёл.", "Она ушла."]);
    assert_split("Przyszedł. Łukasz też.", &["Przyszedł.", "Łukasz też."]);
    assert_split(
        "Det regnede. 15 mennesker døde.",
        &["Det regnede.", "15 mennesker døde."],
    );
    assert_split(
        "Det er slut. – Nej, sagde hun.",
        &["Det er slut.", "– Nej, sagde hun."],
    );
    assert_split(
        "Vent lige... Hvad?!  Nej.",
        &["Vent lige...", "Hvad?!", "Nej."],
    );
}

#[test]
fn no_split_before_lower_case() {
    assert_split(
        "Det var kl. 3. og så gik han.",
        &["Det var kl. 3. og så gik han."],
    );
    assert_split("Hvad? spurgte hun.", &["Hvad? spurgte hun."]);
}

#[test]
fn abbreviations_danish() {
    for a in [
        "bl.a.", "f.eks.", "ca.", "nr.", "dvs.", "jf.", "hhv.", "mht.", "pga.", "kl.",
    ] {
        let t = format!("Han nævnte {a} Obama og Putin.");
        assert_eq!(split_in("da", &t), vec![t.clone()], "{a}");
        assert_eq!(split(&t), vec![t.clone()], "{a} (union)");
    }
    assert_split("Det skete ca. 14 gange.", &["Det skete ca. 14 gange."]);
}

#[test]
fn abbreviations_that_may_end_a_sentence() {
    assert_split(
        "De købte æbler, pærer osv. Derefter gik de.",
        &["De købte æbler, pærer osv.", "Derefter gik de."],
    );
    assert_split(
        "Huse, biler m.m. Det er dyrt.",
        &["Huse, biler m.m.", "Det er dyrt."],
    );
    assert_split("Æbler osv. og pærer.", &["Æbler osv. og pærer."]);
    assert_split(
        "Steg 5 pct. Det er meget.",
        &["Steg 5 pct.", "Det er meget."],
    );
}

#[test]
fn abbreviations_german_english_french() {
    for t in [
        "Er kaufte z.B. Äpfel.",
        "Es gibt u.a. Birnen.",
        "Das ist Nr. 5 der Liste.",
        "Sie traf Dr. Müller und Prof. Schmidt.",
        "Es war rot bzw. Grün.",
        "Es gab Obst, d.h. Äpfel.",
        "He met Dr. Smith and Mr. Jones.",
        "Mrs. Brown and Ms. Green visited St. Louis.",
        "The U.S. Army came.",
        "Fruit, e.g. Apples, and i.e. Pears.",
        "Il a vu M. Dupont et Mme Durand.",
        "Des fruits, p. ex. Pommes et poires.",
    ] {
        assert_eq!(split(t), vec![t.to_string()], "{t}");
    }
    assert_split(
        "Er kam usw. Dann ging er.",
        &["Er kam usw.", "Dann ging er."],
    );
}

#[test]
fn abbreviations_other_languages() {
    for (lang, t) in [
        ("sv", "Han köpte t.ex. Äpplen och s.k. Päron."),
        ("no", "Hun kom bl.a. fra Oslo, jf. Avtalen."),
        ("es", "Vino el Sr. García con la Sra. López."),
        ("it", "Il Sig. Rossi e il Dott. Bianchi."),
        ("nl", "Hij kocht bijv. Appels, d.w.z. Fruit."),
        ("pl", "Kupił np. Jabłka, tzn. Owoce."),
        ("ru", "Он купил, т.е. Яблоки, в г. Москве."),
    ] {
        assert_eq!(split_in(lang, t), vec![t.to_string()], "{lang}: {t}");
        assert_eq!(split(t), vec![t.to_string()], "union: {t}");
    }
    assert_eq!(
        split_in("nl", "Appels, peren enz. Daarna niets."),
        ["Appels, peren enz.", "Daarna niets."]
    );
    assert_eq!(
        split_in("ru", "Яблоки и т.д. Потом ушёл."),
        ["Яблоки и т.д.", "Потом ушёл."]
    );
    // Language lists differ: German "bzw." is no abbreviation to the Danish list.
    assert_eq!(split_in("da", "Rødt bzw. Grønt."), ["Rødt bzw.", "Grønt."]);
    assert_eq!(split_in("de", "Rot bzw. Grün."), ["Rot bzw. Grün."]);
}

#[test]
fn month_abbreviations() {
    assert_split(
        "Det skete 3. okt. 2015 i Paris.",
        &["Det skete 3. okt. 2015 i Paris."],
    );
    assert_split(
        "Mødet er i jan. Det bliver godt.",
        &["Mødet er i jan. Det bliver godt."],
    );
}

#[test]
fn numbers_and_ordinal_dates() {
    assert_split("Prisen steg 3.5 procent.", &["Prisen steg 3.5 procent."]);
    assert_split("Det kostede 1.000 kroner.", &["Det kostede 1.000 kroner."]);
    assert_split("Mødet er 1. januar i år.", &["Mødet er 1. januar i år."]);
    assert_split(
        "Han kom 24. september. Hun kom senere.",
        &["Han kom 24. september.", "Hun kom senere."],
    );
    assert_split(
        "Er kam am 3. Oktober nach Berlin.",
        &["Er kam am 3. Oktober nach Berlin."],
    );
    assert_split("Am 1. Mai ist frei.", &["Am 1. Mai ist frei."]);
    assert_eq!(
        split_in("de", "Der 2. Weltkrieg endete 1945. Danach kam Frieden."),
        ["Der 2. Weltkrieg endete 1945.", "Danach kam Frieden."]
    );
    assert_split(
        "Det skete i 2015. Han døde.",
        &["Det skete i 2015.", "Han døde."],
    );
}

#[test]
fn initials() {
    assert_split(
        "John F. Kennedy blev skudt.",
        &["John F. Kennedy blev skudt."],
    );
    assert_split(
        "Bogen af J.R.R. Tolkien er lang.",
        &["Bogen af J.R.R. Tolkien er lang."],
    );
    assert_split("Hun hedder A. B. Jensen.", &["Hun hedder A. B. Jensen."]);
}

#[test]
fn ellipses_inside_sentences() {
    assert_split("Han ventede … og ventede.", &["Han ventede … og ventede."]);
    assert_split(
        "Han ventede... og ventede.",
        &["Han ventede... og ventede."],
    );
    assert_split(
        "Han sagde (...) Det var alt.",
        &["Han sagde (...) Det var alt."],
    );
    assert_split("Vi venter … Obama kommer.", &["Vi venter … Obama kommer."]);
    assert_split("Vi venter… Obama kommer.", &["Vi venter…", "Obama kommer."]);
}

#[test]
fn quotes() {
    assert_split("\"Hej.\" sagde han.", &["\"Hej.\" sagde han."]);
    assert_split("»Ja.« Han gik.", &["»Ja.«", "Han gik."]);
    assert_split("»Ja.« sagde han.", &["»Ja.« sagde han."]);
    assert_split("„Ja.“ Er ging.", &["„Ja.“", "Er ging."]);
    assert_split("„Ja.“ sagte er.", &["„Ja.“ sagte er."]);
    assert_split("Han sagde nej. »Aldrig.«", &["Han sagde nej.", "»Aldrig.«"]);
    assert_split("« Oui. » Il part.", &["« Oui. »", "Il part."]);
    assert_split(
        "He left. \"Why?\" she asked.",
        &["He left.", "\"Why?\" she asked."],
    );
    assert_split(
        "Det var slut (helt). Hun gik.",
        &["Det var slut (helt).", "Hun gik."],
    );
}

#[test]
fn cjk_sentences() {
    assert_split(
        "我来了。他走了！你呢？",
        &["我来了。", "他走了！", "你呢？"],
    );
    assert_split(
        "今日は晴れです。明日は雨です。",
        &["今日は晴れです。", "明日は雨です。"],
    );
    assert_split("「はい。」と彼は言った。", &["「はい。」と彼は言った。"]);
    assert_split("他说：“好。”然后走了。", &["他说：“好。”然后走了。"]);
    assert_split("“好。”“不。”", &["“好。”", "“不。”"]);
    assert_split("我来了。 他走了。", &["我来了。", "他走了。"]);
    let doc = segment("我来了。他走了。");
    assert_eq!(doc.lines[0].separators, vec![""]);
}

#[test]
fn lines_prefixes_and_layout() {
    let text = "Titel uden punktum\n\n\n  Indrykket. Linje to.\n- Hej, sagde han.\n– Nej.\n—Ja.\n-5 grader i dag.\n***\n";
    let doc = segment(text);
    assert_eq!(doc.lines.len(), 9);
    assert!(doc.ends_with_newline);
    assert_eq!(doc.lines[0].sentences, ["Titel uden punktum"]);
    assert!(doc.lines[1].sentences.is_empty() && doc.lines[2].sentences.is_empty());
    assert_eq!(doc.lines[3].prefix, "  ");
    assert_eq!(doc.lines[3].sentences, ["Indrykket.", "Linje to."]);
    assert_eq!(doc.lines[4].prefix, "- ");
    assert_eq!(doc.lines[4].sentences, ["Hej, sagde han."]);
    assert_eq!(doc.lines[5].prefix, "– ");
    assert_eq!(doc.lines[6].prefix, "—");
    assert_eq!(doc.lines[6].sentences, ["Ja."]);
    assert_eq!(doc.lines[7].prefix, "");
    assert_eq!(doc.lines[7].sentences, ["-5 grader i dag."]);
    assert_eq!(doc.lines[8].prefix, "***");
    assert_eq!(doc.sentence_count(), 7);
    assert_eq!(doc.to_text(), text);
}

#[test]
fn windows_endings_trailing_whitespace_and_edge_inputs() {
    let doc = segment("En. To.  \r\n\r\nTre.\r\n");
    assert_eq!(doc.to_text(), "En. To.\n\nTre.\n");
    assert_eq!(doc.sentence_count(), 3);
    assert_eq!(segment("").lines.len(), 0);
    assert_eq!(segment("").to_text(), "");
    assert_eq!(segment("\n").to_text(), "\n");
    assert_eq!(segment("\n\n\n").lines.len(), 3);
    assert_eq!(segment("a\n   ").to_text(), "a\n");
    assert_eq!(segment("   \t").to_text(), "");
    assert_eq!(segment("\u{feff}Hej. Du.").lines[0].prefix, "\u{feff}");
    assert_eq!(segment("\u{3000}今日は。").lines[0].prefix, "\u{3000}");
}

#[test]
fn reassemble_translations() {
    let doc = segment("Titel\n\n- Hej. Farvel.\n  Ja.");
    let out = doc
        .reassemble(&["Title", "Hello.", "Goodbye.", "Yes."])
        .unwrap();
    assert_eq!(out, "Title\n\n- Hello. Goodbye.\n  Yes.");
    assert!(doc.reassemble(&["only one"]).is_err());
    // An empty translation is left out with its separator.
    let out = doc
        .reassemble(&["Title", "", "Goodbye.", " Yes. "])
        .unwrap();
    assert_eq!(out, "Title\n\n- Goodbye.\n  Yes.");
    // CJK sources had no space between sentences; English translations get one.
    let cjk = segment("我来了。他走了。");
    assert_eq!(
        cjk.reassemble(&["I came.", "He left."]).unwrap(),
        "I came. He left."
    );
    assert_eq!(
        cjk.reassemble(&["\"Yes.\"", "\"No.\""]).unwrap(),
        "\"Yes.\" \"No.\""
    );
}

#[test]
fn lines_mode() {
    let text = "  - Hej. Farvel.\n\nTo. Tre.\n---\n";
    let doc = segment_lines(text);
    assert_eq!(doc.lines[0].prefix, "  ");
    assert_eq!(doc.lines[0].sentences, ["- Hej. Farvel."]);
    assert!(doc.lines[1].sentences.is_empty());
    assert_eq!(doc.lines[2].sentences, ["To. Tre."]);
    assert_eq!(doc.lines[3].prefix, "---");
    assert_eq!(doc.sentence_count(), 2);
    assert_eq!(doc.to_text(), text);
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

#[test]
fn split_long_prefers_strong_punctuation() {
    let s = "Første del er lang og tung; anden del, som også er lang, slutter her.";
    let parts = split_long(s, 8, &words);
    assert_eq!(parts[0], "Første del er lang og tung;");
    assert!(parts.iter().all(|p| words(p) <= 8), "{parts:?}");
    assert_eq!(parts.join(" "), s);
    let s = "Han sagde følgende: vi kommer i morgen og bliver i to dage";
    assert_eq!(split_long(s, 8, &words)[0], "Han sagde følgende:");
    let s = "Rusland støtter Assad – noget der vækker bekymring i Washington";
    assert_eq!(
        split_long(s, 5, &words),
        [
            "Rusland støtter Assad",
            "– noget der vækker",
            "bekymring i Washington"
        ]
    );
    let s = "a b c d e f g h";
    assert_eq!(split_long(s, 4, &words), ["a b c d", "e f g h"]);
    assert_eq!(split_long(s, 100, &words), [s]);
}

#[test]
fn split_long_cjk_and_edges() {
    let chars = |s: &str| s.chars().count();
    let s = "我们今天去北京，明天去上海、后天回家。";
    let texts = split_long(s, 8, &chars);
    assert_eq!(texts, ["我们今天去北京，", "明天去上海、", "后天回家。"]);
    let pieces = split_long_glued(s, 6, &chars);
    assert!(pieces.iter().all(|p| chars(&p.text) <= 6), "{pieces:?}");
    assert_eq!(rejoin(&pieces), s);
    let nospace = "abcdefghijklmnopqrstuvwxyz";
    let pieces = split_long_glued(nospace, 5, &chars);
    assert!(pieces.iter().all(|p| chars(&p.text) <= 5));
    assert_eq!(rejoin(&pieces), nospace);
    assert!(split_long("", 3, &chars).is_empty());
    assert!(split_long("   ", 3, &chars).is_empty());
    assert_eq!(split_long("x", 0, &chars), ["x"]);
    // Combining marks stay with their base letter.
    let e = "e\u{301}e\u{301}e\u{301}";
    assert!(split_long(e, 1, &chars).iter().all(|p| p.starts_with('e')));
}
