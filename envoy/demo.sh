#!/usr/bin/env bash
# `make demo`: runs the token issuer and the backend on 127.0.0.1, then Envoy (in docker with
# --network host, or the binary when no docker engine answers) in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${ENVOY_IMAGE:-jwt-filter-envoy:1.40.0}
bin=target/release
wasm=target/wasm32-wasip1/release
run=.build/demo
mkdir -p "$run"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  docker rm -f jwt-filter-demo >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
for port in 8000 9100 9200 9901; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "port $port is busy; stop what uses it and retry" >&2; exit 1; fi
done
"$bin/token-issuer" --listen 127.0.0.1:9100 --pool us-east-1_DemoPool --client demo-client > "$run/issuer.log" 2>&1 & pids+=($!)
"$bin/demo-backend" --listen 127.0.0.1:9200 > "$run/backend.log" 2>&1 & pids+=($!)
if docker info >/dev/null 2>&1; then
  docker rm -f jwt-filter-demo >/dev/null 2>&1 || true
  docker run -d --name jwt-filter-demo --network host \
    -v "$PWD/envoy/demo.yaml:/etc/envoy/demo.yaml:ro" -v "$PWD/$wasm:/wasm:ro" \
    "$image" -c /etc/envoy/demo.yaml --concurrency 2 --disable-hot-restart >/dev/null
  logs() { docker logs -f jwt-filter-demo; }
else
  echo "(no docker engine: running .venv/bin/envoy directly)"
  sed "s#/wasm/#$PWD/$wasm/#g" envoy/demo.yaml > "$run/demo.yaml"
  .venv/bin/envoy -c "$run/demo.yaml" --concurrency 2 --disable-hot-restart > "$run/envoy.log" 2>&1 & pids+=($!)
  logs() { tail -f "$run/envoy.log"; }
fi
for _ in $(seq 1 100); do
  curl -fs localhost:9901/ready >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs localhost:9901/ready >/dev/null || { echo "Envoy did not start"; logs & sleep 2; exit 1; }
cat <<'TXT'

  Envoy is on :8000 with the JWT filter; the token issuer is on :9100, the backend on :9200.
  Try, in another terminal:

    TOKEN=$(curl -s 'localhost:9100/token?username=andrew&format=raw')

    curl -i localhost:8000/api/activities/home                                  # public feed (no token)
    curl -i -H "Authorization: Bearer $TOKEN" localhost:8000/api/activities/home # personalised feed
    curl -i localhost:8000/api/profile                                          # 401, token missing
    curl -i -H "Authorization: Bearer $TOKEN" localhost:8000/api/profile        # 200, backend echoes the user
    curl -i -H "Authorization: Bearer not-a-jwt" localhost:8000/api/profile     # 401 invalid_token
    curl -s localhost:9901/stats | grep jwt_filter                              # counters

    curl -s localhost:9100/rotate                      # the issuer starts signing with a new key;
    TOKEN=$(curl -s 'localhost:9100/token?username=andrew&format=raw')   # its kid is unknown to Envoy,
    curl -i -H "Authorization: Bearer $TOKEN" localhost:8000/api/profile # which refetches once: 200

  Envoy's log follows (Ctrl-C stops everything).

TXT
logs
