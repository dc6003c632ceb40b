#!/usr/bin/env python3
"""Throughput of tolk against transformers and CTranslate2 on one opus-mt-da-en-sized model.

One run:
  1. makes a MarianMT model with Helsinki-NLP/opus-mt-da-en's dimensions and random weights
     through the transformers API, with a SentencePiece tokenizer (scripts/make_fixtures.py's
     ``--da-en-dims`` recipe), so that CTranslate2's converter accepts it;
  2. converts it with ``ctranslate2.converters.TransformersConverter`` twice: float32, and int8
     (``quantization="int8"``, as Argos packages ship);
  3. runs, one after another and each in a fresh process with the same thread count:
       transformers  ``model.generate`` (torch intra-op threads = N),
       CTranslate2   ``translate_batch`` on the float32 model (compute_type float32),
       CTranslate2   ``translate_batch`` on the int8 model (compute_type int8),
       tolk          ``tolk bench --model DIR --dtype f32`` and ``--dtype int8`` (Q8_0 linear
                     layers quantized at load), release binary;
     on the same shapes: batch 1 and 8, sources of 64 pseudo-random ordinary tokens plus
     end of sequence, exactly 64 new tokens per sentence (end of sequence suppressed until then:
     transformers ``min_new_tokens=max_new_tokens``, CT2 ``min_decoding_length=max_decoding_length``,
     tolk forced), beam 1 and 4. Throughput is generated tokens per second over all sentences,
     encoder included; each shape gets warm-up runs and timed repeats, the median is reported.
     Model loading is timed apart. Peak RSS is the process's (``os.wait4`` ru_maxrss).

Writes docs/bench/peers-<device>.json, .md and .png (the figure needs matplotlib).

Usage:
    /work/main/.venv/bin/python scripts/bench_peers.py [--device cpu|cuda] [--threads 2]
        [--tolk target/release/tolk] [--warmup 1] [--repeat 3] [--workdir /tmp/tolk-peers]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "bench"
PAD, EOS, UNK = 58929, 0, 1


# ------------------------------------------------------------------ shared helpers

def source_ids(batch: int, src_len: int, seed: int) -> list[list[int]]:
    """Deterministic ordinary ids (not eos/unk/pad), then end of sequence."""
    import random

    rng = random.Random(seed * 1000 + batch)
    return [[rng.randrange(2, PAD) for _ in range(src_len)] + [EOS] for _ in range(batch)]


def median_result(times: list[float], tokens: int, batch: int) -> dict:
    m = statistics.median(times)
    return {"median_seconds": m, "all_seconds": times, "generated_tokens": tokens,
            "tokens_per_second": tokens / m, "sentences_per_second": batch / m}


# ------------------------------------------------------------------ workers (one process each)

def worker_transformers(a) -> dict:
    import torch
    from transformers import MarianMTModel

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = MarianMTModel.from_pretrained(a.hf_dir).eval()
    dev = torch.device("cuda" if a.device == "cuda" else "cpu")
    model.to(dev)
    if a.compute_type == "float16":
        model.half()
    load = time.perf_counter() - t0
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    out = []
    for beams in a.beams:
        for batch in a.batch:
            ids = torch.tensor(source_ids(batch, a.src_len, a.seed), device=dev)
            mask = torch.ones_like(ids)
            times = []
            for run in range(a.warmup + a.repeat):
                sync()
                t = time.perf_counter()
                with torch.inference_mode():
                    seq = model.generate(input_ids=ids, attention_mask=mask, num_beams=beams, do_sample=False,
                                         max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens,
                                         early_stopping=True)
                sync()
                dt = time.perf_counter() - t
                assert seq.shape == (batch, 1 + a.new_tokens), seq.shape
                if run >= a.warmup:
                    times.append(dt)
            out.append({"batch": batch, "beams": beams, **median_result(times, batch * a.new_tokens, batch)})
    return {"load_seconds": load, "results": out, "torch_threads": torch.get_num_threads()}


def worker_ct2(a) -> dict:
    import ctranslate2
    from transformers import MarianTokenizer

    tok = MarianTokenizer.from_pretrained(a.hf_dir)
    t0 = time.perf_counter()
    tr = ctranslate2.Translator(a.ct2_dir, device=a.device, compute_type=a.compute_type,
                                intra_threads=a.threads, inter_threads=1)
    load = time.perf_counter() - t0
    out = []
    for beams in a.beams:
        for batch in a.batch:
            pieces = [tok.convert_ids_to_tokens(s) for s in source_ids(batch, a.src_len, a.seed)]
            times = []
            for run in range(a.warmup + a.repeat):
                t = time.perf_counter()
                res = tr.translate_batch(pieces, beam_size=beams, max_batch_size=0,
                                         min_decoding_length=a.new_tokens, max_decoding_length=a.new_tokens)
                dt = time.perf_counter() - t
                lengths = [len(r.hypotheses[0]) for r in res]
                assert all(n == a.new_tokens for n in lengths), lengths
                if run >= a.warmup:
                    times.append(dt)
            out.append({"batch": batch, "beams": beams, **median_result(times, batch * a.new_tokens, batch)})
    return {"load_seconds": load, "results": out}


def worker(a) -> None:
    if a.worker == "model":
        make_model(Path(a.workdir))
        return
    result = worker_transformers(a) if a.worker == "transformers" else worker_ct2(a)
    print(json.dumps(result))


# ------------------------------------------------------------------ driver

class EngineFailed(RuntimeError):
    """One engine's process failed; the others are still measured."""


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[dict, float, float]:
    """Run one engine process: its last stdout line as JSON, wall seconds, and its own peak RSS
    in MiB (ru_maxrss from os.wait4)."""
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        out = p.stdout.read()
        _, status, rusage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            err.seek(0)
            raise EngineFailed(f"{' '.join(cmd[:4])} failed ({p.returncode}):\n{err.read()[-4000:]}")
    try:
        doc = json.loads(out)  # tolk bench: one pretty-printed object
    except json.JSONDecodeError:
        doc = json.loads(out.strip().splitlines()[-1])  # workers: one line after any chatter
    return doc, wall, rusage.ru_maxrss / 1024.0


