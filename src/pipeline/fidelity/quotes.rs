//! Quotations: a span the source puts in quotation marks («…», „…“, “…”, "…", 「…」, 『…』) is a
//! quote that the translation must also mark as one. Spans are counted, not matched word for
//! word (the words are translated): a translation with fewer quoted spans than its source has
//! lost one.

/// Opening marks and the closing mark each pairs with.
const PAIRS: &[(char, char)] = &[
    ('«', '»'),
    ('»', '«'),
    ('„', '“'),
    ('„', '”'),
    ('“', '”'),
    ('「', '」'),
    ('『', '』'),
    ('"', '"'),
];

/// The quoted spans of `text`, marks included, in order.
pub fn quoted_spans(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let closers: Vec<char> = PAIRS
            .iter()
            .filter(|(open, _)| *open == chars[i])
            .map(|&(_, close)| close)
            .collect();
        if closers.is_empty() {
            i += 1;
            continue;
        }
        match (i + 1..chars.len()).find(|&j| closers.contains(&chars[j])) {
            // A span needs some text inside it.
            Some(j) if j > i + 1 => {
                out.push(chars[i..=j].iter().collect());
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The source's quoted spans beyond the number the translation has (the ones it lost).
pub fn lost(source: &str, translation: &str) -> Vec<String> {
    let src = quoted_spans(source);
    let have = quoted_spans(translation).len();
    src.into_iter().skip(have).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_many_styles() {
        assert_eq!(
            quoted_spans("Han sagde: »Vi er klar«, og «ja» og „gut“ og 「好」."),
            ["»Vi er klar«", "«ja»", "„gut“", "「好」"]
        );
        assert_eq!(
            quoted_spans(r#"He said "we are ready" and “yes”."#).len(),
            2
        );
        assert!(quoted_spans("No \"\" quotes here, it's fine.").is_empty());
    }

    #[test]
    fn a_lost_quote_is_reported() {
        let src = "Ministeren sagde: »Vi forhandler ikke«.";
        assert!(lost(src, "The minister said: \"We are not negotiating\".").is_empty());
        assert_eq!(
            lost(src, "The minister said they were not negotiating."),
            ["»Vi forhandler ikke«"]
        );
    }
}
