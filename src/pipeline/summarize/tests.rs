//! Unit tests of the summarizing algorithm with a scripted model.

use std::cell::RefCell;

use super::*;

/// A fake model: counts words, "summarizes" by keeping the first sentence of each paragraph,
/// and records what it was asked.
struct FirstSentences {
    budget: usize,
    calls: RefCell<Vec<String>>,
}

impl SummaryModel for FirstSentences {
    fn describe(&self) -> String {
        "first-sentences".into()
    }
    fn input_budget(&self) -> usize {
        self.budget
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }
    fn summarize(&self, text: &str, _bound: Bound) -> Result<Generated> {
        self.calls.borrow_mut().push(text.to_string());
        let firsts: Vec<String> = text
            .split("\n\n")
            .filter_map(|p| bound::summary_sentences(p).into_iter().next())
            .collect();
        Ok(Generated {
            text: firsts.join(" "),
            counts: TokenCounts {
                source_tokens: self.count_tokens(text)?,
                generated_tokens: 3,
            },
        })
    }
}

fn model(budget: usize) -> FirstSentences {
    FirstSentences {
        budget,
        calls: RefCell::new(Vec::new()),
    }
}

#[test]
fn short_text_takes_one_call() {
    let m = model(100);
    let mut events = Vec::new();
    let s = summarize(
        &m,
        "Alpha met Beta. They talked.\n\nGamma left early.",
        &SummaryOptions::default(),
        &mut |e| events.push(e),
    )
    .unwrap();
    assert_eq!(s.text, "Alpha met Beta. Gamma left early.");
    assert_eq!((s.chunks, s.rounds, s.cut), (1, 1, false));
    assert_eq!(events, vec![Event::CallDone]);
    assert_eq!(m.calls.borrow().len(), 1);
}

#[test]
fn long_text_is_chunked_then_summaries_are_summarized() {
    let paragraphs: Vec<String> = (0..12)
        .map(|i| format!("Lead {i} is here. Filler words number {i} follow."))
        .collect();
    let text = paragraphs.join("\n\n");
    let m = model(20);
    let mut events = Vec::new();
    let s = summarize(
        &m,
        &text,
        &SummaryOptions {
            bound: Bound::Sentences(2),
            headline: false,
        },
        &mut |e| events.push(e),
    )
    .unwrap();
    assert!(s.chunks > 1, "{s:?}");
    assert!(s.rounds >= 2);
    assert!(matches!(events[0], Event::Chunked { round: 1, .. }));
    // Every call fit the budget.
    for call in m.calls.borrow().iter() {
        assert!(m.count_tokens(call).unwrap() <= 20, "{call}");
    }
    // The bound holds and the first lead survives.
    assert_eq!(s.sentences.len(), 2);
    assert!(s.text.starts_with("Lead 0 is here."));
    assert!(s.cut);
}

#[test]
fn empty_text_calls_no_model() {
    let m = model(10);
    let s = summarize(&m, " \n ", &SummaryOptions::default(), &mut |_| {}).unwrap();
    assert!(s.text.is_empty());
    assert!(m.calls.borrow().is_empty());
}

/// A model whose summaries are longer than its input.
struct Verbose;

impl SummaryModel for Verbose {
    fn describe(&self) -> String {
        "verbose".into()
    }
    fn input_budget(&self) -> usize {
        5
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }
    fn summarize(&self, text: &str, _bound: Bound) -> Result<Generated> {
        Ok(Generated {
            text: format!("{text} {text}"),
            counts: TokenCounts::default(),
        })
    }
}

#[test]
fn a_model_that_does_not_shorten_is_an_error_not_a_loop() {
    let text = "a b c d. e f g h. i j k l. m n o p.";
    let err = summarize(
        &Verbose,
        text,
        &SummaryOptions {
            bound: Bound::Words(100),
            headline: false,
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("no shorter"), "{err}");
}

#[test]
fn markdown_has_a_headline_and_bullets() {
    let s = Summary {
        text: "A happened. B followed.".into(),
        sentences: vec!["A happened.".into(), "B followed.".into()],
        headline: Some("Big news".into()),
        bound: Bound::Sentences(2),
        cut: false,
        chunks: 1,
        rounds: 1,
        counts: TokenCounts::default(),
        dropped: Vec::new(),
        unsupported: Vec::new(),
    };
    assert_eq!(
        s.to_markdown(),
        "# Big news\n\n- A happened.\n- B followed.\n"
    );
    let no_headline = Summary {
        headline: None,
        ..s
    };
    assert_eq!(no_headline.to_markdown(), "# A happened\n\n- B followed.\n");
}

#[test]
fn headlines_lose_marks() {
    assert_eq!(clean_headline("## \"Dockers strike\""), "Dockers strike");
    assert_eq!(clean_headline("Headline: **Rates cut**"), "Rates cut");
}

#[test]
fn headlines_are_whole_clauses() {
    assert_eq!(
        clean_headline("Chinese leaders gather at the 14th National People's Congress, and"),
        "Chinese leaders gather at the 14th National People's Congress"
    );
    assert_eq!(clean_headline("Rates cut to 2.75% –"), "Rates cut to 2.75%");
    assert_eq!(
        clean_headline("Dockers strike in Rotterdam"),
        "Dockers strike in Rotterdam"
    );
    let long = "Bank of Canada cuts its key rate to 2.75 percent, citing weak spending and tariffs from the United States on steel";
    assert_eq!(
        whole_clause(long, 14),
        "Bank of Canada cuts its key rate to 2.75 percent, citing weak spending"
    );
    assert_eq!(
        whole_clause(long, 10),
        "Bank of Canada cuts its key rate to 2.75 percent"
    );
    let no_boundary = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen of fifteen";
    assert_eq!(
        whole_clause(no_boundary, 14),
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    );
}
