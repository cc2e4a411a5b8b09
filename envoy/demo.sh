#!/usr/bin/env bash
# `make demo`: runs the token issuer and the backend on 127.0.0.1, then Envoy (in docker with
# --network host, or the binary when no docker engine answers) at warning level, prints what to
# try once Envoy is ready, and follows Envoy's output (its access log, one line per request)
# until Ctrl-C, which stops everything and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${ENVOY_IMAGE:-jwt-filter-envoy:1.40.0}
bin=target/release
wasm=target/wasm32-wasip1/release
run=.build/demo
mkdir -p "$run"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  docker rm -f jwt-filter-demo >/dev/null 2>&1 || true
}
stop() {
  echo
  echo "stopping the demo ..."
  cleanup
  exit 0
}
trap cleanup EXIT
trap stop INT TERM
for port in 8000 9100 9200 9901; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "port $port is busy; stop what uses it and retry" >&2; exit 1; fi
done
echo "starting the token issuer (:9100), the backend (:9200) and Envoy (:8000, admin :9901) ..."
"$bin/token-issuer" --listen 127.0.0.1:9100 --pool us-east-1_DemoPool --client demo-client > "$run/issuer.log" 2>&1 & pids+=($!)
"$bin/demo-backend" --listen 127.0.0.1:9200 > "$run/backend.log" 2>&1 & pids+=($!)
envoy_args=(--concurrency 2 --disable-hot-restart --log-level warning --file-flush-interval-msec 500)
if docker info >/dev/null 2>&1; then
  docker rm -f jwt-filter-demo >/dev/null 2>&1 || true
  docker run -d --name jwt-filter-demo --network host \
    -v "$PWD/envoy/demo.yaml:/etc/envoy/demo.yaml:ro" -v "$PWD/$wasm:/wasm:ro" \
    "$image" -c /etc/envoy/demo.yaml "${envoy_args[@]}" >/dev/null
  logs() { docker logs -f jwt-filter-demo 2>&1; }
else
  echo "(no docker engine: running .venv/bin/envoy directly)"
  sed "s#/wasm/#$PWD/$wasm/#g" envoy/demo.yaml > "$run/demo.yaml"
  .venv/bin/envoy -c "$run/demo.yaml" "${envoy_args[@]}" > "$run/envoy.log" 2>&1 & pids+=($!)
  logs() { tail -f "$run/envoy.log"; }
fi
ready=
for _ in $(seq 1 150); do
  if curl -fs localhost:9901/ready >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "Envoy did not become ready within 30 s; its output:" >&2
  if docker inspect jwt-filter-demo >/dev/null 2>&1; then docker logs jwt-filter-demo 2>&1 | tail -40; else tail -40 "$run/envoy.log"; fi
  exit 1
fi
cat <<'TXT'

  Envoy is ready on :8000 with the JWT filter; the token issuer is on :9100, the backend on
  :9200, Envoy's admin on :9901. This terminal now shows Envoy's access log (one line per
  request: status, user, outcome, reason); Ctrl-C stops the demo. Try, in another terminal:

    TOKEN=$(curl -s 'localhost:9100/token?username=andrew&format=raw')
    curl -i localhost:8000/api/activities/home                                  # 200 public feed (no token)
    curl -i -H "Authorization: Bearer $TOKEN" localhost:8000/api/activities/home # 200 personalised feed
    curl -i localhost:8000/api/profile                                          # 401, token missing
    curl -i -H "Authorization: Bearer $TOKEN" localhost:8000/api/profile        # 200, backend echoes the user
    curl -i -H "Authorization: Bearer not-a-jwt" localhost:8000/api/profile     # 401 invalid_token

  Tokens: localhost:9100/token?username=NAME&format=raw, and optionally
    ttl=SECONDS        lifetime (default 3600); negative = already expired: ttl=-120 -> 401 expired
    groups=a,b         cognito:groups (default users); /api/admin needs group admins, else 403
    scope=S            the access token's scope; /api/reports needs scope reports/read, else 403
    token_use=id       the ID token instead of the access token (this demo accepts access: 401)
    without format=raw, JSON with access_token, id_token, expires_in

    ADMIN=$(curl -s 'localhost:9100/token?username=ann&groups=admins&format=raw')
    curl -i -H "Authorization: Bearer $ADMIN" localhost:8000/api/admin         # 200 (and 403 with $TOKEN)
    OLD=$(curl -s 'localhost:9100/token?ttl=-120&format=raw')
    curl -i -H "Authorization: Bearer $OLD" localhost:8000/api/profile          # 401 invalid_token, expired

    curl -s localhost:9100/rotate                                        # the issuer signs with a new key;
    TOKEN=$(curl -s 'localhost:9100/token?username=andrew&format=raw')   # its kid is unknown to Envoy,
    curl -i -H "Authorization: Bearer $TOKEN" localhost:8000/api/profile # which refetches once: 200

    curl -s localhost:9901/stats | grep jwt_filter                       # counters
    curl -s localhost:9901/stats/prometheus | grep '^jwt_filter'         # as Prometheus sees them

TXT
logs
