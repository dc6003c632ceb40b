#!/usr/bin/env python3
"""Whole-process speed and memory of tolk against CTranslate2 on the Argos zh->en 1.9 package.

This is the benchmark of record for speed where users see it: every repetition of every
configuration is a whole, fresh process, timed from launch to exit, so start-up, model loading
and shutdown count as well as the translation itself.

Input: benches/data/zh-news.txt (real Chinese news sentences, one per line) unless --input is
given; --limit N keeps only the first N lines. Blank lines are dropped and the cleaned lines
are written to one temporary file that every engine reads, so all of them see the same input.

Configurations, each at beam 1 and beam 4 (--beams) with the same thread count (--threads):
  * CTranslate2 as Argos Translate runs it: a Python worker process (this script with a hidden
    --worker option) that imports ctranslate2 and sentencepiece, builds
    `ctranslate2.Translator(model_dir, device="cpu", compute_type=C, inter_threads=1,
    intra_threads=N)`, encodes every line with `sp.encode(line, out_type=str)`, calls
    `translate_batch(pieces, beam_size=B, max_batch_size=32)` once on all of them and decodes
    the best hypotheses with SentencePiece. C is "default" (the package's own int8 weights) and
    "float32". The worker times the imports, the model load (SentencePiece + Translator) and
    the translation separately; the driver adds the time from launch to the end of the imports.
  * tolk: `tolk translate --lines --model PACKAGE --beams B --threads N --format json --quiet`
    reading the input on stdin, as shipped (no --dtype), with --dtype int8 and with --dtype f32.
    tolk reports load_seconds, translate_seconds and generated_tokens in its JSON.
    tolk may cache packed weights in $TOLK_CACHE. Each tolk variant gets its own empty
    directory under a temporary folder of this script; each configuration first runs once
    "cold" (its directory emptied just before) and then --reps timed "warm" runs with the cache
    left in place. The cold run is reported apart (its load time) and is not in the medians.
    If the binary does not use the variable, cold and warm are simply the first and later runs.

A worker that only imports ctranslate2 and sentencepiece gives the Python interpreter's own
share of the CT2 time and memory.

Per configuration: whole-process wall seconds (min, median), in-process load seconds (median;
for CT2 also the interpreter + import time), translate seconds (min, median), sentences/s and
generated tokens/s over translate time (medians), peak RSS (the largest over the repetitions,
from os.wait4's ru_maxrss of that child alone) and the share of the machine's CPU time that
other processes used while it ran (/proc/stat). Generated tokens are decoder steps with the
end-of-sequence step: tolk's generated_tokens; for CT2 the output pieces plus one for each
hypothesis shorter than max_decoding_length (256).

Then: ratios per beam (tolk default and tolk int8 against CT2 default, tolk f32 against CT2
float32), how many English outputs are identical between the engines, and (unless --no-batch)
a `tolk batch` section: --batch-count documents from scripts/make_batch_docs.py translated by
`tolk batch docs.jsonl -o out.jsonl --model PACKAGE --from zh --no-summary --threads N --quiet`
(the package's default beam size) against a CT2 worker that splits the same documents into
sentences after 。！？ and translates all of them with translate_batch(max_batch_size=32,
beam_size=4, compute_type default).

Before starting, the script waits (up to --wait seconds) for the 1-minute load average to drop
to --max-load and records whether it did. Machine, versions, commits and the tolk binary's
SHA-256 (before and after the run) are recorded.

Writes docs/bench/argos-zh-en.json (everything, with per-run numbers), argos-zh-en.md (tables
and notes) and argos-zh-en.png (chart), or into --out-dir.

Usage:
    .venv/bin/python scripts/bench_argos.py [--tolk target/release/tolk] [--package ...]
        [--threads 2] [--reps 3] [--no-batch]
Other options: --input FILE, --limit N, --beams 1,4, --batch-reps 1, --batch-count 200,
--max-load 1.5, --wait 600, --out-dir DIR, --tolk-source DIR, --tolk-commit SHA.
Quick check: .venv/bin/python scripts/bench_argos.py --limit 6 --reps 1 --no-batch \\
    --max-load 99 --out-dir /tmp/bench-check
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = ROOT / "benches" / "data" / "zh-news.txt"
DEFAULT_OUT = ROOT / "docs" / "bench"
BASENAME = "argos-zh-en"
CT2_COMPUTE = ["default", "float32"]
TOLK_VARIANTS = {  # name -> extra command-line arguments
    "default": [],
    "int8": ["--dtype", "int8"],
    "f32": ["--dtype", "f32"],
}
CT2_MAX_DECODING_LENGTH = 256  # CTranslate2's default for translate_batch
CT2_MAX_BATCH_SIZE = 32
BATCH_BEAM = 4  # the Argos package's default beam size, used by the CT2 batch worker
SENTENCE_END = re.compile(r"(?<=[。！？])")


def read_lines(path, limit=None):
    lines = [l.strip() for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]
    return lines[:limit] if limit else lines


def split_sentences(text):
    """Documents -> sentences, the simple way: per line, split after 。！？, drop empties."""
    out = []
    for line in text.splitlines():
        out += [p.strip() for p in SENTENCE_END.split(line) if p.strip()]
    return out


# ------------------------------------------------------------------ workers (one CT2 process)

def worker(args):
    """Runs in its own process: load CT2, translate once, print one JSON line on stdout."""
    t0 = time.perf_counter()
    import ctranslate2
    import sentencepiece as spm
    import_seconds = time.perf_counter() - t0
    imports_done_epoch = time.time()
    if args.worker == "baseline":
        print(json.dumps({"import_seconds": import_seconds,
                          "imports_done_epoch": imports_done_epoch}))
        return

    package = Path(args.package)
    t0 = time.perf_counter()
    sp = spm.SentencePieceProcessor(model_file=str(package / "sentencepiece.model"))
    t1 = time.perf_counter()
    translator = ctranslate2.Translator(
        str(package / "model"),
        device="cpu",
        compute_type=args.compute_type,
        inter_threads=1,
        intra_threads=args.threads,
    )
    t2 = time.perf_counter()

    t_start = time.perf_counter()
    if args.worker == "ct2":
        lines = read_lines(args.lines_file)
    else:  # ct2-batch: documents as JSONL, split into sentences
        lines = []
        with open(args.lines_file, encoding="utf-8") as f:
            for row in f:
                if row.strip():
                    lines += split_sentences(json.loads(row)["text"])
    pieces = [sp.encode(l, out_type=str) for l in lines]
    results = translator.translate_batch(pieces, beam_size=args.beam,
                                         max_batch_size=CT2_MAX_BATCH_SIZE)
    outputs = [r.hypotheses[0] for r in results]
    english = [sp.decode(o).replace("\u2581", " ").strip() for o in outputs]
    translate_seconds = time.perf_counter() - t_start

    tokens = sum(len(o) + (1 if len(o) < CT2_MAX_DECODING_LENGTH else 0) for o in outputs)
    report = {
        "import_seconds": import_seconds,
        "imports_done_epoch": imports_done_epoch,
        "sentencepiece_load_seconds": t1 - t0,
        "translator_seconds": t2 - t1,
        "load_seconds": t2 - t0,
        "translate_seconds": translate_seconds,
        "sentences": len(lines),
        "source_pieces": sum(len(p) for p in pieces),
        "generated_tokens": tokens,
        "compute_type_used": getattr(translator, "compute_type", None),
    }
    if args.worker == "ct2":
        report["translations"] = english
    print(json.dumps(report, ensure_ascii=False))


# ------------------------------------------------------------------ measuring child processes

def cpu_jiffies():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def run_child(cmd, env=None, stdin_path=None, cwd=None):
    """Run `cmd` to the end. Returns a dict: returncode, stdout (bytes), stderr tail (text),
    wall seconds, launch time (epoch), peak RSS MiB of that child alone, and the share of the
    machine's CPU time that other processes used meanwhile."""
    hz = os.sysconf("SC_CLK_TCK")
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        with tempfile.TemporaryFile() as errf:
            busy0, total0 = cpu_jiffies()
            launch_epoch = time.time()
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=errf,
                                 env=env, cwd=cwd)
            out = p.stdout.read()
            p.stdout.close()
            # wait4, not wait: ru_maxrss of this child alone (RUSAGE_CHILDREN is a running max).
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            busy1, total1 = cpu_jiffies()
            p.returncode = os.waitstatus_to_exitcode(status)
            errf.seek(0)
            err = errf.read()[-4000:].decode(errors="replace")
    finally:
        if stdin_path:
            stdin.close()
    child = (usage.ru_utime + usage.ru_stime) * hz
    others = max(0.0, (busy1 - busy0) - child) / max(1, total1 - total0)
    return {
        "returncode": p.returncode,
        "stdout": out,
        "stderr_tail": err,
        "wall_seconds": wall,
        "launch_epoch": launch_epoch,
        "peak_rss_mib": usage.ru_maxrss / 1024.0,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "others_cpu_share": others,
    }