def wait_for_load(limit: float, wait: float) -> bool:
    """Wait (up to `wait` seconds) for the 1-minute load average to fall below `limit`: other jobs
    on the machine skew every engine's numbers. Whether it got there is recorded."""
    deadline = time.time() + wait
    while os.getloadavg()[0] >= limit:
        if time.time() >= deadline:
            print(f"load {os.getloadavg()[0]:.2f} still above {limit} after {wait:.0f}s; measuring anyway",
                  file=sys.stderr)
            return False
        time.sleep(5)
    return True


def make_model(workdir: Path) -> tuple[Path, Path, Path]:
    """The random da-en-sized transformers model and its two CT2 conversions (reused if present)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    hf = workdir / "hf"
    if not (hf / "model.safetensors").is_file():
        import make_fixtures  # noqa: E402 (the fixture recipe: SentencePiece models + da-en dims)

        src_spm, tgt_spm = make_fixtures.train_spms()
        make_fixtures.make_da_en_dims(hf, src_spm, tgt_spm)
    import ctranslate2

    dirs = {}
    for q in ("float32", "int8"):
        d = workdir / f"ct2-{q}"
        if not (d / "model.bin").is_file():
            conv = ctranslate2.converters.TransformersConverter(str(hf))
            conv.convert(str(d), quantization=None if q == "float32" else q, force=True)
        dirs[q] = d
    return hf, dirs["float32"], dirs["int8"]


def find_tolk(a) -> Path:
    if a.tolk:
        return Path(a.tolk).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "tolk"
    if not binary.is_file():
        cmd = ["cargo", "build", "--release"] + (["--features", "cuda"] if a.device == "cuda" else [])
        print("building tolk:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, cwd=ROOT, check=True)
    return binary


def git(*args) -> str:
    if args == ("rev-parse", "HEAD") and os.environ.get("TOLK_COMMIT"):
        return os.environ["TOLK_COMMIT"]  # a copy of the tree without .git (scripts/bench_gpu.sh)
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = None
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        gpu = q.stdout.strip().splitlines()[0] if q.returncode == 0 and q.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu, "gpu": gpu, "logical_cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "kernel": platform.release(), "loadavg_before": list(os.getloadavg())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tolk", help="tolk release binary (default: built if missing)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--beams", default="1,4")
    ap.add_argument("--src-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/tolk-peers", help="where the random model and conversions live")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--max-load", type=float, default=1.0,
                    help="wait before each engine until the 1-minute load average is below this")
    ap.add_argument("--wait", type=float, default=120, help="longest wait for --max-load, seconds")
    ap.add_argument("--tolk-native", help="also measure this tolk binary (e.g. built with -C target-cpu=native)")
    # worker mode (internal)
    ap.add_argument("--worker", choices=["transformers", "ct2", "model"], help=argparse.SUPPRESS)
    ap.add_argument("--hf-dir", help=argparse.SUPPRESS)
    ap.add_argument("--ct2-dir", help=argparse.SUPPRESS)
    ap.add_argument("--compute-type", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.batch = [int(x) for x in str(a.batch).split(",")]
    a.beams = [int(x) for x in str(a.beams).split(",")]
    if a.worker:
        worker(a)
        return

    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # In a child process: a child's peak RSS starts from its parent's at fork, so the driver
    # must never hold torch or the model itself.
    me = [sys.executable, str(Path(__file__).resolve())]
    subprocess.run(me + ["--worker", "model", "--workdir", str(workdir)], check=True)
    hf, ct2_f32, ct2_int8 = workdir / "hf", workdir / "ct2-float32", workdir / "ct2-int8"
    tolk = find_tolk(a)
    mach = machine()
    mach["uptime_before"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    shapes = ["--batch", ",".join(map(str, a.batch)), "--beams", ",".join(map(str, a.beams)),
              "--src-len", str(a.src_len), "--new-tokens", str(a.new_tokens), "--warmup", str(a.warmup),
              "--repeat", str(a.repeat), "--seed", str(a.seed)]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    common = ["--device", a.device, "--threads", str(a.threads), "--hf-dir", str(hf)] + shapes
    # CPU: float32 and int8. CUDA adds half precision, and CT2's GPU int8 mode (int8 weights,
    # float16 activations) stands against tolk int8.
    gpu = a.device == "cuda"
    hf_types = ["float32"] + (["float16"] if gpu else [])
    ct2_types = [("float32", ct2_f32)] + ([("float16", ct2_f32), ("int8_float16", ct2_int8)] if gpu
                                          else [("int8", ct2_int8)])
    tolk_types = ["f32"] + (["f16", "bf16"] if gpu else []) + ["int8"]
    engines = [("transformers", t, me + ["--worker", "transformers", "--compute-type", t] + common)
               for t in hf_types] + [
        ("ctranslate2", t, me + ["--worker", "ct2", "--ct2-dir", str(d), "--compute-type", t] + common)
        for t, d in ct2_types
    ] + [
        ("tolk", dtype, [str(tolk), "bench", "--model", str(hf), "--dtype", dtype, "--device", a.device,
                         "--threads", str(a.threads), "--format", "json", "--quiet"] + shapes)
        for dtype in tolk_types
    ]
    if a.tolk_native:
        engines += [
            ("tolk-native", dtype, [str(Path(a.tolk_native).resolve())] + cmd[1:])
            for (engine, dtype, cmd) in engines if engine == "tolk"
        ]
    rows = []
    tolk_meta = {}
    for engine, compute, cmd in engines:
        load_ok = wait_for_load(a.max_load, a.wait)
        print(f"running {engine} {compute} (load {os.getloadavg()[0]:.2f}) ...", file=sys.stderr, flush=True)
        try:
            res, wall, rss = run_measured(cmd, env)
        except EngineFailed as e:
            print(f"  failed: {e}", file=sys.stderr, flush=True)
            rows.append({"engine": engine, "compute_type": compute, "error": str(e)[-2000:], "results": [],
                         "load_below_limit_at_start": load_ok})
            continue
        if engine.startswith("tolk"):
            tolk_meta = {k: res[k] for k in ("tolk_version", "threads", "machine", "model")}
            results = [{"batch": r["batch"], "beams": r["beams"], "median_seconds": r["total_ms"] / 1e3,
                        "generated_tokens": r["generated_tokens"], "tokens_per_second": r["tokens_per_second"],
                        "sentences_per_second": r["sentences_per_second"], "encoder_ms": r["encoder_ms"],
                        "decoder_ms_per_step": r["decoder_ms_per_step"]} for r in res["results"]]
        else:
            results = res["results"]
        for r in results:
            print(f"  beams {r['beams']} batch {r['batch']}: {r['tokens_per_second']:.1f} tokens/s",
                  file=sys.stderr, flush=True)
        rows.append({"engine": engine, "compute_type": compute, "load_seconds": res["load_seconds"],
                     "peak_rss_mib": rss, "process_seconds": wall, "results": results,
                     "load_below_limit_at_start": load_ok})
    mach["loadavg_after"] = list(os.getloadavg())
    mach["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    write_outputs(a, mach, rows, tolk, tolk_meta)


def versions(tolk: Path) -> dict:
    import ctranslate2
    import torch
    import transformers

    v = subprocess.run([str(tolk), "--version"], capture_output=True, text=True).stdout.strip()
    return {"tolk": v, "tolk_binary": str(tolk), "tolk_commit": git("rev-parse", "HEAD"),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "ctranslate2": ctranslate2.__version__, "python": platform.python_version()}


def lookup(rows, engine, compute, beams, batch):
    for row in rows:
        if row["engine"] == engine and row["compute_type"] == compute:
            for r in row["results"]:
                if r["beams"] == beams and r["batch"] == batch:
                    return r
    return None


def write_outputs(a, mach: dict, rows: list, tolk: Path, tolk_meta: dict) -> None:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"peers-{a.device}"
    ver = versions(tolk)
    doc = {"generator": "scripts/bench_peers.py",
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "device": a.device, "threads": a.threads, "machine": mach, "versions": ver,
           "model": "random MarianMT with Helsinki-NLP/opus-mt-da-en dimensions (d_model 512, 6+6 layers, "
                    "ffn 2048, 8 heads, vocab 58930), scripts/make_fixtures.py --da-en-dims recipe",
           "shapes": {"batch": a.batch, "beams": a.beams, "src_len": a.src_len, "source_tokens": a.src_len + 1,
                      "new_tokens": a.new_tokens, "warmup": a.warmup, "repeat": a.repeat, "seed": a.seed},
           "tolk_report": tolk_meta, "engines": rows}
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    engines = [(r["engine"], r["compute_type"]) for r in rows]
    short = {"float32": "f32", "float16": "f16", "int8_float16": "int8 (f16)"}
    name = {"transformers": "transformers", "ctranslate2": "CT2", "tolk": "tolk", "tolk-native": "tolk"}
    label = {e: f"{name[e[0]]} {short.get(e[1], e[1])}" + (" (native)" if e[0] == "tolk-native" else "")
             for e in engines}
    # tolk against CT2 at the same precision; on a GPU, tolk int8 against CT2's int8 mode.
    pairs = [(("tolk", "f32"), ("ctranslate2", "float32"))]
    if a.device == "cuda":
        pairs += [(("tolk", "f16"), ("ctranslate2", "float16")), (("tolk", "int8"), ("ctranslate2", "int8_float16"))]
    else:
        pairs += [(("tolk", "int8"), ("ctranslate2", "int8"))]
    gpu_line = [f"- GPU: {mach['gpu']} (name, driver, memory as nvidia-smi reports them)"] if mach.get("gpu") else []
    lines = [f"# tolk vs transformers vs CTranslate2 ({a.device}), opus-mt-da-en-sized Marian",
             "",
             f"Generated by `scripts/bench_peers.py` on {doc['date']}.",
             "",
             f"- Machine: {mach['cpu']}, {mach['logical_cores']} logical cores ({mach['usable_cores']} usable), "
             f"Linux {mach['kernel']}; load average before {mach['loadavg_before'][0]:.2f}, after "
             f"{mach['loadavg_after'][0]:.2f}",
             f"- Threads: {a.threads} for every engine (torch intra-op threads; CT2 intra_threads, "
             f"inter_threads 1; tolk --threads)",
             f"- Versions: {ver['tolk']} (commit {ver['tolk_commit'][:10]}), transformers {ver['transformers']}, "
             f"torch {ver['torch']}, CTranslate2 {ver['ctranslate2']}",
             f"- Model: {doc['model']}; random weights, so only speed and memory mean anything.",
             f"- Shapes: sources of {a.src_len} pseudo-random tokens + end of sequence, exactly {a.new_tokens} "
             f"new tokens per sentence; median of {a.repeat} runs after {a.warmup} warm-up per shape; "
             "tokens/s = generated tokens over all sentences / time, encoder included.",
             *gpu_line,
             "",
             "Generated tokens per second:",
             "",
             "| beams | batch | " + " | ".join(label[e] for e in engines) + " | "
             + " | ".join(f"{label.get(t, t[1])} / {label.get(c, c[1])}" for t, c in pairs) + " |",
             "|---:|---:|" + "---:|" * (len(engines) + len(pairs))]
    for beams in a.beams:
        for batch in a.batch:
            cells = []
            for e in engines:
                r = lookup(rows, *e, beams, batch)
                cells.append(f"{r['tokens_per_second']:.1f}" if r else "-")
            ratio = []
            for t, c in pairs:
                rt, rc = lookup(rows, *t, beams, batch), lookup(rows, *c, beams, batch)
                ratio.append(f"{rt['tokens_per_second'] / rc['tokens_per_second']:.2f}" if rt and rc else "-")
            lines.append(f"| {beams} | {batch} | " + " | ".join(cells) + " | " + " | ".join(ratio) + " |")
    lines += ["", "Load time and memory (per engine process, all shapes):", "",
              "| engine | load s | peak RSS MiB | load avg below limit at start |", "|---|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            first = r["error"].strip().splitlines()[-1][:200] if r["error"].strip() else "?"
            lines.append(f"| {label[(r['engine'], r['compute_type'])]} | failed: {first} | - | - |")
            continue
        lines.append(f"| {label[(r['engine'], r['compute_type'])]} | {r['load_seconds']:.2f} | "
                     f"{r['peak_rss_mib']:.0f} | {'yes' if r['load_below_limit_at_start'] else 'no'} |")
    tolk_rows = [r for r in rows if r["engine"].startswith("tolk")]
    if tolk_rows:
        lines += ["", "tolk's own split (`tolk bench`): encoder ms per batch and decoder ms per step:", "",
                  "| tolk | beams | batch | encoder ms | decoder ms/step |", "|---|---:|---:|---:|---:|"]
        for row in tolk_rows:
            for r in row["results"]:
                lines.append(f"| {label[(row['engine'], row['compute_type'])]} | {r['beams']} | {r['batch']} | {r['encoder_ms']:.1f} | "
                             f"{r['decoder_ms_per_step']:.2f} |")
    lines += ["", "Notes:", "",
              "- Ratios above 1 mean tolk is faster. CT2 int8 runs a model converted with `quantization=\"int8\"`; "
              "tolk int8 quantizes the float checkpoint's linear layers to Q8_0 (blocks of 32, one scale each) at load.",
              "- Peak RSS is `ru_maxrss` of each engine's process (`os.wait4`); the Python engines' include the "
              "interpreter and their imports.",
              "- tolk (native): the same source built with `RUSTFLAGS=\"-C target-cpu=native\"`." if a.tolk_native
              else ("- On CUDA, tolk's matrix products are candle's: cuBLAS for float ones, its Q8_0 CUDA kernels for int8; "
                    "CT2 `int8_float16` keeps int8 weights with float16 activations." if a.device == "cuda"
                    else "- tolk's f32 and int8 matrix products run on its own kernel (`src/arch/packed/`, AVX2 chosen at "
                    "run time) over weights packed at load; int8 weights are widened to f32 in the kernel (f32 activations)."),
              "- Figure: " + stem.with_suffix(".png").name + "."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(a, rows, engines, label, stem.with_suffix(".png"), mach)
    print(f"wrote {stem}.json, .md, .png", file=sys.stderr)


def plot(a, rows, engines, label, path: Path, mach: dict) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no figure (pip install matplotlib)", file=sys.stderr)
        return
    shapes = [(beams, batch) for beams in a.beams for batch in a.batch]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(engines)
    for i, e in enumerate(engines):
        vals = [(lookup(rows, *e, b, n) or {}).get("tokens_per_second", 0) for b, n in shapes]
        xs = [j + (i - (len(engines) - 1) / 2) * width for j in range(len(shapes))]
        ax.bar(xs, vals, width, label=label[e])
    ax.set_xticks(range(len(shapes)))
    ax.set_xticklabels([f"beams {b}, batch {n}" for b, n in shapes])
    ax.set_ylabel("generated tokens / s (encoder included)")
    where = mach.get("gpu", "").split(",")[0] if a.device == "cuda" and mach.get("gpu") else mach["cpu"]
    ax.set_title(f"opus-mt-da-en-sized Marian, {a.device}, {a.threads} threads — {where}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
