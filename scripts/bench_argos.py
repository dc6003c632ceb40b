#!/usr/bin/env python3
"""Throughput and memory of tolk against CTranslate2 on the Argos zh->en 1.9 package.

One run translates the 36 sentences of tests/fixtures/argos/zh_sentences.txt with
  (a) the `ctranslate2` Python package on the package's model/ folder, compute_type int8 and
      float32, pieces from the package's SentencePiece model as Argos Translate makes them
      (`sp.encode(line, out_type=str)`), `translate_batch(pieces, beam_size=B)` on all lines at
      once, every other option at CTranslate2's defaults (what Argos does);
  (b) tolk's binary: `tolk translate --lines --model PACKAGE --beams B --threads N
      --format json --quiet` (its model is dequantized to f32 at load: tolk computes in f32);
at beam 1 and beam 4, with the same thread count (CT2 `intra_threads=N, inter_threads=1`;
tolk `--threads N`).

Every repetition of every configuration is a fresh process (a worker mode of this script for
CT2, the binary for tolk), so both engines pay the same cold start; the translation itself is
timed inside the process (model loading excluded), and the process's peak RSS comes from
`os.wait4` (the kernel's ru_maxrss for that child alone). A baseline worker that only imports
ctranslate2 and sentencepiece gives the Python interpreter's share of the CT2 numbers.

Reported per configuration: the median over the repetitions of sentences/s and generated
tokens/s, the median load time, and the largest peak RSS. Generated tokens are decoder steps,
end-of-sequence included: tolk's `generated_tokens`, and for CT2 the output pieces plus one
for each hypothesis that ended with `</s>` (shorter than max_decoding_length).

Each run also records the share of the machine's CPU time that other processes used while it
ran (from /proc/stat), since other jobs may share the machine.

The machine (CPU model, cores, load averages before and after, date) and the tolk version and
commits are recorded. With a load average above --max-load before a run, the script waits
(up to --wait seconds) for it to drop, and records whether it did.

Writes docs/bench/argos-zh-en.json and docs/bench/argos-zh-en.md.

Usage:
    /work/main/.venv/bin/python scripts/bench_argos.py [--tolk target/release/tolk]
        [--package .cache/test-models/translate-zh_en-1_9] [--threads 2] [--reps 3]
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ROOT / "tests" / "fixtures" / "argos" / "zh_sentences.txt"
OUT = ROOT / "docs" / "bench"
BEAMS = [1, 4]
CT2_COMPUTE = ["int8", "float32"]
CT2_MAX_DECODING_LENGTH = 256  # CTranslate2's default for translate_batch


def read_lines():
    return [l.strip() for l in SENTENCES.read_text(encoding="utf-8").splitlines() if l.strip()]


# ------------------------------------------------------------------ worker (one CT2 process)

def worker(args):
    """Load the CT2 model, translate the sentences once, print one JSON line."""
    started = time.perf_counter()
    import ctranslate2
    import sentencepiece as spm

    if args.worker == "baseline":
        print(json.dumps({"import_seconds": time.perf_counter() - started}))
        return
    package = Path(args.package)
    sp = spm.SentencePieceProcessor(model_file=str(package / "sentencepiece.model"))
    t0 = time.perf_counter()
    translator = ctranslate2.Translator(
        str(package / "model"),
        device="cpu",
        compute_type=args.compute_type,
        inter_threads=1,
        intra_threads=args.threads,
    )
    load_seconds = time.perf_counter() - t0
    lines = read_lines()
    t0 = time.perf_counter()
    pieces = [sp.encode(l, out_type=str) for l in lines]
    results = translator.translate_batch(pieces, beam_size=args.beam)
    outputs = [r.hypotheses[0] for r in results]
    english = [sp.decode(o).replace("\u2581", " ").lstrip() for o in outputs]
    seconds = time.perf_counter() - t0
    tokens = sum(len(o) + (1 if len(o) < CT2_MAX_DECODING_LENGTH else 0) for o in outputs)
    print(json.dumps({
        "load_seconds": load_seconds,
        "translate_seconds": seconds,
        "sentences": len(lines),
        "generated_tokens": tokens,
        "translations": english,
    }))


# ------------------------------------------------------------------ driver

def cpu_jiffies():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def run_child(cmd, env=None, stdin_path=None):
    """Run `cmd`; return (stdout, wall seconds, peak RSS in MiB, share of the machine's CPU
    time that other processes used meanwhile) for that child alone."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    hz = os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryFile() as errf:
        busy0, total0 = cpu_jiffies()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=errf, env=env)
        out = p.stdout.read()
        # wait4, not wait: ru_maxrss of this child alone (RUSAGE_CHILDREN keeps a running max).
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        busy1, total1 = cpu_jiffies()
        p.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read()
    if stdin_path:
        stdin.close()
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{err.decode(errors='replace')}")
    child = (usage.ru_utime + usage.ru_stime) * hz
    others = max(0.0, (busy1 - busy0) - child) / max(1, total1 - total0)
    return out, wall, usage.ru_maxrss / 1024.0, others


def loadavg():
    return list(os.getloadavg())


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


