#!/usr/bin/env python3
"""Load test of `tolk serve` on loopback against one `tolk translate` process per request.

Every sentence of --input is first translated by its own `tolk translate` process, one after
another (what a client without a server pays: process start, model load, one sentence); those
outputs are the expected answers. Then `tolk serve` is started with the same model, and
--clients threads each send --requests LibreTranslate `POST /translate` requests (the sentences
in turn); every answer must equal the CLI's output for its sentence, and none may be a 5xx.
A single client sending every sentence once shows the server without cross-request batching.

Writes a JSON record and a Markdown table. Standard library only.

  python3 scripts/serve_load.py --tolk target/release/tolk \
      --model .cache/test-models/translate-zh_en-1_9 --source zh \
      --input benches/data/zh-news.txt --clients 32 --requests 25 \
      --json docs/bench/serve-zh-en.json --md docs/bench/serve-zh-en.md
"""
import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def batch_totals(url):
    """(batches, sentences) the server has run so far, from /metrics."""
    with urllib.request.urlopen(url + "/metrics") as r:
        metrics = r.read().decode()
    count = re.search(r"^tolk_batch_sentences_count (\d+)", metrics, re.M)
    total = re.search(r"^tolk_batch_sentences_sum ([\d.]+)", metrics, re.M)
    if not count or not total:
        sys.exit("FAIL: /metrics has no tolk_batch_sentences histogram")
    return int(count.group(1)), float(total.group(1))


def one_process_each(tolk, model, sentences):
    outputs, latencies = [], []
    started = time.perf_counter()
    for s in sentences:
        t0 = time.perf_counter()
        p = subprocess.run([tolk, "translate", "--model", model, "--quiet"], input=s.encode(),
                           capture_output=True, check=False)
        latencies.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.exit(f"FAIL: tolk translate failed on {s!r}: {p.stderr.decode()}")
        outputs.append(p.stdout.decode().strip())
    return outputs, latencies, time.perf_counter() - started


def start_server(tolk, model, source, extra):
    cmd = [tolk, "serve", "--port", "0", "--model", f"{source}={model}", "--no-summary", "--quiet"] + extra
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    m = re.search(r"http://[0-9.:\[\]]+", line)
    if not m:
        proc.kill()
        sys.exit(f"FAIL: no address from tolk serve: {line!r}")
    url = m.group(0)
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/health") as r:
                if r.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit("FAIL: tolk serve never became ready")


def post(url, q, source):
    body = json.dumps({"q": q, "source": source, "target": "en"}).encode()
    req = urllib.request.Request(url + "/translate", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {"error": e.read().decode(errors="replace")}


def drive(url, source, sentences, expected, clients, requests):
    latencies, statuses, wrong = [], {}, []
    lock = threading.Lock()

    def client(c):
        for j in range(requests):
            i = (c * requests + j) % len(sentences)
            t0 = time.perf_counter()
            status, answer = post(url, sentences[i], source)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                statuses[status] = statuses.get(status, 0) + 1
                if status != 200 or answer.get("translatedText", "").strip() != expected[i]:
                    wrong.append((i, status, answer))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses, wrong, time.perf_counter() - started


def row(name, n, seconds, latencies, statuses, wrong):
    return {"mode": name, "requests": n, "seconds": round(seconds, 2),
            "requests_per_s": round(n / seconds, 2), "p50_s": round(pct(latencies, 50), 3),
            "p99_s": round(pct(latencies, 99), 3), "statuses": {str(k): v for k, v in statuses.items()},
            "wrong": len(wrong)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tolk", default="target/release/tolk")
    ap.add_argument("--model", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=25)
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra flag for tolk serve")
    a = ap.parse_args()
    sentences = [l.strip() for l in open(a.input, encoding="utf-8") if l.strip()]

    print(f"one process per request: {len(sentences)} sentences ...", file=sys.stderr)
    expected, base_lat, base_s = one_process_each(a.tolk, a.model, sentences)
    rows = [row("one `tolk translate` process per request", len(sentences), base_s, base_lat,
                {"exit 0": len(sentences)}, [])]

    proc, url = start_server(a.tolk, a.model, a.source, a.serve_arg)
    try:
        print("tolk serve, 1 client ...", file=sys.stderr)
        lat, st, wrong1, secs = drive(url, a.source, sentences, expected, 1, len(sentences))
        rows.append(row("`tolk serve`, 1 client (no batching across requests)", len(sentences), secs, lat, st, wrong1))
        before = batch_totals(url)
        n = a.clients * a.requests
        print(f"tolk serve, {a.clients} clients x {a.requests} requests ...", file=sys.stderr)
        lat, st, wrong, secs = drive(url, a.source, sentences, expected, a.clients, a.requests)
        rows.append(row(f"`tolk serve`, {a.clients} concurrent clients", n, secs, lat, st, wrong))
        after = batch_totals(url)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    # Mean model batch of the concurrent pass alone (the 1-client pass runs batches of one).
    mean_batch = (after[1] - before[1]) / max(1, after[0] - before[0])
    speedup = rows[2]["requests_per_s"] / rows[0]["requests_per_s"]
    record = {"model": a.model, "input": a.input, "sentences": len(sentences), "rows": rows,
              "speedup_vs_one_process_each": round(speedup, 2),
              "speedup_vs_one_client": round(rows[2]["requests_per_s"] / rows[1]["requests_per_s"], 2),
              "mean_batch_sentences": mean_batch, "server_exit_code": code,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(record, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
    if a.md:
        with open(a.md, "w") as f:
            f.write(f"# `tolk serve` load test: {os.path.basename(a.model)}, {len(sentences)} real sentences\n\n")
            f.write(f"Machine: {record['machine']}; loopback; made by `scripts/serve_load.py` on {record['date']}.\n\n")
            f.write("| mode | requests | seconds | requests/s | p50 s | p99 s | statuses | wrong |\n|---|---:|---:|---:|---:|---:|---|---:|\n")
            for r in rows:
                st = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
                f.write(f"| {r['mode']} | {r['requests']} | {r['seconds']} | {r['requests_per_s']} | {r['p50_s']} | {r['p99_s']} | {st} | {r['wrong']} |\n")
            f.write(f"\nThroughput with cross-request batching: **{record['speedup_vs_one_process_each']}x** one process per request, "
                    f"{record['speedup_vs_one_client']}x one client at a time on the same server; mean model batch "
                    f"{mean_batch:.1f} sentences. \"wrong\" counts answers that differ from the CLI's output for the same sentence "
                    f"(or are not 200). The server exited with {code} on SIGTERM.\n")
    bad = wrong1 + wrong
    if bad or code != 0:
        for w in bad[:5]:
            print("mismatch:", w, file=sys.stderr)
        sys.exit(f"FAIL: {len(bad)} wrong answers, server exit {code}")


if __name__ == "__main__":
    main()
