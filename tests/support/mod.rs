//! The harness for scenarios against a real Envoy: it starts the official Envoy 1.40 (in docker
//! with `--network host`, or the binary directly when no docker engine answers), with configs
//! the tests build, next to test-owned servers on 127.0.0.1: a JWKS endpoint that counts its
//! requests and can be stopped, slowed or broken, and an upstream that records what it saw.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod http;
pub mod server;

use serde_json::{json, Value};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use http::{get, request, Response};
#[allow(unused_imports)]
pub use server::{Behavior, Server};

/// How long Envoy may take to become ready. V8 compiles the ~800 KB filter module at start,
/// which takes 20-50 s on 2 busy cores; readiness is polled, so a quiet machine is not slowed.
pub const START: Duration = Duration::from_secs(120);
/// How long any asynchronous event (a log line, a stat, a fetch, keys arriving) may take.
pub const EVENT: Duration = Duration::from_secs(30);

/// One Envoy at a time per test binary: tests run on parallel threads, and two or more Envoys
/// (each compiling the module in V8 and running several workers) starve 2 cores into missed
/// deadlines. Each [`Envoy`] holds this lock while it lives (re-entrant per thread, so a test
/// may run two Envoys itself).
static ONE_ENVOY: Mutex<()> = Mutex::new(());

thread_local! {
    static ENVOYS_HERE: Cell<u32> = const { Cell::new(0) };
}

fn one_envoy() -> Option<MutexGuard<'static, ()>> {
    let held = ENVOYS_HERE.with(|n| {
        let held = n.get() > 0;
        n.set(n.get() + 1);
        held
    });
    // A test that failed while holding the lock poisons it; the next one may still run.
    (!held).then(|| ONE_ENVOY.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a built module, or a panic that says how to build it.
pub fn wasm(name: &str) -> PathBuf {
    let p = root().join("target/wasm32-wasip1/release").join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `make build` (or `make test`, which builds first)", p.display());
    p
}

/// How Envoy is run.
#[derive(Debug, Clone)]
pub enum Runner {
    /// `docker run --network host <image>`.
    Docker(String),
    /// The binary, directly.
    Binary(PathBuf),
}

/// Docker when an engine answers, else the binary; decided once and announced.
/// `ENVOY_RUNNER=binary` forces the binary.
pub fn runner() -> &'static Runner {
    static R: OnceLock<Runner> = OnceLock::new();
    R.get_or_init(|| {
        let forced_binary = std::env::var("ENVOY_RUNNER").is_ok_and(|v| v == "binary");
        let docker = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
        if !forced_binary && matches!(&docker, Ok(o) if o.status.success()) {
            let image = std::env::var("ENVOY_IMAGE").unwrap_or_else(|_| "jwt-filter-envoy:1.40.0".into());
            let ok =
                Command::new("docker").args(["image", "inspect", &image]).stdout(Stdio::null()).stderr(Stdio::null()).status();
            assert!(
                matches!(ok, Ok(s) if s.success()),
                "docker image {image} not found: run `make envoy-image` (or set ENVOY_IMAGE)"
            );
            eprintln!("[harness] running Envoy in docker: {image}");
            Runner::Docker(image)
        } else {
            let bin = std::env::var("ENVOY_BIN").map(PathBuf::from).unwrap_or_else(|_| root().join(".venv/bin/envoy"));
            assert!(bin.exists(), "no docker engine and no Envoy binary at {} (run `make venv` or set ENVOY_BIN)", bin.display());
            let why = if forced_binary { "ENVOY_RUNNER=binary" } else { "no docker engine answers" };
            eprintln!("[harness] {why}: running the Envoy binary directly: {}", bin.display());
            Runner::Binary(bin)
        }
    })
}

