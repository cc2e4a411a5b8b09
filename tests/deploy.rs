//! Deployment as users run it: the Istio wasm image (`make oci-image`), the filter configured
//! the way Istio configures it (the WasmPlugin's own pluginConfig, no fetcher, 4 workers), the
//! front-proxy config for real Cognito (`envoy/cognito.yaml`), the compose stack
//! (`deploy/compose/`), and the stat names Prometheus sees.
//!
//! The image and compose tests need a docker engine and fail, saying so, when there is none
//! (nothing here passes without having run); the others run Envoy through the harness (docker
//! or the binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// The crate version: the tag of the Istio image and of the WasmPlugin's url.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Fails the test unless a docker engine answers: `what` needs it.
fn require_docker(what: &str) {
    let answers =
        Command::new("docker").args(["info"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(
        answers,
        "{what} needs a docker engine and none answers (`docker info` fails): install docker (Debian: apt-get install \
         docker.io) and start it, or run the suites without docker via `cargo test -p jwt-filter --test filter` etc."
    );
}

fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command; panics with its output unless it succeeds.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("jwtf-deploy-{}-{name}", std::process::id()));
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

/// A YAML file of the repository as JSON values, one per document.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    text.split("\n---\n").map(|doc| serde_norway::from_str(doc).unwrap_or_else(|e| panic!("{rel}: {e}"))).collect()
}

/// `deploy/istio/wasmplugin.yaml`.
fn wasm_plugin() -> Value {
    let docs = yaml_docs("deploy/istio/wasmplugin.yaml");
    assert_eq!(docs.len(), 1);
    docs.into_iter().next().unwrap()
}

#[test]
fn oci_image_holds_the_filter_as_plugin_wasm_in_its_last_layer() {
    require_docker("the OCI image test");
    let repo = std::env::var("OCI_IMAGE").unwrap_or_else(|_| "jwt-filter-wasm".into());
    let image = format!("{repo}:{VERSION}");
    assert!(image_exists(&image), "image {image} not found: run `make oci-image`");

    let dir = TempDir::new("oci");
    let tar = dir.0.join("image.tar");
    run(Command::new("docker").args(["save", "-o"]).arg(&tar).arg(&image));
    let unpacked = dir.0.join("image");
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&unpacked));

    // manifest.json lists the layers bottom to top, in both the legacy and the OCI layout of
    // `docker save`.
    let manifest: Value = serde_json::from_slice(&std::fs::read(unpacked.join("manifest.json")).unwrap()).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    let last = layers.last().unwrap().as_str().unwrap();
    let layer_dir = dir.0.join("layer");
    std::fs::create_dir_all(&layer_dir).unwrap();
    run(Command::new("tar").arg("-xf").arg(unpacked.join(last)).arg("-C").arg(&layer_dir));

    let files: Vec<String> =
        std::fs::read_dir(&layer_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(files, ["plugin.wasm"], "the last layer holds plugin.wasm and nothing else");
    let plugin = std::fs::read(layer_dir.join("plugin.wasm")).unwrap();
    let built = std::fs::read(wasm("jwt_filter")).unwrap();
    assert!(
        plugin == built,
        "plugin.wasm ({} bytes) differs from the built filter ({} bytes): run `make oci-image` again",
        plugin.len(),
        built.len()
    );

    // The WasmPlugin pulls the tag `make oci-image` builds by default (OCI_IMAGE may name
    // another local repository, as when several checkouts share one docker engine).
    let url = wasm_plugin()["spec"]["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("oci://") && url.ends_with(&format!("/jwt-filter-wasm:{VERSION}")),
        "WasmPlugin url {url} does not name jwt-filter-wasm:{VERSION}"
    );
}

