#!/bin/sh
# Builds the compose stack's testkit image (token-issuer + demo-backend) locally. With
# BASE_IMAGE=scratch (the default) the image holds the two binaries and the libraries ldd lists,
# nothing else, and is made by `docker import` of that tree (no builder, so no legacy-builder
# deprecation warning); with another BASE_IMAGE (e.g. debian:bookworm-slim) Dockerfile.testkit
# adds the binaries to it with `docker build`.
#   usage: deploy/compose/build-images.sh <dir with the release binaries> <image:tag>
set -eu
bin=$1
tag=$2
base=${BASE_IMAGE:-scratch}
echo "building $tag (token-issuer, demo-backend; base: $base) ..."
ctx=.build/testkit-image
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin"
for b in token-issuer demo-backend; do
  [ -x "$bin/$b" ] || { echo "$bin/$b is missing: cargo build --release -p testkit" >&2; exit 1; }
  cp "$bin/$b" "$ctx/rootfs/usr/local/bin/$b"
  if [ "$base" = scratch ]; then
    for lib in $(ldd "$bin/$b" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
      cp --parents -L -n "$lib" "$ctx/rootfs/"
    done
  fi
done
if [ "$base" = scratch ]; then
  tar --numeric-owner --owner=0 --group=0 -C "$ctx/rootfs" -c . \
    | docker import --change 'USER 65534' -m "jwt-filter testkit: token-issuer, demo-backend" - "$tag" >/dev/null
else
  cp deploy/compose/Dockerfile.testkit "$ctx/Dockerfile"
  docker build -q --build-arg "BASE_IMAGE=$base" -t "$tag" "$ctx" >/dev/null
fi
echo "built $tag (base: $base)"
