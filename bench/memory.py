#!/usr/bin/env python3
"""`make bench-memory`: what each way of checking JWTs costs an Envoy in resident memory.

One Envoy process per row and worker count (the official Envoy from the venv, run directly),
each with a single listener in front of the same upstream:

  - no filter;
  - a no-op proxy-wasm filter (bench/noop: the V8 floor under any wasm filter);
  - Envoy's native jwt_authn;
  - this filter, no fetcher (its workers fetch the JWKS themselves);
  - this filter + the jwks-fetcher singleton (bootstrap WasmService, same vm_id).

Both rows of this filter fetch the JWKS from the upstream over a cluster (as in production),
so the only difference between them is the fetcher. Each Envoy gets 2,000 requests, each with
a distinct valid RS256 token, over 8 keep-alive connections (so with 4 workers every worker
sees traffic), then its VmRSS and Envoy's `/memory` admin figures (tcmalloc: `allocated` is live
heap, `heap_size` what the allocator holds) are read. The table goes into BENCHMARKS.md
between the bench-memory markers; everything else in the file is left alone.

Each cell is the median of BENCH_MEMORY_RUNS fresh Envoy processes (default 3), started in turn
(row after row, then again), so that a slow moment of the machine or the allocator's placement
in one process does not move a row: single runs of the same build differ by up to ~2 MiB.

Environment: BENCH_MEMORY_REQUESTS (default 2000), BENCH_MEMORY_WORKERS (default "1,4"),
BENCH_MEMORY_RUNS (default 3),
BENCH_WASM_DIR (the modules to measure; default target/wasm32-wasip1/release), BENCH_MEMORY_ROWS
(comma-separated subset of rows, e.g. "noop,filter"; the table needs the full set).
"""

import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the throughput bench: Envoy runner, config helpers, paths)

REQUESTS = int(os.environ.get("BENCH_MEMORY_REQUESTS", "2000"))
WORKERS = [int(w) for w in os.environ.get("BENCH_MEMORY_WORKERS", "1,4").split(",")]
RUNS = int(os.environ.get("BENCH_MEMORY_RUNS", "3"))
PORT = 10000
JWKS_PATH = "/bench/jwks.json"
BEGIN = "<!-- bench-memory:begin -->"
END = "<!-- bench-memory:end -->"
MiB = 1024 * 1024
RELEASE_BYTES = 64 * MiB
run.WASM = os.environ.get("BENCH_WASM_DIR", run.WASM)


def upstream_config(keys):
    """The bench upstream, plus the JWKS at JWKS_PATH for the filter's remote-key rows."""
    cfg = run.upstream_config()
    vhost = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
        "virtual_hosts"][0]
    vhost["routes"].insert(0, {"match": {"path": JWKS_PATH},
                               "direct_response": {"status": 200, "body": {"inline_string": json.dumps(keys)}}})
    return cfg


def filter_config(cache=True):
    cfg = {
        "providers": {"cognito": {
            "cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_BenchPool", "token_use": "access",
                        "client_ids": ["bench-client"]},
            "jwks": {"cluster": "upstream", "path": JWKS_PATH, "authority": "jwks.bench"},
        }},
    }
    if not cache:
        cfg["cache"] = {"max_entries": 0}
    return cfg


def fetcher_extension():
    cfg = run.wasm_filter("jwks-fetcher", filter_config(), module="jwks_fetcher")["typed_config"]["config"]
    return [{"name": "envoy.bootstrap.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService", "singleton": True, "config": cfg}}]


