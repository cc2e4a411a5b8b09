#!/usr/bin/env python3
"""Side by side in one Envoy: builds of this filter from different directories (e.g. opt-level
3, "s", "z"), each in its own VM, against native jwt_authn, with the rows interleaved round by
round so a loaded machine's noise falls on all of them alike. For choosing build settings; the
published throughput table is bench/run.py's.

Usage: bench/variants.py NAME=DIR [NAME=DIR ...]   (DIR holds jwt_filter.wasm)
Environment: BENCH_DURATION (s per cell, default 3), BENCH_REPEATS (rounds, default 5).
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

DURATION = int(os.environ.get("BENCH_DURATION", "3"))
ROUNDS = int(os.environ.get("BENCH_REPEATS", "5"))


def main():
    variants = [a.split("=", 1) for a in sys.argv[1:]]
    os.makedirs(run.BUILD, exist_ok=True)
    keys = run.jwks()
    warm = os.path.join(run.BUILD, "warm.txt")
    cold = os.path.join(run.BUILD, "cold.txt")
    run.sh(run.TOKENS_BIN, "1", warm)
    run.sh(run.TOKENS_BIN, "3000", cold)
    cfg = run.test_config(keys, with_filters=True)
    native = cfg["static_resources"]["listeners"][1]
    listeners = [native]
    cells = [("jwt_authn", "warm", 10001), ("jwt_authn", "cold", 10001)]
    port = 10010
    for name, d in variants:
        for mode, cache, crypto in [("warm", True, "auto"), ("cold", False, "auto"), ("cold-pure", False, "pure_rust")]:
            c = {"providers": {"cognito": {"cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_BenchPool",
                                                       "token_use": "access", "client_ids": ["bench-client"]},
                                           "jwks": {"inline": keys}}}, "crypto": crypto}
            if not cache:
                c["cache"] = {"max_entries": 0}
            f = run.wasm_filter(f"{name}-{mode}", c, vm_id=name)
            f["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = os.path.join(d, "jwt_filter.wasm")
            listeners.append(run.listener(f"{name}-{mode}", port, [f]))
            cells.append((name, mode, port))
            port += 1
    cfg["static_resources"]["listeners"] = listeners
    up = run.Envoy("upstream", run.upstream_config(), 1, cpus="1", admin=run.UPSTREAM_ADMIN)
    try:
        env = run.Envoy("variants", cfg, 1, cpus="0")
        try:
            with open(warm) as f:
                token = f.read().strip()
            for _, _, p in cells:
                run.check(p, token, 200)
                run.check(p, "garbage", 401)
            rps = {c: [] for c in cells}
            for r in range(ROUNDS):
                for c in cells:
                    tokens = warm if c[1] == "warm" else cold
                    rps[c].append(run.wrk(c[2], tokens, DURATION)["rps"])
                run.log(f"round {r + 1}/{ROUNDS} done")
        finally:
            env.stop()
    finally:
        up.stop()
    nat = {"warm": statistics.median(rps[("jwt_authn", "warm", 10001)]),
           "cold": statistics.median(rps[("jwt_authn", "cold", 10001)])}
    print(f"| build | traffic | req/s (median of {ROUNDS}) | vs native jwt_authn |")
    print("|---|---|---|---|")
    for c in cells:
        m = statistics.median(rps[c])
        print(f"| {c[0]} | {c[1]} | {m:.0f} | {m / nat['cold' if c[1] != 'warm' else 'warm']:.2f}x |")


if __name__ == "__main__":
    main()
