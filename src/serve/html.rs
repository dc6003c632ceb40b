//! Translating the text of HTML while keeping its markup (`format: "html"` requests).
//!
//! The input is parsed with an HTML5 parser (`scraper`, i.e. html5ever) as a whole document when,
//! after leading whitespace, comments and `<?…>` prologs, it starts with `<!DOCTYPE` or `<html`;
//! otherwise as a fragment in `<body>` context, which is what LibreTranslate clients usually send
//! (`<p>Hej <b>verden</b></p>`). A fragment is rendered back as a fragment, a document as a document.
//!
//! Translated are:
//! - text nodes that contain at least one alphanumeric character (text such as `"!"` or `" – "`
//!   is kept as it is), and
//! - the values of the `alt`, `title` and `placeholder` attributes (same rule), in document
//!   order: an element's attributes come before its content.
//!
//! Not translated is everything inside `script`, `style`, `noscript`, `template`, `code`, `pre`
//! and `textarea` (their own `alt`/`title`/`placeholder` still are, e.g. a textarea's
//! placeholder), and everything in and under an element with `translate="no"` until an inner
//! element says `translate="yes"` (or `translate=""`), as in the HTML standard. Other attribute
//! values, comments and the doctype are never translated.
//!
//! Each translated value is trimmed before it is handed out; its leading and trailing whitespace
//! (Unicode whitespace, so `&nbsp;` too) is put back around the translation. The output is
//! serialised by html5ever: tags and attributes as the parser sees them (attribute order kept),
//! and `&`, `<`, `>`, `"` and no-break spaces escaped where valid HTML needs it.

use ego_tree::{iter::Edge, NodeId};
use scraper::{ElementRef, Html, Node, StrTendril};

/// Elements whose content is never translated.
const SKIPPED: [&str; 7] = [
    "script", "style", "noscript", "template", "code", "pre", "textarea",
];

/// Attributes whose values are translated.
const TRANSLATED_ATTRS: [&str; 3] = ["alt", "title", "placeholder"];

/// An HTML input split into the texts to translate and what is needed to put the translations back.
pub struct HtmlDoc {
    dom: Html,
    fragment: bool,
    slots: Vec<Slot>,
    texts: Vec<String>,
}

/// Where one text of [`HtmlDoc::texts`] lives, and the whitespace that surrounded it.
struct Slot {
    node: NodeId,
    /// `None` for a text node, else the index of the attribute in the element.
    attr: Option<usize>,
    lead: String,
    trail: String,
}

impl HtmlDoc {
    /// Parse `html`: as a whole document if it starts (after whitespace, comments and a
    /// doctype) with `<html` or `<!DOCTYPE`, else as a fragment such as `<p>Hej <b>verden</b></p>`.
    pub fn parse(html: &str) -> HtmlDoc {
        let fragment = !is_document(html);
        let dom = if fragment {
            Html::parse_fragment(html)
        } else {
            Html::parse_document(html)
        };
        let (slots, texts) = collect(&dom);
        HtmlDoc {
            dom,
            fragment,
            slots,
            texts,
        }
    }

    /// The texts to translate, trimmed, in document order: text nodes and `alt`, `title` and
    /// `placeholder` values with an alphanumeric character, outside skipped elements and
    /// `translate="no"` (see the module docs).
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// The HTML with `texts()[i]` replaced by `translations[i]`, each inside its original
    /// surrounding whitespace; everything else is serialised as the parser sees it. A fragment
    /// comes back as a fragment, a document as a document. `Err` if the counts differ.
    pub fn render(&self, translations: &[String]) -> Result<String, String> {
        if translations.len() != self.slots.len() {
            return Err(format!(
                "HTML has {} texts to translate but {} translations were given",
                self.slots.len(),
                translations.len()
            ));
        }
        let mut dom = self.dom.clone();
        for (slot, translation) in self.slots.iter().zip(translations) {
            let value = StrTendril::from(format!("{}{translation}{}", slot.lead, slot.trail));
            let Some(mut node) = dom.tree.get_mut(slot.node) else {
                continue;
            };
            match (node.value(), slot.attr) {
                (Node::Text(text), None) => text.text = value,
                (Node::Element(element), Some(index)) => {
                    if let Some((_, old)) = element.attrs.get_index_mut(index) {
                        *old = value;
                    }
                }
                _ => {}
            }
        }
        Ok(self.serialize(&dom))
    }

