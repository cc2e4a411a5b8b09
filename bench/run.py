#!/usr/bin/env python3
"""`make bench`: one real Envoy with these listeners side by side, under wrk:

  - no filter (the ceiling);
  - Envoy's native jwt_authn (same keys, same issuer, payload forwarded upstream);
  - this filter, host crypto (Envoy's BoringSSL through verify_signature);
  - this filter, pure Rust forced.

Warm traffic repeats one token; cold traffic cycles through 3000 distinct valid tokens (for the
filter's cold rows its token cache is turned off, so every request verifies a signature; the
native filter's cache holds 100 tokens, so 3000 distinct ones miss it too).

Also: wasm sizes, Envoy RSS with and without the filter, 1 vs 2 workers, and RSS over
1,000,000 distinct tokens. Writes BENCHMARKS.md. Numbers are measured, never asserted.

Environment: BENCH_DURATION (s per run, default 10), BENCH_REPEATS (default 3, the median is
reported), BENCH_MEMORY_TOKENS (default 1000000; 0 skips the memory run).
"""

import functools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, ".build", "bench")
WASM = os.path.join(ROOT, "target", "wasm32-wasip1", "release")
ENVOY = os.path.join(ROOT, ".venv", "bin", "envoy")
TOKENS_BIN = os.path.join(ROOT, "target", "release", "bench-tokens")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
MEMORY_TOKENS = int(os.environ.get("BENCH_MEMORY_TOKENS", "1000000"))
ISS = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_BenchPool"
CONNECTIONS = 8

PORTS = {
    "none": 10000,
    "jwt_authn": 10001,
    "wasm_host": 10002,
    "wasm_pure": 10003,
    "wasm_host_nocache": 10004,
    "wasm_pure_nocache": 10005,
    "wasm_noop": 10006,
    "wasm_noop_io": 10007,
    "wasm_verify_probe": 10008,
}
UPSTREAM_PORT = 10100
ADMIN = 10900
UPSTREAM_ADMIN = 10901


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def jwks():
    return json.loads(sh(os.path.join(ROOT, "target", "release", "mint"), "jwks-bench"))


def hcm(name, filters):
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]},
            "http_filters": filters + [{"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        },
    }


def wasm_filter(name, config, module="jwt_filter", vm_id="jwt"):
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json.dumps(config)},
                "vm_config": {"vm_id": vm_id, "runtime": "envoy.wasm.runtime.v8",
                              "code": {"local": {"filename": os.path.join(WASM, f"{module}.wasm")}}},
            },
        },
    }


def listener(name, port, filters):
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [hcm(name, filters)]}]}


@functools.cache
def verify_probe():
    """`bench/host-verify`'s configuration: one bench token's key, signature and signing input
    (asked of `mint` once; every Envoy configuration of the run uses it)."""
    return sh(os.path.join(ROOT, "target", "release", "mint"), "verify-probe").strip()


def test_config(keys, with_filters=True):
    provider = {
        "cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_BenchPool", "token_use": "access",
                    "client_ids": ["bench-client"]},
        "jwks": {"inline": keys},
    }

    def ours(crypto, cache):
        cfg = {"providers": {"cognito": provider}, "crypto": crypto}
        if not cache:
            cfg["cache"] = {"max_entries": 0}
        return cfg

    native = {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"cognito": {"issuer": ISS, "local_jwks": {"inline_string": json.dumps(keys)},
                                      "forward": True, "forward_payload_header": "x-jwt-payload"}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "cognito"}}],
        },
    }
    listeners = [listener("none", PORTS["none"], [])]
    if with_filters:
        listeners += [
            listener("jwt_authn", PORTS["jwt_authn"], [native]),
            listener("wasm_host", PORTS["wasm_host"], [wasm_filter("host", ours("auto", True))]),
            listener("wasm_pure", PORTS["wasm_pure"], [wasm_filter("pure", ours("pure_rust", True))]),
            listener("wasm_host_nocache", PORTS["wasm_host_nocache"], [wasm_filter("hostnc", ours("auto", False))]),
            listener("wasm_pure_nocache", PORTS["wasm_pure_nocache"], [wasm_filter("purenc", ours("pure_rust", False))]),
            listener("wasm_noop", PORTS["wasm_noop"], [wasm_filter("noop", {}, module="noop_filter", vm_id="noop")]),
            listener("wasm_noop_io", PORTS["wasm_noop_io"], [wasm_filter("noopio", "io", module="noop_filter", vm_id="noop")]),
            listener("wasm_verify_probe", PORTS["wasm_verify_probe"],
                     [wasm_filter("verifyprobe", verify_probe(), module="host_verify_probe", vm_id="probe")]),
        ]
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN}}},
        "static_resources": {
            "listeners": listeners,
            "clusters": [{"name": "upstream", "type": "STATIC", "connect_timeout": "1s",
                          "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [
                              {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": UPSTREAM_PORT}}}}]}]}}],
        },
    }


def upstream_config():
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": UPSTREAM_ADMIN}}},
        "static_resources": {"listeners": [{
            "name": "upstream", "address": {"socket_address": {"address": "127.0.0.1", "port_value": UPSTREAM_PORT}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "upstream",
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "{\"ok\":true}"}}}]}]},
                    "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
                }}]}],
        }]},
    }


