#!/usr/bin/env python3
"""Writes the release's WasmPlugin from the template deploy/istio/wasmplugin.yaml: the url's
tag becomes this release's version and a `sha256` pins the module.

What Istio compares `sha256` with depends on the url's scheme (istio/istio pkg/wasm/cache.go):
for http(s) it is the sha256 of the downloaded module; for oci:// it is the digest of the
image MANIFEST the registry serves, not of the module. The template pulls oci://, so the pin
is the manifest digest of dist/oci (the Wasm OCI artifact, whose manifest is deterministic
and survives a push with skopeo or oras); tests/release.rs checks that this manifest's one
layer is the module. The text is edited line by line so the template's comments stay.

usage: pin_wasmplugin.py <template> <out> <version> <manifest sha256 hex>
"""
import re
import sys


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    template, out, version, digest = argv[1:]
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        sys.exit(f"not a sha256 hex digest: {digest}")
    lines = open(template).read().split("\n")
    urls = [i for i, line in enumerate(lines) if re.match(r"^  url: oci://[^:\s]+:\S+$", line)]
    if len(urls) != 1:
        sys.exit(f"{template}: expected one `  url: oci://<repo>:<tag>` line, found {len(urls)}")
    if any(re.match(r"^  sha256:", line) for line in lines):
        sys.exit(f"{template}: already has a sha256")
    # The template's note about being a template gives way to the release's.
    for j, line in enumerate(lines):
        if line.startswith("# This is the template: `make release` writes"):
            end = j + 1
            while end < len(lines) and lines[end].startswith("# ") and not lines[end].startswith("# This"):
                end += 1
            lines[j:end] = [f"# Pinned to release {version} by `make release` (README, \"Releases\")."]
            break
    urls = [i for i, line in enumerate(lines) if re.match(r"^  url: oci://[^:\s]+:\S+$", line)]
    i = urls[0]
    repo = lines[i].split(": ", 1)[1].rsplit(":", 1)[0]
    lines[i] = f"  url: {repo}:{version}"
    lines[i + 1:i + 1] = [
        "  # The manifest digest of the release's Wasm OCI artifact (dist/oci): for oci:// urls Istio",
        "  # checks the image manifest's digest; for an http(s) url it would be the module's sha256.",
        f"  sha256: {digest}",
    ]
    with open(out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv)