    /// Serialise `dom`: the children of the implicit `<html>` for a fragment, else everything.
    fn serialize(&self, dom: &Html) -> String {
        if self.fragment {
            dom.tree
                .root()
                .children()
                .find_map(ElementRef::wrap)
                .map(|root| root.inner_html())
                .unwrap_or_default()
        } else {
            dom.html()
        }
    }
}

/// Walk the tree once (iteratively, so deep nesting is fine) and record what to translate.
fn collect(dom: &Html) -> (Vec<Slot>, Vec<String>) {
    let mut found = Vec::new();
    // Per open element: (translation enabled, inside a skipped element).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    for edge in dom.tree.root().traverse() {
        let (enabled, skipped) = stack.last().copied().unwrap_or((true, false));
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(element) => {
                    let enabled = match element.attr("translate") {
                        Some(v) if v.eq_ignore_ascii_case("no") => false,
                        Some(v) if v.is_empty() || v.eq_ignore_ascii_case("yes") => true,
                        _ => enabled,
                    };
                    if enabled && !skipped {
                        for (index, (name, value)) in element.attrs.iter().enumerate() {
                            if TRANSLATED_ATTRS.contains(&&*name.local) {
                                found.extend(slot(node.id(), Some(index), value));
                            }
                        }
                    }
                    let skipped = skipped || SKIPPED.contains(&element.name());
                    stack.push((enabled, skipped));
                }
                Node::Text(text) if enabled && !skipped => {
                    found.extend(slot(node.id(), None, text))
                }
                _ => {}
            },
            Edge::Close(node) => {
                if node.value().is_element() {
                    stack.pop();
                }
            }
        }
    }
    found.into_iter().unzip()
}

/// The slot and trimmed text for `value`, if it has an alphanumeric character.
fn slot(node: NodeId, attr: Option<usize>, value: &str) -> Option<(Slot, String)> {
    let core = value.trim();
    core.chars().any(char::is_alphanumeric).then(|| {
        let lead = value[..value.len() - value.trim_start().len()].to_owned();
        let trail = value[value.trim_end().len()..].to_owned();
        (
            Slot {
                node,
                attr,
                lead,
                trail,
            },
            core.to_owned(),
        )
    })
}

