#!/bin/bash
# Fills dist/ with a release of the committed tree (make release, after make build oci-image):
#   jwt_filter.wasm, jwks_fetcher.wasm    the modules (byte-identical for one commit: make repro)
#   jwt-filter-wasm-<version>.tar         the docker image of make oci-image (docker save)
#   oci/                                  the filter as a Wasm OCI artifact, an OCI image layout
#   sbom/<module>.cdx.json                CycloneDX SBOM of the crates linked into each module
#   CHANGELOG.md                          this version's section of CHANGELOG.md
#   istio/wasmplugin.yaml                 deploy/istio/wasmplugin.yaml pinned to this release
#   SHA256SUMS                            of every file above
# then checks it: sha256sum -c, and tests/release.rs on dist/ (pin, layout, SBOMs, commit).
#   usage: deploy/release/release.sh <version> <oci image:tag>
set -euo pipefail
version=$1
image=$2
wasm_dir=target/wasm32-wasip1/release
[ -z "$(git status --porcelain)" ] || { echo "release: the tree has uncommitted changes; commit or stash them" >&2; exit 1; }
commit=$(git rev-parse --short=12 HEAD)
created=$(TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)

# The modules must be this commit's (make build ran from this clean tree).
for m in jwt_filter jwks_fetcher; do
  grep -aq "commit=$commit" "$wasm_dir/$m.wasm" || { echo "release: $m.wasm is not built from $commit: run make build" >&2; exit 1; }
done
grep -q "^## \[$version\]" CHANGELOG.md || { echo "release: CHANGELOG.md has no \"## [$version]\" section" >&2; exit 1; }

rm -rf dist
mkdir -p dist/sbom dist/istio
cp "$wasm_dir/jwt_filter.wasm" "$wasm_dir/jwks_fetcher.wasm" dist/
docker save -o "dist/${image%%:*}-$version.tar" "$image"
digest=$(python3 deploy/release/oci_layout.py dist/jwt_filter.wasm dist/oci "$version" "$created")
python3 deploy/release/sbom.py jwt-filter dist/jwt_filter.wasm "$created" >dist/sbom/jwt_filter.cdx.json
# One module serves both roles: jwks_fetcher.wasm is the jwt-filter package too.
python3 deploy/release/sbom.py jwt-filter dist/jwks_fetcher.wasm "$created" >dist/sbom/jwks_fetcher.cdx.json
# This version's section: from its heading to the next one.
awk -v v="## [$version]" 'index($0, v) == 1 {p = 1; print; next} /^## \[/ {p = 0} p' CHANGELOG.md >dist/CHANGELOG.md
python3 deploy/release/pin_wasmplugin.py deploy/istio/wasmplugin.yaml dist/istio/wasmplugin.yaml "$version" "${digest#sha256:}"
(cd dist && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)

# The checks: every checksum, then the pin, the layout and the SBOMs, independently.
(cd dist && sha256sum --quiet -c SHA256SUMS)
RELEASE_DIR=dist cargo test -q -p jwt-filter --test release
echo "release $version ($commit) in dist/:"
(cd dist && grep -v '^.*  oci/blobs/' SHA256SUMS)
echo "WasmPlugin pin (OCI manifest digest): $digest"
for m in jwt_filter jwks_fetcher; do
  echo "sbom/$m.cdx.json: $(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['components']))" "dist/sbom/$m.cdx.json") components"
done