def envoy_config(row, keys):
    native = {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"cognito": {"issuer": run.ISS, "local_jwks": {"inline_string": json.dumps(keys)},
                                      "forward": True, "forward_payload_header": "x-jwt-payload"}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "cognito"}}],
        },
    }
    filters = {
        "none": [],
        "noop": [run.wasm_filter("noop", {}, module="noop_filter", vm_id="noop")],
        "jwt_authn": [native],
        "filter": [run.wasm_filter("jwt", filter_config())],
        "filter_fetcher": [run.wasm_filter("jwt", filter_config())],
        "filter_fetcher_release": [run.wasm_filter("jwt", filter_config())],
        "filter_nocache": [run.wasm_filter("jwt", filter_config(cache=False))],
    }[row]
    cfg = run.test_config(keys, with_filters=False)
    cfg["static_resources"]["listeners"] = [run.listener(row, PORT, filters)]
    if row.startswith("filter_fetcher"):
        cfg["bootstrap_extensions"] = fetcher_extension()
    if row == "filter_fetcher_release":
        # Envoy hands free tcmalloc pages back to the kernel every second (what is left of V8's
        # compile-time high-water mark once the module is compiled).
        cfg["memory_allocator_manager"] = {"bytes_to_release": str(RELEASE_BYTES), "memory_release_interval": "1s"}
    return cfg