class Envoy:
    def __init__(self, name, config, concurrency, cpus=None, admin=ADMIN):
        self.admin = admin
        path = os.path.join(BUILD, f"{name}.json")
        with open(path, "w") as f:
            json.dump(config, f)
        cmd = [ENVOY, "-c", path, "--concurrency", str(concurrency), "--disable-hot-restart", "-l", "warning"]
        if cpus is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", cpus] + cmd
        self.log = open(os.path.join(BUILD, f"{name}.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"Envoy {name} exited; see {self.log.name}")
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"Envoy {name} never became ready")

    def pid(self):
        # With taskset, the Envoy process replaces taskset (exec), so the pid is the same.
        return self.proc.pid

    def rss_mib(self):
        with open(f"/proc/{self.pid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


LUA = """
local tokens = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do
    n = n + 1
    tokens[n] = "Bearer " .. line
  end
end
local i = 0
request = function()
  i = i % n + 1
  wrk.headers["Authorization"] = tokens[i]
  return wrk.format("GET", "/api")
end
"""


def parse_latency(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def wrk(port, tokens, duration, threads=1, connections=CONNECTIONS, cpus="1"):
    script = os.path.join(BUILD, "tokens.lua")
    with open(script, "w") as f:
        f.write(LUA)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "-s", script,
           f"http://127.0.0.1:{port}/api", "--", tokens]
    if cpus is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus] + cmd
    out = sh(*cmd)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_latency(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": errors, "requests": total}


def check(port, token, want):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api", headers={"Authorization": f"Bearer {token}"})
    try:
        status = urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        status = e.code
    if status != want:
        raise SystemExit(f"listener on {port}: expected {want}, got {status}")


def median_run(port, tokens, duration, repeats, **kw):
    runs = [wrk(port, tokens, duration, **kw) for _ in range(repeats)]
    best = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    best["spread"] = (min(r["rps"] for r in runs), max(r["rps"] for r in runs))
    if any(r["non2xx"] for r in runs):
        raise SystemExit(f"non-2xx responses on port {port}: {[r['non2xx'] for r in runs]}")
    return best


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    version = sh(ENVOY, "--version").strip().split("version:")[-1].strip()
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Linux {platform.release()}; Envoy {version}"


def main():
    os.makedirs(BUILD, exist_ok=True)
    for tool in ["wrk"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install {tool})")
    keys = jwks()
    warm = os.path.join(BUILD, "warm.txt")
    cold = os.path.join(BUILD, "cold.txt")
    sh(TOKENS_BIN, "1", warm)
    sh(TOKENS_BIN, "3000", cold)
    with open(warm) as f:
        token = f.read().strip()

    results = {}
    up = Envoy("upstream", upstream_config(), 1, cpus="1", admin=UPSTREAM_ADMIN)
    try:
        env = Envoy("envoy", test_config(keys), 1, cpus="0")
        try:
            for name, port in PORTS.items():
                check(port, token, 200)
                if not name.startswith(("wasm_noop", "wasm_verify_probe")) and name != "none":
                    check(port, "garbage", 401)
            log(f"correctness checked on {len(PORTS)} listeners; {REPEATS} runs of {DURATION}s each, median reported")
            rows = [("none", "warm"), ("wasm_noop", "warm"), ("wasm_noop_io", "warm"), ("wasm_verify_probe", "warm"), ("jwt_authn", "warm"), ("wasm_host", "warm"), ("wasm_pure", "warm"),
                    ("none", "cold"), ("jwt_authn", "cold"), ("wasm_host_nocache", "cold"), ("wasm_pure_nocache", "cold")]
            for name, traffic in rows:
                # One warm-up pass so every row starts with JIT-compiled code and filled caches.
                wrk(PORTS[name], warm if traffic == "warm" else cold, 2)
                r = median_run(PORTS[name], warm if traffic == "warm" else cold, DURATION, REPEATS)
                results[(name, traffic, 1)] = r
                log(f"{name:18} {traffic}: {r['rps']:8.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms")
            rss_filter = env.rss_mib()
        finally:
            env.stop()
        plain = Envoy("plain", test_config(keys, with_filters=False), 1, cpus="0")
        try:
            wrk(PORTS["none"], warm, DURATION)
            rss_plain = plain.rss_mib()
        finally:
            plain.stop()
        # Two workers: no pinning (wrk, the upstream and two workers share both cores).
        env2 = Envoy("envoy2", test_config(keys), 2)
        try:
            for name, traffic in [("none", "warm"), ("jwt_authn", "warm"), ("wasm_host", "warm"),
                                  ("jwt_authn", "cold"), ("wasm_host_nocache", "cold")]:
                tokens = warm if traffic == "warm" else cold
                wrk(PORTS[name], tokens, 2, threads=2, connections=16, cpus=None)
                r = median_run(PORTS[name], tokens, DURATION, REPEATS, threads=2, connections=16, cpus=None)
                results[(name, traffic, 2)] = r
                log(f"2 workers {name:18} {traffic}: {r['rps']:8.0f} req/s")
        finally:
            env2.stop()
        memory = []
        if MEMORY_TOKENS > 0:
            mem_tokens = os.path.join(BUILD, "memory.txt")
            if not os.path.exists(mem_tokens) or sum(1 for _ in open(mem_tokens)) < MEMORY_TOKENS:
                log(f"signing {MEMORY_TOKENS} ES256 tokens for the memory run")
                sh(TOKENS_BIN, str(MEMORY_TOKENS), mem_tokens, "ES256")
            env = Envoy("memory", test_config(keys), 1, cpus="0")
            try:
                memory = memory_run(env, mem_tokens)
            finally:
                env.stop()
    finally:
        up.stop()
    write_report(results, rss_filter, rss_plain, memory)


def memory_run(env, tokens):
    """Sends MEMORY_TOKENS distinct tokens once each (wrk cycles the file) and samples RSS."""
    script = os.path.join(BUILD, "tokens.lua")
    samples = [(0, env.rss_mib())]
    admin = f"http://127.0.0.1:{ADMIN}/stats?filter=http.wasm_host.downstream_rq_2xx"
    cmd = ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", "3600s", "-s", script,
           f"http://127.0.0.1:{PORTS['wasm_host']}/api", "--", tokens]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1"] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        next_mark = MEMORY_TOKENS // 10
        while True:
            time.sleep(2)
            txt = urllib.request.urlopen(admin, timeout=5).read().decode()
            done = int(txt.split(":")[-1].strip() or 0) if txt.strip() else 0
            if done >= next_mark:
                samples.append((done, env.rss_mib()))
                log(f"memory: {done} requests, RSS {samples[-1][1]:.1f} MiB")
                next_mark += MEMORY_TOKENS // 10
            if done >= MEMORY_TOKENS:
                break
    finally:
        proc.terminate()
        proc.wait()
    return samples


def fmt_ratio(r, base):
    return f"{r / base:.2f}x" if base else "-"


def write_report(results, rss_filter, rss_plain, memory):
    sizes = {m: os.path.getsize(os.path.join(WASM, f"{m}.wasm")) for m in ["jwt_filter", "jwks_fetcher"]}
    names = {
        "none": "no filter (ceiling)",
        "jwt_authn": "native jwt_authn",
        "wasm_host": "this filter, host crypto",
        "wasm_pure": "this filter, pure Rust",
        "wasm_host_nocache": "this filter, host crypto (cache off)",
        "wasm_pure_nocache": "this filter, pure Rust (cache off)",
        "wasm_noop": "a no-op proxy-wasm filter (the wasm floor)",
        "wasm_noop_io": "a proxy-wasm filter that only reads the headers and adds one",
        "wasm_verify_probe": "the same, plus one `verify_signature` call (RS256-2048) per request",
    }
    lines = []
    lines.append("# Benchmarks\n")
    lines.append("Produced by `make bench` (`bench/run.py`); every figure below comes from one run on this machine.\n")
    lines.append(f"- Machine: {machine()}.")
    lines.append(f"- Load: `wrk -t1 -c{CONNECTIONS} -d{DURATION}s --latency`, {REPEATS} runs per row, the median run is shown "
                 f"(min–max of the runs in the last column). Envoy under test has one worker pinned to core 0; wrk and the "
                 f"upstream (a second Envoy answering 200 with `direct_response`) share core 1.")
    lines.append("- Tokens: RS256-2048 Cognito access tokens. Warm: one token repeated. Cold: 3000 distinct tokens in turn; "
                 "the filter's token cache is off for its cold rows, and `jwt_authn`'s cache holds 100 tokens, so every "
                 "cold request verifies a signature on every row.")
    lines.append("- `jwt_authn` forwards the payload upstream (`forward_payload_header`), as this filter forwards `x-current-user`.")
    lines.append("- The no-op rows (`bench/noop`) are the floor under any wasm filter in this Envoy: one does nothing, the "
                 "other does the least an auth filter must (read the request headers, add one header). The ceiling's "
                 "upstream answers from memory, so every microsecond a filter spends shows in the ratios; behind a real "
                 "backend they shrink.")
    lines.append("- The `verify_signature` row (`bench/host-verify`) adds to the second no-op one call of Envoy's "
                 "`verify_signature` per request, on one fixed bench token: the floor under any wasm filter that "
                 "verifies with Envoy's BoringSSL, which is what every cold request of this filter does.\n")
    lines.append("## One worker\n")
    lines.append("| Listener | Traffic | Requests/s | p50 (ms) | p99 (ms) | vs native `jwt_authn` | vs no filter | runs (req/s) |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for traffic in ["warm", "cold"]:
        native = results.get(("jwt_authn", traffic, 1), {}).get("rps", 0)
        ceiling = results.get(("none", traffic, 1), {}).get("rps", 0)
        for (name, t, w), r in results.items():
            if t != traffic or w != 1:
                continue
            lo, hi = r["spread"]
            lines.append(f"| {names[name]} | {traffic} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                         f"{fmt_ratio(r['rps'], native)} | {fmt_ratio(r['rps'], ceiling)} | {lo:.0f}–{hi:.0f} |")
    lines.append("\n## Two workers\n")
    lines.append("`--concurrency 2`, `wrk -t2 -c16`, nothing pinned (two workers, wrk and the upstream share two cores).\n")
    lines.append("| Listener | Traffic | Requests/s | p50 (ms) | p99 (ms) | vs native | vs 1 worker |")
    lines.append("|---|---|---|---|---|---|---|")
    for (name, t, w), r in results.items():
        if w != 2:
            continue
        native = results.get(("jwt_authn", t, 2), {}).get("rps", 0)
        one = results.get((name, t, 1), {}).get("rps", 0)
        lines.append(f"| {names[name]} | {t} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{fmt_ratio(r['rps'], native)} | {fmt_ratio(r['rps'], one)} |")
    lines.append("\n## Size and memory\n")
    lines.append(f"- `jwt_filter.wasm`: {sizes['jwt_filter']:,} bytes; `jwks_fetcher.wasm`: {sizes['jwks_fetcher']:,} bytes.")
    lines.append(f"- Envoy RSS, one worker, after the runs above: {rss_filter:.1f} MiB with the nine listeners "
                 f"(four configurations of this filter in one VM, the no-op and `verify_signature` modules in two more) vs {rss_plain:.1f} MiB for "
                 f"the same Envoy without any filter after the same warm load.")
    if memory:
        lines.append(f"- RSS over {memory[-1][0]:,} distinct ES256 tokens through the host-crypto listener "
                     f"(token cache at its default bound, 10,000 entries / 16 MiB):\n")
        lines.append("| Requests | RSS (MiB) |")
        lines.append("|---|---|")
        for done, rss in memory:
            lines.append(f"| {done:,} | {rss:.1f} |")
    lines.append("")
    path = os.path.join(ROOT, "BENCHMARKS.md")
    # bench/memory.py's section (and the notes after it) stay: they come from their own run.
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if "<!-- bench-memory:begin -->" in old:
            kept = "\n<!-- bench-memory:begin -->" + old.split("<!-- bench-memory:begin -->", 1)[1]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + kept)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
