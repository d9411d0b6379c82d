#!/usr/bin/env python3
"""HTTP benchmarks against the release binary, on loopback only.

Started by scripts/bench. Starts `uphill serve` on a free loopback port with
a fresh data directory and the demo campus, prepares a shop with 50 products
and deep stock, then measures with wrk (Debian):
  - /healthz req/s (the ceiling for this machine in this run),
  - a shop's 50-product catalog page req/s and p99, and the ratio,
  - durable order placement (POST /api/v1/orders) orders/s and p99, with
    group commit and with one commit per request, and the ratio,
  - 1,000 concurrent buyers racing for 100 units (sold must be exactly 100),
  - SSE fan-out: SSE_STREAMS open `/api/v1/events` streams (100 per user)
    and the p50/p99 delay until an admin broadcast reaches all of them,
    with the server's memory per open stream (examples/bench_sse.rs).
Every figure is the median of RUNS runs. Prints JSON lines.
"""
import concurrent.futures
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# UPHILL_BIN: another build of the server, e.g. the `profiling` profile.
BIN = os.environ.get("UPHILL_BIN") or os.path.join(ROOT, "target/release/uphill")
RUNS = int(os.environ.get("RUNS", "3"))
DURATION = os.environ.get("DURATION", "5s")
CONNS = int(os.environ.get("CONNS", "64"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None, headers=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(req, data, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


class Server:
    def __init__(self, group_commit=True, data=None):
        self.data = data or tempfile.mkdtemp(prefix="uphill-bench-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, UPHILL_LOG__LEVEL="warn",
                   UPHILL_STORAGE__GROUP_COMMIT="true" if group_commit else "false",
                   UPHILL_AUTH__LOGIN_ATTEMPTS_PER_IP_PER_MINUTE="100000",
                   UPHILL_AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE="100000",
                   UPHILL_AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT_ALL_NETWORKS_PER_MINUTE="100000",
                   UPHILL_AUTH__REGISTRATIONS_PER_IP_PER_HOUR="100000",
                   UPHILL_AUTH__REGISTRATIONS_PER_HOUR="100000")
        self.env = env
        self.proc = None

    def seed(self):
        out = subprocess.run([BIN, "--data-dir", self.data, "seed", "demo"], env=self.env,
                             capture_output=True, text=True, check=True).stdout
        return re.search(r"\(shown once\): (\S+)", out).group(1)

    def start(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen([BIN, "--bind", f"127.0.0.1:{self.port}", "--data-dir", self.data, "serve"],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                if call(self.base, "GET", "/readyz")[0] == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.01)
        raise SystemExit("server did not become ready")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def wrk(url, script=None, conns=CONNS):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{DURATION}", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, float(p99.group(1)) * scale, int(non2xx.group(1)) if non2xx else 0


def token_for(base, email, password):
    """Signs in (cookie + CSRF token) once to make a personal API token."""
    login = urllib.request.Request(base + "/api/v1/auth/login", method="POST",
                                   data=json.dumps({"email": email, "password": password}).encode())
    login.add_header("content-type", "application/json")
    with urllib.request.urlopen(login) as r:
        cookie = r.headers["set-cookie"].split(";")[0]
        csrf = json.loads(r.read())["csrf_token"]
    req = urllib.request.Request(base + "/api/v1/me/tokens", method="POST",
                                 data=json.dumps({"name": "bench"}).encode())
    req.add_header("content-type", "application/json")
    req.add_header("x-csrf-token", csrf)
    req.add_header("cookie", cookie)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["secret"]


def prepare(server, password):
    base = server.base
    vendor = token_for(base, "canteen@uphill.test", password)
    student = token_for(base, "asha@uphill.test", password)
    st, shop = call(base, "GET", "/api/v1/me/shop", vendor)
    assert st == 200, shop
    shop_id = shop["id"]
    products = call(base, "GET", f"/api/v1/shops/{shop_id}/products?limit=200", vendor)[1]["items"]
    for i in range(50 - len(products)):
        st, _ = call(base, "POST", f"/api/v1/shops/{shop_id}/products", vendor,
                     {"name": f"Bench item {i}", "description": "A product to fill the page",
                      "price": 1000 + i, "discount": 0, "stock": 100, "veg": True})
        assert st == 201, st
    products = call(base, "GET", f"/api/v1/shops/{shop_id}/products?limit=200", vendor)[1]["items"]
    assert len(products) == 50, len(products)
    tea = next(p for p in products if p["name"] == "Masala Chai")
    st, _ = call(base, "PATCH", f"/api/v1/products/{tea['id']}", vendor, {"stock": 100000})
    assert st == 200, st
    # One unit per order; `restock` puts the 100,000 units (the most a product
    # may hold) back before every run.
    st, _ = call(base, "PATCH", f"/api/v1/shops/{shop_id}", vendor, {"min_order_value": 0})
    assert st == 200, st
    st, addresses = call(base, "GET", "/api/v1/me/addresses", student)
    return {"vendor": vendor, "student": student, "shop": shop_id, "product": tea["id"],
            "address": addresses[0]["id"]}


def restock(base, ctx):
    st, _ = call(base, "PATCH", f"/api/v1/products/{ctx['product']}", ctx["vendor"], {"stock": 100000})
    assert st == 200, st


ORDER_LUA = """
local n = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer %(token)s"
wrk.body = '{"shop_id":"%(shop)s","items":[{"product_id":"%(product)s","quantity":1}],"address_id":"%(address)s","payment_method":"CASH"}'
request = function()
  n = n + 1
  wrk.headers["idempotency-key"] = "bench-" .. tostring(math.random(1, 2^31)) .. "-" .. tostring(n) .. "-" .. tostring(os.clock())
  return wrk.format()
end
"""


LOGIN_LUA = """
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"email":"%(email)s","password":"%(password)s"}'
"""


def login_under_load(server, password, shop):
    """SPEC §10: argon2id logins must not starve other requests. Catalog
    reads alone, then the same reads while 16 clients sign in back to back
    (every login is a full argon2id verification at OWASP parameters)."""
    script = os.path.join(server.data, "login.lua")
    with open(script, "w") as f:
        f.write(LOGIN_LUA % {"email": "asha@uphill.test", "password": password})
    url = server.base + f"/api/v1/shops/{shop}/products"
    alone, alone_p99, loaded, loaded_p99, logins, login_p99 = [], [], [], [], [], []
    for _ in range(RUNS):
        r, p, bad = wrk(url)
        assert bad == 0
        alone.append(r)
        alone_p99.append(p)
        cmd = ["wrk", "-t1", "-c16", f"-d{DURATION}", "--latency", "-s", script,
               server.base + "/api/v1/auth/login"]
        flood = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        r, p, bad = wrk(url)
        out = flood.communicate(timeout=120)[0]
        assert bad == 0
        assert "Non-2xx" not in out, out
        loaded.append(r)
        loaded_p99.append(p)
        logins.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))
        m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
        login_p99.append(float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)])
    return {
        "catalog_rps_alone": round(median(alone)),
        "catalog_p99_ms_alone": round(median(alone_p99), 2),
        "catalog_rps_during_logins": round(median(loaded)),
        "catalog_p99_ms_during_logins": round(median(loaded_p99), 2),
        "logins_per_s": round(median(logins), 1),
        "login_p99_ms": round(median(login_p99), 1),
    }


