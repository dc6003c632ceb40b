//! Batching across requests: one queue in front of one model worker thread per model.
//!
//! Request handlers [`Batcher::submit`] their sentences and await one answer per sentence. The
//! worker thread owns the model ([`Engine`]); each turn it takes every waiting sentence off the
//! shared queue, then runs the oldest ones that fit one token budget (padded source tokens ×
//! beams, as `tolk translate --batch-tokens` counts) as one batch, whatever request they came
//! from. A request is answered as soon as its own sentences are done.
//!
//! - **Bounded:** the number of waiting sentences is capped server-wide ([`Depth`]); a submit
//!   over the cap is refused at once ([`SubmitError::Full`]), never queued.
//! - **Cancellation:** a sentence whose request is gone (client disconnected, deadline passed:
//!   its receiver was dropped) is skipped before it costs compute.
//! - **Panics:** a panic inside the model fails that batch's sentences with an error; the worker
//!   then drops the model, builds a fresh one and carries on with the sentences still waiting
//!   (none is lost). [`BatchReport::panicked`] tells metrics.
//! - **Shutdown:** [`Batcher::close`] lets the worker finish what was accepted, then it exits
//!   and frees the model.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::pipeline::translate::TokenCounts;

/// What a model worker runs: sentences in, one translation per sentence out.
pub trait Engine {
    /// Tokens `text` takes in the model's input (for the batch budget).
    fn count_tokens(&self, text: &str) -> usize;
    /// Decoder rows per sentence (the beam size).
    fn rows_per_sentence(&self) -> usize;
    /// Translate `sentences`; one output (with the tokens it took) per input, in order.
    fn translate(&self, sentences: &[String]) -> Result<Vec<Translated>, String>;
}

/// One sentence's translation and the tokens it took.
pub type Translated = (String, TokenCounts);

/// What one sentence's answer is.
pub type Answer = Result<Translated, String>;

/// Sentences waiting in all queues of a server, against `--max-queue`.
#[derive(Debug, Default)]
pub struct Depth {
    waiting: AtomicUsize,
    limit: usize,
}

impl Depth {
    pub fn new(limit: usize) -> Arc<Depth> {
        Arc::new(Depth {
            waiting: AtomicUsize::new(0),
            limit,
        })
    }

    /// Sentences waiting or running now.
    pub fn current(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Reserve room for `n` sentences; false (nothing reserved) when that goes over the limit.
    fn reserve(&self, n: usize) -> bool {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w + n <= self.limit).then_some(w + n)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.waiting.fetch_sub(n, Ordering::AcqRel);
    }
}

/// What the worker reports after each batch (for metrics).
#[derive(Debug, Clone, Copy)]
pub struct BatchReport {
    pub sentences: usize,
    pub skipped: usize,
    pub seconds: f64,
    pub counts: TokenCounts,
    pub panicked: bool,
}

/// How a worker groups sentences.
#[derive(Clone)]
pub struct BatcherOptions {
    /// Padded source tokens × beams per batch.
    pub max_batch_tokens: usize,
    /// How long the worker, finding fewer sentences waiting than fill a batch, waits for more
    /// before it starts (clients answered by the last batch are sending their next requests).
    pub gather: Duration,
    /// Called after every batch, on the worker thread.
    pub on_batch: Arc<dyn Fn(BatchReport) + Send + Sync>,
}

/// Why sentences were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// The server-wide queue is full.
    Full { limit: usize },
    /// The model could not be loaded (the message says why).
    Failed(String),
    /// The worker is shutting down.
    Closed,
}

/// Whether the worker's model is usable yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Loading,
    Ready,
    Failed(String),
}

struct Item {
    text: String,
    reply: oneshot::Sender<Answer>,
    deadline: Instant,
}