/// A free TCP port on 127.0.0.1, never handed out before in this process: tests run on
/// parallel threads, and a port chosen for a server that is stopped (or for an Envoy listener
/// not bound yet) must not go to another test meanwhile.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A listener of the Envoy under test.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// The filter's plugin configuration; `None` for a listener without the filter.
    pub filter: Option<Value>,
    /// Pass the configuration as a JSON-encoded `StringValue` (as Istio does) instead of a plain
    /// string value.
    pub istio_style: bool,
    /// Upstream cluster for the route.
    pub upstream: String,
    /// Module to load (default: the filter).
    pub module: PathBuf,
    /// `vm_id` (default `jwt`).
    pub vm_id: String,
    /// The plugin's `root_id` (default `jwt-<index>`).
    pub root_id: Option<String>,
    /// Extra access log format, if any (to stdout).
    pub access_log: Option<String>,
    /// Extra HttpConnectionManager fields merged into its config (e.g.
    /// `{"max_request_headers_kb": 1024}` for oversized-token scenarios).
    pub hcm_extra: Option<Value>,
}

impl Listener {
    /// A listener with the filter and this configuration, routing to cluster `upstream`.
    pub fn filtered(config: Value) -> Listener {
        Listener {
            port: free_port(),
            filter: Some(config),
            istio_style: false,
            upstream: "upstream".into(),
            module: wasm("jwt_filter"),
            vm_id: "jwt".into(),
            root_id: None,
            access_log: None,
            hcm_extra: None,
        }
    }
}

/// A whole Envoy setup.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Plain HTTP/1.1 clusters: (name, port on 127.0.0.1).
    pub clusters: Vec<(String, u16)>,
    /// The jwks-fetcher singleton with this configuration, if any.
    pub fetcher: Option<Value>,
    /// `--concurrency`.
    pub concurrency: u32,
    /// Serve the listeners through LDS from a file, so [`Envoy::push_listeners`] can replace
    /// them while Envoy runs (a config reload).
    pub dynamic_listeners: bool,
}

impl Setup {
    /// One filtered listener, an upstream cluster, and optionally a `jwks` cluster.
    pub fn single(config: Value, upstream: u16, jwks: Option<u16>) -> Setup {
        let mut clusters = vec![("upstream".to_string(), upstream)];
        if let Some(j) = jwks {
            clusters.push(("jwks".into(), j));
        }
        Setup { listeners: vec![Listener::filtered(config)], clusters, fetcher: None, concurrency: 1, dynamic_listeners: false }
    }

    /// The LDS document for [`Setup::dynamic_listeners`].
    pub fn lds(&self, wasm_dir: &str, version: u32) -> Value {
        let resources: Vec<Value> = self
            .listeners(wasm_dir)
            .into_iter()
            .map(|mut l| {
                l["@type"] = json!("type.googleapis.com/envoy.config.listener.v3.Listener");
                l
            })
            .collect();
        json!({"version_info": version.to_string(), "resources": resources})
    }

