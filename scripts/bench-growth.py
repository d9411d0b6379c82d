#!/usr/bin/env python3
"""Growth rows (issue 23), one run on one fresh store:

- product creates/s (and p99) into a shop that already has 1,000 products
  (ab: a fixed 800, so the shop stays under its cap);
- checkout p99 while a vendor imports 1,000 products into another shop,
  next to checkout p99 without the import, in the same run;
- bytes on disk per product and per order: the store file's growth over
  the products and orders the runs added (the server stopped, so the file
  is whole), with the records counted by examples/bench_footprint;
- the store against its records as JSON (bench_footprint), before and
  after `uphill compact`;
- RSS after the loads.

  UPHILL_BIN=target/release/uphill python3 scripts/bench-growth.py
"""
import importlib.util
import json
import os
import re
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_http", os.path.join(HERE, "bench-http.py"))
bh = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bh)

EXAMPLES = os.environ.get("UPHILL_BENCH_EXAMPLES", os.path.join(bh.ROOT, "target/release/examples"))
PRODUCT = {"name": "Growth item", "description": "A product added by the growth bench",
           "price": 1000, "discount": 0, "stock": 10, "veg": True}

CREATE_LUA = """
local n = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer %(token)s"
wrk.body = '%(body)s'
response = function(status, headers, body)
  n = n + 1
  if n >= %(per_thread)d then wrk.thread:stop() end
end
"""


def footprint(data):
    out = subprocess.run([os.path.join(EXAMPLES, "bench_footprint"), data],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def shop_of(base, token):
    st, shop = bh.call(base, "GET", "/api/v1/me/shop", token)
    assert st == 200, shop
    return shop["id"]


def fill(base, token, shop, n):
    for i in range(n):
        st, body = bh.call(base, "POST", f"/api/v1/shops/{shop}/products", token, dict(PRODUCT, name=f"Import {i}"))
        assert st == 201, (st, body)


def main():
    server = bh.Server(group_commit=True)
    password = server.seed()
    seeded = footprint(server.data)
    server.start()
    ctx = bh.prepare(server, password)
    base = server.base
    bakery = bh.token_for(base, "bakery@uphill.test", password)
    juice = bh.token_for(base, "juice@uphill.test", password)
    big, other = shop_of(base, bakery), shop_of(base, juice)
    st, have = bh.call(base, "GET", f"/api/v1/shops/{big}/products?limit=200", bakery)
    fill(base, bakery, big, 1000 - len(have["items"]))
    server.stop()
    before_products = footprint(server.data)
    server.start()

    # Creates into the 1,000-product shop: 800 with ab (a fixed count, so
    # the shop stays under its 2,000 cap), 16 in flight, keep-alive.
    body = os.path.join(server.data, "product.json")
    with open(body, "w") as f:
        json.dump(PRODUCT, f)
    out = subprocess.run(["ab", "-q", "-k", "-n", "800", "-c", "16", "-p", body, "-T", "application/json",
                          "-H", f"Authorization: Bearer {bakery}", base + f"/api/v1/shops/{big}/products"],
                         capture_output=True, text=True, check=True).stdout
    creates = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    creates_p99 = float(re.search(r"^\s+99%\s+(\d+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx responses:\s+(\d+)", out)
    assert not bad, f"{bad.group(1)} refused creates"
    server.stop()
    after_products = footprint(server.data)
    server.start()

    # Checkout alone, then while another vendor imports 1,000 products.
    bh.DURATION = os.environ.get("ORDER_DURATION", "5s")
    order_script = os.path.join(server.data, "order.lua")
    with open(order_script, "w") as f:
        f.write(bh.ORDER_LUA % {"token": ctx["student"], **ctx})
    bh.restock(base, ctx)
    alone, alone_p99, bad = bh.wrk(base + "/api/v1/orders", order_script, conns=16)
    assert bad == 0, f"{bad} order errors"
    bh.restock(base, ctx)
    importer = threading.Thread(target=fill, args=(base, juice, other, 1000))
    t0 = time.monotonic()
    importer.start()
    during, during_p99, bad = bh.wrk(base + "/api/v1/orders", order_script, conns=16)
    importer.join()
    import_s = time.monotonic() - t0
    assert bad == 0, f"{bad} order errors"
    rss = server.rss_kib()
    server.stop()
    after_orders = footprint(server.data)
    subprocess.run([bh.BIN, "--data-dir", server.data, "compact"], env=server.env, check=True,
                   capture_output=True)
    compacted = os.path.getsize(os.path.join(server.data, "uphill.redb"))
    server.cleanup()

    def grew(a, b, table):
        n = b["records"].get(table, 0) - a["records"].get(table, 0)
        return n, (b["file_bytes"] - a["file_bytes"]) / max(n, 1)

    products_added, per_product = grew(before_products, after_products, "products")
    orders_added, per_order = grew(after_products, after_orders, "orders")
    print(json.dumps({
        "product_creates_per_s_into_1000": round(creates),
        "product_create_p99_ms": round(creates_p99, 1),
        "checkout_per_s_alone": round(alone), "checkout_p99_ms_alone": round(alone_p99, 1),
        "checkout_per_s_during_import": round(during), "checkout_p99_ms_during_import": round(during_p99, 1),
        "import_1000_products_s": round(import_s, 1),
        "store_bytes_per_product": round(per_product), "products_added": products_added,
        "store_bytes_per_order": round(per_order), "orders_added": orders_added,
        "seeded_store_bytes": seeded["file_bytes"], "seeded_json_export_bytes": seeded["json_export_bytes"],
        "final_store_bytes": after_orders["file_bytes"], "final_json_export_bytes": after_orders["json_export_bytes"],
        "final_store_bytes_compacted": compacted,
        "stored_record_bytes_per_table": after_orders["stored_bytes"],
        "records_per_table": after_orders["records"],
        "rss_after_loads_mib": round(rss / 1024, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