/// Whether `html` is a whole document: after whitespace, comments and `<?…>` prologs it starts
/// with `<!DOCTYPE` or an `<html` tag (ASCII case-insensitive).
fn is_document(html: &str) -> bool {
    let mut rest = html;
    loop {
        rest = rest.trim_start();
        let (open, close) = if rest.starts_with("<!--") {
            ("<!--", "-->")
        } else if rest.starts_with("<?") {
            ("<?", ">")
        } else {
            break;
        };
        match rest[open.len()..].find(close) {
            Some(end) => rest = &rest[open.len() + end + close.len()..],
            None => return false,
        }
    }
    let starts_with = |prefix: &str| {
        rest.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts_with("<!doctype")
        || (starts_with("<html")
            && matches!(
                rest.as_bytes().get(5),
                None | Some(b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
            ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `html`, check its texts, render `translations` and return the output.
    fn translate(html: &str, texts: &[&str], translations: &[&str]) -> String {
        let doc = HtmlDoc::parse(html);
        assert_eq!(doc.texts(), texts, "texts of {html:?}");
        let translations: Vec<String> = translations.iter().map(|t| t.to_string()).collect();
        doc.render(&translations).expect("render")
    }

    fn identity(html: &str) -> String {
        let doc = HtmlDoc::parse(html);
        doc.render(doc.texts()).expect("identity render")
    }

    #[test]
    fn fragment_texts_and_punctuation_kept() {
        let out = translate(
            "<p>Hej <b>verden</b>!</p>",
            &["Hej", "verden"],
            &["Hi", "world"],
        );
        assert_eq!(out, "<p>Hi <b>world</b>!</p>");
    }

    #[test]
    fn document_vs_fragment() {
        let html = "<!DOCTYPE html><html lang=\"da\"><head><title>Hej</title></head>\
                    <body><p>verden</p></body></html>";
        assert_eq!(
            translate(html, &["Hej", "verden"], &["Hi", "world"]),
            html.replace("Hej", "Hi").replace("verden", "world")
        );
        assert!(!HtmlDoc::parse("  <!-- c --> <HTML>\n<p>x</p>").fragment);
        assert!(HtmlDoc::parse("<htmlx>x</htmlx>").fragment);
        assert!(HtmlDoc::parse("<!-- unclosed <html>").fragment);
        assert_eq!(identity("<div><p>x</p></div>"), "<div><p>x</p></div>");
    }

    #[test]
    fn skipped_elements() {
        let html = "<div>a1<script>if (a < b) x();</script><style>p{}</style><code>f()</code>\
                    <pre>bar</pre><textarea placeholder=\"Skriv\">t</textarea>\
                    <noscript>n</noscript><template><b>tpl</b></template>b2</div>";
        assert_eq!(
            translate(html, &["a1", "Skriv", "b2"], &["a1", "Skriv", "b2"]),
            html
        );
    }

    #[test]
    fn translate_no_and_nested_yes() {
        let html = "<div translate=\"no\" title=\"Mærke\">Brand <span translate=\"yes\">Hej\
                    </span> <i>x</i></div><p translate=\"bogus\">Ok</p>";
        translate(html, &["Hej", "Ok"], &["Hi", "Ok"]);
    }

    #[test]
    fn translated_attributes_in_order() {
        let html = "<img alt=\"En kat\" src=\"cat.png\"><a href=\"/x\" title=\"Link\">Tekst</a>\
                    <input placeholder=\"Søg\" value=\"v\" alt=\"-\">";
        let out = translate(
            html,
            &["En kat", "Link", "Tekst", "Søg"],
            &["A \"cat\"", "Link", "Text", "Search"],
        );
        assert_eq!(
            out,
            "<img alt=\"A &quot;cat&quot;\" src=\"cat.png\"><a href=\"/x\" title=\"Link\">Text</a>\
             <input placeholder=\"Search\" value=\"v\" alt=\"-\">"
        );
    }

    #[test]
    fn whitespace_kept() {
        let html = "<p>  Hej  </p>\n<p>\n\tverden\n</p>";
        let out = translate(html, &["Hej", "verden"], &["Hello", "world"]);
        assert_eq!(out, "<p>  Hello  </p>\n<p>\n\tworld\n</p>");
    }

    #[test]
    fn entities_decoded_and_escaped() {
        let out = translate(
            "<p>Fish &amp; chips</p>",
            &["Fish & chips"],
            &["Fisk & <chips>"],
        );
        assert_eq!(out, "<p>Fisk &amp; &lt;chips&gt;</p>");
    }

    #[test]
    fn wrong_translation_count_is_err() {
        let doc = HtmlDoc::parse("<p>Hej <b>verden</b></p>");
        assert!(doc.render(&["Hello".to_string()]).is_err());
        assert!(doc.render(&[]).is_err());
        assert_eq!(HtmlDoc::parse("").render(&[]), Ok(String::new()));
    }

    #[test]
    fn well_formed_round_trips() {
        for html in [
            "plain text",
            "<ul><li>en</li><li>to</li></ul><!-- note -->",
            "<a href=\"https://x.dk/?a=1&amp;b=2\" class=\"c\">link</a>",
            "<table><tbody><tr><td>celle</td></tr></tbody></table>",
            "<p>ø &lt;æ&gt; &amp; å</p><br>",
        ] {
            assert_eq!(identity(html), html);
        }
    }

    #[test]
    fn deep_nesting_does_not_panic() {
        for tag in ["<div>", "<b>", "<span><i>", "<table>"] {
            let doc = HtmlDoc::parse(&format!("{}x", tag.repeat(3000)));
            assert_eq!(doc.texts(), ["x"]);
            assert!(doc.render(doc.texts()).is_ok());
        }
    }

    #[test]
    fn random_input_never_panics() {
        const PIECES: [&str; 24] = [
            "<",
            ">",
            "</b>",
            "<b>",
            "<p>",
            "</p>",
            "&amp;",
            "&",
            "&#x;",
            "text",
            " ",
            "<!--",
            "-->",
            "<script>",
            "</script>",
            "ø",
            "\u{0}",
            "<html>",
            "<!DOCTYPE html>",
            "<img alt=\"a",
            "\"",
            " translate=no>",
            "<table>",
            "<pre>",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..500 {
            let html: String = (0..next() % 30)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let doc = HtmlDoc::parse(&html);
            let out = doc.render(doc.texts()).expect("identity render");
            assert_eq!(out, doc.serialize(&doc.dom), "input: {html:?}");
            let again = HtmlDoc::parse(&out);
            assert!(again.render(again.texts()).is_ok());
        }
    }
}