def median(xs):
    return statistics.median(xs)


def main():
    results = []
    server = Server(group_commit=True)
    password = server.seed()
    ready_s = server.start()
    idle_rss = server.rss_kib()
    ctx = prepare(server, password)
    base = server.base
    health, catalog, orders = [], [], []
    catalog_p99, orders_p99 = [], []
    script = os.path.join(server.data, "order.lua")
    with open(script, "w") as f:
        f.write(ORDER_LUA % {"token": ctx["student"], **ctx})
    only_orders = os.environ.get("ONLY") == "orders"
    for _ in range(0 if only_orders else RUNS):
        h, _, _ = wrk(base + "/healthz")
        c, cp99, bad = wrk(base + f"/api/v1/shops/{ctx['shop']}/products")
        assert bad == 0, f"{bad} catalog errors"
        health.append(h)
        catalog.append(c)
        catalog_p99.append(cp99)
    logins = {} if only_orders else login_under_load(server, password, ctx["shop"])
    for _ in range(RUNS):
        restock(base, ctx)
        o, op99, bad = wrk(base + "/api/v1/orders", script)
        assert bad == 0, f"{bad} order errors"
        orders.append(o)
        orders_p99.append(op99)
    loaded_rss = server.rss_kib()
    server.stop()

    single = Server(group_commit=False, data=server.data)
    single.start()
    single_rates, single_p99 = [], []
    for _ in range(RUNS):
        restock(single.base, ctx)
        o, op99, bad = wrk(single.base + "/api/v1/orders", script)
        assert bad == 0, f"{bad} order errors"
        single_rates.append(o)
        single_p99.append(op99)
    if only_orders:
        single.stop()
        server.cleanup()
        print(json.dumps({
            "orders_per_s_group_commit": round(median(orders)),
            "orders_p99_ms_group_commit": round(median(orders_p99), 2),
            "orders_per_s_one_commit": round(median(single_rates)),
            "group_to_one_commit": round(median(orders) / median(single_rates), 2),
            "runs_group_commit": [round(x) for x in orders],
            "runs_p99_ms_group_commit": [round(x, 1) for x in orders_p99],
            "runs_one_commit": [round(x) for x in single_rates],
        }, indent=2))
        return

    # 1,000 buyers race for 100 units.
    vendor = ctx["vendor"]
    st, _ = call(single.base, "PATCH", f"/api/v1/products/{ctx['product']}", vendor, {"stock": 100})
    single.stop()
    race = Server(group_commit=True, data=server.data)
    race.start()

    def buy(i):
        st, _ = call(race.base, "POST", "/api/v1/orders", ctx["student"],
                     {"shop_id": ctx["shop"], "items": [{"product_id": ctx["product"], "quantity": 1}],
                      "address_id": ctx["address"], "payment_method": "CASH", "notes": "race"},
                     {"idempotency-key": f"race-{i}"})
        return st
    # The canteen's minimum order is 50.00: one chai is below it, so raise it away.
    call(race.base, "PATCH", f"/api/v1/shops/{ctx['shop']}", vendor, {"min_order_value": 0})
    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        statuses = list(pool.map(buy, range(1000)))
    st, product = call(race.base, "GET", f"/api/v1/products/{ctx['product']}", vendor)
    race.cleanup()

    results = {
        "machine": f"{os.cpu_count()} cores",
        "runs": RUNS, "duration": DURATION, "connections": CONNS,
        "healthz_rps": round(median(health)),
        "catalog_rps": round(median(catalog)),
        "catalog_p99_ms": round(median(catalog_p99), 2),
        "catalog_to_healthz": round(median(catalog) / median(health), 3),
        "orders_per_s_group_commit": round(median(orders)),
        "orders_p99_ms_group_commit": round(median(orders_p99), 2),
        "orders_per_s_one_commit": round(median(single_rates)),
        "orders_p99_ms_one_commit": round(median(single_p99), 2),
        "group_to_one_commit": round(median(orders) / median(single_rates), 2),
        "race_sold": statuses.count(201),
        "race_refused_409": statuses.count(409),
        "race_other": len(statuses) - statuses.count(201) - statuses.count(409),
        "race_stock_left": product["stock"],
        "start_to_ready_ms": round(ready_s * 1000),
        "idle_rss_mib": round(idle_rss / 1024, 1),
        "loaded_rss_mib": round(loaded_rss / 1024, 1),
    }
    results.update(logins)
    results.update(sse_bench())
    print(json.dumps(results, indent=2))


