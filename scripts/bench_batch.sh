#!/usr/bin/env bash
# Throughput of `tolk batch` against one `tolk translate` call per document, on N generated
# Chinese documents (scripts/make_batch_docs.py) with the real Argos zh->en 1.9 package
# (scripts/fetch-test-models). Prints a Markdown table; needs a release build (cargo build --release).
# Usage: scripts/bench_batch.sh [N=200] [extra tolk flags...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-200}"; shift || true
bin="$root/target/release/tolk"
pkg="${TOLK_TEST_MODELS:-$root/.cache/test-models}/translate-zh_en-1_9"
[[ -x "$bin" ]] || { echo "build first: cargo build --release" >&2; exit 1; }
[[ -d "$pkg" ]] || { echo "fetch the model first: scripts/fetch-test-models argos" >&2; exit 1; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
python3 "$root/scripts/make_batch_docs.py" --count "$n" --folder "$work/docs" > "$work/docs.jsonl"

t0=$(date +%s.%N)
"$bin" batch "$work/docs.jsonl" -o "$work/out.jsonl" --model "$pkg" --from zh --no-summary "$@" 2> "$work/batch.err" || true
t1=$(date +%s.%N)
: > "$work/single.txt"
for f in "$work"/docs/*.txt; do
  "$bin" translate --model "$pkg" --quiet --format json "$@" < "$f" | tr -d '\n' >> "$work/single.txt"
  echo >> "$work/single.txt"
done
t2=$(date +%s.%N)

python3 - "$work" "$n" "$t0" "$t1" "$t2" <<'PY'
import json, os, re, sys
work, n, t0, t1, t2 = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
recs = [json.loads(l) for l in open(os.path.join(work, "out.jsonl"))]
failed = sum(1 for r in recs if r.get("error"))
m = re.search(r"\((\d+) source, (\d+) generated\)", open(os.path.join(work, "batch.err")).read())
gen_b = int(m.group(2)) if m else float("nan")
singles = [json.loads(l) for l in open(os.path.join(work, "single.txt")) if l.strip()]
gen_s = sum(s["generated_tokens"] for s in singles)
batch_s, single_s = t1 - t0, t2 - t1
batch_text = [r["translation"] for r in sorted(recs, key=lambda r: r["id"])]
single_text = [s["translation"] for s in singles]
print("| run | documents | wall s | documents/s | generated tokens | generated tokens/s |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| tolk batch (one process, cross-document batches) | {len(recs)} ({failed} failed) | {batch_s:.1f} | {len(recs)/batch_s:.2f} | {gen_b} | {gen_b/batch_s:.1f} |")
print(f"| tolk translate, one process per document | {len(singles)} | {single_s:.1f} | {len(singles)/single_s:.2f} | {gen_s} | {gen_s/single_s:.1f} |")
same = sum(a == b for a, b in zip(batch_text, single_text))
print(f"\nspeed-up {single_s/batch_s:.2f}x (wall time, model loading included); identical translations: {same}/{len(single_text)}")
PY
