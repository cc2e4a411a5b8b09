#!/bin/sh
# Builds the Istio-compatible wasm image from the filter module, with no base image, no
# registry and no builder: `docker import` of a tar holding only plugin.wasm, which makes an
# image whose only (hence last) layer is /plugin.wasm, the layout Istio's WasmPlugin
# `url: oci://...` looks for.
#   usage: deploy/oci/build-image.sh <jwt_filter.wasm> <image:tag>
set -eu
wasm=$1
tag=$2
[ -f "$wasm" ] || { echo "$wasm is missing: run make build" >&2; exit 1; }
ctx=.build/oci-image
rm -rf "$ctx"
mkdir -p "$ctx"
cp "$wasm" "$ctx/plugin.wasm"
tar --numeric-owner --owner=0 --group=0 -C "$ctx" -c plugin.wasm \
  | docker import -m "jwt-filter wasm plugin" - "$tag" >/dev/null
echo "built $tag ($(wc -c < "$ctx/plugin.wasm") bytes of plugin.wasm)"