struct State {
    items: VecDeque<Item>,
    closed: bool,
    worker: WorkerState,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    depth: Arc<Depth>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic never happens while the lock is held (only queue moves run under it).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The queue in front of one model worker.
pub struct Batcher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Batcher {
    /// Start a worker thread named `name` that builds its engine with `make` (loading the model
    /// on that thread; sentences submitted meanwhile wait) and then serves the queue.
    pub fn spawn<E, F>(name: &str, make: F, opts: BatcherOptions, depth: Arc<Depth>) -> Batcher
    where
        E: Engine + Sync,
        F: Fn() -> Result<E, String> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                worker: WorkerState::Loading,
            }),
            ready: Condvar::new(),
            depth,
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Sentences taken off the shared queue, with their token counts, oldest first;
                // kept across a restart of the model.
                let mut pending: VecDeque<(Item, usize)> = VecDeque::new();
                loop {
                    let engine = match catch_unwind(AssertUnwindSafe(&make)) {
                        Ok(Ok(e)) => e,
                        Ok(Err(message)) => return fail_all(&for_thread, &mut pending, message),
                        Err(panic) => {
                            let message =
                                format!("loading the model panicked: {}", panic_message(&panic));
                            return fail_all(&for_thread, &mut pending, message);
                        }
                    };
                    for_thread.lock().worker = WorkerState::Ready;
                    match serve(&for_thread, &engine, &opts, &mut pending) {
                        Exit::Drained => return,
                        Exit::Panicked => {
                            drop(engine);
                            for_thread.lock().worker = WorkerState::Loading;
                        }
                    }
                }
            })
            .map(Some)
            .unwrap_or_else(|e| {
                let message = format!("cannot start a model worker thread: {e}");
                fail_all(&shared, &mut VecDeque::new(), message);
                None
            });
        Batcher {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// Queue `texts` (all or none) to be translated by `deadline`; one receiver per text, in
    /// order. Dropping a receiver withdraws its sentence if it has not started.
    pub fn submit(
        &self,
        texts: Vec<String>,
        deadline: Instant,
    ) -> Result<Vec<oneshot::Receiver<Answer>>, SubmitError> {
        let mut state = self.shared.lock();
        if let WorkerState::Failed(m) = &state.worker {
            return Err(SubmitError::Failed(m.clone()));
        }
        if state.closed {
            return Err(SubmitError::Closed);
        }
        if !self.shared.depth.reserve(texts.len()) {
            return Err(SubmitError::Full {
                limit: self.shared.depth.limit,
            });
        }
        let mut receivers = Vec::with_capacity(texts.len());
        for text in texts {
            let (reply, rx) = oneshot::channel();
            state.items.push_back(Item {
                text,
                reply,
                deadline,
            });
            receivers.push(rx);
        }
        drop(state);
        self.shared.ready.notify_one();
        Ok(receivers)
    }

    /// Whether the model is loaded.
    pub fn state(&self) -> WorkerState {
        self.shared.lock().worker.clone()
    }

    /// Accept nothing more; the worker finishes what it has and exits.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }

    /// [`Batcher::close`], then wait for the worker to exit.
    pub fn shutdown(&self) {
        self.close();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.close();
    }
}

/// The model could not be built: every waiting and future sentence gets `message`.
fn fail_all(shared: &Shared, pending: &mut VecDeque<(Item, usize)>, message: String) {
    let mut items: Vec<Item> = pending.drain(..).map(|(item, _)| item).collect();
    {
        let mut state = shared.lock();
        state.worker = WorkerState::Failed(message.clone());
        items.extend(state.items.drain(..));
    }
    shared.depth.release(items.len());
    for item in items {
        let _ = item.reply.send(Err(message.clone()));
    }
}

/// Why [`serve`] returned.
enum Exit {
    /// Closed, and every accepted sentence answered.
    Drained,
    /// The model panicked on a batch (whose sentences were answered with an error).
    Panicked,
}