#[test]
fn istio_manifests_agree_on_the_cognito_cluster() {
    let plugin = wasm_plugin();
    assert_eq!(plugin["kind"], "WasmPlugin");
    let spec = &plugin["spec"];
    assert_eq!(spec["phase"], "AUTHN");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert!(spec["selector"]["matchLabels"].as_object().is_some_and(|m| !m.is_empty()), "a selector");
    let cognito = &spec["pluginConfig"]["providers"]["cognito"];
    let region = cognito["cognito"]["region"].as_str().unwrap();
    let host = format!("cognito-idp.{region}.amazonaws.com");
    assert_eq!(cognito["jwks"]["cluster"], format!("outbound|443||{host}"), "Istio's name for the ServiceEntry's cluster");

    let egress = yaml_docs("deploy/istio/cognito-egress.yaml");
    let se = egress.iter().find(|d| d["kind"] == "ServiceEntry").expect("a ServiceEntry");
    assert_eq!(se["spec"]["hosts"], serde_json::json!([host]));
    assert_eq!(se["spec"]["location"], "MESH_EXTERNAL");
    assert_eq!(se["spec"]["resolution"], "DNS");
    assert_eq!(se["spec"]["ports"][0]["number"], 443);
    let dr = egress.iter().find(|d| d["kind"] == "DestinationRule").expect("a DestinationRule");
    assert_eq!(dr["spec"]["host"], host.as_str());
    let tls = &dr["spec"]["trafficPolicy"]["tls"];
    assert_eq!(tls["mode"], "SIMPLE", "Envoy originates TLS");
    assert_eq!(tls["sni"], host.as_str());
    assert_eq!(tls["subjectAltNames"], serde_json::json!([host]));
}

