#!/bin/bash
# cargo deny check, offline: the RustSec database comes from a git bundle (default
# ../shared/advisory-db.bundle), cloned into a temporary directory that a temporary copy of
# deny.toml names as db-path. cargo-deny reads <db-path>/advisory-db-<hash of the default URL>.
#   usage: deploy/release/deny.sh [<advisory-db.bundle>]     (make deny)
# Exit status: cargo-deny's (nonzero on any error: advisory, license, source, banned crate).
set -euo pipefail
bundle=${1:-../shared/advisory-db.bundle}
deny=${CARGO_DENY:-cargo-deny}
[ -f "$bundle" ] || { echo "advisory database bundle $bundle is missing" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jwt-filter-deny.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
git -c init.defaultBranch=main -c advice.detachedHead=false clone -q "$bundle" "$tmp/db/advisory-db-3157b0e258782691"
echo "advisory database: $(git -C "$tmp/db/advisory-db-3157b0e258782691" log -1 --format='%H (%cs)')"
# The copy differs from deny.toml only by db-path (under [advisories]).
sed "s|^\[advisories\]$|[advisories]\ndb-path = \"$tmp/db\"|" deny.toml >"$tmp/deny.toml"
grep -q "^db-path = \"$tmp/db\"" "$tmp/deny.toml"
# --offline also stops crate downloads: the lock file's crates must be in the cache.
cargo fetch --locked >/dev/null
"$deny" --frozen --workspace --config "$tmp/deny.toml" check --show-stats --hide-inclusion-graph 2>&1
