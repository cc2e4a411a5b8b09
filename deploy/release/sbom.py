#!/usr/bin/env python3
"""A CycloneDX 1.5 SBOM (JSON) of the crates linked into one module, from `cargo metadata`.

"Linked" means: reachable from the module's package through normal (not dev, not build)
dependencies on wasm32-wasip1, without entering proc-macro crates (serde_derive and the
syn/quote it uses run in the compiler and leave nothing in the module). Each crate carries
its version, purl, license expression and, for registry crates, the SHA-256 of its .crate
file from Cargo.lock. The module itself is the metadata component, with its own SHA-256.

Deterministic for one commit: the timestamp is the commit date, the serial number a UUID
derived from the module's digest.

usage: sbom.py <package> <module.wasm> <timestamp (RFC 3339)> > sbom.json
"""
import hashlib
import json
import re
import subprocess
import sys
import tomllib
import uuid

TARGET = "wasm32-wasip1"


def lock_checksums():
    with open("Cargo.lock", "rb") as f:
        lock = tomllib.load(f)
    return {(p["name"], p["version"]): p["checksum"] for p in lock.get("package", []) if "checksum" in p}


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    package, module, timestamp = argv[1:]
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", TARGET],
        check=True, capture_output=True).stdout)
    ids = {(p["name"], p["version"]): p["id"] for p in meta["packages"]}
    packages = {p["id"]: p for p in meta["packages"]}
    # `cargo tree` resolves features the way `cargo build -p <package>` does (the metadata's
    # resolve unifies the whole workspace's features, so it would list crates the tests enable).
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "-p", package, "--target", TARGET, "-e", "normal,no-proc-macro",
         "--prefix", "depth", "-f", "{p}"], check=True, capture_output=True, text=True).stdout
    linked, edges, stack = set(), {}, []
    for line in tree.splitlines():
        m = re.match(r"^(\d+)(\S+) v(\S+)", line)
        if not m:
            continue
        depth, pid = int(m.group(1)), ids[(m.group(2), m.group(3))]
        del stack[depth:]
        if stack:
            edges.setdefault(stack[-1], set()).add(pid)
        edges.setdefault(pid, set())
        linked.add(pid)
        stack.append(pid)
    root = ids.get((package, next((p["version"] for p in meta["packages"] if p["name"] == package and p["source"] is None), "")))
    if root is None or root not in linked:
        sys.exit(f"no workspace package {package}")

    sums = lock_checksums()

    def ref(pid):
        p = packages[pid]
        return f"pkg:cargo/{p['name']}@{p['version']}"

    def component(pid):
        p = packages[pid]
        c = {"type": "library", "bom-ref": ref(pid), "name": p["name"], "version": p["version"], "purl": ref(pid)}
        if p.get("description"):
            c["description"] = " ".join(p["description"].split())
        if p.get("license"):
            c["licenses"] = [{"expression": p["license"].replace("/", " OR ")}]
        if p["source"] is None:
            c["properties"] = [{"name": "cargo:source", "value": "workspace"}]
        else:
            c["properties"] = [{"name": "cargo:source", "value": p["source"]}]
            if (p["name"], p["version"]) in sums:
                c["hashes"] = [{"alg": "SHA-256", "content": sums[(p["name"], p["version"])]}]
        return c

    wasm = open(module, "rb").read()
    digest = hashlib.sha256(wasm).hexdigest()
    top = component(root)
    top["type"] = "application"
    top["hashes"] = [{"alg": "SHA-256", "content": digest}]
    top["properties"].append({"name": "file", "value": module.rsplit("/", 1)[-1]})
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'sha256:' + digest)}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "deploy/release/sbom.py"}]},
            "component": top,
        },
        "components": sorted((component(pid) for pid in linked if pid != root), key=lambda c: c["bom-ref"]),
        "dependencies": sorted(
            ({"ref": ref(pid), "dependsOn": sorted({ref(d) for d in deps})} for pid, deps in edges.items()),
            key=lambda d: d["ref"]),
    }
    json.dump(bom, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv)
