#!/usr/bin/env python3
"""Writes a wasm module as an OCI image layout directory in the Wasm OCI artifact format
(solo-io's wasm image spec, "oci" variant): the module itself as a raw layer
(application/vnd.module.wasm.content.layer.v1+wasm) and a JSON config of type
application/vnd.module.wasm.config.v1+json, both as the manifest's config and as its second
layer, because Istio's WasmPlugin (pkg/wasm/imagefetcher.go) takes an "oci" variant image only
with exactly two layers, one of them the wasm layer. Istio pulls this format (`url: oci://...`)
as well as the docker image of `make oci-image`.

Everything is deterministic (sorted, compact JSON; the config's `created` is the commit
date), so one module always gives one manifest digest, the digest Istio checks a WasmPlugin's
`sha256` against. Push it with a tool that keeps the manifest as it is, e.g.
`skopeo copy oci:dist/oci:<tag> docker://<registry>/<repo>:<tag>` or
`oras cp --from-oci-layout dist/oci:<tag> <registry>/<repo>:<tag>`.

usage: oci_layout.py <module.wasm> <out-dir> <tag> <created (RFC 3339)>
Prints the manifest digest (sha256:<hex>).
"""
import hashlib
import json
import os
import shutil
import sys

LAYER_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm"
CONFIG_TYPE = "application/vnd.module.wasm.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def put_blob(out, data, media_type, annotations=None):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    desc = {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
    if annotations:
        desc["annotations"] = annotations
    return desc


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    module, out, tag, created = argv[1:]
    with open(module, "rb") as f:
        wasm = f.read()
    if wasm[:4] != b"\0asm":
        sys.exit(f"{module} is not a wasm module")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    config = {
        "created": created,
        "author": "jwt-filter",
        "description": "Envoy proxy-wasm HTTP filter that verifies Cognito/OIDC JWTs",
    }
    config_desc = put_blob(out, canonical(config), CONFIG_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_desc,
        "layers": [
            put_blob(out, wasm, LAYER_TYPE, {"org.opencontainers.image.title": "plugin.wasm"}),
            dict(config_desc, annotations={"org.opencontainers.image.title": "config.json"}),
        ],
        "annotations": {"org.opencontainers.image.created": created, "org.opencontainers.image.version": tag},
    }
    desc = put_blob(out, canonical(manifest), MANIFEST_TYPE, {"org.opencontainers.image.ref.name": tag})
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [desc]}
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(canonical(index))
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    print(desc["digest"])


if __name__ == "__main__":
    main(sys.argv)
