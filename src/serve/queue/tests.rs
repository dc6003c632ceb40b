use std::sync::mpsc;

use super::*;

/// Uppercases its sentences, one token per word; panics on "boom"; records every batch.
struct Upper {
    batches: mpsc::Sender<Vec<String>>,
}

impl Engine for Upper {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count() + 1
    }
    fn rows_per_sentence(&self) -> usize {
        1
    }
    fn translate(&self, sentences: &[String]) -> Result<Vec<Translated>, String> {
        let _ = self.batches.send(sentences.to_vec());
        if sentences.iter().any(|s| s == "boom") {
            panic!("boom in the model");
        }
        if sentences.iter().any(|s| s == "fail") {
            return Err("the model failed".into());
        }
        Ok(sentences
            .iter()
            .map(|s| (s.to_uppercase(), TokenCounts::default()))
            .collect())
    }
}

/// A batcher whose engine is built only when `go` is sent, so tests can queue first.
fn gated(budget: usize, limit: usize) -> (Batcher, mpsc::Sender<()>, mpsc::Receiver<Vec<String>>) {
    gathering(budget, limit, Duration::ZERO)
}

/// [`gated`] whose worker waits up to `gather` for a batch to fill.
fn gathering(
    budget: usize,
    limit: usize,
    gather: Duration,
) -> (Batcher, mpsc::Sender<()>, mpsc::Receiver<Vec<String>>) {
    let (go, gate) = mpsc::channel::<()>();
    let (tx, batches) = mpsc::channel();
    let opts = BatcherOptions {
        max_batch_tokens: budget,
        gather,
        on_batch: Arc::new(|_| {}),
    };
    let b = Batcher::spawn(
        "test-worker",
        move || {
            gate.recv().map_err(|e| e.to_string())?;
            Ok(Upper {
                batches: tx.clone(),
            })
        },
        opts,
        Depth::new(limit),
    );
    (b, go, batches)
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn answers(rxs: Vec<oneshot::Receiver<Answer>>) -> Vec<Result<String, String>> {
    rxs.into_iter()
        .map(|rx| {
            rx.blocking_recv()
                .unwrap_or_else(|_| Err("dropped".into()))
                .map(|(text, _)| text)
        })
        .collect()
}

#[test]
fn sentences_of_different_requests_share_one_batch() {
    let (b, go, batches) = gated(1000, 100);
    let a = b
        .submit(vec!["en to".into(), "tre".into()], later())
        .unwrap();
    let c = b.submit(vec!["fire fem seks".into()], later()).unwrap();
    go.send(()).unwrap();
    assert_eq!(
        answers(a),
        vec![Ok("EN TO".to_string()), Ok("TRE".to_string())]
    );
    assert_eq!(answers(c), vec![Ok("FIRE FEM SEKS".to_string())]);
    assert_eq!(
        batches.recv().unwrap().len(),
        3,
        "one batch for both requests"
    );
    b.shutdown();
}

#[test]
fn the_worker_waits_briefly_for_a_batch_to_fill_and_not_when_it_is_full() {
    let (b, go, batches) = gathering(6, 100, Duration::from_millis(300));
    go.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(50)); // the model is up, the worker idle
    let first = b.submit(vec!["a".into()], later()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let second = b.submit(vec!["b".into()], later()).unwrap();
    assert_eq!(answers(first), vec![Ok("A".to_string())]);
    assert_eq!(answers(second), vec![Ok("B".to_string())]);
    assert_eq!(
        batches.recv().unwrap().len(),
        2,
        "the second arrived within the wait"
    );
    // Sentences that fill the budget (2 tokens each, 6 in all) start at once.
    let started = Instant::now();
    let full = b
        .submit(vec!["c".into(), "d".into(), "e".into()], later())
        .unwrap();
    assert_eq!(answers(full).len(), 3);
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(batches.recv().unwrap().len(), 3);
    b.shutdown();
}

#[test]
fn batches_stay_within_the_token_budget_in_arrival_order() {
    // Every sentence is 3 tokens; a budget of 7 fits two per batch.
    let (b, go, batches) = gated(7, 100);
    let texts: Vec<String> = (0..5).map(|i| format!("s {i}")).collect();
    let rx = b.submit(texts.clone(), later()).unwrap();
    go.send(()).unwrap();
    let got = answers(rx);
    assert_eq!(got.len(), 5);
    b.shutdown();
    let seen: Vec<Vec<String>> = batches.try_iter().collect();
    assert_eq!(seen.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
    assert_eq!(seen.concat(), texts);
}

#[test]
fn withdrawn_and_expired_sentences_cost_nothing() {
    let (b, go, batches) = gated(1000, 100);
    let gone = b.submit(vec!["gone".into()], later()).unwrap();
    drop(gone);
    let expired = b.submit(vec!["late".into()], Instant::now()).unwrap();
    let kept = b.submit(vec!["kept".into()], later()).unwrap();
    go.send(()).unwrap();
    assert_eq!(answers(kept), vec![Ok("KEPT".to_string())]);
    assert!(answers(expired)[0]
        .as_ref()
        .unwrap_err()
        .contains("deadline"));
    b.shutdown();
    assert_eq!(
        batches.try_iter().collect::<Vec<_>>(),
        vec![vec!["kept".to_string()]]
    );
    assert_eq!(b.shared.depth.current(), 0, "every reservation released");
}

#[test]
fn a_panic_fails_its_batch_only_and_the_worker_is_restarted() {
    let (b, go, batches) = gated(1000, 100);
    go.send(()).unwrap();
    let bad = b.submit(vec!["boom".into()], later()).unwrap();
    // Wait until the panicking batch ran; queue more before the fresh model is allowed to load.
    assert_eq!(batches.recv().unwrap(), vec!["boom".to_string()]);
    let waiting = b.submit(vec!["queued".into()], later()).unwrap();
    let bad = answers(bad);
    assert!(
        bad[0].as_ref().unwrap_err().contains("restarted"),
        "{bad:?}"
    );
    go.send(()).unwrap(); // the second build of the engine
    assert_eq!(
        answers(waiting),
        vec![Ok("QUEUED".to_string())],
        "nothing waiting is lost"
    );
    let err = answers(b.submit(vec!["fail".into()], later()).unwrap());
    assert_eq!(err, vec![Err("the model failed".to_string())]);
    let ok = answers(b.submit(vec!["after".into()], later()).unwrap());
    assert_eq!(ok, vec![Ok("AFTER".to_string())]);
    assert_eq!(b.state(), WorkerState::Ready);
    b.shutdown();
}

#[test]
fn a_full_queue_refuses_at_once_and_keeps_nothing() {
    let (b, go, _batches) = gated(1000, 3);
    let first = b.submit(vec!["a".into(), "b".into()], later()).unwrap();
    assert_eq!(
        b.submit(vec!["c".into(), "d".into()], later()).unwrap_err(),
        SubmitError::Full { limit: 3 }
    );
    let third = b.submit(vec!["c".into()], later()).unwrap();
    go.send(()).unwrap();
    assert_eq!(answers(first).len(), 2);
    assert_eq!(answers(third), vec![Ok("C".to_string())]);
    b.shutdown();
}

#[test]
fn a_model_that_fails_to_load_fails_waiting_and_later_requests() {
    let b = Batcher::spawn::<Upper, _>(
        "failing",
        || Err("no such model".to_string()),
        BatcherOptions {
            max_batch_tokens: 100,
            gather: Duration::ZERO,
            on_batch: Arc::new(|_| {}),
        },
        Depth::new(10),
    );
    // Either the submit races the failure (and its answer says why) or is refused with it.
    match b.submit(vec!["x".into()], later()) {
        Ok(rx) => assert_eq!(answers(rx), vec![Err("no such model".to_string())]),
        Err(e) => assert_eq!(e, SubmitError::Failed("no such model".into())),
    }
    b.shutdown();
    assert_eq!(b.state(), WorkerState::Failed("no such model".into()));
    assert_eq!(
        b.submit(vec!["y".into()], later()).unwrap_err(),
        SubmitError::Failed("no such model".into())
    );
}

#[test]
fn closing_finishes_what_was_accepted() {
    let (b, go, _batches) = gated(1000, 100);
    let rx = b.submit(vec!["one".into(), "two".into()], later()).unwrap();
    b.close();
    assert_eq!(
        b.submit(vec!["three".into()], later()).unwrap_err(),
        SubmitError::Closed
    );
    go.send(()).unwrap();
    b.shutdown();
    assert_eq!(
        answers(rx),
        vec![Ok("ONE".to_string()), Ok("TWO".to_string())]
    );
}

#[test]
fn a_long_sentence_does_not_set_the_width_of_short_ones() {
    // Budget 12: the three 2-token sentences fit together (2 x 3); next to the 11-token one,
    // none fits. The oldest goes first, filled with the lengths closest to its own.
    let (b, go, batches) = gated(12, 100);
    let long = "w w w w w w w w w w".to_string();
    let texts: Vec<String> = vec!["a".into(), long.clone(), "b".into(), "c".into()];
    let rx = b.submit(texts, later()).unwrap();
    go.send(()).unwrap();
    assert_eq!(answers(rx).len(), 4);
    b.shutdown();
    let seen: Vec<Vec<String>> = batches.try_iter().collect();
    assert_eq!(
        seen,
        vec![vec!["a".to_string(), "b".into(), "c".into()], vec![long]]
    );
}
