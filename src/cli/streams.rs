//! `tolk enqueue`, `tolk worker`, `tolk results`: the batch job shared through Redis Streams
//! (see the library's `streams` module for keys and guarantees).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tolk::jobs::input::RecordReader;
use tolk::jobs::output::OutputLog;
use tolk::streams::worker::{run_worker, WorkerEvent, WorkerOptions};
use tolk::streams::{conn, enqueue as queue, results as drain, Keys};

use super::args::{EnqueueArgs, RedisArgs, ResultsArgs, WorkerArgs};
use super::batch::{setup, Setup};
use super::set_threads;

fn keys(a: &RedisArgs) -> Keys {
    Keys::new(&a.stream, &a.results)
}

fn connect(a: &RedisArgs) -> Result<redis::Connection> {
    let client = conn::client(&a.redis)?;
    conn::connect(&client).with_context(|| {
        format!(
            "cannot connect to Redis at {}; is redis-server running there?",
            a.redis
        )
    })
}

/// SIGTERM and SIGINT set the returned flag (the work in hand is finished first).
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot handle signals")?;
    }
    Ok(stop)
}

pub fn enqueue(a: EnqueueArgs) -> Result<()> {
    let mut con = connect(&a.redis)?;
    let records = RecordReader::open(&a.input)?;
    let started = Instant::now();
    let report = queue::enqueue(&mut con, &keys(&a.redis), records, &mut |_| {})?;
    if !a.quiet {
        eprintln!(
            "enqueue: {} records queued on {}, {} already queued or done; {:.1}s",
            report.queued,
            a.redis.stream,
            report.already,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn default_consumer() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}", std::process::id())
}

pub fn worker(a: WorkerArgs) -> Result<()> {
    set_threads(a.job.runtime.threads);
    let quiet = a.job.runtime.quiet;
    let client = conn::client(&a.redis.redis)?;
    let Setup {
        mut models,
        detector,
        opts,
    } = setup(&a.job)?;
    models
        .preload()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the worker cannot load its models, so it takes no work")?;
    let stop = stop_flag()?;
    let wopts = WorkerOptions {
        group: a.group.clone(),
        consumer: a.consumer.clone().unwrap_or_else(default_consumer),
        claim_idle_ms: a.claim_idle_ms as u64,
        max_deliveries: a.max_deliveries,
        once: a.once,
        status_every: Duration::from_secs(5),
    };
    let started = Instant::now();
    let mut done = 0usize;
    if !quiet {
        eprintln!(
            "worker {}: taking {} in group {} from {}",
            wopts.consumer, a.redis.stream, wopts.group, a.redis.redis
        );
    }
    let report = run_worker(
        &client,
        &keys(&a.redis),
        &wopts,
        &mut models,
        detector.as_ref(),
        &opts,
        &stop,
        &mut |e| {
            match e {
            WorkerEvent::Written { .. } => done += 1,
            WorkerEvent::Status {
                length,
                pending,
                lag,
            } if !quiet => {
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                let lag = lag.map_or("?".to_string(), |l| l.to_string());
                eprintln!(
                    "worker {}: {done} documents ({:.2}/s); stream {length} entries, {pending} pending, {lag} not yet read",
                    wopts.consumer,
                    done as f64 / secs
                );
            }
            WorkerEvent::Reconnecting { error, retry_in } => eprintln!(
                "warning: Redis unreachable ({error}); retrying in {:.1}s",
                retry_in.as_secs_f64()
            ),
            WorkerEvent::DeadLettered { key, deliveries } => eprintln!(
                "warning: {key} was delivered {deliveries} times without finishing; moved to {}:dead",
                a.redis.stream
            ),
            WorkerEvent::Broke { key, error } => {
                eprintln!("warning: {key}: {error}; it stays queued for another try")
            }
            _ => {}
        }
        },
    )?;
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "worker {}: {} documents written ({} failed), {} already done, {} dead-lettered; {:.1}s, {:.2} documents/s, {} generated tokens",
            wopts.consumer,
            report.written,
            report.failed,
            report.already_done,
            report.dead_lettered,
            secs,
            report.written as f64 / secs.max(1e-9),
            report.counts.generated_tokens,
        );
    }
    Ok(())
}

pub fn results(a: ResultsArgs) -> Result<()> {
    let mut con = connect(&a.redis)?;
    let (mut out, _) = OutputLog::open(&a.output, false)?;
    let stop = stop_flag()?;
    let report = drain::drain(
        &mut con,
        &keys(&a.redis),
        &mut out,
        a.follow,
        &stop,
        &mut |_| {},
    )?;
    if !a.quiet {
        eprintln!(
            "results: {} records written ({} failed), {} already in {}",
            report.written,
            report.failed,
            report.already,
            a.output.display()
        );
    }
    Ok(())
}