def check(res, cmd):
    if res["returncode"] != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({res['returncode']}):\n{res['stderr_tail']}")
    return res


def wait_for_binary(path, seconds=300):
    """The binary may be rebuilt while we run; wait for it to be back."""
    deadline = time.time() + seconds
    while not path.is_file() and time.time() < deadline:
        time.sleep(5)
    return path.is_file()


def sha256(path):
    # In chunks: the driver must stay small. A child's ru_maxrss starts from the RSS of the
    # process it was forked from, so a big driver would raise every child's peak.
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def own_peak_rss_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def dir_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def empty_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    Path(path).mkdir(parents=True)


# ------------------------------------------------------------------ machine and versions

def wait_for_quiet(max_load, wait):
    """Wait up to `wait` seconds for the 1-minute load average to drop to `max_load`."""
    deadline = time.time() + wait
    while os.getloadavg()[0] > max_load and time.time() < deadline:
        time.sleep(10)
    return os.getloadavg()[0] <= max_load


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total_mib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def git(path, *args):
    try:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------ one configuration

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ct2_config(args, me, lines_file, package, compute, beam):
    runs = []
    for _ in range(args.reps):
        cmd = me + ["--worker", "ct2", "--package", str(package), "--compute-type", compute,
                    "--beam", str(beam), "--threads", str(args.threads),
                    "--lines-file", str(lines_file)]
        res = check(run_child(cmd), cmd)
        r = json.loads(res["stdout"])
        r["startup_seconds"] = r.pop("imports_done_epoch") - res["launch_epoch"]
        r.update({k: res[k] for k in ("wall_seconds", "peak_rss_mib", "cpu_seconds",
                                       "others_cpu_share")})
        runs.append(r)
    return summarize({"engine": "ctranslate2", "variant": compute, "beam": beam}, runs)