/// Istio's data plane in small: the WasmPlugin's pluginConfig, unmodified, on Envoy with 4
/// workers and no jwks-fetcher singleton (Istio installs filters only).
#[test]
fn istio_mode_loads_keys_once_for_four_workers_and_verifies() {
    let plugin_config = wasm_plugin()["spec"]["pluginConfig"].clone();
    let cognito = &plugin_config["providers"]["cognito"];
    let region = cognito["cognito"]["region"].as_str().unwrap().to_string();
    let pool = cognito["cognito"]["user_pool_id"].as_str().unwrap().to_string();
    let client = cognito["cognito"]["client_ids"][0].as_str().unwrap().to_string();
    // Nothing in the config is overridden: the test cluster carries the mesh's cluster name
    // (`outbound|443||cognito-idp.<region>.amazonaws.com`) and points at the test JWKS server
    // on 127.0.0.1 in plain HTTP, where Istio's cluster would originate TLS to Cognito (the
    // filter sends the same request either way).
    let cluster = cognito["jwks"]["cluster"].as_str().unwrap().to_string();
    let jwks_path = format!("/{pool}/.well-known/jwks.json");
    let jwks = Server::start(Behavior::Routes(vec![(
        jwks_path.clone(),
        Behavior::Json(testkit::jwks(&[&testkit::rsa_a()]).to_string()),
    )]));
    let upstream = Server::upstream();

    // Two listeners with the same pluginConfig: what istiod generates (the pluginConfig
    // Struct as JSON text in a StringValue, empty vm_id), and the JSON-string form of it.
    let listener =
        |istio_style: bool| Listener { istio_style, vm_id: String::new(), ..Listener::filtered(plugin_config.clone()) };
    let mut setup = Setup::single(plugin_config.clone(), upstream.port, None);
    setup.listeners = vec![listener(false), listener(true)];
    setup.clusters.push((cluster, jwks.port));
    setup.fetcher = None;
    setup.concurrency = 4;
    let started = Instant::now();
    let envoy = Envoy::start(&setup);
    let iss = testkit::cognito_issuer(&region, &pool);
    let token = testkit::rsa_a().token(&testkit::cognito_access(&iss, &client, "andrew"));
    let ok = |port: u16| request(port, "GET", "/api/profile", &[bearer(&token)]).is_ok_and(|r| r.status == 200);
    assert!(envoy.wait_for(EVENT, || ok(envoy.ports[0])), "keys never arrived (JWKS requests: {})", jwks.count());
    eprintln!("[deploy] keys loaded {:?} after start", started.elapsed());

    // Many connections, spread by the kernel over the 4 workers, on both listeners.
    for &port in &envoy.ports {
        for i in 0..24 {
            upstream.clear();
            let r = request(port, "GET", "/api/profile", &[bearer(&token)]).unwrap();
            assert_eq!(r.status, 200, "request {i} on :{port}: {}", r.text());
            let user: Value = serde_json::from_str(upstream.last().unwrap().header("x-current-user").unwrap()).unwrap();
            assert_eq!(user["username"], "andrew");
            assert_eq!(user["client_id"], client.as_str());
        }
        let r = get(port, "/api/profile").unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"cruddur\""));
        // The pluginConfig's rules: the home feed allows a missing token.
        upstream.clear();
        assert_eq!(get(port, "/api/activities/home").unwrap().status, 200);
        assert_eq!(upstream.last().unwrap().header("x-current-user"), None);
    }

    // One JWKS fetch for 4 workers x 2 plugins, on the path and authority the pool derives.
    // The window for a second fetch closes when every plugin on every worker has taken keys
    // up (it fetches again only at refresh_seconds); a fetch started before that is logged
    // before the marker's line.
    let serving = "jwt-filter: provider cognito: now serving";
    let mut threads = std::collections::HashMap::new();
    let all_serving = envoy.wait_for(EVENT, || {
        threads.clear();
        for t in envoy.log_threads(serving) {
            *threads.entry(t).or_insert(0) += 1;
        }
        // The main thread keeps a root context of each plugin too.
        threads.len() > 4 && threads.values().all(|n| *n >= 2)
    });
    assert!(all_serving, "not every plugin on the main thread and the 4 workers took keys up: {threads:?}");
    envoy.sync_logs(envoy.ports[0]);
    assert_eq!(envoy.logs().matches("provider cognito: fetching the JWKS").count(), 1, "one fetch started");
    assert_eq!(
        jwks.count(),
        1,
        "one fetch for all workers (shared-data lease): {:?}",
        jwks.seen().iter().map(|s| &s.path).collect::<Vec<_>>()
    );
    let seen = jwks.last().unwrap();
    assert_eq!(seen.path, jwks_path);
    assert_eq!(seen.header("host"), Some(format!("cognito-idp.{region}.amazonaws.com").as_str()));
    assert_eq!(envoy.stat_eventually("wasmcustom.jwt_filter.jwks.cognito.fetch_success", 1), Some(1));
    assert_eq!(
        envoy.stat_eventually("wasmcustom.jwt_filter.provider.cognito.allowed", 48 + 1),
        Some(49),
        "the warm-up request and 48 more"
    );

    // One request without a token per listener, and the log marker.
    assert_eq!(envoy.stat_eventually("wasmcustom.jwt_filter.provider.cognito.denied.missing", 3), Some(3));

    // The same stats as Prometheus sees them: `wasmcustom.` is dropped, dots become `_`.
    let prom = get(envoy.admin, "/stats/prometheus").unwrap().text();
    let value = |name: &str| -> Option<u64> {
        prom.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix("{} ")).and_then(|v| v.trim().parse().ok()))
    };
    for (name, kind) in [
        ("jwt_filter_provider_cognito_allowed", "counter"),
        ("jwt_filter_provider_cognito_denied_missing", "counter"),
        ("jwt_filter_provider_cognito_denied_bad_signature", "counter"),
        ("jwt_filter_missing_allowed", "counter"),
        ("jwt_filter_jwks_cognito_fetch_success", "counter"),
        ("jwt_filter_jwks_cognito_fetch_failure_timeout", "counter"),
        ("jwt_filter_jwks_cognito_keys", "gauge"),
        ("jwt_filter_jwks_cognito_keys_age_seconds", "gauge"),
    ] {
        assert!(prom.contains(&format!("# TYPE {name} {kind}\n")), "{name} is not a {kind} at /stats/prometheus");
        assert!(value(name).is_some(), "{name} has no value at /stats/prometheus");
    }
    assert_eq!(value("jwt_filter_provider_cognito_allowed"), Some(49));
    assert_eq!(value("jwt_filter_provider_cognito_denied_missing"), Some(3));
    assert_eq!(value("jwt_filter_missing_allowed"), Some(2));
    assert_eq!(value("jwt_filter_jwks_cognito_fetch_success"), Some(1));
    assert_eq!(value("jwt_filter_jwks_cognito_keys"), Some(1));
}

