//! The `tolk` command line: clap flags ([`args`]) are parsed, validated into library types, and
//! handed to one module per command. Only this layer uses `anyhow`, prints, or draws progress.

pub mod args;
mod batch;
mod bench;
mod info;
mod input;
mod models;
mod progress;
mod serve;
mod streams;
mod summarize;
mod translate;

use anyhow::Result;

pub use args::Cli;

/// The summarizer used when none is named (see models/).
pub const DEFAULT_SUMMARY_MODEL: &str = "google/flan-t5-base";

/// Run a parsed command line.
///
/// The command runs on a worker of the thread pool that every matrix product uses, so the
/// hundreds of parallel products of each decoding step start from a worker (which the other
/// workers are still spinning for) instead of waking the pool from outside every time.
pub fn run(cli: Cli) -> Result<()> {
    let threads = match &cli.command {
        args::Command::Translate(a) => a.runtime.threads,
        args::Command::Summarize(a) => a.runtime.threads,
        args::Command::Brief(a) => a.runtime.threads,
        args::Command::Bench(a) => a.runtime.threads,
        args::Command::Batch(a) => a.job.runtime.threads,
        args::Command::Worker(a) => a.job.runtime.threads,
        args::Command::Serve(a) => a.runtime.threads,
        args::Command::Info(_)
        | args::Command::Models(_)
        | args::Command::Enqueue(_)
        | args::Command::Results(_) => None,
    };
    set_threads(threads);
    if let args::Command::Serve(a) = cli.command {
        // The server's own threads wait on sockets; its model workers run their batches on the
        // pool themselves (serve::queue).
        return serve::run(a);
    }
    rayon::scope(|_| dispatch(cli))
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        args::Command::Translate(a) => translate::run(a),
        args::Command::Summarize(a) => summarize::run_summarize(a),
        args::Command::Brief(a) => summarize::run_brief(a),
        args::Command::Info(a) => info::run(a),
        args::Command::Bench(a) => bench::run(a),
        args::Command::Batch(a) => batch::run(a),
        args::Command::Enqueue(a) => streams::enqueue(a),
        args::Command::Worker(a) => streams::worker(a),
        args::Command::Results(a) => streams::results(a),
        args::Command::Models(a) => models::run(a),
        args::Command::Serve(a) => serve::run(a),
    }
}

/// Apply `--threads` before any thread pool starts.
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads.filter(|&n| n > 0) {
        // candle sizes its matmul thread pool from RAYON_NUM_THREADS; set before any work starts.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}

#[cfg(test)]
mod tests {
    use tolk::registry::{Registry, Task};

    #[test]
    fn the_default_summarizer_is_the_registrys() {
        let registry = Registry::builtin().unwrap();
        let entry = registry.default_for(Task::Summarize).unwrap();
        assert_eq!(
            entry.model_ref().as_deref(),
            Some(super::DEFAULT_SUMMARY_MODEL)
        );
    }

    #[test]
    fn the_default_translator_serves_danish() {
        let registry = Registry::builtin().unwrap();
        let entry = registry.translator_for("da", "en").unwrap();
        assert_eq!(
            entry.model_ref().as_deref(),
            Some("Helsinki-NLP/opus-mt-da-en"),
            "tolk translate's default --model"
        );
    }
}