def tolk_config(args, tolk, lines_file, package, variant, beam, cache_dir):
    cmd = [str(tolk), "translate", "--lines", "--model", str(package), "--beams", str(beam),
           "--threads", str(args.threads), "--format", "json", "--quiet"] + TOLK_VARIANTS[variant]
    env = dict(os.environ, TOLK_CACHE=str(cache_dir))
    config = {"engine": "tolk", "variant": variant, "beam": beam,
              "command": " ".join(cmd[1:]) + " < input"}

    def once():
        if not wait_for_binary(tolk):
            return None, {"error": f"no binary at {tolk}"}
        res = run_child(cmd, env=env, stdin_path=lines_file)
        if res["returncode"] != 0:
            return None, {"error": f"exit status {res['returncode']}",
                          "stderr_tail": res["stderr_tail"][-1500:]}
        j = json.loads(res["stdout"])
        return {
            "load_seconds": j.get("load_seconds"),
            "translate_seconds": j["translate_seconds"],
            "sentences": len(j["sentences"]),
            "source_tokens": j.get("source_tokens"),
            "generated_tokens": j["generated_tokens"],
            "translations": [s["translation"].strip() for s in j["sentences"]],
            **{k: res[k] for k in ("wall_seconds", "peak_rss_mib", "cpu_seconds",
                                   "others_cpu_share")},
        }, None

    empty_dir(cache_dir)
    cold, err = once()
    if err:
        return {**config, "failed": err}
    cold["cache_bytes_after"] = dir_bytes(cache_dir)
    runs = []
    for _ in range(args.reps):
        r, err = once()
        if err:
            return {**config, "failed": err, "cold_run": cold}
        runs.append(r)
    s = summarize(config, runs)
    s["cold_run"] = {k: v for k, v in cold.items() if k != "translations"}
    s["cold_load_seconds"] = cold["load_seconds"]
    s["cold_wall_seconds"] = cold["wall_seconds"]
    s["cache_used"] = cold["cache_bytes_after"] > 0
    s["cold_outputs_match_warm"] = cold["translations"] == runs[0]["translations"]
    return s


def summarize(config, runs):
    walls = [r["wall_seconds"] for r in runs]
    trans = [r["translate_seconds"] for r in runs]
    s = {
        **config,
        "reps": len(runs),
        "sentences": runs[0]["sentences"],
        "generated_tokens": runs[0]["generated_tokens"],
        "wall_seconds_min": min(walls),
        "wall_seconds_median": median(walls),
        "load_seconds_median": median(r.get("load_seconds") for r in runs),
        "translate_seconds_min": min(trans),
        "translate_seconds_median": median(trans),
        "sentences_per_s_median": median(r["sentences"] / r["translate_seconds"] for r in runs),
        "tokens_per_s_median": median(r["generated_tokens"] / r["translate_seconds"]
                                      for r in runs),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "others_cpu_share_max": max(r["others_cpu_share"] for r in runs),
        "others_cpu_share_median": median(r["others_cpu_share"] for r in runs),
        "outputs_stable_across_reps": all(r.get("translations") == runs[0].get("translations")
                                          for r in runs),
        "translations": runs[0].get("translations"),
        "runs": [{k: v for k, v in r.items() if k != "translations"} for r in runs],
    }
    if config["engine"] == "ctranslate2":
        s["startup_seconds_median"] = median(r["startup_seconds"] for r in runs)
        s["import_seconds_median"] = median(r["import_seconds"] for r in runs)
        s["translator_seconds_median"] = median(r["translator_seconds"] for r in runs)
        s["compute_type_used"] = runs[0].get("compute_type_used")
    return s


def label(x):
    if x["engine"] == "ctranslate2":
        return f"CT2 {x['variant']}"
    return "tolk" if x["variant"] == "default" else f"tolk {x['variant']}"


# ------------------------------------------------------------------ the batch section