    fn listeners(&self, wasm_dir: &str) -> Vec<Value> {
        let module_path = |m: &Path| format!("{wasm_dir}/{}", m.file_name().unwrap().to_string_lossy());
        self
            .listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut filters = Vec::new();
                if let Some(cfg) = &l.filter {
                    let value = if l.istio_style { Value::String(cfg.to_string()).to_string() } else { cfg.to_string() };
                    filters.push(json!({
                        "name": "envoy.filters.http.wasm",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                            "config": {
                                "name": format!("jwt-{i}"),
                                "root_id": l.root_id.clone().unwrap_or_else(|| format!("jwt-{i}")),
                                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": value},
                                "vm_config": {
                                    "vm_id": l.vm_id,
                                    "runtime": "envoy.wasm.runtime.v8",
                                    "code": {"local": {"filename": module_path(&l.module)}}
                                }
                            }
                        }
                    }));
                }
                filters.push(json!({"name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}));
                let mut hcm = json!({
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": format!("l{i}"),
                    "normalize_path": true,
                    "merge_slashes": true,
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": l.upstream, "timeout": "10s"}}]}]},
                    "http_filters": filters
                });
                if let Some(Value::Object(extra)) = &l.hcm_extra {
                    for (k, v) in extra {
                        hcm[k] = v.clone();
                    }
                }
                if let Some(fmt) = &l.access_log {
                    hcm["access_log"] = json!([{"name": "envoy.access_loggers.stdout", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                        "log_format": {"text_format_source": {"inline_string": format!("{fmt}\n")}}}}]);
                }
                json!({
                    "name": format!("listener-{i}"),
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": l.port}},
                    "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]
                })
            })
            .collect()
    }

    /// The Envoy bootstrap, as JSON (which Envoy reads as YAML).
    pub fn bootstrap(&self, admin_port: u16, wasm_dir: &str) -> Value {
        let module_path = |m: &Path| format!("{wasm_dir}/{}", m.file_name().unwrap().to_string_lossy());
        let listeners = if self.dynamic_listeners { Vec::new() } else { self.listeners(wasm_dir) };
        let clusters: Vec<Value> = self
            .clusters
            .iter()
            .map(|(name, port)| {
                json!({
                    "name": name, "type": "STATIC", "connect_timeout": "1s",
                    "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address":
                        {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}
                })
            })
            .collect();
        let mut b = json!({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
            "static_resources": {"listeners": listeners, "clusters": clusters}
        });
        if self.dynamic_listeners {
            b["node"] = json!({"id": "test", "cluster": "test"});
            b["dynamic_resources"] = json!({"lds_config": {"path_config_source": {"path": format!("{wasm_dir}/lds.yaml")}, "resource_api_version": "V3"}});
        }
        if let Some(cfg) = &self.fetcher {
            b["bootstrap_extensions"] = json!([{
                "name": "envoy.bootstrap.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
                    "singleton": true,
                    "config": {
                        "name": "jwks-fetcher",
                        "root_id": "jwks-fetcher",
                        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": cfg.to_string()},
                        "vm_config": {"vm_id": "jwt", "runtime": "envoy.wasm.runtime.v8",
                            "code": {"local": {"filename": module_path(&wasm("jwks_fetcher"))}}}
                    }
                }
            }]);
        }
        b
    }
}

/// A running Envoy. Stopped (and its container removed) on drop.
pub struct Envoy {
    /// Admin port.
    pub admin: u16,
    /// Listener ports, in [`Setup::listeners`] order.
    pub ports: Vec<u16>,
    dir: PathBuf,
    wasm_dir: String,
    name: String,
    child: Option<Child>,
    _one: Option<MutexGuard<'static, ()>>,
}

/// Why Envoy did not come up.
#[derive(Debug)]
pub struct StartError {
    /// Envoy's output.
    pub logs: String,
}

impl Envoy {
    /// Starts Envoy and waits until its admin endpoint says ready. Panics if it does not start.
    pub fn start(setup: &Setup) -> Envoy {
        match Envoy::try_start(setup) {
            Ok(e) => e,
            Err(e) => panic!("Envoy did not start:\n{}", e.logs),
        }
    }

    /// Starts Envoy; `Err` with its logs if it exits or never becomes ready.
    pub fn try_start(setup: &Setup) -> Result<Envoy, StartError> {
        let one = one_envoy();
        let admin = free_port();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("jwtf-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        for m in ["jwt_filter", "jwks_fetcher"] {
            std::fs::copy(wasm(m), dir.join(format!("{m}.wasm"))).unwrap();
        }
        let runner = runner();
        let wasm_dir = match runner {
            Runner::Docker(_) => "/cfg".to_string(),
            Runner::Binary(_) => dir.to_string_lossy().into_owned(),
        };
        let config = setup.bootstrap(admin, &wasm_dir);
        std::fs::write(dir.join("envoy.yaml"), serde_json::to_string_pretty(&config).unwrap()).unwrap();
        if setup.dynamic_listeners {
            std::fs::write(dir.join("lds.yaml"), setup.lds(&wasm_dir, 1).to_string()).unwrap();
        }
        let cfg_path = format!("{wasm_dir}/envoy.yaml");
        let conc = setup.concurrency.to_string();
        let envoy_args = [
            "-c",
            &cfg_path,
            "--concurrency",
            &conc,
            "--disable-hot-restart",
            "--component-log-level",
            "wasm:debug",
            "--file-flush-interval-msec",
            "100",
            "--log-format",
            // %t (the thread id) tells the workers' lines apart: see [`Envoy::wait_log_threads`].
            "[%Y-%m-%d %T.%e][%t][%l][%n] %v",
        ];
        let log_file = std::fs::File::create(dir.join("envoy.log")).unwrap();
        let child = match runner {
            Runner::Docker(image) => {
                let status = Command::new("docker")
                    .args(["run", "-d", "--network", "host", "--name", &name, "-v"])
                    .arg(format!("{}:/cfg:ro", dir.display()))
                    .arg(image)
                    .args(envoy_args)
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "docker run failed");
                None
            }
            Runner::Binary(bin) => {
                Some(Command::new(bin).args(envoy_args).stdout(log_file.try_clone().unwrap()).stderr(log_file).spawn().unwrap())
            }
        };
        let mut envoy =
            Envoy { admin, ports: setup.listeners.iter().map(|l| l.port).collect(), dir, wasm_dir, name, child, _one: one };
        let deadline = Instant::now() + START;
        while Instant::now() < deadline {
            if !envoy.running() {
                return Err(StartError { logs: envoy.logs() });
            }
            if let Ok(r) = get(admin, "/ready") {
                if r.status == 200 {
                    return Ok(envoy);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(StartError { logs: envoy.logs() })
    }

    /// Whether the process (or container) is still running.
    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => Command::new("docker")
                .args(["inspect", "-f", "{{.State.Running}}", &self.name])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
                .unwrap_or(false),
        }
    }

