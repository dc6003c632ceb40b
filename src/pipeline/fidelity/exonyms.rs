//! Names a translation renders differently: "Rusland" is "Russia", "FN" is "UN", "Pékin" is
//! "Beijing", "BIP" is "GDP". The table (`exonyms.tsv`, compiled in) has one row per name: the
//! English forms first (all equivalent: "Russia", "Russian", "Russians"), then the Danish,
//! German and French ones. A few English expansions of acronyms copied through from any
//! language ("GDP" is "gross domestic product") are rows with only the English cell.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::names::fold_phrase;

/// The table's columns, in order.
const COLUMNS: [&str; 4] = ["en", "da", "de", "fr"];

/// English expansions of acronyms that any source may copy through: rows of the English cell.
const EXPANSIONS: &[&str] = &[
    "GDP|gross domestic product",
    "CPI|consumer price index|consumer prices",
    "PPI|producer price index|producer prices",
    "PMI|purchasing managers",
    "AI|artificial intelligence",
    "EV|EVs|electric vehicle|electric vehicles|electric car|electric cars",
    "CEO|chief executive",
    "IPO|initial public offering|listing",
    "WTO|World Trade Organization",
    "UN|United Nations",
    "US|U.S.|USA|United States|America|American|Americans",
    "UK|Britain|British|United Kingdom",
    "EU|European Union",
    "WHO|World Health Organization",
    "IMF|International Monetary Fund",
    "ECB|European Central Bank",
    "NATO|Nato",
    "APEC|Asia-Pacific Economic Cooperation",
    "COVID|Covid|coronavirus",
    "CO2|CO₂|carbon dioxide|carbon",
];

/// Acronyms of things rather than of someone: a summary that writes "GDP" for "economic
/// growth" or "the economy" has abbreviated, not invented a name.
const CONCEPTS: &[&str] = &[
    "GDP", "CPI", "PPI", "PMI", "AI", "EV", "EVs", "CEO", "CEOs", "IPO", "COVID", "CO2",
];

/// Whether `name` is an acronym of a thing ("GDP", "AI", "CEO") rather than a name.
pub fn concept(name: &str) -> bool {
    CONCEPTS.contains(&name)
}

/// The folded forms of every row, and for each column a lookup from a folded name to its rows.
struct Table {
    /// Per row: the English forms, as written.
    english: Vec<Vec<String>>,
    /// Per column: folded phrase (words joined by one space) -> rows.
    index: [HashMap<String, Vec<usize>>; 4],
}

static TABLE: LazyLock<Table> =
    LazyLock::new(|| Table::parse(include_str!("exonyms.tsv"), EXPANSIONS));

impl Table {
    fn parse(tsv: &str, expansions: &[&str]) -> Table {
        let mut table = Table {
            english: Vec::new(),
            index: Default::default(),
        };
        let rows = tsv
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .chain(expansions.iter().map(|e| vec![*e]));
        for cells in rows {
            let row = table.english.len();
            table.english.push(
                cells[0]
                    .split('|')
                    .filter(|a| *a != "-" && !a.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
            for (col, cell) in cells.iter().enumerate().take(COLUMNS.len()) {
                for alt in cell.split('|').filter(|a| *a != "-" && !a.is_empty()) {
                    for key in keys(alt) {
                        let rows = table.index[col].entry(key).or_default();
                        if !rows.contains(&row) {
                            rows.push(row);
                        }
                    }
                }
            }
        }
        table
    }
}

/// The lookup keys of one spelling: the whole of it, and (for "Assemblée nationale", where
/// running text capitalizes only the first words) its capitalized start.
fn keys(alt: &str) -> Vec<String> {
    let mut out = vec![fold_phrase(alt).join(" ")];
    let words: Vec<&str> = alt
        .split(|c: char| c.is_whitespace() || c == '-')
        .filter(|w| !w.is_empty())
        .collect();
    let caps = words
        .iter()
        .take_while(|w| w.chars().next().is_some_and(char::is_uppercase))
        .count();
    if caps > 0 && caps < words.len() {
        out.push(fold_phrase(&words[..caps].join(" ")).join(" "));
    }
    out
}

/// The English forms (as written: "UN", "United Nations") of the name `phrase` (folded words)
/// is, as `lang` writes it or as English does. Empty when the table does not know it.
pub fn english_forms(phrase: &[String], lang: &str) -> Vec<String> {
    let key = phrase.join(" ");
    let mut rows: Vec<usize> = Vec::new();
    for col in std::iter::once(0).chain(column(lang)) {
        if let Some(r) = TABLE.index[col].get(&key) {
            rows.extend(r);
        }
    }
    rows.sort_unstable();
    rows.dedup();
    rows.into_iter()
        .flat_map(|r| TABLE.english[r].iter().cloned())
        .collect()
}

fn column(lang: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| *c == lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(name: &str, lang: &str) -> Vec<String> {
        english_forms(&fold_phrase(name), lang)
            .into_iter()
            .map(|f| fold_phrase(&f).join(" "))
            .collect()
    }

    #[test]
    fn the_table_parses_with_four_cells_a_row() {
        for (i, line) in include_str!("exonyms.tsv").lines().enumerate().skip(1) {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            assert_eq!(line.split('\t').count(), 4, "exonyms.tsv line {}", i + 1);
        }
    }

    #[test]
    fn names_have_their_english_forms() {
        assert!(forms("Rusland", "da").contains(&"russia".to_string()));
        assert!(forms("FN", "da").contains(&"un".to_string()));
        assert!(forms("Pékin", "fr").contains(&"beijing".to_string()));
        assert!(forms("BIP", "de").contains(&"gdp".to_string()));
        assert!(forms("GDP", "zh").contains(&"gross domestic product".to_string()));
        // A column is the language's own: Danish "FN" means nothing in French.
        assert!(forms("Rusland", "fr").is_empty());
    }

    #[test]
    fn a_capitalized_start_is_a_key_too() {
        assert_eq!(
            keys("Assemblée nationale"),
            ["assemblee nationale", "assemblee"]
        );
        assert_eq!(keys("États-Unis"), ["etats unis"]);
    }
}