def batch_section(args, me, tolk, package, tmp, cache_dir):
    work = tmp / "batch"
    work.mkdir()
    docs = work / "docs.jsonl"
    with open(docs, "wb") as f:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_batch_docs.py"),
                        "--count", str(args.batch_count)], stdout=f, check=True)
    n_docs = sum(1 for l in docs.read_text(encoding="utf-8").splitlines() if l.strip())
    n_sentences = sum(len(split_sentences(json.loads(l)["text"]))
                      for l in docs.read_text(encoding="utf-8").splitlines() if l.strip())
    out = work / "out.jsonl"
    # Run in `work` with relative file names, so the recorded command reads as a user's would.
    cmd = [str(tolk), "batch", docs.name, "-o", out.name, "--model", str(package), "--from",
           "zh", "--no-summary", "--threads", str(args.threads), "--quiet"]
    env = dict(os.environ, TOLK_CACHE=str(cache_dir))
    section = {
        "documents": n_docs,
        "sentences_split_simply": n_sentences,
        "generator": f"scripts/make_batch_docs.py --count {args.batch_count}",
        "reps": args.batch_reps,
        "tolk_command": " ".join(["tolk"] + cmd[1:]),
        "tolk_beams": "not given: the model's default (4 for this Argos package)",
        "tolk_cache": "the default variant's TOLK_CACHE, as the translate section left it",
        "ct2": {"beam": BATCH_BEAM, "compute_type": "default",
                "max_batch_size": CT2_MAX_BATCH_SIZE},
    }
    tolk_runs = []
    for _ in range(args.batch_reps):
        out.unlink(missing_ok=True)  # tolk batch resumes: an old output would be skipped
        if not wait_for_binary(tolk):
            section["tolk_failed"] = f"no binary at {tolk}"
            break
        res = run_child(cmd, env=env, cwd=work)
        if res["returncode"] != 0:
            section["tolk_failed"] = {"error": f"exit status {res['returncode']}",
                                      "stderr_tail": res["stderr_tail"][-1500:]}
            break
        records = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()
                   if l.strip()]
        tolk_runs.append({
            "records": len(records),
            "failed_records": sum(1 for r in records if r.get("error")),
            **{k: res[k] for k in ("wall_seconds", "peak_rss_mib", "cpu_seconds",
                                   "others_cpu_share")},
        })
    ct2_runs = []
    for _ in range(args.batch_reps):
        wcmd = me + ["--worker", "ct2-batch", "--package", str(package), "--compute-type",
                     "default", "--beam", str(BATCH_BEAM), "--threads", str(args.threads),
                     "--lines-file", str(docs)]
        res = check(run_child(wcmd), wcmd)
        r = json.loads(res["stdout"])
        r["startup_seconds"] = r.pop("imports_done_epoch") - res["launch_epoch"]
        r.update({k: res[k] for k in ("wall_seconds", "peak_rss_mib", "cpu_seconds",
                                       "others_cpu_share")})
        ct2_runs.append(r)

    def summary(runs):
        if not runs:
            return None
        wall = median(r["wall_seconds"] for r in runs)
        return {
            "wall_seconds_min": min(r["wall_seconds"] for r in runs),
            "wall_seconds_median": wall,
            "documents_per_s": n_docs / wall,
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "others_cpu_share_max": max(r["others_cpu_share"] for r in runs),
            "runs": runs,
        }

    section["tolk_result"] = summary(tolk_runs)
    section["ct2_result"] = summary(ct2_runs)
    if tolk_runs and ct2_runs:
        section["speed_ratio_ct2_wall_over_tolk_wall"] = (
            section["ct2_result"]["wall_seconds_median"]
            / section["tolk_result"]["wall_seconds_median"])
        section["peak_rss_ratio_tolk_over_ct2"] = (section["tolk_result"]["peak_rss_mib"]
                                                   / section["ct2_result"]["peak_rss_mib"])
    return section


# ------------------------------------------------------------------ the whole benchmark

def bench(args):
    package = Path(args.package).resolve()
    tolk = Path(args.tolk).resolve()
    out_dir = Path(args.out_dir).resolve()
    beams = [int(b) for b in args.beams.split(",")]
    if not (package / "model" / "model.bin").is_file():
        sys.exit(f"no Argos package at {package}; run scripts/fetch-test-models")
    if not wait_for_binary(tolk, 60):
        sys.exit(f"no tolk binary at {tolk}; build it with `cargo build --release`")
    if args.reps < 1 or args.batch_reps < 1:
        sys.exit("--reps and --batch-reps must be at least 1")
    lines = read_lines(args.input, args.limit)
    if not lines:
        sys.exit(f"no lines in {args.input}")

    quiet = wait_for_quiet(args.max_load, args.wait)
    load_before, uptime_before = list(os.getloadavg()), uptime()
    started = datetime.datetime.now().astimezone()
    binary_sha_before = sha256(tolk)
    version = subprocess.run([str(tolk), "--version"], capture_output=True,
                             text=True).stdout.strip()
    me = [sys.executable, str(Path(__file__).resolve())]
    tmp = Path(tempfile.mkdtemp(prefix="bench-argos-"))
    try:
        lines_file = tmp / "input.txt"
        lines_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

        cmd = me + ["--worker", "baseline"]
        base_runs = []
        for _ in range(args.reps):
            res = check(run_child(cmd), cmd)
            b = json.loads(res["stdout"])
            base_runs.append({
                "wall_seconds": res["wall_seconds"],
                "peak_rss_mib": res["peak_rss_mib"],
                "import_seconds": b["import_seconds"],
                "startup_seconds": b["imports_done_epoch"] - res["launch_epoch"],
            })
        baseline = {
            "wall_seconds": median(r["wall_seconds"] for r in base_runs),
            "import_seconds": median(r["import_seconds"] for r in base_runs),
            "startup_seconds": median(r["startup_seconds"] for r in base_runs),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in base_runs),
            "peak_rss_mib_min": min(r["peak_rss_mib"] for r in base_runs),
            "runs": base_runs,
        }
        log(f"python + ctranslate2/sentencepiece import only: {baseline['peak_rss_mib']:.0f} MiB,"
            f" {baseline['wall_seconds']:.2f} s")

        results = []
        for beam in beams:
            for compute in CT2_COMPUTE:
                s = ct2_config(args, me, lines_file, package, compute, beam)
                results.append(s)
                log_config(s)
            for variant in TOLK_VARIANTS:
                s = tolk_config(args, tolk, lines_file, package, variant, beam,
                                tmp / "cache" / variant)
                results.append(s)
                log_config(s)

        batch = None
        if not args.no_batch:
            log(f"batch section: {args.batch_count} documents, {args.batch_reps} rep(s) each")
            batch = batch_section(args, me, tolk, package, tmp, tmp / "cache" / "default")
            for name in ("tolk_result", "ct2_result"):
                if batch.get(name):
                    log(f"  {name[:-7]}: {batch[name]['wall_seconds_median']:.1f} s, "
                        f"{batch[name]['documents_per_s']:.2f} docs/s, "
                        f"{batch[name]['peak_rss_mib']:.0f} MiB")
        driver_rss = own_peak_rss_mib()  # before this process imports anything heavy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import ctranslate2
    import sentencepiece
    binary_sha_after = sha256(tolk)
    report = {
        "generator": "scripts/bench_argos.py",
        "date": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)),
            "memory_mib": memory_total_mib(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "uptime_before": uptime_before,
            "uptime_after": uptime(),
            "loadavg_before": load_before,
            "loadavg_after": list(os.getloadavg()),
            "waited_for_load_below": args.max_load,
            "load_was_below_limit_at_start": quiet,
        },
        "tolk": {
            "binary": str(tolk),
            "version": version,
            "binary_sha256_before": binary_sha_before,
            "binary_sha256_after": binary_sha_after,
            "binary_changed_during_run": binary_sha_before != binary_sha_after,
            "built_from": str(Path(args.tolk_source).resolve()),
            "built_from_commit": args.tolk_commit or git(args.tolk_source, "rev-parse", "HEAD"),
            "source_tree_dirty": bool(git(args.tolk_source, "status", "--porcelain",
                                          "--untracked-files=no")),
            "script_commit": git(ROOT, "rev-parse", "HEAD"),
        },
        "ctranslate2_version": ctranslate2.__version__,
        "sentencepiece_version": getattr(sentencepiece, "__version__", None),
        "package": str(package),
        "input": rel(args.input),
        "limit": args.limit,
        "sentences": len(lines),
        "threads": args.threads,
        "beams": beams,
        "reps": args.reps,
        "driver_peak_rss_mib": driver_rss,
        "python_baseline": baseline,
        "source_lines": lines,
        "results": results,
        "ratios": ratios(results, beams),
        "agreement": agreement(results, beams, len(lines)),
        "batch": batch,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{BASENAME}.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / f"{BASENAME}.md").write_text(markdown(report), encoding="utf-8")
    chart(report, out_dir / f"{BASENAME}.png")
    log(f"wrote {out_dir / BASENAME}.json, .md and .png")
    if report["tolk"]["binary_changed_during_run"]:
        log("warning: the tolk binary changed during the run; the numbers mix two builds")