def git_commit(path):
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def summarize(engine, config, runs):
    sps = [r["sentences"] / r["translate_seconds"] for r in runs]
    tps = [r["generated_tokens"] / r["translate_seconds"] for r in runs]
    return {
        "engine": engine,
        **config,
        "reps": len(runs),
        "sentences": runs[0]["sentences"],
        "generated_tokens": runs[0]["generated_tokens"],
        "median_translate_seconds": statistics.median(r["translate_seconds"] for r in runs),
        "median_sentences_per_s": statistics.median(sps),
        "median_tokens_per_s": statistics.median(tps),
        "median_load_seconds": statistics.median(r["load_seconds"] for r in runs),
        "median_process_seconds": statistics.median(r["process_seconds"] for r in runs),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "max_others_cpu_share": max(r["others_cpu_share"] for r in runs),
        "runs": [{k: v for k, v in r.items() if k != "translations"} for r in runs],
    }


def bench(args):
    package = Path(args.package).resolve()
    tolk = Path(args.tolk).resolve()
    if not (package / "model" / "model.bin").is_file():
        sys.exit(f"no Argos package at {package}; run scripts/fetch-test-models")
    if not tolk.is_file():
        sys.exit(f"no tolk binary at {tolk}; build it with `cargo build --release`")
    lines = read_lines()
    quiet = wait_for_quiet(args.max_load, args.wait)
    load_before = loadavg()
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    me = [sys.executable, str(Path(__file__).resolve())]

    out, wall, rss, _ = run_child(me + ["--worker", "baseline"])
    baseline = {"peak_rss_mib": rss, "process_seconds": wall, **json.loads(out)}
    print(f"python + ctranslate2 import only: {rss:.0f} MiB", file=sys.stderr)

    results, outputs = [], {}
    for beam in BEAMS:
        for compute in CT2_COMPUTE:
            runs = []
            for _ in range(args.reps):
                out, wall, rss, others = run_child(me + [
                    "--worker", "ct2", "--package", str(package), "--compute-type", compute,
                    "--beam", str(beam), "--threads", str(args.threads)])
                r = json.loads(out)
                r.update(process_seconds=wall, peak_rss_mib=rss, others_cpu_share=others)
                runs.append(r)
            s = summarize("ctranslate2", {"compute_type": compute, "beam": beam}, runs)
            outputs[f"ct2-{compute}-b{beam}"] = runs[0]["translations"]
            results.append(s)
            print(f"ct2 {compute} beam {beam}: {s['median_sentences_per_s']:.2f} sent/s, "
                  f"{s['median_tokens_per_s']:.1f} tok/s, {s['peak_rss_mib']:.0f} MiB", file=sys.stderr)
        runs = []
        for _ in range(args.reps):
            out, wall, rss, others = run_child(
                [str(tolk), "translate", "--lines", "--model", str(package), "--beams", str(beam),
                 "--threads", str(args.threads), "--format", "json", "--quiet"],
                stdin_path=SENTENCES)
            j = json.loads(out)
            runs.append({
                "load_seconds": j["load_seconds"],
                "translate_seconds": j["translate_seconds"],
                "sentences": sum(1 for s in j["sentences"] if s["source"].strip()),
                "generated_tokens": j["generated_tokens"],
                "process_seconds": wall,
                "peak_rss_mib": rss,
                "others_cpu_share": others,
                "translations": [s["translation"] for s in j["sentences"]],
            })
        s = summarize("tolk", {"compute_type": "float32", "beam": beam}, runs)
        outputs[f"tolk-b{beam}"] = runs[0]["translations"]
        results.append(s)
        print(f"tolk beam {beam}: {s['median_sentences_per_s']:.2f} sent/s, "
              f"{s['median_tokens_per_s']:.1f} tok/s, {s['peak_rss_mib']:.0f} MiB", file=sys.stderr)

    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    ratios = []
    for beam in BEAMS:
        t = next(r for r in results if r["engine"] == "tolk" and r["beam"] == beam)
        for compute in CT2_COMPUTE:
            c = next(r for r in results if r["engine"] == "ctranslate2" and r["beam"] == beam
                     and r["compute_type"] == compute)
            ratios.append({
                "beam": beam,
                "ct2_compute_type": compute,
                "sentences_per_s": t["median_sentences_per_s"] / c["median_sentences_per_s"],
                "tokens_per_s": t["median_tokens_per_s"] / c["median_tokens_per_s"],
                "peak_rss": t["peak_rss_mib"] / c["peak_rss_mib"],
            })
    same = {}
    for beam in BEAMS:
        tolk_out = outputs[f"tolk-b{beam}"]
        for compute in CT2_COMPUTE:
            ct2_out = outputs[f"ct2-{compute}-b{beam}"]
            same[f"beam{beam}-vs-ct2-{compute}"] = sum(a == b for a, b in zip(tolk_out, ct2_out))
    version = subprocess.run([str(tolk), "--version"], capture_output=True, text=True).stdout.strip()
    import ctranslate2
    report = {
        "generator": "scripts/bench_argos.py",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)),
            "kernel": platform.release(),
            "uptime_before": uptime_before,
            "uptime_after": uptime_after,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "waited_for_load_below": args.max_load,
            "load_was_below_limit_at_start": quiet,
        },
        "tolk": {
            "binary": str(tolk),
            "version": version,
            "built_from": str(Path(args.tolk_source).resolve()),
            "built_from_commit": args.tolk_commit or git_commit(args.tolk_source),
            "main_commit": git_commit("/work/main"),
            "script_commit": git_commit(ROOT),
        },
        "ctranslate2_version": ctranslate2.__version__,
        "package": str(package),
        "sentences_file": str(SENTENCES.relative_to(ROOT)),
        "sentences": len(lines),
        "threads": args.threads,
        "reps": args.reps,
        "python_baseline": baseline,
        "results": results,
        "ratios_tolk_over_ct2": ratios,
        "identical_translations_out_of_36": same,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "argos-zh-en.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (OUT / "argos-zh-en.md").write_text(markdown(report))
    print(f"wrote {OUT / 'argos-zh-en.json'} and {OUT / 'argos-zh-en.md'}", file=sys.stderr)


