#!/usr/bin/env python3
"""CPU speed of tolk's T5 against transformers, at flan-t5-base dimensions, in one run.

Builds a random-weight T5 with flan-t5-base's shapes (d_model 768, d_kv 64, 12+12 layers, 12 heads, d_ff 2048,
vocab 32128, gated-gelu, tied embeddings) and a SentencePiece tokenizer (the committed tiny ``spiece.model``
of tests/fixtures/t5/tiny-relu-untied: tokenization is not what is timed), saves it to a temporary folder,
then times greedy decoding of exactly N new tokens per sentence (``min_new_tokens = max_new_tokens = N``) at
batch 1 and batch 8 with the same number of CPU threads:

* transformers: ``model.generate`` (float32, ``torch.set_num_threads(T)``), after one warm-up call;
* tolk: ``tolk translate --model DIR --lines --min-new-tokens N --max-new-tokens N --beams 1 --threads T
  --format json``; its JSON reports ``translate_seconds`` (model load excluded) and ``generated_tokens``.

Each measurement is the best of ``--repeats`` runs. Writes docs/bench/t5-base-cpu.{json,md}.

Run with the project venv after ``cargo build --release``:
    /work/main/.venv/bin/python scripts/bench_t5.py [--tolk target/release/tolk] [--new-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import torch
import transformers
from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

ROOT = Path(__file__).resolve().parent.parent
SPM = ROOT / "tests" / "fixtures" / "t5" / "tiny-relu-untied" / "spiece.model"

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()

SENTENCES = [
    "USA og Rusland er klar til at forhandle om Syrien, siger udenrigsministeren.",
    "Die Bundesregierung hat am Dienstag einen neuen Haushaltsentwurf vorgelegt.",
    "Le gouvernement a présenté mardi un nouveau projet de budget pour l’année prochaine.",
    "Politiet i København efterforsker et røveri på Nørrebro, hvor to mænd blev anholdt.",
    "El gobierno presentó el martes un nuevo proyecto de presupuesto para el año próximo.",
    "Die Preise für Lebensmittel sind im Oktober um 3,2 Prozent gestiegen.",
    "Des milliers de personnes ont manifesté à Paris contre la réforme des retraites.",
    "Ifølge Danmarks Statistik steg priserne på fødevarer med 3,2 procent i oktober.",
]

SHAPES = dict(d_model=768, d_kv=64, num_layers=12, num_decoder_layers=12, num_heads=12, d_ff=2048,
              vocab_size=32128, feed_forward_proj="gated-gelu", tie_word_embeddings=True)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build_model(out: Path) -> None:
    torch.manual_seed(0)
    cfg = T5Config(**SHAPES, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, dropout_rate=0.0)
    model = T5ForConditionalGeneration(cfg).eval()
    model.save_pretrained(out, safe_serialization=True)
    shutil.copyfile(SPM, out / "spiece.model")


def time_transformers(model_dir: Path, batch: int, n: int, threads: int, repeats: int) -> float:
    torch.set_num_threads(threads)
    tok = T5Tokenizer.from_pretrained(model_dir)
    model = T5ForConditionalGeneration.from_pretrained(model_dir).eval()
    inputs = tok(SENTENCES[:batch], return_tensors="pt", padding=True)
    kwargs = dict(num_beams=1, do_sample=False, min_new_tokens=n, max_new_tokens=n)
    with torch.no_grad():
        model.generate(**inputs, **kwargs)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            out = model.generate(**inputs, **kwargs)
            best = min(best, time.perf_counter() - start)
    assert out.shape == (batch, n + 1), out.shape
    return best


def time_tolk(tolk: Path, model_dir: Path, batch: int, n: int, threads: int, repeats: int) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(SENTENCES[:batch]) + "\n")
        path = f.name
    cmd = [str(tolk), "translate", "--model", str(model_dir), "--lines", "--min-new-tokens", str(n),
           "--max-new-tokens", str(n), "--beams", "1", "--threads", str(threads), "--format", "json",
           "--batch-tokens", "100000", "--quiet", path]
    best, tokens = float("inf"), 0
    try:
        for _ in range(repeats + 1):  # the first run warms the page cache
            res = subprocess.run(cmd, check=True, capture_output=True, text=True)
            report = json.loads(res.stdout)
            best = min(best, report["translate_seconds"])
            tokens = report["generated_tokens"]
    finally:
        os.unlink(path)
    return best, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap.add_argument("--tolk", type=Path, default=target / "release" / "tolk")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = ap.parse_args()
    if not args.tolk.is_file():
        raise SystemExit(f"{args.tolk} not found; run `cargo build --release` first or pass --tolk")
    n, threads = args.new_tokens, args.threads
    work = Path(tempfile.mkdtemp(prefix="tolk-t5-bench-"))
    try:
        build_model(work)
        rows = []
        for batch in (1, 8):
            hf = time_transformers(work, batch, n, threads, args.repeats)
            tolk_s, tolk_tokens = time_tolk(args.tolk, work, batch, n, threads, args.repeats)
            if tolk_tokens != batch * n:
                raise SystemExit(f"tolk generated {tolk_tokens} tokens, expected {batch * n}")
            row = {"batch": batch, "new_tokens": n, "transformers_seconds": round(hf, 3),
                   "tolk_seconds": round(tolk_s, 3),
                   "transformers_tokens_per_s": round(batch * n / hf, 1),
                   "tolk_tokens_per_s": round(batch * n / tolk_s, 1),
                   "tolk_speedup": round(hf / tolk_s, 2)}
            rows.append(row)
            print(row, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"device": f"CPU: {cpu_name()}", "threads": threads, "dtype": "float32",
            "model": "random T5 at flan-t5-base shapes", "shapes": SHAPES, "decoding": "greedy, forced N new tokens",
            "transformers": transformers.__version__, "torch": torch.__version__,
            "tolk_binary": str(args.tolk), "date": time.strftime("%Y-%m-%d")}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "t5-base-cpu.json").write_text(json.dumps({**meta, "results": rows}, indent=2) + "\n")
    lines = [
        "# T5 (flan-t5-base shapes) on CPU: tolk vs transformers",
        "",
        f"{meta['device']}, {threads} threads, float32, greedy decoding of exactly {n} new tokens per sentence "
        f"(random weights; transformers {meta['transformers']}, torch {meta['torch']}). Made by "
        "`scripts/bench_t5.py`; tolk's time excludes model loading, as transformers' does.",
        "",
        "| batch | transformers tokens/s | tolk tokens/s | tolk / transformers |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['batch']} | {r['transformers_tokens_per_s']} | {r['tolk_tokens_per_s']} | "
                     f"{r['tolk_speedup']}x |")
    (args.out / "t5-base-cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:]))


if __name__ == "__main__":
    main()