def rel(path):
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def log_config(s):
    name = f"{label(s)} beam {s['beam']}"
    if s.get("failed"):
        log(f"{name}: FAILED {s['failed']}")
        return
    extra = f", cold load {s['cold_load_seconds']:.2f} s" if "cold_load_seconds" in s else ""
    log(f"{name}: wall {s['wall_seconds_median']:.2f} s (load {s['load_seconds_median']:.2f} s"
        f"{extra}), translate {s['translate_seconds_median']:.2f} s, "
        f"{s['sentences_per_s_median']:.2f} sent/s, {s['peak_rss_mib']:.0f} MiB")


def find(results, engine, variant, beam):
    for r in results:
        if (r["engine"], r["variant"], r["beam"]) == (engine, variant, beam) \
                and not r.get("failed"):
            return r
    return None


RATIO_PAIRS = [("default", "default"), ("int8", "default"), ("f32", "float32")]


def ratios(results, beams):
    out = []
    for beam in beams:
        for tv, cv in RATIO_PAIRS:
            t, c = find(results, "tolk", tv, beam), find(results, "ctranslate2", cv, beam)
            if not (t and c):
                continue
            out.append({
                "beam": beam,
                "tolk": tv,
                "ct2": cv,
                "speed_whole_process": c["wall_seconds_median"] / t["wall_seconds_median"],
                "speed_translate_only": c["translate_seconds_median"]
                / t["translate_seconds_median"],
                "peak_rss_tolk_over_ct2": t["peak_rss_mib"] / c["peak_rss_mib"],
            })
    return out


def agreement(results, beams, n):
    out = []
    for beam in beams:
        pairs = [(("tolk", tv), ("ctranslate2", cv)) for tv in TOLK_VARIANTS for cv in CT2_COMPUTE]
        pairs.append((("ctranslate2", "default"), ("ctranslate2", "float32")))
        pairs.append((("tolk", "default"), ("tolk", "f32")))
        for (e1, v1), (e2, v2) in pairs:
            a, b = find(results, e1, v1, beam), find(results, e2, v2, beam)
            if not (a and b):
                continue
            same = sum(x == y for x, y in zip(a["translations"], b["translations"]))
            out.append({"beam": beam, "a": label(a), "b": label(b), "identical": same,
                        "out_of": n})
    return out


# ------------------------------------------------------------------ Markdown

