//! The operator kit against a real Envoy: every series the alert rules
//! (`deploy/observability/alerts.yaml`) and the Grafana dashboard
//! (`deploy/observability/grafana-dashboard.json`) use is exported at `/stats/prometheus`, with
//! the labels they select on, by the demo's Envoy (`envoy/demo.yaml`, whose `stats_tags` make
//! the `provider` and `reason` labels) after traffic that allows, denies for several reasons,
//! and fetches keys (including an unknown-kid refetch).
//!
//! It runs the demo's token issuer and backend (`target/release/`, built by `make test` through
//! `make compose-images`, or `cargo build --release -p testkit`) on the demo's fixed ports
//! 8000, 9100, 9200 and 9901: run it under the suites' lock,
//! `flock /tmp/envoy-suites.lock cargo test -p jwt-filter --test observability`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

const ADMIN: u16 = 9901;
const FRONT: u16 = 8000;
const ISSUER: u16 = 9100;

/// The demo's processes; stopped (and the container removed) on drop.
struct Demo {
    children: Vec<Child>,
    container: Option<String>,
    dir: PathBuf,
}

impl Demo {
    fn logs(&self) -> String {
        let envoy = match &self.container {
            Some(name) => Command::new("docker")
                .args(["logs", name])
                .output()
                .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
                .unwrap_or_default(),
            None => std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default(),
        };
        let tail = |s: &str| s.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        format!(
            "---- envoy ----\n{}\n---- issuer ----\n{}",
            tail(&envoy),
            tail(&std::fs::read_to_string(self.dir.join("issuer.log")).unwrap_or_default())
        )
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(name) = &self.container {
            let _ = Command::new("docker").args(["rm", "-f", name]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn port_busy(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Starts the issuer, the backend and Envoy with `envoy/demo.yaml`, and waits until Envoy is
/// ready and has loaded the issuer's keys.
fn start_demo() -> Demo {
    for port in [FRONT, ISSUER, 9200, ADMIN] {
        assert!(!port_busy(port), "port {port} is busy (a `make demo` or `make compose-up` still running?); this test needs it");
    }
    let bin = root().join("target/release");
    for b in ["token-issuer", "demo-backend"] {
        assert!(
            bin.join(b).exists(),
            "{} is missing: run `cargo build --release -p testkit --bin token-issuer --bin demo-backend`",
            bin.join(b).display()
        );
    }
    let dir = std::env::temp_dir().join(format!("jwtf-observability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let mut demo = Demo { children: Vec::new(), container: None, dir: dir.clone() };
    demo.children.push(
        Command::new(bin.join("token-issuer"))
            .args(["--listen", "127.0.0.1:9100", "--pool", "us-east-1_DemoPool", "--client", "demo-client"])
            .stderr(log("issuer.log"))
            .spawn()
            .unwrap(),
    );
    demo.children.push(
        Command::new(bin.join("demo-backend")).args(["--listen", "127.0.0.1:9200"]).stderr(log("backend.log")).spawn().unwrap(),
    );
    let wasm_dir = root().join("target/wasm32-wasip1/release");
    wasm("jwt_filter");
    wasm("jwks_fetcher");
    let args = ["--concurrency", "2", "--disable-hot-restart", "--file-flush-interval-msec", "100"];
    match runner() {
        Runner::Docker(image) => {
            let name = format!("jwtf-observability-{}", std::process::id());
            let status = Command::new("docker")
                .args(["run", "-d", "--network", "host", "--name", &name, "-v"])
                .arg(format!("{}:/etc/envoy/demo.yaml:ro", root().join("envoy/demo.yaml").display()))
                .arg("-v")
                .arg(format!("{}:/wasm:ro", wasm_dir.display()))
                .arg(image)
                .args(["-c", "/etc/envoy/demo.yaml"])
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "docker run failed");
            demo.container = Some(name);
        }
        Runner::Binary(envoy) => {
            let yaml = std::fs::read_to_string(root().join("envoy/demo.yaml"))
                .unwrap()
                .replace("/wasm/", &format!("{}/", wasm_dir.display()));
            std::fs::write(dir.join("demo.yaml"), yaml).unwrap();
            let out = log("envoy.log");
            demo.children.push(
                Command::new(envoy)
                    .arg("-c")
                    .arg(dir.join("demo.yaml"))
                    .args(args)
                    .stdout(out.try_clone().unwrap())
                    .stderr(out)
                    .spawn()
                    .unwrap(),
            );
        }
    }
    let ready = wait_until(Duration::from_secs(60), &mut || get(ADMIN, "/ready").is_ok_and(|r| r.status == 200));
    assert!(ready, "the demo's Envoy did not become ready:\n{}", demo.logs());
    let loaded = wait_until(Duration::from_secs(30), &mut || {
        series(&prometheus()).get("jwt_filter_jwks_fetch_success").is_some_and(|s| s.iter().any(|(_, v)| *v >= 1.0))
    });
    assert!(loaded, "no successful JWKS fetch:\n{}", demo.logs());
    demo
}

fn prometheus() -> String {
    get(ADMIN, "/stats/prometheus").map(|r| r.text()).unwrap_or_default()
}

/// A series' labels and its value.
type Sample = (BTreeMap<String, String>, f64);

/// `/stats/prometheus` parsed: metric name -> [(labels, value)].
fn series(text: &str) -> BTreeMap<String, Vec<Sample>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let Some((head, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once("=\""))
            .map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
            .collect();
        out.entry(name.to_string()).or_default().push((labels, value));
    }
    out
}

/// The value of one series, or 0 when it is absent.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(text)
        .get(name)
        .and_then(|s| s.iter().find(|(l, _)| labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))))
        .map(|(_, v)| *v)
        .unwrap_or(0.0)
}

/// Every `jwt_filter_*` metric name in a file (rule expressions, dashboard queries, comments).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("jwt_filter_") {
        let boundary = rest[..i].chars().last().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(tail.len());
        // `jwt_filter_*` in prose names the family, not a metric.
        if boundary && !tail[..end].ends_with('_') {
            names.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// Every `label="value"` matcher in a file, e.g. `reason="unknown_kid"` (escaped quotes in JSON
/// and YAML strings included).
fn label_matchers(text: &str) -> BTreeSet<(String, String)> {
    let text = text.replace("\\\"", "\"");
    let mut out = BTreeSet::new();
    for label in ["provider", "reason"] {
        let needle = format!("{label}=\"");
        let mut rest = text.as_str();
        while let Some(i) = rest.find(&needle) {
            let tail = &rest[i + needle.len()..];
            let end = tail.find('"').unwrap_or(tail.len());
            let v = &tail[..end];
            // Template variables and regexes ($provider, {{ $labels.provider }}) are not values.
            if !v.contains('$') && !v.contains('{') && !v.contains('*') {
                out.insert((label.to_string(), v.to_string()));
            }
            rest = &tail[end..];
        }
    }
    out
}

fn token(query: &str) -> String {
    let r = get(ISSUER, &format!("/token?{query}&format=raw")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().trim().to_string()
}

#[test]
fn every_series_the_alerts_and_the_dashboard_use_is_exported_with_its_labels() {
    let demo = start_demo();
    let status = |path: &str, tok: Option<&str>| {
        let headers: Vec<(String, String)> = tok.map(|t| vec![bearer(t)]).unwrap_or_default();
        request(FRONT, "GET", path, &headers).unwrap().status
    };

    // Allowed (verified, then cached: three requests on two workers make one a cache hit
    // whichever worker takes which), missing where allowed, and denials for six reasons.
    let andrew = token("username=andrew");
    for _ in 0..3 {
        assert_eq!(status("/api/profile", Some(&andrew)), 200);
    }
    assert_eq!(status("/api/activities/home", None), 200);
    assert_eq!(status("/api/profile", None), 401);
    assert_eq!(status("/api/profile", Some("not-a-jwt")), 401);
    assert_eq!(status("/api/profile", Some(&token("username=old&ttl=-120"))), 401);
    assert_eq!(status("/api/profile", Some(&token("username=andrew&token_use=id"))), 401);
    assert_eq!(status("/api/admin", Some(&andrew)), 403);
    assert_eq!(status("/api/admin", Some(&token("username=ann&groups=admins"))), 200);
    assert_eq!(status("/api/reports", Some(&andrew)), 403);
    assert_eq!(status("/api/reports", Some(&token("username=ann&scope=reports/read"))), 200);
    // A new signing key: its kid is unknown, the filter refetches once and allows.
    assert_eq!(get(ISSUER, "/rotate").unwrap().status, 200);
    assert_eq!(status("/api/profile", Some(&token("username=andrew"))), 200);

    // Workers hand their counts to Envoy every 100 ms: wait for the last ones.
    let cognito = [("provider", "cognito")];
    let flushed = wait_until(Duration::from_secs(10), &mut || {
        let p = prometheus();
        value(&p, "jwt_filter_provider_allowed", &cognito) >= 6.0
            && value(&p, "jwt_filter_jwks_kid_miss_refetch", &cognito) >= 1.0
            && value(&p, "jwt_filter_jwks_keys", &cognito) >= 2.0
            && value(&p, "jwt_filter_provider_denied", &[("provider", "cognito"), ("reason", "scope")]) >= 1.0
    });
    let prom = prometheus();
    assert!(
        flushed,
        "counters did not arrive:\n{}\n{}",
        prom.lines().filter(|l| l.contains("jwt_filter")).collect::<Vec<_>>().join("\n"),
        demo.logs()
    );

    // The labelled series the stats_tags of demo.yaml make, with the counts the traffic gave.
    let denied =
        |provider: &str, reason: &str| value(&prom, "jwt_filter_provider_denied", &[("provider", provider), ("reason", reason)]);
    assert_eq!(denied("cognito", "missing"), 1.0);
    assert_eq!(denied("cognito", "expired"), 1.0);
    assert_eq!(denied("cognito", "token_use"), 1.0);
    assert_eq!(denied("cognito", "group"), 1.0);
    assert_eq!(denied("cognito", "scope"), 1.0);
    assert!(denied("unknown", "malformed") + denied("cognito", "malformed") >= 1.0, "no malformed denial");
    assert_eq!(value(&prom, "jwt_filter_provider_allowed", &cognito), 6.0);
    assert_eq!(value(&prom, "jwt_filter_missing_allowed", &[]), 1.0);
    assert!(value(&prom, "jwt_filter_jwks_fetch_success", &cognito) >= 2.0, "the initial fetch and the unknown-kid refetch");
    assert!(value(&prom, "jwt_filter_jwks_keys", &cognito) >= 2.0, "both keys after the rotation");
    assert!(value(&prom, "jwt_filter_cache_hit", &[]) >= 1.0, "the second request with the same token is a cache hit");
    assert!(value(&prom, "jwt_filter_verify_host", &[]) + value(&prom, "jwt_filter_verify_pure_rust", &[]) >= 4.0);
    // No flat names are left: the tags took provider and reason out of every name.
    let exported = series(&prom);
    let flat: Vec<&String> = exported
        .keys()
        .filter(|n| n.starts_with("jwt_filter_provider_cognito") || n.starts_with("jwt_filter_jwks_cognito"))
        .collect();
    assert!(flat.is_empty(), "names still carrying the provider: {flat:?}");

    // Every metric the rules and the dashboard name is exported (with a # TYPE line), and every
    // label value they select on is one a series has.
    for file in ["deploy/observability/alerts.yaml", "deploy/observability/grafana-dashboard.json"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{file}: only {names:?}");
        for name in &names {
            assert!(
                prom.contains(&format!("# TYPE {name} ")) && exported.contains_key(name),
                "{file} uses {name}, which Envoy does not export; exported: {:?}",
                exported.keys().filter(|k| k.starts_with("jwt_filter")).collect::<Vec<_>>()
            );
        }
        for (label, v) in label_matchers(&text) {
            let found = exported.values().flatten().any(|(l, _)| l.get(&label) == Some(&v));
            assert!(found, "{file} selects {label}=\"{v}\", which no exported series has");
        }
        eprintln!("[observability] {file}: {} metric names, all exported: {names:?}", names.len());
    }
}
