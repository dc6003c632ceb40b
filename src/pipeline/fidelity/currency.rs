//! The currency a number is an amount of, from the sign or word next to it: "€400 million",
//! "36 milliards d'euros", "3,8 mia. kr.", "DKK 3.8 billion", "38亿美元", "500 yuan". Two amounts
//! of different currencies are different numbers ("36 billion euros" is not "36 billion
//! dollars"); an amount with no currency written agrees with any.

/// Currencies by family (Danish, Swedish and Norwegian crowns are one: "kr." is all three).
const AFTER: &[(&str, &str)] = &[
    ("美元", "USD"),
    ("港元", "USD"),
    ("欧元", "EUR"),
    ("英镑", "GBP"),
    ("日元", "JPY"),
    ("卢布", "RUB"),
    ("人民币", "CNY"),
    ("元", "CNY"),
    ("€", "EUR"),
    ("$", "USD"),
    ("£", "GBP"),
];

/// Currency words after an amount (lower case, whole words).
const AFTER_WORDS: &[(&str, &str)] = &[
    ("euro", "EUR"),
    ("euros", "EUR"),
    ("eur", "EUR"),
    ("cent", "CENT"),
    ("cents", "CENT"),
    ("centimes", "CENT"),
    ("dollar", "USD"),
    ("dollars", "USD"),
    ("usd", "USD"),
    ("pound", "GBP"),
    ("pounds", "GBP"),
    ("pund", "GBP"),
    ("pfund", "GBP"),
    ("livres", "GBP"),
    ("sterling", "GBP"),
    ("gbp", "GBP"),
    ("kr", "KR"),
    ("kroner", "KR"),
    ("krone", "KR"),
    ("kronor", "KR"),
    ("kronen", "KR"),
    ("couronnes", "KR"),
    ("crowns", "KR"),
    ("dkk", "KR"),
    ("sek", "KR"),
    ("nok", "KR"),
    ("yuan", "CNY"),
    ("renminbi", "CNY"),
    ("rmb", "CNY"),
    ("cny", "CNY"),
    ("yen", "JPY"),
    ("jpy", "JPY"),
    ("franken", "CHF"),
    ("franc", "CHF"),
    ("francs", "CHF"),
    ("chf", "CHF"),
    ("rubel", "RUB"),
    ("ruble", "RUB"),
    ("rubles", "RUB"),
    ("rouble", "RUB"),
    ("roubles", "RUB"),
];

/// The currency named right after an amount (`rest` is the text after it).
pub fn after(rest: &str) -> Option<&'static str> {
    let rest = rest.trim_start();
    for (sign, code) in AFTER {
        if rest.starts_with(sign) {
            return Some(code);
        }
    }
    // French "d'euros", "de dollars"; English "of crowns" is rare enough to leave.
    let rest = ["d'", "d’", "de "]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .unwrap_or(rest);
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    AFTER_WORDS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, code)| *code)
}

/// The currency written right before an amount ("€", "$", "US$", "DKK ", "kr. ").
pub fn before(head: &str) -> Option<&'static str> {
    let head = head.trim_end();
    let last = head.chars().last()?;
    match last {
        '€' => return Some("EUR"),
        '$' => return Some("USD"),
        '£' => return Some("GBP"),
        _ => {}
    }
    let head = head.trim_end_matches('.');
    let word: String = head
        .chars()
        .rev()
        .take_while(|c| c.is_alphabetic())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .flat_map(char::to_lowercase)
        .collect();
    match word.as_str() {
        "eur" => Some("EUR"),
        "usd" => Some("USD"),
        "gbp" => Some("GBP"),
        "dkk" | "sek" | "nok" | "kr" => Some("KR"),
        "chf" => Some("CHF"),
        "rmb" | "cny" => Some("CNY"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_words_on_either_side() {
        assert_eq!(after(" d'euros."), Some("EUR"));
        assert_eq!(after(" kr. til"), Some("KR"));
        assert_eq!(after("美元的"), Some("USD"));
        assert_eq!(after("元"), Some("CNY"));
        assert_eq!(after(" Europe"), None);
        assert_eq!(before("a deficit of DKK "), Some("KR"));
        assert_eq!(before("reached €"), Some("EUR"));
        assert_eq!(before("cost US$"), Some("USD"));
        assert_eq!(before("in 2024 "), None);
    }
}