/// `envoy --mode validate` on the front-proxy config for real Cognito, with the modules where
/// the file expects them. Validation loads the filter (and runs its configuration check) but
/// not bootstrap extensions, so the fetcher's configuration is checked to be the same text.
#[test]
fn cognito_front_proxy_config_validates() {
    let file = root().join("envoy/cognito.yaml");
    let doc = &yaml_docs("envoy/cognito.yaml")[0];
    let fetcher = &doc["bootstrap_extensions"][0]["typed_config"]["config"];
    let hcm = &doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    let filter = &hcm["http_filters"][0]["typed_config"]["config"];
    assert_eq!(fetcher["configuration"]["value"], filter["configuration"]["value"], "fetcher and filter share one configuration");
    assert_eq!(fetcher["vm_config"]["vm_id"], filter["vm_config"]["vm_id"], "and one vm_id");
    assert_eq!(hcm["http_filters"][1]["name"], "envoy.filters.http.router", "the filter comes before the router");
    let log_format = hcm["access_log"][0]["typed_config"]["log_format"]["text_format_source"]["inline_string"].as_str().unwrap();
    for field in ["%FILTER_STATE(wasm.jwt_filter.sub:PLAIN)%", "%FILTER_STATE(wasm.jwt_filter.reason:PLAIN)%"] {
        assert!(log_format.contains(field), "the access log prints {field}");
    }

    let (status, output) = match runner() {
        Runner::Docker(image) => {
            let wasm_dir = root().join("target/wasm32-wasip1/release");
            let mut cmd = Command::new("docker");
            cmd.args(["run", "--rm", "-v"]).arg(format!("{}:/etc/envoy/cognito.yaml:ro", file.display()));
            for m in ["jwt_filter", "jwks_fetcher"] {
                wasm(m);
                cmd.arg("-v").arg(format!("{}:/etc/envoy/{m}.wasm:ro", wasm_dir.join(format!("{m}.wasm")).display()));
            }
            let out = cmd.arg(image).args(["--mode", "validate", "-c", "/etc/envoy/cognito.yaml"]).output().unwrap();
            (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
        }
        Runner::Binary(bin) => {
            // The same file with /etc/envoy/ pointing at a scratch directory holding the modules.
            let dir = TempDir::new("validate");
            for m in ["jwt_filter", "jwks_fetcher"] {
                std::fs::copy(wasm(m), dir.0.join(format!("{m}.wasm"))).unwrap();
            }
            let text = std::fs::read_to_string(&file).unwrap().replace("/etc/envoy/", &format!("{}/", dir.0.display()));
            let copy = dir.0.join("cognito.yaml");
            std::fs::write(&copy, text).unwrap();
            let out = Command::new(bin).args(["--mode", "validate", "-c"]).arg(&copy).output().unwrap();
            (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
        }
    };
    assert!(status.success(), "envoy --mode validate refused envoy/cognito.yaml:\n{output}");
    assert!(output.contains("jwt-filter: configured 1 provider(s) [cognito]"), "the filter checked its configuration:\n{output}");
}

/// `docker-compose -p <project> -f deploy/compose/docker-compose.yml`, taken down on drop.
struct Compose {
    bin: PathBuf,
    project: String,
}

impl Compose {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("-f").arg(root().join("deploy/compose/docker-compose.yml")).args(["-p", &self.project]);
        c
    }

    fn logs(&self, service: &str) -> String {
        self.cmd()
            .args(["logs", "--no-color", service])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for s in ["envoy", "issuer", "backend"] {
                let logs = self.logs(s);
                let tail: Vec<&str> = logs.lines().rev().take(25).collect();
                eprintln!("---- compose {s} log tail ----");
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
        let _ = self.cmd().args(["down", "--remove-orphans", "-t", "2"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

fn compose_bin() -> Option<PathBuf> {
    let in_path = Command::new("docker-compose")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if in_path {
        return Some(PathBuf::from("docker-compose"));
    }
    let venv = root().join(".venv/bin/docker-compose");
    venv.exists().then_some(venv)
}

fn port_busy(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

#[test]
fn compose_stack_serves_personalised_data_only_to_valid_tokens() {
    require_docker("the compose stack test");
    let bin = compose_bin().expect("docker-compose not found: run `make compose-tool` (or `make compose-up` once)");
    let envoy_image = std::env::var("ENVOY_IMAGE").unwrap_or_else(|_| "jwt-filter-envoy:1.40.0".into());
    let testkit_image = std::env::var("TESTKIT_IMAGE").unwrap_or_else(|_| "jwt-filter-testkit:local".into());
    for image in [&envoy_image, &testkit_image] {
        assert!(image_exists(image), "image {image} not found: run `make compose-images`");
    }
    for m in ["jwt_filter", "jwks_fetcher"] {
        wasm(m);
    }
    for port in [8000, 9100, 9200, 9901] {
        assert!(
            !port_busy(port),
            "port {port} is busy (a `make demo` or `make compose-up` still running?); the compose stack needs it"
        );
    }

    let stack = Compose { bin, project: format!("jwtf-test-{}", std::process::id()) };
    let started = Instant::now();
    run(stack.cmd().args(["up", "-d"]).env("ENVOY_IMAGE", &envoy_image).env("TESTKIT_IMAGE", &testkit_image));
    let ready = wait_until(START, &mut || get(9901, "/ready").is_ok_and(|r| r.status == 200));
    assert!(ready, "Envoy never became ready");
    let token = wait_token();
    // The fetcher loads the issuer's keys shortly after start.
    let home = |headers: &[(String, String)]| request(8000, "GET", "/api/activities/home", headers).unwrap();
    let loaded = wait_until(EVENT, &mut || home(&[bearer(&token)]).status == 200);
    assert!(loaded, "a valid token never passed: {}", home(&[bearer(&token)]).text());
    eprintln!("[deploy] compose stack up and keys loaded in {:?}", started.elapsed());

    // No token: a protected path is refused; the home feed is public.
    let r = get(8000, "/api/profile").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"cruddur\""));
    let r = home(&[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["feed"], "public");

    // An invalid token is refused, even where a missing one is allowed.
    for bad in [
        "not-a-jwt",
        &testkit::rsa_b().with_kid("rsa-a").token(&testkit::cognito_access(
            &testkit::cognito_issuer("us-east-1", "us-east-1_DemoPool"),
            "demo-client",
            "mallory",
        )),
    ] {
        let r = home(&[bearer(bad)]);
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json()["error"], "invalid_token");
        assert_eq!(request(8000, "GET", "/api/profile", &[bearer(bad)]).unwrap().status, 401);
    }

    // A valid token from the issuer: the backend read X-Current-User and personalised the feed.
    let r = home(&[bearer(&token)]);
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["feed"], "personalised", "{body}");
    assert_eq!(body["user"], "andrew");
    let r = request(8000, "GET", "/api/profile", &[bearer(&token)]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["x-current-user"]["username"], "andrew");

    // The access log names the user and the reasons.
    let ok = wait_until(EVENT, &mut || {
        let logs = stack.logs("envoy");
        logs.contains("sub=sub-andrew outcome=allowed")
            && logs.contains("reason=missing")
            && logs.contains("reason=bad_signature")
    });
    assert!(ok, "access log lines missing:\n{}", stack.logs("envoy"));
}

/// A token for andrew from the compose stack's issuer, once it answers.
fn wait_token() -> String {
    let mut token = String::new();
    let ok = wait_until(EVENT, &mut || match get(9100, "/token?username=andrew&format=raw") {
        Ok(r) if r.status == 200 => {
            token = r.text().trim().to_string();
            true
        }
        _ => false,
    });
    assert!(ok, "the token issuer never answered on :9100");
    token
}
