//! `tolk enqueue` / `worker` / `results` against a real `redis-server`: workers sharing a
//! stream give what one `tolk batch` gives, record for record; a worker killed mid-window loses
//! nothing (its entries are claimed, every id is done once); a Redis restart mid-run loses
//! nothing; a poison record ends in the dead-letter stream; malformed entries become failed
//! records. `TOLK_KILL_REPEAT=N` runs the kill test N times.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::fixture;
use crate::support::redis_server::RedisServer;

fn tolk() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("tolk"));
    c.env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove(tolk::streams::worker::PANIC_ON_ENV)
        .env("HF_HOME", std::env::temp_dir().join("tolk-tests-no-cache"));
    c
}

/// The job flags every run here uses (tiny model, Danish given, no summary).
const JOB: &[&str] = &["--from", "da", "--no-summary", "--max-new-tokens", "6"];

fn tiny() -> String {
    fixture("marian/tiny-st").display().to_string()
}

/// `n` documents of a few sentences each, ids `{prefix}{i}`, and two lines `tolk batch` fails.
fn write_docs(path: &Path, prefix: &str, n: usize) {
    const S: &[&str] = &[
        "Rusland og USA er klar til at forhandle om Syrien.",
        "Ministeren sagde torsdag, at mødet i Genève var godt.",
        "Der er stadig uenighed om våbenhvilen.",
        "Forhandlingerne fortsætter i næste uge.",
    ];
    let mut out = String::new();
    for i in 0..n {
        let text: Vec<&str> = (0..2 + i % 3).map(|k| S[(i + k) % S.len()]).collect();
        let text = format!("{} Nummer {i}.", text.join(" "));
        out.push_str(&serde_json::json!({"id": format!("{prefix}{i}"), "text": text}).to_string());
        out.push('\n');
    }
    out.push_str("{not json\n{\"text\": \"uden id\"}\n");
    std::fs::write(path, out).unwrap();
}

/// The queue flags for stream `name`.
fn queue(server: &RedisServer, name: &str) -> Vec<String> {
    vec![
        "--redis".into(),
        server.url(),
        "--stream".into(),
        format!("{name}:in"),
        "--results".into(),
        format!("{name}:out"),
    ]
}

fn enqueue(server: &RedisServer, name: &str, input: &Path) -> String {
    let out = tolk()
        .arg("enqueue")
        .args(queue(server, name))
        .arg(input)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

/// Start a worker; its stderr goes to `log`.
fn spawn_worker(
    server: &RedisServer,
    name: &str,
    consumer: &str,
    extra: &[&str],
    log: &Path,
) -> Child {
    tolk()
        .arg("worker")
        .args(queue(server, name))
        .args(["--consumer", consumer])
        .args(JOB)
        .args(["-m", &tiny()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("worker starts")
}

fn wait_ok(mut child: Child, log: &Path) {
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "worker exited with {status}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Records by key, without the timings (which differ run to run).
fn by_key(path: &Path) -> BTreeMap<String, Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut r: Value = serde_json::from_str(l).unwrap();
            r.as_object_mut().unwrap().remove("timings");
            (tolk::jobs::output::record_key(&r), r)
        })
        .collect()
}

fn batch_reference(input: &Path, dir: &Path) -> BTreeMap<String, Value> {
    let out = dir.join("batch.jsonl");
    let status = tolk()
        .args(["batch", "--quiet"])
        .args(JOB)
        .args(["-m", &tiny(), "-o"])
        .arg(&out)
        .arg(input)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "the two bad lines fail");
    by_key(&out)
}

fn drain(server: &RedisServer, name: &str, out: &Path) -> String {
    let o = tolk()
        .arg("results")
        .args(queue(server, name))
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    err
}

/// Every entry of the results stream: (key, record).
fn results_stream(con: &mut redis::Connection, name: &str) -> Vec<(String, Value)> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(format!("{name}:out"))
        .arg("-")
        .arg("+")
        .query(con)
        .unwrap();
    reply
        .ids
        .iter()
        .map(|e| {
            let key: String = e.get("key").unwrap();
            let raw: String = e.get("record").unwrap();
            (key, serde_json::from_str(&raw).unwrap())
        })
        .collect()
}

