//! Which build is running, as an operator sees it in a real Envoy: the configure-time log line of
//! the filter and of the jwks-fetcher (version, commit, rustc), and the `build_info` gauge at
//! `/stats` and `/stats/prometheus`. The facts must be the ones in the module's
//! `jwt_filter.build_info` custom section.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;
use support::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A field of the module's build-info section (`version=…\ncommit=…\nrustc=…\n`).
fn section_field(module: &str, field: &str) -> String {
    let bytes = std::fs::read(wasm(module)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let start = text.find("version=").expect("a build-info section");
    let section = &text[start..];
    let prefix = format!("{field}=");
    section.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no {field} in {module}")).to_string()
}

#[test]
fn filter_and_fetcher_log_their_build_and_set_the_gauge() {
    let commit = section_field("jwt_filter", "commit");
    let rustc = section_field("jwt_filter", "rustc");
    assert_eq!(section_field("jwt_filter", "version"), VERSION);
    assert_eq!(section_field("jwks_fetcher", "commit"), commit, "both modules from one build");

    let upstream = Server::upstream();
    let config = cognito_inline(&[&testkit::rsa_a()]);
    let mut setup = Setup::single(config.clone(), upstream.port, None);
    setup.fetcher = Some(config);
    setup.concurrency = 2;
    let envoy = Envoy::start(&setup);

    let filter_line = format!("jwt-filter {VERSION} (commit {commit}, {rustc})");
    let fetcher_line = format!("jwks-fetcher {VERSION} (commit {commit}, {rustc})");
    let logged = envoy.wait_for(Duration::from_secs(10), || {
        let logs = envoy.logs();
        logs.contains(&filter_line) && logs.contains(&fetcher_line)
    });
    let logs = envoy.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&format!("{VERSION} (commit "))).collect();
    assert!(logged, "no build line for both modules; lines with a build: {lines:#?}");
    for l in &lines {
        eprintln!("[envoy] {l}");
    }
    // Once per VM at configure time: each of the 2 workers' filter VMs, and the fetcher (whose
    // singleton Envoy configures twice, in its base VM and in the service's own).
    assert!(lines.iter().filter(|l| l.contains(&fetcher_line)).count() >= 1, "{lines:#?}");
    assert!(lines.iter().filter(|l| l.contains(&filter_line)).count() >= 2, "one per worker: {lines:#?}");

    let gauge = format!("wasmcustom.jwt_filter.build_info.{}.{commit}", VERSION.replace('.', "_"));
    assert_eq!(envoy.stat_eventually(&gauge, 1), Some(1), "{gauge}");
    let prom = get(envoy.admin, "/stats/prometheus").unwrap().text();
    let name = format!("jwt_filter_build_info_{}_{commit}", VERSION.replace('.', "_"));
    let shown: Vec<&str> = prom.lines().filter(|l| l.contains("build_info")).collect();
    for l in &shown {
        eprintln!("[prometheus] {l}");
    }
    assert!(prom.contains(&format!("# TYPE {name} gauge\n")), "{name} is not a gauge: {shown:#?}");
    assert!(prom.lines().any(|l| l == format!("{name}{{}} 1")), "{name} is not 1: {shown:#?}");
}
