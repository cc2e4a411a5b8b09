//! The release's artifacts, checked independently of the scripts that write them
//! (deploy/release/): the build-info custom section of both modules, the Wasm OCI artifact
//! layout (media types, digests and sizes of every blob), the pinned WasmPlugin (its sha256
//! against the module and the layout, everything else as in the template and validating as the
//! template does) and the SBOMs (the crates linked into each module, nothing else).
//!
//! By default the layout, WasmPlugin and SBOMs are written from the built modules into a
//! temporary directory; `make release` runs this suite with `RELEASE_DIR=dist` to check the
//! release itself, including `SHA256SUMS` and the commit in the modules. No Envoy runs here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jwt_core::crypto::Hash;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const LAYER_TYPE: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
const CONFIG_TYPE: &str = "application/vnd.module.wasm.config.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// (package, file): one module serves both roles (`make build` copies it to jwks_fetcher.wasm).
const MODULES: [(&str, &str); 2] = [("jwt-filter", "jwt_filter"), ("jwt-filter", "jwks_fetcher")];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `dist/` when `make release` runs the suite.
fn release_dir() -> Option<PathBuf> {
    std::env::var_os("RELEASE_DIR").map(|d| root().join(d))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Hash::Sha256.digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A module: from the release when checking one, else the build.
fn module(file: &str) -> PathBuf {
    let p = match release_dir() {
        Some(d) => d.join(format!("{file}.wasm")),
        None => root().join("target/wasm32-wasip1/release").join(format!("{file}.wasm")),
    };
    assert!(p.exists(), "{} is missing: run `make build`", p.display());
    p
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.current_dir(root()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("jwtf-release-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The artifacts under test: the release's, or ones written now from the built filter.
struct Artifacts {
    dir: PathBuf,
    _tmp: Option<TempDir>,
}

fn artifacts(name: &str) -> Artifacts {
    if let Some(dir) = release_dir() {
        return Artifacts { dir, _tmp: None };
    }
    let tmp = TempDir::new(name);
    let dir = tmp.0.clone();
    let digest = run(Command::new("python3")
        .arg("deploy/release/oci_layout.py")
        .arg(module("jwt_filter"))
        .arg(dir.join("oci"))
        .arg(VERSION)
        .arg("2026-01-01T00:00:00Z"));
    let digest = digest.trim().strip_prefix("sha256:").unwrap().to_string();
    std::fs::create_dir_all(dir.join("istio")).unwrap();
    run(Command::new("python3")
        .arg("deploy/release/pin_wasmplugin.py")
        .arg("deploy/istio/wasmplugin.yaml")
        .arg(dir.join("istio/wasmplugin.yaml"))
        .arg(VERSION)
        .arg(&digest));
    std::fs::create_dir_all(dir.join("sbom")).unwrap();
    for (package, file) in MODULES {
        let sbom =
            run(Command::new("python3").arg("deploy/release/sbom.py").arg(package).arg(module(file)).arg("2026-01-01T00:00:00Z"));
        std::fs::write(dir.join(format!("sbom/{file}.cdx.json")), sbom).unwrap();
    }
    Artifacts { dir, _tmp: Some(tmp) }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn leb128(bytes: &[u8], at: &mut usize) -> usize {
    let (mut value, mut shift) = (0usize, 0);
    loop {
        let b = bytes[*at];
        *at += 1;
        value |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

/// The sections of a wasm module: (id, contents), in order.
fn sections(wasm: &[u8]) -> Vec<(u8, &[u8])> {
    assert_eq!(&wasm[..8], b"\0asm\x01\0\0\0", "a wasm module, version 1");
    let mut at = 8;
    let mut found = Vec::new();
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = leb128(wasm, &mut at);
        found.push((id, &wasm[at..at + size]));
        at += size;
    }
    found
}

/// The custom sections of a wasm module, by name, in order.
fn custom_sections(wasm: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for (_, body) in sections(wasm).into_iter().filter(|(id, _)| *id == 0) {
        let mut p = 0;
        let len = leb128(body, &mut p);
        let name = String::from_utf8(body[p..p + len].to_vec()).unwrap();
        found.push((name, body[p + len..].to_vec()));
    }
    found
}

/// The size in bytes of each function body in the code section, in order.
fn function_body_sizes(wasm: &[u8]) -> Vec<usize> {
    let code = sections(wasm).into_iter().find(|(id, _)| *id == 10).expect("a code section").1;
    let mut at = 0;
    let count = leb128(code, &mut at);
    let mut sizes = Vec::with_capacity(count);
    for _ in 0..count {
        let size = leb128(code, &mut at);
        sizes.push(size);
        at += size;
    }
    assert_eq!(at, code.len(), "the code section holds exactly its function bodies");
    sizes
}

#[test]
fn both_modules_carry_the_build_info_section() {
    for (_, file) in MODULES {
        let wasm = std::fs::read(module(file)).unwrap();
        let sections: Vec<_> = custom_sections(&wasm).into_iter().filter(|(n, _)| n == "jwt_filter.build_info").collect();
        assert_eq!(sections.len(), 1, "{file}: one jwt_filter.build_info section");
        let text = String::from_utf8(sections[0].1.clone()).unwrap();
        let fields: Vec<(&str, &str)> = text.lines().map(|l| l.split_once('=').unwrap()).collect();
        assert_eq!(fields.iter().map(|f| f.0).collect::<Vec<_>>(), ["version", "commit", "rustc"], "{file}: {text}");
        assert_eq!(fields[0].1, VERSION, "{file}");
        assert!(fields[2].1.starts_with("rustc 1."), "{file}: {text}");
        if release_dir().is_some() {
            // A release is built from a clean tree: the module names the very commit.
            let head = run(Command::new("git").args(["rev-parse", "--short=12", "HEAD"]));
            assert_eq!(fields[1].1, head.trim(), "{file}: the release's commit");
        } else {
            assert!(fields[1].1 != "unknown" && !fields[1].1.is_empty(), "{file}: `make build` sets the commit: {text}");
        }
    }
}

#[test]
fn oci_layout_is_a_wasm_artifact_whose_digests_match() {
    let a = artifacts("oci");
    let oci = a.dir.join("oci");
    assert_eq!(read_json(&oci.join("oci-layout"))["imageLayoutVersion"], "1.0.0");
    let blob = |desc: &Value| -> Vec<u8> {
        let digest = desc["digest"].as_str().unwrap();
        let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("sha256 digests only: {digest}"));
        let bytes = std::fs::read(oci.join("blobs/sha256").join(hex)).unwrap_or_else(|e| panic!("blob {digest}: {e}"));
        assert_eq!(sha256_hex(&bytes), hex, "blob {digest} has another digest");
        assert_eq!(desc["size"].as_u64(), Some(bytes.len() as u64), "size of {digest}");
        bytes
    };
    let index = read_json(&oci.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["mediaType"], MANIFEST_TYPE);
    assert_eq!(manifests[0]["annotations"]["org.opencontainers.image.ref.name"], VERSION, "tagged with the version");
    let manifest: Value = serde_json::from_slice(&blob(&manifests[0])).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], MANIFEST_TYPE);
    assert_eq!(manifest["config"]["mediaType"], CONFIG_TYPE);
    let config: Value = serde_json::from_slice(&blob(&manifest["config"])).unwrap();
    assert!(config["created"].as_str().is_some_and(|c| c.len() >= 20), "config.created: {config}");
    // Istio takes an "oci" variant image with exactly two layers and finds the module by its
    // media type (istio/istio pkg/wasm/imagefetcher.go); the other is the config JSON.
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "two layers: the module and its config");
    let wasm_layers: Vec<&Value> = layers.iter().filter(|l| l["mediaType"] == LAYER_TYPE).collect();
    assert_eq!(wasm_layers.len(), 1, "one wasm layer");
    let layer = blob(wasm_layers[0]);
    assert!(layer == std::fs::read(module("jwt_filter")).unwrap(), "the wasm layer is the filter module, byte for byte");
    let config_layer = layers.iter().find(|l| l["mediaType"] == CONFIG_TYPE).expect("a config layer");
    assert_eq!(serde_json::from_slice::<Value>(&blob(config_layer)).unwrap(), config);
}

/// What tests/deploy.rs checks of the template, for any WasmPlugin document.
fn validate_wasm_plugin(plugin: &Value) {
    assert_eq!(plugin["apiVersion"], "extensions.istio.io/v1alpha1");
    assert_eq!(plugin["kind"], "WasmPlugin");
    let spec = &plugin["spec"];
    assert_eq!(spec["phase"], "AUTHN");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert!(spec["selector"]["matchLabels"].as_object().is_some_and(|m| !m.is_empty()), "a selector");
    let cognito = &spec["pluginConfig"]["providers"]["cognito"];
    let region = cognito["cognito"]["region"].as_str().unwrap();
    assert_eq!(cognito["jwks"]["cluster"], format!("outbound|443||cognito-idp.{region}.amazonaws.com"));
    let url = spec["url"].as_str().unwrap();
    assert!(url.starts_with("oci://") && url.rsplit_once(':').is_some_and(|(_, tag)| !tag.is_empty()), "url {url}");
    // The filter accepts the pluginConfig as Istio hands it over.
    jwt_core::config::Config::parse(serde_json::to_string(&spec["pluginConfig"]).unwrap().as_bytes())
        .unwrap_or_else(|e| panic!("pluginConfig does not parse: {e}"));
}

fn yaml(p: &Path) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn pinned_wasm_plugin_matches_the_module_and_the_template() {
    let a = artifacts("pin");
    let template = yaml(&root().join("deploy/istio/wasmplugin.yaml"));
    let pinned = yaml(&a.dir.join("istio/wasmplugin.yaml"));
    validate_wasm_plugin(&template);
    validate_wasm_plugin(&pinned);

    // oci:// urls: Istio compares sha256 with the digest of the manifest it pulls (the layout's),
    // whose wasm layer is the module.
    let sha = pinned["spec"]["sha256"].as_str().expect("a sha256 pin");
    let index = read_json(&a.dir.join("oci/index.json"));
    assert_eq!(index["manifests"][0]["digest"], format!("sha256:{sha}"), "the pin is the manifest digest");
    let manifest = std::fs::read(a.dir.join("oci/blobs/sha256").join(sha)).unwrap();
    assert_eq!(sha256_hex(&manifest), sha);
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let module_sha = sha256_hex(&std::fs::read(module("jwt_filter")).unwrap());
    let wasm_layer = manifest["layers"].as_array().unwrap().iter().find(|l| l["mediaType"] == LAYER_TYPE).unwrap();
    assert_eq!(wasm_layer["digest"], format!("sha256:{module_sha}"), "the pinned manifest holds this module");

    // The url names this release; everything else is the template's.
    let url = pinned["spec"]["url"].as_str().unwrap();
    let template_url = template["spec"]["url"].as_str().unwrap();
    assert_eq!(url.rsplit_once(':').unwrap(), (template_url.rsplit_once(':').unwrap().0, VERSION));
    let strip = |v: &Value| {
        let mut v = v.clone();
        let spec = v["spec"].as_object_mut().unwrap();
        spec.remove("url");
        spec.remove("sha256");
        v
    };
    assert_eq!(strip(&pinned), strip(&template), "only url and sha256 differ from the template");
}

#[test]
fn sboms_list_the_crates_linked_into_each_module() {
    let a = artifacts("sbom");
    for (package, file) in MODULES {
        let bom = read_json(&a.dir.join(format!("sbom/{file}.cdx.json")));
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["specVersion"], "1.5");
        let top = &bom["metadata"]["component"];
        assert_eq!(top["name"], package);
        assert_eq!(top["version"], VERSION);
        let wasm_sha = sha256_hex(&std::fs::read(module(file)).unwrap());
        assert_eq!(top["hashes"][0]["content"], wasm_sha.as_str(), "{file}: the SBOM describes this module");
        let names: Vec<&str> = bom["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        for linked in ["jwt-core", "wasm-host", "base64", "log", "sha2"] {
            assert!(names.contains(&linked), "{file}: {linked} is linked in: {names:?}");
        }
        // Proc-macros run in the compiler; the tests' signer and its RSA never reach a module; nor
        // do the proxy-wasm SDK (the dispatcher is wasm-host's) or serde (the core reads and
        // writes JSON itself).
        for absent in [
            "proxy-wasm",
            "serde_derive",
            "syn",
            "quote",
            "proc-macro2",
            "jwt-simple",
            "rsa",
            "testkit",
            "superboring",
            "serde",
            "serde_json",
            "zmij",
        ] {
            assert!(!names.contains(&absent), "{file}: {absent} is not linked in");
        }
        for c in bom["components"].as_array().unwrap() {
            assert!(c["purl"].as_str().is_some_and(|p| p.starts_with("pkg:cargo/")), "{c}");
            assert!(c["licenses"][0]["expression"].is_string(), "{file}: {} has a license", c["name"]);
            let registry = c["properties"][0]["value"].as_str().is_some_and(|s| s.starts_with("registry+"));
            assert_eq!(registry, c["hashes"][0]["content"].as_str().is_some_and(|h| h.len() == 64), "{c}");
        }
        let refs: Vec<&str> = bom["dependencies"].as_array().unwrap().iter().map(|d| d["ref"].as_str().unwrap()).collect();
        assert_eq!(refs.len(), names.len() + 1, "{file}: a dependency entry per component and the module");
    }
}

#[test]
fn sha256sums_cover_the_release() {
    let Some(dir) = release_dir() else {
        eprintln!("not a release check (RELEASE_DIR unset): SHA256SUMS is checked by `make release`");
        return;
    };
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut listed = Vec::new();
    for line in sums.lines() {
        let (hex, name) = line.split_once("  ").unwrap_or_else(|| panic!("not a sha256sum line: {line}"));
        assert_eq!(sha256_hex(&std::fs::read(dir.join(name)).unwrap()), hex, "{name}");
        listed.push(name.to_string());
    }
    for required in [
        "jwt_filter.wasm",
        "jwks_fetcher.wasm",
        "CHANGELOG.md",
        "istio/wasmplugin.yaml",
        "sbom/jwt_filter.cdx.json",
        "sbom/jwks_fetcher.cdx.json",
        "oci/index.json",
    ] {
        assert!(listed.iter().any(|l| l == required), "SHA256SUMS lists {required}: {listed:?}");
    }
    assert!(listed.iter().any(|l| l.ends_with(".tar")), "the image tarball is listed: {listed:?}");
    let changelog = std::fs::read_to_string(dir.join("CHANGELOG.md")).unwrap();
    assert!(changelog.starts_with(&format!("## [{VERSION}]")), "the release's CHANGELOG section:\n{changelog}");
}

/// Envoy's V8 compiles every function of the module with its optimising compiler when the
/// module loads, and the compile memory, which Envoy's allocator keeps afterwards, grows with
/// the largest function bodies far more than with the total code (BENCHMARKS.md, "Memory"):
/// a new large function, or an optimiser pass that merges functions (wasm-opt's default
/// one-caller inlining does; `make build` turns it off), would cost every Envoy megabytes. The
/// largest today is wasi-libc's `dlmalloc` (4.9 KB after wasm-opt, in the no-op module too);
/// ours are all under ~2 KB.
/// Names: build with `CARGO_PROFILE_RELEASE_STRIP=false` into another target directory and run
/// `twiggy top`.
const LARGEST_FUNCTION_BUDGET: usize = 10 * 1024;

#[test]
fn no_function_body_is_over_the_compile_memory_budget() {
    for (_, file) in MODULES {
        let wasm = std::fs::read(module(file)).unwrap();
        let sizes = function_body_sizes(&wasm);
        let over: Vec<(usize, usize)> =
            sizes.iter().copied().enumerate().filter(|&(_, size)| size > LARGEST_FUNCTION_BUDGET).collect();
        assert!(
            over.is_empty(),
            "{file}: function bodies over {LARGEST_FUNCTION_BUDGET} bytes (code-section index, bytes): {over:?}"
        );
        assert!(sizes.len() > 100, "{file}: {} functions: not the filter's module?", sizes.len());
    }
}