def markdown(r):
    m = r["machine"]
    lines = [
        "# tolk vs CTranslate2: Argos zh→en 1.9 (OPUS-MT, int8 package)",
        "",
        f"Generated by `{r['generator']}` on {r['date']}.",
        "",
        f"- Machine: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), "
        f"Linux {m['kernel']}",
        f"- Load before: `{m['uptime_before']}`",
        f"- Load after: `{m['uptime_after']}`",
        f"- tolk: `{r['tolk']['version']}`, binary `{r['tolk']['binary']}` built from "
        f"`{r['tolk']['built_from']}` at `{r['tolk']['built_from_commit']}` (/work/main at "
        f"`{r['tolk']['main_commit']}`, script tree at `{r['tolk']['script_commit']}`)",
        f"- CTranslate2 {r['ctranslate2_version']} (Python package)",
        f"- Input: {r['sentences']} sentences of `{r['sentences_file']}`, all in one call; "
        f"{r['threads']} threads for both engines; {r['reps']} repetitions, each a fresh process",
        "",
        "| engine | compute | beam | sentences/s | gen. tokens/s | tokens | translate s | load s "
        "| peak RSS MiB | others' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["results"]:
        lines.append(
            f"| {x['engine']} | {x['compute_type']} | {x['beam']} | {x['median_sentences_per_s']:.2f} "
            f"| {x['median_tokens_per_s']:.1f} | {x['generated_tokens']} "
            f"| {x['median_translate_seconds']:.2f} | {x['median_load_seconds']:.2f} "
            f"| {x['peak_rss_mib']:.0f} | {100 * x['max_others_cpu_share']:.0f}% |")
    lines += [
        "",
        "Ratios tolk / CTranslate2 (above 1: tolk is faster, or uses more memory):",
        "",
        "| beam | vs CT2 compute | sentences/s | tokens/s | peak RSS |",
        "|---:|---|---:|---:|---:|",
    ]
    for x in r["ratios_tolk_over_ct2"]:
        lines.append(f"| {x['beam']} | {x['ct2_compute_type']} | {x['sentences_per_s']:.2f} "
                     f"| {x['tokens_per_s']:.2f} | {x['peak_rss']:.2f} |")
    b = r["python_baseline"]
    lines += [
        "",
        "Notes:",
        "",
        "- Medians over the repetitions; peak RSS is the largest over them (`os.wait4` ru_maxrss "
        "of each process).",
        f"- The CT2 RSS includes the Python interpreter with ctranslate2 and sentencepiece "
        f"imported: {b['peak_rss_mib']:.0f} MiB on its own.",
        "- tolk dequantizes the int8 weights at load and computes in float32, so its "
        "like-for-like comparison is CT2 float32; CT2 int8 is what Argos Translate runs by default.",
        "- others' CPU: the largest share, over the repetitions, of the machine's CPU time "
        "(all cores) that other processes used while the engine ran (/proc/stat minus the "
        "child's own user+system time); near 0% means the numbers are uncontended.",
        "- Generated tokens are decoder steps including end-of-sequence; load time is excluded "
        "from the rates.",
        "- Identical English outputs (of 36): "
        + ", ".join(f"{k} {v}" for k, v in r["identical_translations_out_of_36"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tolk", default=str(ROOT / "target" / "release" / "tolk"))
    default_pkg = Path(os.environ.get("TOLK_TEST_MODELS", ROOT / ".cache" / "test-models"))
    ap.add_argument("--package", default=str(default_pkg / "translate-zh_en-1_9"))
    ap.add_argument("--tolk-source", default=str(ROOT),
                    help="the git tree the binary was built from (its commit is recorded)")
    ap.add_argument("--tolk-commit", help="the commit the binary was built at, when the tree "
                    "has moved on since (default: the tree's HEAD)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-load", type=float, default=1.5)
    ap.add_argument("--wait", type=float, default=600)
    ap.add_argument("--worker", choices=["ct2", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--compute-type", default="int8", help=argparse.SUPPRESS)
    ap.add_argument("--beam", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