/// The worker loop: wait for sentences, run one budget of them ([`take_batch`]), answer, repeat.
fn serve<E: Engine + Sync>(
    shared: &Shared,
    engine: &E,
    opts: &BatcherOptions,
    pending: &mut VecDeque<(Item, usize)>,
) -> Exit {
    let rows = engine.rows_per_sentence().max(1);
    loop {
        let mut state = shared.lock();
        while state.items.is_empty() && pending.is_empty() && !state.closed {
            state = shared.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.items.is_empty() && pending.is_empty() {
            return Exit::Drained;
        }
        // Take what is waiting; while it would not fill a batch, wait up to `gather` for more.
        let until = Instant::now() + opts.gather;
        let mut queued: usize = pending.iter().map(|(_, t)| *t).sum();
        loop {
            let incoming: Vec<Item> = state.items.drain(..).collect();
            drop(state);
            for item in incoming {
                let tokens = engine.count_tokens(&item.text);
                queued += tokens;
                pending.push_back((item, tokens));
            }
            let now = Instant::now();
            state = shared.lock();
            if queued * rows >= opts.max_batch_tokens || now >= until || state.closed {
                break;
            }
            if state.items.is_empty() {
                state = shared
                    .ready
                    .wait_timeout(state, until - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        drop(state);
        let (batch, skipped) = take_batch(pending, engine.rows_per_sentence(), opts);
        shared.depth.release(skipped);
        if batch.is_empty() {
            if skipped > 0 {
                (opts.on_batch)(BatchReport {
                    sentences: 0,
                    skipped,
                    seconds: 0.0,
                    counts: TokenCounts::default(),
                    panicked: false,
                });
            }
            continue;
        }
        let texts: Vec<String> = batch.iter().map(|i| i.text.clone()).collect();
        let started = Instant::now();
        // The batch runs on a worker of the pool every matrix product uses (see cli::run).
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            rayon::scope(|_| engine.translate(&texts))
        }));
        let seconds = started.elapsed().as_secs_f64();
        let n = batch.len();
        let (answers, counts, panicked): (Vec<Answer>, _, _) = match outcome {
            Ok(Ok(out)) if out.len() == n => {
                let mut counts = TokenCounts::default();
                for (_, c) in &out {
                    counts.source_tokens += c.source_tokens;
                    counts.generated_tokens += c.generated_tokens;
                }
                (out.into_iter().map(Ok).collect(), counts, false)
            }
            Ok(Ok(out)) => (
                vec![
                    Err(format!(
                        "the model returned {} translations for {n} sentences",
                        out.len()
                    ));
                    n
                ],
                TokenCounts::default(),
                false,
            ),
            Ok(Err(message)) => (vec![Err(message); n], TokenCounts::default(), false),
            Err(panic) => (
                vec![
                    Err(format!(
                        "the model worker panicked on this batch ({}); it was restarted",
                        panic_message(&panic)
                    ));
                    n
                ],
                TokenCounts::default(),
                true,
            ),
        };
        for (item, answer) in batch.into_iter().zip(answers) {
            let _ = item.reply.send(answer);
        }
        shared.depth.release(n);
        (opts.on_batch)(BatchReport {
            sentences: n,
            skipped,
            seconds,
            counts,
            panicked,
        });
        if panicked {
            return Exit::Panicked;
        }
    }
}

/// One budget's worth of live sentences (at least one), and how many were dropped because
/// nobody waits for them any more or their deadline passed.
///
/// The oldest sentence always goes in, so none waits behind newer ones for ever; the rest of the
/// batch is filled with the waiting sentences closest to its length (the older first among
/// equals), so one long sentence does not set the padded width of many short ones.
fn take_batch(
    pending: &mut VecDeque<(Item, usize)>,
    rows: usize,
    opts: &BatcherOptions,
) -> (Vec<Item>, usize) {
    let now = Instant::now();
    let budget = opts.max_batch_tokens.max(1);
    let rows = rows.max(1);
    let mut skipped = 0;
    for (item, tokens) in std::mem::take(pending) {
        if item.reply.is_closed() {
            skipped += 1;
        } else if item.deadline <= now {
            let _ = item
                .reply
                .send(Err("the request's deadline passed before its turn".into()));
            skipped += 1;
        } else {
            pending.push_back((item, tokens));
        }
    }
    let Some(&(_, first)) = pending.front() else {
        return (Vec::new(), skipped);
    };
    let mut order: Vec<usize> = (1..pending.len()).collect();
    order.sort_by_key(|&i| (pending[i].1.abs_diff(first), i));
    let mut chosen = vec![0];
    let mut longest = first;
    for i in order {
        let wider = longest.max(pending[i].1);
        if wider * (chosen.len() + 1) * rows <= budget {
            longest = wider;
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    let mut batch = Vec::with_capacity(chosen.len());
    for (taken, i) in chosen.into_iter().enumerate() {
        if let Some((item, _)) = pending.remove(i - taken) {
            batch.push(item);
        }
    }
    (batch, skipped)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_string()
    }
}

/// How long to wait for a request's sentences by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests;
