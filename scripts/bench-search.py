#!/usr/bin/env python3
"""Search benchmark over 100,000 products, on loopback only.

Started by scripts/bench. `examples/bench_search` seeds a fresh data
directory with PRODUCTS products in 100 verified shops (direct store
writes), times the index rebuild and the in-process search function
(p50/p99). Then the release server serves that directory and wrk measures
`GET /api/v1/search` with a rotating mix of typo, prefix and multi-word
queries (the same ones), RUNS times. Prints one JSON object with medians.
"""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/uphill")
EXAMPLE = os.path.join(os.environ.get("UPHILL_BENCH_EXAMPLES", os.path.join(ROOT, "target/release/examples")), "bench_search")
RUNS = int(os.environ.get("RUNS", "3"))
DURATION = os.environ.get("DURATION", "5s")
CONNS = int(os.environ.get("CONNS", "16"))
PRODUCTS = int(os.environ.get("PRODUCTS", "100000"))

# Keep in step with QUERIES in examples/bench_search.rs.
QUERIES = ["panner r", "masala ch", "chay", "cofee", "momo", "veg samosa",
           "cheese sandwhich", "tandori", "ginger lemon", "notebok", "pen",
           "crispy dosa 42", "butter nan", "cold coffee", "biryani", "st"]

LUA = """
local qs = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/search?q=" .. qs[(i %% #qs) + 1])
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url, script, conns=None):
    conns = conns or CONNS
    cmd = ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{DURATION}", "--latency", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, pct(50), pct(99), int(non2xx.group(1)) if non2xx else 0


def main():
    data = tempfile.mkdtemp(prefix="uphill-bench-search-")
    try:
        out = subprocess.run([EXAMPLE, data, str(PRODUCTS), "5000"], capture_output=True,
                             text=True, check=True).stdout
        inproc = json.loads(out.strip().splitlines()[-1])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, UPHILL_LOG__LEVEL="warn")
        proc = subprocess.Popen([BIN, "--bind", f"127.0.0.1:{port}", "--data-dir", data, "serve"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            t0 = time.monotonic()
            while True:
                try:
                    with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() - t0 > 60:
                    raise SystemExit("server did not become ready")
                time.sleep(0.02)
            ready_ms = (time.monotonic() - t0) * 1000
            # Every query answers with hits before timing starts.
            for q in QUERIES:
                with urllib.request.urlopen(base + "/api/v1/search?q=" + urllib.parse.quote(q)) as r:
                    assert r.status == 200
            script = os.path.join(data, "search.lua")
            with open(script, "w") as f:
                f.write(LUA % ", ".join(f'"{urllib.parse.quote(q)}"' for q in QUERIES))
            rps, p50, p99 = [], [], []
            # One client, one query at a time: the latency of a search
            # itself, without waiting behind other requests.
            one_p50, one_p99 = [], []
            for _ in range(RUNS):
                r, a, b, bad = wrk(base, script)
                assert bad == 0, f"{bad} search errors"
                rps.append(r)
                p50.append(a)
                p99.append(b)
                _, a, b, bad = wrk(base, script, conns=1)
                assert bad == 0, f"{bad} search errors"
                one_p50.append(a)
                one_p99.append(b)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        print(json.dumps({
            "machine": f"{os.cpu_count()} cores",
            "products": PRODUCTS, "runs": RUNS, "duration": DURATION, "connections": CONNS,
            "seed_ms": inproc["seed_ms"], "rebuild_ms": inproc["rebuild_ms"],
            "inprocess_p50_ms": inproc["inprocess_p50_us"] / 1000,
            "inprocess_p99_ms": inproc["inprocess_p99_us"] / 1000,
            "avg_hits": inproc["avg_hits"],
            "inprocess_slowest_median_us": inproc.get("slowest_median_us"),
            "start_to_ready_ms": round(ready_ms),
            "http_rps": round(statistics.median(rps)),
            "http_p50_ms": round(statistics.median(p50), 2),
            "http_p99_ms": round(statistics.median(p99), 2),
            "http_one_client_p50_ms": round(statistics.median(one_p50), 2),
            "http_one_client_p99_ms": round(statistics.median(one_p99), 2),
        }, indent=2))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