def f2(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def markdown(r):
    m, t = r["machine"], r["tolk"]
    lim = f" (the first {r['limit']} lines)" if r["limit"] else ""
    L = [
        "# tolk vs CTranslate2: Argos zh→en 1.9, whole processes",
        "",
        f"Generated by `{r['generator']}` on {r['date']}. Chart: `{BASENAME}.png`.",
        "",
        f"![whole-process time and peak memory]({BASENAME}.png)",
        "",
        f"- Machine: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable)"
        + (f", {m['memory_mib'] / 1024:.0f} GiB RAM" if m["memory_mib"] else "")
        + f", Linux {m['kernel']}, Python {m['python']}",
        f"- Load before: `{m['uptime_before']}`"
        + ("" if m["load_was_below_limit_at_start"] else
           f" (still above the {m['waited_for_load_below']} limit after waiting)"),
        f"- Load after: `{m['uptime_after']}`",
        f"- tolk: `{t['version']}`, binary `{t['binary']}` (SHA-256 "
        f"`{(t['binary_sha256_before'] or '?')[:16]}…`), source `{t['built_from']}` at "
        f"`{t['built_from_commit']}`" + (" with uncommitted changes" if t["source_tree_dirty"]
                                         else ""),
        f"- CTranslate2 {r['ctranslate2_version']}, SentencePiece "
        f"{r['sentencepiece_version']} (Python packages)",
        f"- Input: {r['sentences']} sentences of `{r['input']}`{lim}, all in one call per "
        f"process; {r['threads']} threads for both engines; {r['reps']} timed "
        f"repetition{'s' if r['reps'] != 1 else ''} per configuration (plus one cold run for "
        "each tolk configuration), each a fresh process",
    ]
    if t["binary_changed_during_run"]:
        L.append("- **Warning:** the tolk binary changed during the run; its numbers may mix "
                 "two builds.")
    L += [
        "",
        "## Per configuration",
        "",
        "Times in seconds. *wall*: launch to exit of the whole process. *start+import*: launch "
        "until ctranslate2 and sentencepiece are imported (CT2 only). *load*: model load inside "
        "the process. *cold load*: tolk's load on a run with an empty weight cache. "
        "*translate*: the translation call itself, excluding load.",
        "",
        "| configuration | beam | wall min | wall median | start+import | load | cold load "
        "| translate min | translate median | sentences/s | gen. tokens/s | gen. tokens "
        "| peak RSS MiB | others' CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    failed = []
    for x in r["results"]:
        if x.get("failed"):
            failed.append(x)
            L.append("| " + " | ".join([label(x), str(x["beam"]), "failed"] + [""] * 11) + " |")
            continue
        L.append(
            f"| {label(x)} | {x['beam']} | {f2(x['wall_seconds_min'])} "
            f"| {f2(x['wall_seconds_median'])} | {f2(x.get('startup_seconds_median'))} "
            f"| {f2(x['load_seconds_median'])} | {f2(x.get('cold_load_seconds'))} "
            f"| {f2(x['translate_seconds_min'])} | {f2(x['translate_seconds_median'])} "
            f"| {f2(x['sentences_per_s_median'])} | {f2(x['tokens_per_s_median'], 1)} "
            f"| {x['generated_tokens']} | {x['peak_rss_mib']:.0f} "
            f"| {100 * x['others_cpu_share_max']:.0f}% |")
    for x in failed:
        L += ["", f"{label(x)} beam {x['beam']} failed: {x['failed'].get('error')}"]
        if x["failed"].get("stderr_tail"):
            L += ["", "```", x["failed"]["stderr_tail"].strip()[-800:], "```"]

    L += [
        "",
        "## Ratios",
        "",
        "Speed ratios are CT2 time / tolk time on the medians: above 1 means tolk is faster. "
        "The memory ratio is tolk / CT2 peak RSS: below 1 means tolk uses less.",
        "",
        "| beam | tolk | vs CT2 | whole-process speed | translate-only speed | peak RSS |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for x in r["ratios"]:
        L.append(f"| {x['beam']} | {x['tolk']} | {x['ct2']} | {x['speed_whole_process']:.2f}× "
                 f"| {x['speed_translate_only']:.2f}× | {x['peak_rss_tolk_over_ct2']:.2f} |")

    L += [
        "",
        "## Agreement",
        "",
        "Sentences whose English output is exactly the same (after trimming spaces at the ends).",
        "",
        "| beam | engine A | engine B | identical |",
        "|---:|---|---|---:|",
    ]
    for x in r["agreement"]:
        L.append(f"| {x['beam']} | {x['a']} | {x['b']} | {x['identical']} of {x['out_of']} |")

    bt = r.get("batch")
    if bt:
        L += [
            "",
            "## `tolk batch` against a CT2 worker",
            "",
            f"{bt['documents']} documents from `{bt['generator']}` "
            f"({bt['sentences_split_simply']} sentences when split after 。！？), "
            f"{bt['reps']} repetition(s), whole processes.",
            "",
            f"- tolk: `{bt['tolk_command']}`; beams {bt['tolk_beams']}; output file removed "
            "before each run (tolk batch resumes from it otherwise); `TOLK_CACHE` is the "
            "default variant's, as the translate section left it.",
            f"- CT2: one Python process that splits every document's text into sentences (per "
            f"line, after 。！？, empty pieces dropped) and translates all of them in one "
            f"`translate_batch(max_batch_size={bt['ct2']['max_batch_size']}, "
            f"beam_size={bt['ct2']['beam']})`, compute_type default. It does not reassemble "
            "documents or write a file.",
            "",
            "| engine | wall min | wall median | documents/s | peak RSS MiB | others' CPU |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, key in (("tolk batch", "tolk_result"), ("CT2 default", "ct2_result")):
            x = bt.get(key)
            if not x:
                L.append(f"| {name} | failed | | | | |")
                continue
            L.append(f"| {name} | {x['wall_seconds_min']:.1f} | {x['wall_seconds_median']:.1f} "
                     f"| {x['documents_per_s']:.2f} | {x['peak_rss_mib']:.0f} "
                     f"| {100 * x['others_cpu_share_max']:.0f}% |")
        if "speed_ratio_ct2_wall_over_tolk_wall" in bt:
            L += ["", f"CT2 wall / tolk wall: {bt['speed_ratio_ct2_wall_over_tolk_wall']:.2f}×; "
                  f"peak RSS tolk / CT2: {bt['peak_rss_ratio_tolk_over_ct2']:.2f}."]
        tr = bt.get("tolk_result")
        if tr and any(run["failed_records"] for run in tr["runs"]):
            L += ["", "Some tolk batch records failed; see the JSON."]
        if bt.get("tolk_failed"):
            L += ["", f"tolk batch failed: {bt['tolk_failed']}"]

    b = r["python_baseline"]
    min_rss = min([x["peak_rss_mib"] for x in r["results"] if not x.get("failed")]
                  + [b["peak_rss_mib_min"]])
    cache_used = [x.get("cache_used") for x in r["results"] if x["engine"] == "tolk"
                  and not x.get("failed")]
    L += [
        "",
        "## Method",
        "",
        "- Every repetition is a new process started by this script: tolk's release binary, or "
        "for CT2 a Python worker that does what Argos Translate does (import ctranslate2 and "
        "sentencepiece, build `ctranslate2.Translator(model_dir, device=\"cpu\", "
        "compute_type=..., inter_threads=1, intra_threads=N)`, encode with "
        "`sp.encode(line, out_type=str)`, one `translate_batch(beam_size=B, "
        "max_batch_size=32)` call, decode with SentencePiece).",
        "- CT2 \"default\" keeps the package's stored int8 weights; \"float32\" converts them at "
        "load. tolk \"default\" is the binary with no --dtype flag, whatever that means for the "
        "build that was measured; int8 and f32 pass --dtype.",
        "- Wall time is measured around the child from launch to exit. The load and translate "
        "times are what each process reports about itself; the rest of the wall time is "
        "process start-up, reading input, writing output and exit.",
        f"- The CT2 times and memory include the Python interpreter. On its own, a process "
        f"that only imports ctranslate2 and sentencepiece takes {b['wall_seconds']:.2f} s "
        f"(median; {b['import_seconds']:.2f} s of it the imports) and peaks at "
        + (f"{b['peak_rss_mib']:.0f} MiB"
           if round(b["peak_rss_mib"]) == round(b["peak_rss_mib_min"])
           else f"{b['peak_rss_mib_min']:.0f} to {b['peak_rss_mib']:.0f} MiB")
        + f" ({len(b['runs'])} run{'s' if len(b['runs']) != 1 else ''}).",
        "- Peak RSS is `ru_maxrss` from `os.wait4` for that one child, the largest over the "
        "repetitions. Linux starts a child's ru_maxrss at the RSS of the process it was forked "
        f"from, so no child can read below this script's own peak ({r['driver_peak_rss_mib']:.0f} "
        "MiB here"
        + (", well under every figure in the tables)." if r["driver_peak_rss_mib"] < 0.8 * min_rss
           else "; **some figures are close to it and may be floored by it**)."),
        "- tolk's weight cache: each tolk variant points `TOLK_CACHE` at its own directory. "
        "Each configuration first runs once with that directory emptied (the cold load in the "
        "table), then the timed repetitions run with the cache as that run left it. The model "
        "files were read moments before by earlier runs and are most likely in the operating "
        "system's page cache, so \"cold\" means only \"no cached packed weights\"."
        + (" In this run the binary wrote nothing to the directory, so cold and warm differ "
           "only by being first or later." if cache_used and not any(cache_used) else ""),
        "- Generated tokens are decoder steps including the end-of-sequence step: tolk's "
        "`generated_tokens`; for CT2 the output pieces plus one for each hypothesis shorter "
        "than 256 pieces (CTranslate2's max_decoding_length). Rates use translate time only.",
        "- *others' CPU*: the largest share, over the repetitions, of the machine's CPU time "
        "(all cores) that other processes used while the child ran (/proc/stat, minus the "
        "child's own user+system time). Near 0% means nothing else competed; a high value "
        "means the numbers of that configuration are less trustworthy.",
        "- Configurations run one after another (CT2, then tolk, per beam), not interleaved.",
    ]
    if bt:
        L.append("- Batch section: the documents repeat sentences from a small pool, so an "
                 "engine that reused translations of repeated sentences would gain there; the "
                 "CT2 worker translates every occurrence. tolk splits sentences its own way, so "
                 "the two may not translate exactly the same segments. The tolk run writes "
                 "its JSONL output; the CT2 worker keeps its translations in memory.")
    L.append("")
    return "\n".join(L)


# ------------------------------------------------------------------ chart

COLORS = {("ctranslate2", "default"): "#1f77b4", ("ctranslate2", "float32"): "#9ecae1",
          ("tolk", "default"): "#d95f02", ("tolk", "int8"): "#fdae6b",
          ("tolk", "f32"): "#a63603"}


def chart(r, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    res = [x for x in r["results"] if not x.get("failed")]
    beams = r["beams"]
    configs = []
    for x in res:
        key = (x["engine"], x["variant"])
        if key not in configs:
            configs.append(key)
    batch = r.get("batch")
    has_batch = bool(batch and batch.get("tolk_result") and batch.get("ct2_result"))
    ncols = 3 if has_batch else 2
    widths = [3, 3, 1.4] if has_batch else [3, 3]
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols - (2 if has_batch else 0), 5.6),
                             gridspec_kw={"width_ratios": widths})
    ax_t, ax_m = axes[0], axes[1]
    width = 0.8 / max(1, len(configs))
    for i, key in enumerate(configs):
        for g, beam in enumerate(beams):
            x = next((y for y in res if (y["engine"], y["variant"]) == key and y["beam"] == beam),
                     None)
            if not x:
                continue
            pos = g + (i - (len(configs) - 1) / 2) * width
            wall = x["wall_seconds_median"]
            load = min(x["load_seconds_median"] or 0.0, wall)
            trans = min(x["translate_seconds_median"], wall - load)
            other = max(0.0, wall - load - trans)
            c = COLORS.get(key, "grey")
            ax_t.bar(pos, trans, width, color=c, edgecolor="black", linewidth=0.5)
            ax_t.bar(pos, load, width, bottom=trans, color=c, edgecolor="black", linewidth=0.5,
                     hatch="//", alpha=0.8)
            ax_t.bar(pos, other, width, bottom=trans + load, color="white", edgecolor="black",
                     linewidth=0.5, hatch="..")
            ax_t.text(pos, wall, f"{wall:.2f}" if wall < 10 else f"{wall:.1f}", ha="center",
                      va="bottom", fontsize=7)
            ax_m.bar(pos, x["peak_rss_mib"], width, color=c, edgecolor="black", linewidth=0.5)
            ax_m.text(pos, x["peak_rss_mib"], f"{x['peak_rss_mib']:.0f}", ha="center",
                      va="bottom", fontsize=7)
    for ax in (ax_t, ax_m):
        ax.set_xticks(range(len(beams)))
        ax.set_xticklabels([f"beam {b}" for b in beams])
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.margins(y=0.12)
    ax_t.set_ylabel("seconds, whole process (median)")
    ax_t.set_title(f"Time to translate {r['sentences']} sentences, launch to exit")
    ax_m.set_ylabel("peak RSS, MiB (max over repetitions)")
    ax_m.set_title("Peak memory of the process")
    config_handles = [Patch(facecolor=COLORS.get(k, "grey"), edgecolor="black",
                            label=label({"engine": k[0], "variant": k[1]})) for k in configs]
    part_handles = [Patch(facecolor="lightgrey", edgecolor="black", label="translate"),
                    Patch(facecolor="lightgrey", edgecolor="black", hatch="//",
                          label="model load"),
                    Patch(facecolor="white", edgecolor="black", hatch="..",
                          label="start-up, imports, I/O, exit")]
    fig.legend(handles=config_handles + part_handles, loc="lower center",
               ncol=len(config_handles + part_handles), fontsize=8, frameon=False)
    if has_batch:
        ax_b = axes[2]
        names = ["CT2\ndefault", "tolk\nbatch"]
        vals = [batch["ct2_result"]["wall_seconds_median"],
                batch["tolk_result"]["wall_seconds_median"]]
        ax_b.bar([0, 1], vals, 0.6, color=[COLORS[("ctranslate2", "default")],
                                         COLORS[("tolk", "default")]],
                 edgecolor="black", linewidth=0.5)
        for i, v in enumerate(vals):
            ax_b.text(i, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
        ax_b.set_xticks([0, 1])
        ax_b.set_xticklabels(names)
        ax_b.set_ylabel("seconds, whole process")
        ax_b.set_title(f"tolk batch vs CT2: {batch['documents']} documents")
        ax_b.grid(axis="y", alpha=0.3)
        ax_b.set_axisbelow(True)
        ax_b.margins(y=0.12)
    m = r["machine"]
    fig.suptitle(f"tolk vs CTranslate2, Argos zh→en 1.9 — {r['threads']} threads, "
                 f"{m['cpu']}, {r['date'][:10]}", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------ command line

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tolk", default=str(ROOT / "target" / "release" / "tolk"),
                    help="tolk binary (default: target/release/tolk)")
    default_pkg = Path(os.environ.get("TOLK_TEST_MODELS", ROOT / ".cache" / "test-models"))
    ap.add_argument("--package", default=str(default_pkg / "translate-zh_en-1_9"),
                    help="Argos package folder (with model/ and sentencepiece.model)")
    ap.add_argument("--input", default=str(DEFAULT_INPUT),
                    help="sentences, one per line (default: benches/data/zh-news.txt)")
    ap.add_argument("--limit", type=int, help="use only the first N lines (quick checks)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beams", default="1,4", help="comma-separated beam sizes (default: 1,4)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per configuration")
    ap.add_argument("--no-batch", action="store_true", help="skip the tolk batch section")
    ap.add_argument("--batch-reps", type=int, default=1)
    ap.add_argument("--batch-count", type=int, default=200,
                    help="documents for the batch section (default: 200)")
    ap.add_argument("--max-load", type=float, default=1.5,
                    help="wait for the 1-minute load average to drop to this first")
    ap.add_argument("--wait", type=float, default=600, help="longest wait for that, seconds")
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT),
                    help="where the .json, .md and .png go (default: docs/bench)")
    ap.add_argument("--tolk-source", default=str(ROOT),
                    help="the git tree the binary was built from (its commit is recorded)")
    ap.add_argument("--tolk-commit", help="the commit the binary was built at, when the tree "
                    "has moved on since (default: the tree's HEAD)")
    ap.add_argument("--worker", choices=["ct2", "ct2-batch", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--compute-type", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--beam", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--lines-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