fn hlen(con: &mut redis::Connection, key: &str) -> usize {
    redis::cmd("HLEN").arg(key).query(con).unwrap()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn workers_sharing_a_stream_give_what_batch_gives() {
    let Some(server) = RedisServer::start(false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_docs(&input, "d", 40);
    let want = batch_reference(&input, dir.path());
    assert_eq!(want.len(), 42);
    for workers in [1usize, 2, 3] {
        let name = format!("w{workers}");
        let first = enqueue(&server, &name, &input);
        assert!(first.contains("42 records queued"), "{first}");
        let again = enqueue(&server, &name, &input);
        assert!(
            again.contains("0 records queued") && again.contains("42 already"),
            "{again}"
        );
        // A follower started before the workers writes records as they come.
        let followed = dir.path().join(format!("{name}-followed.jsonl"));
        let follower = tolk()
            .arg("results")
            .args(queue(&server, &name))
            .args(["--follow", "-o"])
            .arg(&followed)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let logs: Vec<PathBuf> = (0..workers)
            .map(|k| dir.path().join(format!("{name}-{k}.log")))
            .collect();
        let children: Vec<Child> = (0..workers)
            .map(|k| {
                spawn_worker(
                    &server,
                    &name,
                    &format!("c{k}"),
                    &["--once", "--window-docs", "4"],
                    &logs[k],
                )
            })
            .collect();
        for (child, log) in children.into_iter().zip(&logs) {
            wait_ok(child, log);
        }
        wait_until(
            "the follower to write every record",
            Duration::from_secs(30),
            || std::fs::read_to_string(&followed).is_ok_and(|t| t.lines().count() == 42),
        );
        signal(&follower, "TERM");
        let mut follower = follower;
        assert!(
            follower.wait().unwrap().success(),
            "the follower stops cleanly"
        );
        assert_eq!(by_key(&followed), want, "followed results");
        let out = dir.path().join(format!("{name}.jsonl"));
        let said = drain(&server, &name, &out);
        assert!(said.contains("42 records written (2 failed)"), "{said}");
        assert_eq!(by_key(&out), want, "{workers} workers vs one batch run");
        // Resumable: a second drain adds nothing.
        let said = drain(&server, &name, &out);
        assert!(
            said.contains("0 records written") && said.contains("42 already"),
            "{said}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 42);
        // Queueing after the work is done queues nothing either.
        let late = enqueue(&server, &name, &input);
        assert!(late.contains("0 records queued"), "{late}");
    }
}

#[test]
fn a_killed_worker_loses_nothing_and_every_id_is_done_once() {
    let Some(server) = RedisServer::start(false) else {
        return;
    };
    let repeat: usize = std::env::var("TOLK_KILL_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    const N: usize = 150;
    write_docs(&input, "k", N);
    let mut con = server.connection();
    for round in 0..repeat {
        let name = format!("kill{round}");
        enqueue(&server, &name, &input);
        let flags = ["--window-docs", "6", "--claim-idle-ms", "300", "-q"];
        let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let a = spawn_worker(&server, &name, "a", &flags, &log_a);
        let b = spawn_worker(&server, &name, "b", &flags, &log_b);
        // Kill `a` while it holds a window, after some results exist.
        let pending_of_a = |con: &mut redis::Connection| -> usize {
            let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(format!("{name}:in"))
                .arg("tolk")
                .arg("-")
                .arg("+")
                .arg(1000)
                .arg("a")
                .query(con)
                .unwrap_or_default();
            reply.ids.len()
        };
        wait_until("worker a to hold a window", Duration::from_secs(60), || {
            hlen(&mut con, &format!("{name}:out:done")) >= 12 && pending_of_a(&mut con) > 0
        });
        let mut a = a;
        a.kill().unwrap();
        a.wait().unwrap();
        let killed = Instant::now();
        let held = pending_of_a(&mut con);
        assert!(held > 0);
        wait_until("a's entries to be claimed", Duration::from_secs(60), || {
            pending_of_a(&mut con) == 0
        });
        let claimed_after = killed.elapsed();
        wait_until("every record", Duration::from_secs(120), || {
            hlen(&mut con, &format!("{name}:out:done")) == N + 2
        });
        signal(&b, "TERM");
        wait_ok(b, &log_b);
        let results = results_stream(&mut con, &name);
        let keys: HashSet<&str> = results.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(results.len(), N + 2, "one result per record, none twice");
        assert_eq!(keys.len(), N + 2);
        for i in 0..N {
            assert!(
                keys.contains(format!("id:\"k{i}\"").as_str()),
                "k{i} missing"
            );
        }
        let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(format!("{name}:in"))
            .arg("tolk")
            .query(&mut con)
            .unwrap();
        assert_eq!(pending.count(), 0, "nothing left unacknowledged");
        eprintln!(
            "kill round {round}: a held {held} entries; claimed {:.2} s after the kill",
            claimed_after.as_secs_f64()
        );
    }
}

#[test]
fn a_redis_restart_mid_run_loses_nothing() {
    let Some(mut server) = RedisServer::start(true) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    const N: usize = 100;
    write_docs(&input, "r", N);
    enqueue(&server, "rs", &input);
    let log = dir.path().join("w.log");
    let w = spawn_worker(
        &server,
        "rs",
        "w",
        &["--window-docs", "4", "--claim-idle-ms", "500"],
        &log,
    );
    let mut con = server.connection();
    wait_until("some results", Duration::from_secs(60), || {
        hlen(&mut con, "rs:out:done") >= 8
    });
    server.restart();
    let mut con = server.connection();
    wait_until(
        "every record after the restart",
        Duration::from_secs(120),
        || hlen(&mut con, "rs:out:done") == N + 2,
    );
    signal(&w, "TERM");
    wait_ok(w, &log);
    let results = results_stream(&mut con, "rs");
    let keys: HashSet<&str> = results.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(results.len(), N + 2);
    assert_eq!(keys.len(), N + 2);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("Redis unreachable"),
        "the worker saw Redis go: {said}"
    );
}

#[test]
fn a_poison_record_is_dead_lettered_and_malformed_entries_fail_alone() {
    let Some(server) = RedisServer::start(false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_docs(&input, "p", 10);
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push_str("{\"id\": \"poison\", \"text\": \"Dette er POISON for modellen.\"}\n");
    std::fs::write(&input, text).unwrap();
    enqueue(&server, "ps", &input);
    let mut con = server.connection();
    // Entries something else wrote: no record field, and a record that is not JSON.
    let _: String = redis::cmd("XADD")
        .arg("ps:in")
        .arg("*")
        .arg("junk")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("ps:in")
        .arg("*")
        .arg("record")
        .arg("{broken")
        .query(&mut con)
        .unwrap();
    let log = dir.path().join("w.log");
    let mut cmd = tolk();
    cmd.env(tolk::streams::worker::PANIC_ON_ENV, "POISON");
    let w = cmd
        .arg("worker")
        .args(queue(&server, "ps"))
        .args([
            "--consumer",
            "w",
            "--window-docs",
            "4",
            "--claim-idle-ms",
            "100",
        ])
        .args(["--max-deliveries", "2"])
        .args(JOB)
        .args(["-m", &tiny()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // 10 documents, 2 bad lines, the poison one, 2 malformed entries.
    wait_until("every record", Duration::from_secs(60), || {
        hlen(&mut con, "ps:out:done") == 15
    });
    signal(&w, "TERM");
    wait_ok(w, &log);
    let out = dir.path().join("out.jsonl");
    drain(&server, "ps", &out);
    let records = by_key(&out);
    assert_eq!(records.len(), 15);
    let poison = &records["id:\"poison\""];
    let err = poison["error"].as_str().unwrap();
    assert!(
        err.contains("given up after 3 deliveries") && err.contains("PANIC_ON matched"),
        "{err}"
    );
    for i in 0..10 {
        let r = &records[&format!("id:\"p{i}\"")];
        assert!(
            r.get("error").is_none() && r["translation"].is_string(),
            "{r}"
        );
    }
    let malformed: Vec<&Value> = records
        .values()
        .filter(|r| r.get("entry").is_some())
        .collect();
    assert_eq!(malformed.len(), 2);
    for r in malformed {
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("is not a tolk record"),
            "{r}"
        );
    }
    let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("ps:in:dead")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    assert_eq!(dead.ids.len(), 1);
    let key: String = dead.ids[0].get("key").unwrap();
    assert_eq!(key, "id:\"poison\"");
    let why: String = dead.ids[0].get("error").unwrap();
    assert!(why.contains("TOLK_TEST_PANIC_ON matched"), "{why}");
}

#[test]
fn a_worker_whose_model_cannot_load_takes_no_work() {
    let Some(server) = RedisServer::start(false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_docs(&input, "m", 3);
    enqueue(&server, "bad", &input);
    let out = tolk()
        .arg("worker")
        .args(queue(&server, "bad"))
        .args(["--once", "-m", "/nonexistent/model"])
        .args(["--from", "da", "--no-summary"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot load its models"), "{err}");
    let mut con = server.connection();
    assert_eq!(hlen(&mut con, "bad:out:done"), 0, "no record written");
    let groups: redis::RedisResult<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("bad:in")
        .query(&mut con);
    let no_group = matches!(groups, Ok(redis::Value::Array(ref g)) if g.is_empty());
    assert!(no_group, "the worker never joined the group: {groups:?}");
}
