#!/usr/bin/env python3
"""Bench (not a test): the OpenAI-compatible proxy's own added latency.

Time to first token (request sent -> first content chunk of a streamed completion) through
`mnemo serve`'s proxy minus the same directly against the upstream, over N requests each,
alternating, against the local fake upstream of the proxy tests. Reports p50/p99 of both
and of the difference of the two medians. Goal: <= 5 ms p50.

    scripts/setup-pyenv.sh   # once; then, with its python:
    ~/.cache/mnemo-pyenv/bin/python scripts/bench_proxy.py [--n 1000] [--mnemo target/release/mnemo]

The proxy's work per request is all in the figure: authenticate the key, record the user
turn (a SQLite commit), assemble the memory context (embedding the message and searching),
forward, relay. The pipeline worker is off (`--no-worker`) so background model calls do not
compete with the measurement.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import httpx2

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "crates", "mnemo-cli", "tests", "python", "fake_openai_upstream.py")


def ttft(client, url, headers, n_words):
    body = {"model": "client-model", "stream": True,
            "messages": [{"role": "system", "content": "You are terse."},
                         {"role": "user", "content": f"Tell me about themes {n_words}"}]}
    t0 = time.perf_counter()
    with client.stream("POST", url, json=body, headers=headers) as r:
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.read()}")
        lines = r.iter_lines()
        for line in lines:
            if line.startswith("data:") and '"content": "' in line and '"content": ""' not in line:
                t = time.perf_counter() - t0
                for _ in lines:
                    pass
                return t
    raise SystemExit("no content chunk")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--mnemo", default=os.environ.get("MNEMO_BIN", "target/debug/mnemo"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mnemo-bench-proxy-")
    up = subprocess.Popen([sys.executable, FAKE], stdout=subprocess.PIPE, text=True)
    port = up.stdout.readline().split()[1]
    upstream = f"http://127.0.0.1:{port}"
    env = {"HOME": tmp, "PATH": os.environ.get("PATH", ""), "MNEMO_DB": f"{tmp}/mnemo.db",
           "MNEMO_USER": "bench", "MNEMO_LLM_PROVIDER": "openai",
           "OPENAI_BASE_URL": f"{upstream}/v1", "OPENAI_API_KEY": "sk-bench",
           "MNEMO_MODEL": "client-model"}
    key = subprocess.run([a.mnemo, "keys", "create", "--user", "bench"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    # Some memories to search, so context assembly does real work.
    for i in range(20):
        subprocess.run([a.mnemo, "remember", f"fact number {i} about theme {i % 7}"], env=env,
                       capture_output=True, check=True)
    srv = subprocess.Popen([a.mnemo, "serve", "--no-worker", "--listen", "127.0.0.1:0"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    mnemo = "http://" + srv.stdout.readline().split("http://")[1].split()[0]
    try:
        direct, proxied = [], []
        with httpx2.Client(timeout=30) as c:
            auth = {"Authorization": f"Bearer {key}", "X-Mnemo-Session": "bench"}
            for i in range(20):  # warm-up
                ttft(c, f"{upstream}/v1/chat/completions", {}, i)
                ttft(c, f"{mnemo}/v1/chat/completions", auth, i)
            for i in range(a.n):
                direct.append(ttft(c, f"{upstream}/v1/chat/completions", {}, i))
                proxied.append(ttft(c, f"{mnemo}/v1/chat/completions", auth, i))
        ms = lambda x: f"{x * 1000:.2f} ms"
        print(f"requests: {a.n} each, mnemo binary: {a.mnemo}")
        print(f"direct   TTFT p50 {ms(pct(direct, 50))}  p99 {ms(pct(direct, 99))}")
        print(f"proxied  TTFT p50 {ms(pct(proxied, 50))}  p99 {ms(pct(proxied, 99))}")
        diffs = [p - d for p, d in zip(proxied, direct)]
        print(f"added    p50 {ms(pct(proxied, 50) - pct(direct, 50))}  "
              f"p99 {ms(pct(proxied, 99) - pct(direct, 99))}  "
              f"(pairwise: p50 {ms(statistics.median(diffs))}, p99 {ms(pct(diffs, 99))})")
    finally:
        srv.terminate()
        up.terminate()


if __name__ == "__main__":
    main()
