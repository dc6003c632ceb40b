//! The summarizer's worker: one thread that owns the summary model (which is not `Send`, so it
//! is built on that thread and never leaves it) and writes one summary at a time.
//!
//! The model loads at start when the server was told which one (`--summary-model`), else on the
//! first summary asked for. A panic fails that request, drops the model, and the next request
//! loads a fresh one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::jobs::models::ModelOptions;
use crate::pipeline::summarize::{self, Summary, SummaryModel, SummaryOptions};

use super::queue::WorkerState;

/// A written summary, the model that wrote it, and the seconds it took (load, summary).
pub struct Written {
    pub summary: Summary,
    pub model: String,
    pub load_seconds: f64,
    pub seconds: f64,
}

struct Job {
    text: String,
    opts: SummaryOptions,
    reply: oneshot::Sender<Result<Written, String>>,
}

/// The summarizer's queue and thread.
pub struct Summarizer {
    reference: String,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    state: Arc<Mutex<WorkerState>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Summarizer {
    /// Start the worker for `reference`; `eager`: load the model now rather than on first use.
    pub fn spawn(reference: String, opts: ModelOptions, eager: bool) -> Summarizer {
        let (tx, rx) = mpsc::channel::<Job>();
        let state = Arc::new(Mutex::new(if eager {
            WorkerState::Loading
        } else {
            WorkerState::Ready
        }));
        let for_thread = Arc::clone(&state);
        let r = reference.clone();
        let thread = std::thread::Builder::new()
            .name("tolk-summarizer".into())
            .spawn(move || work(&r, &opts, eager, &rx, &for_thread))
            .ok();
        if thread.is_none() {
            *lock(&state) = WorkerState::Failed("cannot start the summarizer thread".into());
        }
        Summarizer {
            reference,
            jobs: Mutex::new(Some(tx)),
            state,
            thread: Mutex::new(thread),
        }
    }

    /// The model reference.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Loading, ready, or failed to load.
    pub fn state(&self) -> WorkerState {
        lock(&self.state).clone()
    }

    /// Queue a summary of `text`; the receiver gets it (or why not).
    pub fn submit(
        &self,
        text: String,
        opts: SummaryOptions,
    ) -> Result<oneshot::Receiver<Result<Written, String>>, String> {
        let (reply, rx) = oneshot::channel();
        let jobs = lock(&self.jobs);
        let sent = jobs
            .as_ref()
            .map(|tx| tx.send(Job { text, opts, reply }).is_ok())
            .unwrap_or(false);
        if sent {
            Ok(rx)
        } else {
            Err("the summarizer is shutting down".into())
        }
    }

    /// Take no more jobs, finish the queued ones, and wait for the thread.
    pub fn shutdown(&self) {
        lock(&self.jobs).take();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open(reference: &str, opts: &ModelOptions) -> Result<Box<dyn SummaryModel>, String> {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        summarize::open(
            reference,
            &opts.hub,
            &opts.device,
            &opts.load,
            &opts.summary,
        )
    }));
    match opened {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(format!("cannot load summarizer `{reference}`: {e}")),
        Err(_) => Err(format!("loading summarizer `{reference}` panicked")),
    }
}

fn work(
    reference: &str,
    opts: &ModelOptions,
    eager: bool,
    rx: &mpsc::Receiver<Job>,
    state: &Mutex<WorkerState>,
) {
    let load = |model: &mut Option<Box<dyn SummaryModel>>| -> Result<(), String> {
        if model.is_some() {
            return Ok(());
        }
        *lock(state) = WorkerState::Loading;
        match open(reference, opts) {
            Ok(m) => {
                *model = Some(m);
                *lock(state) = WorkerState::Ready;
                Ok(())
            }
            Err(e) => {
                *lock(state) = WorkerState::Failed(e.clone());
                Err(e)
            }
        }
    };
    let mut model: Option<Box<dyn SummaryModel>> = None;
    if eager {
        let _ = load(&mut model);
    }
    while let Ok(job) = rx.recv() {
        if job.reply.is_closed() {
            continue; // nobody waits for it any more
        }
        if let WorkerState::Failed(e) = lock(state).clone() {
            let _ = job.reply.send(Err(e));
            continue;
        }
        let loading = Instant::now();
        let was_loaded = model.is_some();
        if let Err(e) = load(&mut model) {
            let _ = job.reply.send(Err(e));
            continue;
        }
        let load_seconds = if was_loaded {
            0.0
        } else {
            loading.elapsed().as_secs_f64()
        };
        let Some(m) = model.as_deref() else { continue };
        let started = Instant::now();
        // Not on a worker of the matrix pool: this thread waits for jobs, and a pool worker
        // parked here would be one fewer for the translation workers' products.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            summarize::summarize(m, &job.text, &job.opts, &mut |_| {})
        }));
        let seconds = started.elapsed().as_secs_f64();
        let answer = match outcome {
            Ok(Ok(summary)) => Ok(Written {
                summary,
                model: m.describe(),
                load_seconds,
                seconds,
            }),
            Ok(Err(e)) => Err(format!("summarizing failed: {e}")),
            Err(_) => {
                model = None; // a fresh model for the next request
                Err("the summarizer panicked on this text; it was restarted".into())
            }
        };
        let _ = job.reply.send(answer);
    }
}
