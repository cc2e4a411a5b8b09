#!/bin/bash
# Builds the committed HEAD twice, in two clean clones in differently named directories, each
# with its own CARGO_HOME (seeded from this machine's registry cache, then --offline), and
# checks that both builds give byte-identical modules.
#   usage: deploy/release/repro.sh            (make repro)
# Uncommitted changes are not part of the check: it builds HEAD.
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse HEAD)
home_cargo=${CARGO_HOME:-$HOME/.cargo}
modules="jwt_filter jwks_fetcher"

# Every crate of the lock file in the local cache first, so the clones can build offline.
(cd "$repo" && cargo fetch --locked --target wasm32-wasip1 >/dev/null)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jwt-filter-repro.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
for build in first second-build; do
  dir="$tmp/$build/checkout-$build"
  home="$tmp/$build/cargo-home"
  mkdir -p "$home/registry"
  cp -r "$home_cargo/registry/index" "$home_cargo/registry/cache" "$home/registry/"
  git clone -q --no-hardlinks "$repo" "$dir"
  git -C "$dir" checkout -q --detach "$commit"
  t0=$(date +%s)
  # A fresh environment for the build: no inherited flags or commit; the Makefile sets them.
  env -u CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS -u JWT_FILTER_GIT_COMMIT -u CARGO_TARGET_DIR -u RUSTFLAGS \
    CARGO_HOME="$home" CARGO_NET_OFFLINE=true PATH="$home_cargo/bin:$PATH" \
    make -s -C "$dir" build >"$tmp/$build.log" 2>&1 || { tail -30 "$tmp/$build.log"; exit 1; }
  echo "built $build in $(( $(date +%s) - t0 )) s ($dir, CARGO_HOME=$home)"
done

status=0
for m in $modules; do
  a="$tmp/first/checkout-first/target/wasm32-wasip1/release/$m.wasm"
  b="$tmp/second-build/checkout-second-build/target/wasm32-wasip1/release/$m.wasm"
  if cmp -s "$a" "$b"; then
    echo "identical: $m.wasm $(wc -c <"$a") bytes, sha256 $(sha256sum "$a" | cut -d' ' -f1)"
  else
    echo "DIFFERENT: $m.wasm ($(wc -c <"$a") vs $(wc -c <"$b") bytes)"
    status=1
  fi
  # No absolute path of either build may remain in a module.
  if grep -aq -e "$tmp" -e "$home_cargo" "$a"; then
    echo "ABSOLUTE PATHS in $m.wasm:"; strings "$a" | grep -e "$tmp" -e "$home_cargo" | head -5
    status=1
  fi
done
echo "repro of ${commit:0:12}: $(( $(date +%s) - start )) s in all"
exit $status
