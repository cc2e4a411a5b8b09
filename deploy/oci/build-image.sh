#!/bin/sh
# Builds the Istio-compatible wasm image from the filter module, with no base image and no
# registry: a build context holding only this Dockerfile and the module renamed plugin.wasm.
#   usage: deploy/oci/build-image.sh <jwt_filter.wasm> <image:tag>
set -eu
wasm=$1
tag=$2
[ -f "$wasm" ] || { echo "$wasm is missing: run make build" >&2; exit 1; }
ctx=.build/oci-image
rm -rf "$ctx"
mkdir -p "$ctx"
cp "$wasm" "$ctx/plugin.wasm"
cp deploy/oci/Dockerfile "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx" >/dev/null
echo "built $tag ($(wc -c < "$ctx/plugin.wasm") bytes of plugin.wasm)"