    /// Envoy's log so far.
    pub fn logs(&self) -> String {
        match &self.child {
            Some(_) => std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default(),
            None => Command::new("docker")
                .args(["logs", &self.name])
                .output()
                .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
                .unwrap_or_default(),
        }
    }

    /// Replaces the listeners of a [`Setup::dynamic_listeners`] Envoy (the file is swapped in
    /// atomically, as Envoy's file-based LDS expects) and waits until every listener is active
    /// with its new filter configuration. (Envoy's file-based LDS does not report the file's
    /// `version_info`, so the configurations themselves are compared.)
    pub fn push_listeners(&self, setup: &Setup, version: u32) {
        // The first filter's plugin configuration of a listener.
        fn plugin_config(listener: &Value) -> Value {
            listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"][0]["typed_config"]["config"]
                ["configuration"]["value"]
                .clone()
        }
        let lds = setup.lds(&self.wasm_dir, version);
        let tmp = self.dir.join("lds.tmp");
        std::fs::write(&tmp, lds.to_string()).unwrap();
        std::fs::rename(&tmp, self.dir.join("lds.yaml")).unwrap();
        let want: Vec<Value> = lds["resources"].as_array().unwrap().iter().map(plugin_config).collect();
        let applied = self.wait_for(Duration::from_secs(20), || {
            get(self.admin, "/config_dump?resource=dynamic_listeners").is_ok_and(|r| {
                let active: Vec<Value> = r.json()["configs"]
                    .as_array()
                    .map(|ls| ls.iter().map(|l| plugin_config(&l["active_state"]["listener"])).collect())
                    .unwrap_or_default();
                want.iter().all(|w| active.contains(w))
            })
        });
        assert!(
            applied,
            "Envoy did not apply listener version {version}:\n{}\n{}",
            get(self.admin, "/config_dump?resource=dynamic_listeners").map(|r| r.text()).unwrap_or_default(),
            self.logs().lines().filter(|l| l.contains("lds") || l.contains("listener")).collect::<Vec<_>>().join("\n")
        );
    }

