#!/usr/bin/env bash
# Throughput of 1 and 2 `tolk worker`s sharing one Redis stream, beside one `tolk batch` run, on
# N generated Chinese documents (scripts/make_batch_docs.py) with the real Argos zh->en 1.9
# package (scripts/fetch-test-models), translation only. Starts its own redis-server on a free
# loopback port. Prints a Markdown table; needs a release build (cargo build --release).
# Usage: scripts/bench_workers.sh [N=200] [extra tolk flags...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-200}"; shift || true
bin="$root/target/release/tolk"
pkg="${TOLK_TEST_MODELS:-$root/.cache/test-models}/translate-zh_en-1_9"
cores="$(nproc)"
[[ -x "$bin" ]] || { echo "build first: cargo build --release" >&2; exit 1; }
[[ -d "$pkg" ]] || { echo "fetch the model first: scripts/fetch-test-models" >&2; exit 1; }
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" > "$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; rm -rf "$work"' EXIT
until redis-cli -p "$port" ping > /dev/null 2>&1; do sleep 0.1; done
url="redis://127.0.0.1:$port/0"
python3 "$root/scripts/make_batch_docs.py" --count "$n" > "$work/docs.jsonl"
job=(--model "$pkg" --from zh --no-summary --quiet "$@")

now() { date +%s.%N; }
t0=$(now)
"$bin" batch "$work/docs.jsonl" -o "$work/batch.jsonl" --threads "$cores" "${job[@]}"
t1=$(now)
echo "batch $(python3 -c "print(f'{$t1-$t0:.2f}')")" > "$work/times"
for workers in 1 2; do
  q=(--redis "$url" --stream "w$workers:in" --results "w$workers:out")
  "$bin" enqueue "$work/docs.jsonl" "${q[@]}" --quiet
  threads=$(( cores / workers )); [[ $threads -ge 1 ]] || threads=1
  s=$(now)
  pids=()
  for k in $(seq 1 "$workers"); do
    "$bin" worker "${q[@]}" --consumer "c$k" --once --threads "$threads" "${job[@]}" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  e=$(now)
  "$bin" results "${q[@]}" -o "$work/w$workers.jsonl" --quiet
  echo "w$workers $(python3 -c "print(f'{$e-$s:.2f}')") $threads" >> "$work/times"
done

python3 - "$work" "$n" "$cores" <<'PY'
import json, os, sys
work, n, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    return {r["id"]: r for r in map(json.loads, open(os.path.join(work, name)))}
times = {}
for line in open(os.path.join(work, "times")):
    parts = line.split()
    times[parts[0]] = (float(parts[1]), int(parts[2]) if len(parts) > 2 else cores)
batch = load("batch.jsonl")
print("| run | documents | wall s | documents/s | same translations as batch |")
print("|---|---:|---:|---:|---|")
s, _ = times["batch"]
print(f"| `tolk batch`, one process, {cores} threads | {len(batch)} | {s:.1f} | {len(batch)/s:.2f} | — |")
for w in (1, 2):
    recs = load(f"w{w}.jsonl")
    s, threads = times[f"w{w}"]
    same = sum(recs[k]["translation"] == batch[k]["translation"] for k in batch if k in recs)
    print(f"| {w} `tolk worker` × {threads} threads, one Redis | {len(recs)} | {s:.1f} | {len(recs)/s:.2f} | {same}/{len(batch)} |")
PY