def status(token):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        conn.request("GET", "/api", headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def wait_ok(token, deadline_s=30):
    """Waits until a valid token passes (the JWKS is fetched after start-up on the filter rows)."""
    deadline = time.time() + deadline_s
    last = 0
    while time.time() < deadline:
        last = status(token)
        if last == 200:
            return
        time.sleep(0.1)
    raise SystemExit(f"listener never answered 200 to a valid token (last status {last})")


def send_all(tokens, connections=8):
    """Sends each token once over `connections` keep-alive connections; returns the non-200 count."""
    bad = [0] * connections

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        for t in tokens[i::connections]:
            conn.request("GET", "/api", headers={"Authorization": f"Bearer {t}"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                bad[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(bad)


def admin_memory():
    with urllib.request.urlopen(f"http://127.0.0.1:{run.ADMIN}/memory", timeout=5) as r:
        m = json.loads(r.read())
    return {k: int(v) / MiB for k, v in m.items() if str(v).isdigit()}


def wait_released(deadline_s=20):
    """Waits until Envoy's allocator manager has released the free page heap (pageheap_free
    under 1 MiB), with a deadline; returns the last /memory reading."""
    deadline = time.time() + deadline_s
    mem = admin_memory()
    while time.time() < deadline and mem.get("pageheap_free", 0) >= 1:
        time.sleep(0.2)
        mem = admin_memory()
    return mem


ROWS = [
    ("none", "no filter"),
    ("noop", "a no-op proxy-wasm filter (the V8 floor)"),
    ("jwt_authn", "native jwt_authn"),
    ("filter", "this filter, no fetcher"),
    ("filter_fetcher", "this filter + jwks-fetcher"),
]
# Measured on request only (BENCH_MEMORY_ROWS=filter_fetcher_release), for the breakdown.
EXTRA_ROWS = [("filter_fetcher_release", "this filter + jwks-fetcher, Envoy releasing free heap every second"),
              ("filter_nocache", "this filter, token cache off")]


def measure(keys, tokens, row, workers):
    env = run.Envoy(f"mem-{row}-{workers}", envoy_config(row, keys), workers)
    try:
        wait_ok(tokens[0])
        if row not in ("none", "noop") and status("garbage") != 401:
            raise SystemExit(f"{row}: a garbage token was not refused")
        rss_ready = env.rss_mib()
        bad = send_all(tokens)
        if bad:
            raise SystemExit(f"{row} ({workers} workers): {bad} of {len(tokens)} requests were not answered 200")
        mem = admin_memory()
        if row == "filter_fetcher_release":
            mem = wait_released()
        r = {"rss_ready": rss_ready, "rss": env.rss_mib(), "allocated": mem.get("allocated", 0),
             "heap_size": mem.get("heap_size", 0), "pageheap_free": mem.get("pageheap_free", 0),
             "pageheap_unmapped": mem.get("pageheap_unmapped", 0)}
        run.log(f"{row:15} {workers} worker(s): RSS {r['rss']:.1f} MiB (at ready {rss_ready:.1f}); "
                f"allocated {r['allocated']:.1f}, heap_size {r['heap_size']:.1f}, free {r['pageheap_free']:.1f}, unmapped {r['pageheap_unmapped']:.1f}")
        return r
    finally:
        env.stop()


def leb128(b, i):
    value = shift = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def code_stats(path):
    """(code section bytes, functions, largest function body) of a wasm module: V8's compile
    memory follows the largest bodies more than the total (BENCHMARKS.md, "Memory")."""
    b = open(path, "rb").read()
    i = 8
    while i < len(b):
        sid = b[i]
        size, j = leb128(b, i + 1)
        if sid == 10:
            count, k = leb128(b, j)
            largest = 0
            for _ in range(count):
                body, k = leb128(b, k)
                largest = max(largest, body)
                k += body
            return size, count, largest
        i = j + size
    return 0, 0, 0


def table(results):
    sizes = {m: os.path.getsize(os.path.join(run.WASM, f"{m}.wasm")) for m in ["jwt_filter", "jwks_fetcher", "noop_filter"]}
    code = {m: code_stats(os.path.join(run.WASM, f"{m}.wasm")) for m in ["jwt_filter", "noop_filter"]}
    lines = [BEGIN, "", "## Memory per Envoy", "",
             f"`make bench-memory` (`bench/memory.py`): each cell is the median of {RUNS} Envoy processes, VmRSS after {REQUESTS:,} requests "
             "with distinct valid RS256 tokens (8 keep-alive connections). `allocated`/`heap` are Envoy's `/memory` "
             "admin figures (tcmalloc's live bytes and the heap it holds). \"Of which at ready\" is the same difference "
             "before the first request: the fixed price of loading the module; the rest is per-token state (the "
             "token cache). Both rows of this filter fetch the JWKS "
             "over a cluster; the fetcher row adds the `jwks-fetcher` singleton (same `vm_id`).", "",
             "| Envoy with | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}: RSS (MiB) | over no-op | of which at ready "
                                            "| allocated / heap" for w in WORKERS) + " |",
             "|---|" + "---|---|---|---|" * len(WORKERS)]
    for row, label in ROWS:
        cells = []
        for w in WORKERS:
            r = results[(row, w)]
            floor = results[("noop", w)]
            cells.append(f"{r['rss']:.1f} | {r['rss'] - floor['rss']:+.1f} | {r['rss_ready'] - floor['rss_ready']:+.1f} | "
                         f"{r['allocated']:.1f} / {r['heap_size']:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"Modules: `jwt_filter.wasm` {sizes['jwt_filter']:,} bytes, `jwks_fetcher.wasm` "
                  f"{sizes['jwks_fetcher']:,} bytes, `noop_filter.wasm` {sizes['noop_filter']:,} bytes. Code: "
                  + "; ".join(f"`{m}` {c[0]:,} bytes in {c[1]:,} functions, the largest {c[2]:,} bytes"
                              for m, c in code.items()) + ".", "", END]
    return "\n".join(lines)


def write(section):
    path = os.path.join(run.ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    os.makedirs(run.BUILD, exist_ok=True)
    keys = run.jwks()
    path = os.path.join(run.BUILD, "memory-tokens.txt")
    run.sh(run.TOKENS_BIN, str(REQUESTS), path)
    with open(path) as f:
        tokens = [line.strip() for line in f if line.strip()]
    up = run.Envoy("mem-upstream", upstream_config(keys), 1, admin=run.UPSTREAM_ADMIN)
    try:
        only = os.environ.get("BENCH_MEMORY_ROWS")
        wanted = only.split(",") if only else [row for row, _ in ROWS]
        runs = {}
        for _ in range(RUNS):
            for w in WORKERS:
                for row, _ in ROWS + EXTRA_ROWS:
                    if row in wanted:
                        runs.setdefault((row, w), []).append(measure(keys, tokens, row, w))
        # The median of each figure over the runs.
        results = {cell: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for cell, rs in runs.items()}
    finally:
        up.stop()
    with open(os.path.join(run.BUILD, "memory.json"), "w") as f:
        json.dump({f"{r}/{w}": v for (r, w), v in results.items()}, f, indent=1)
    if any((row, w) not in results for row, _ in ROWS for w in WORKERS):
        return  # a partial run (BENCH_MEMORY_ROWS): the log and memory.json only
    section = table(results)
    write(section)
    print(section)


if __name__ == "__main__":
    main()