SSE_STREAMS = int(os.environ.get("SSE_STREAMS", "10000"))
SSE_ROUNDS = int(os.environ.get("SSE_ROUNDS", "5"))


def register(base, i, password):
    email = f"sse{i}@uphill.test"
    st, body = call(base, "POST", "/api/v1/auth/register", None,
                    {"email": email, "name": f"Listener {i}", "password": password})
    # 202: "check your mail"; listening needs no confirmed address.
    assert st in (200, 201, 202), (st, body)
    return token_for(base, email, password)


FLOORS = ["raw", "http1", "auto"]
EXAMPLES = os.environ.get("UPHILL_BENCH_EXAMPLES", os.path.join(ROOT, "target/release/examples"))


def run_sse_client(port, admin, tokens_path, pid):
    out = subprocess.run(
        [os.path.join(EXAMPLES, "bench_sse"), f"127.0.0.1:{port}",
         admin, tokens_path, str(SSE_STREAMS), str(SSE_ROUNDS), str(pid)],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def sse_bench():
    """10,000 streams need 10,000 descriptors on each side: the script
    raises the soft limit to the hard one for itself and its children."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    server = Server(group_commit=True)
    server.env["UPHILL_EVENTS__MAX_STREAMS_PER_USER"] = "100"
    # A closed stream frees its per-user slot at the next failed write (a
    # heartbeat at worst): short heartbeats let the next run connect.
    server.env["UPHILL_EVENTS__HEARTBEAT_SECS"] = "2"
    password = server.seed()
    server.start()
    try:
        admin = token_for(server.base, "admin@uphill.test", password)
        users = max(1, (SSE_STREAMS + 99) // 100)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            tokens = list(pool.map(lambda i: register(server.base, i, "listen-closely-42"), range(users)))
        path = os.path.join(server.data, "sse-tokens.txt")
        with open(path, "w") as f:
            f.write("\n".join(tokens))
        # The floors: the same client against bare tokio servers
        # (bench_sse_floor): `raw` only holds sockets and writes each event
        # to them; `http1` and `auto` serve through hyper's HTTP/1 and
        # hyper-util's HTTP/1-or-2 connection (what poem uses), without
        # poem. Run alternately with Uphill so all see the same machine.
        floors = {}
        try:
            for mode in FLOORS:
                port_file = os.path.join(server.data, f"floor-{mode}")
                proc = subprocess.Popen([os.path.join(EXAMPLES, "bench_sse_floor"), port_file, mode])
                floors[mode] = {"proc": proc, "file": port_file, "runs": []}
            deadline = time.monotonic() + 10
            for f in floors.values():
                while not os.path.exists(f["file"]) or not open(f["file"]).read().strip():
                    if time.monotonic() > deadline:
                        raise SystemExit("bench_sse_floor did not start")
                    time.sleep(0.05)
                f["port"] = int(open(f["file"]).read())
            runs = []
            for _ in range(max(1, RUNS)):
                runs.append(run_sse_client(server.port, admin, path, server.proc.pid))
                time.sleep(5)
                for f in floors.values():
                    f["runs"].append(run_sse_client(f["port"], admin, path, f["proc"].pid))
                    time.sleep(1)
        finally:
            for f in floors.values():
                f["proc"].kill()
                f["proc"].wait()
        p99 = median([r["p99_ms"] for r in runs])
        floor_figures = {}
        for mode, f in floors.items():
            floor_figures[f"sse_floor_{mode}_p99_ms"] = round(median([r["p99_ms"] for r in f["runs"]]), 2)
            floor_figures[f"sse_floor_{mode}_p99_ms_runs"] = [round(r["p99_ms"], 1) for r in f["runs"]]
            floor_figures[f"sse_floor_{mode}_kib_per_stream"] = round(f["runs"][0]["kib_per_stream"], 2)
        return {
            "sse_streams": SSE_STREAMS,
            "sse_connected": min(r["connected"] for r in runs),
            "sse_received_of_expected": f"{sum(r['received'] for r in runs)}/{sum(r['expected'] for r in runs)}",
            "sse_p50_ms": round(median([r["p50_ms"] for r in runs]), 2),
            "sse_p99_ms": round(median([r["p99_ms"] for r in runs]), 2),
            # Only the first run opens its streams in a fresh process; later
            # runs reuse memory the allocator kept from the one before.
            "sse_kib_per_stream": round(runs[0]["kib_per_stream"], 2),
            "sse_p99_ms_runs": [round(r["p99_ms"], 1) for r in runs],
            **floor_figures,
            "sse_p99_to_raw_floor": round(p99 / floor_figures["sse_floor_raw_p99_ms"], 2),
            # SPEC §10's bars: ≤ 1.3× the p99 and ≤ 1.25× the memory per
            # stream of poem's own stack (`auto`) in the same run.
            "sse_p99_to_poem_stack": round(p99 / floor_figures["sse_floor_auto_p99_ms"], 2),
            "sse_kib_to_poem_stack": round(
                runs[0]["kib_per_stream"] / floor_figures["sse_floor_auto_kib_per_stream"], 2),
        }
    finally:
        server.cleanup()


if __name__ == "__main__":
    # ONLY=sse re-measures the fan-out alone (e.g. after changing it);
    # ONLY=orders the durable order rates alone, ONLY=login the logins.
    if os.environ.get("ONLY") == "login":
        s = Server(group_commit=True)
        pw = s.seed()
        s.start()
        try:
            print(json.dumps(login_under_load(s, pw, prepare(s, pw)["shop"]), indent=2))
        finally:
            s.cleanup()
    elif os.environ.get("ONLY") == "sse":
        print(json.dumps(sse_bench(), indent=2))
    else:
        main()