    /// The first listener's port.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// A stat value from `/stats` (counters and gauges), if present.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let r = get(self.admin, &format!("/stats?filter=^{}$", name.replace('.', "\\."))).ok()?;
        r.text().lines().find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            (n == name).then(|| v.trim().parse().ok()).flatten()
        })
    }

    /// Waits (up to [`EVENT`]: the filter hands counts to Envoy every 100 ms) until a stat
    /// equals `want`; returns the last value read.
    pub fn stat_eventually(&self, name: &str, want: u64) -> Option<u64> {
        let mut last = None;
        wait_until(EVENT, &mut || {
            last = self.stat(name);
            last == Some(want)
        });
        last
    }

    /// Waits (up to [`EVENT`]) until Envoy's output contains `line`; panics with the log if not.
    pub fn wait_log(&self, line: &str) {
        let mut logs = String::new();
        let seen = wait_until(EVENT, &mut || {
            logs = self.logs();
            logs.contains(line)
        });
        assert!(seen, "no line with {line:?} in Envoy's output within {EVENT:?}:\n{logs}");
    }

    /// A marker through the filter of listener `port`: a request without a token to a path
    /// named once, which the filter refuses and logs (at debug) with its path. When the marker's
    /// line is in the log, so is every line any thread logged before the request was sent (they
    /// share one stream), so a check that a line is *absent* may run after this.
    pub fn sync_logs(&self, port: u16) {
        static MARK: AtomicU32 = AtomicU32::new(0);
        let path = format!("/log-marker-{}-{}", std::process::id(), MARK.fetch_add(1, Ordering::SeqCst));
        let r = get(port, &path).unwrap();
        assert!(r.status != 200, "the marker request {path} was not refused by the filter");
        self.wait_log(&format!(" path={path}\n"));
    }

    /// The thread ids of Envoy log lines containing `needle`, in order, one per line.
    pub fn log_threads(&self, needle: &str) -> Vec<String> {
        self.logs().lines().filter(|l| l.contains(needle)).filter_map(|l| l.split("][").nth(1).map(str::to_string)).collect()
    }

    /// Waits (up to [`EVENT`]) until each of `threads` logged a line with `needle` more than
    /// `before` times: e.g. every worker logged that it took new keys up.
    pub fn wait_log_threads(&self, needle: &str, threads: &[String], before: &dyn Fn(&str) -> usize) {
        let mut seen = Vec::new();
        let ok = wait_until(EVENT, &mut || {
            seen = self.log_threads(needle);
            threads.iter().all(|t| seen.iter().filter(|s| *s == t).count() > before(t))
        });
        assert!(ok, "not every thread of {threads:?} logged {needle:?} again within {EVENT:?}: {seen:?}");
    }

    /// Polls until `f` holds or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        wait_until(timeout, &mut f)
    }
}

/// Polls `f` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, f: &mut dyn FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        ENVOYS_HERE.with(|n| n.set(n.get().saturating_sub(1)));
        if std::env::var_os("KEEP_ENVOY_LOGS").is_some() || std::thread::panicking() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(60).collect();
            eprintln!("---- Envoy log tail ({}) ----", self.name);
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
        match &mut self.child {
            Some(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            None => {
                let _ =
                    Command::new("docker").args(["rm", "-f", &self.name]).stdout(Stdio::null()).stderr(Stdio::null()).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Cognito pool every scenario uses unless it says otherwise.
pub const REGION: &str = "us-east-1";
/// Pool id.
pub const POOL: &str = "us-east-1_TestPool";
/// App client id.
pub const CLIENT: &str = "test-client";

/// The pool's issuer.
pub fn issuer() -> String {
    testkit::cognito_issuer(REGION, POOL)
}

/// A filter config for the test pool with keys fetched from the `jwks` cluster.
pub fn cognito_remote(refresh_seconds: u64) -> Value {
    json!({
        "realm": "test",
        "providers": {"cognito": {
            "cognito": {"region": REGION, "user_pool_id": POOL, "token_use": "access", "client_ids": [CLIENT]},
            "jwks": {"cluster": "jwks", "refresh_seconds": refresh_seconds, "timeout_ms": 1000}
        }}
    })
}

/// The JWKS path the Cognito shorthand derives.
pub fn cognito_jwks_path() -> String {
    format!("/{POOL}/.well-known/jwks.json")
}

/// A filter config for the test pool with inline keys.
pub fn cognito_inline(keys: &[&testkit::TestKey]) -> Value {
    json!({
        "realm": "test",
        "providers": {"cognito": {
            "cognito": {"region": REGION, "user_pool_id": POOL, "token_use": "access", "client_ids": [CLIENT]},
            "jwks": {"inline": testkit::jwks(keys)}
        }}
    })
}

/// A valid access token for `username`, signed by `key`.
pub fn access_token(key: &testkit::TestKey, username: &str) -> String {
    key.token(&testkit::cognito_access(&issuer(), CLIENT, username))
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> (String, String) {
    ("authorization".into(), format!("Bearer {token}"))
}
