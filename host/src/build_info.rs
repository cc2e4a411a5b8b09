//! Which build is this: the version, git commit and compiler of the module, for the
//! configure-time log line, the `build_info` gauge and the `jwt_filter.build_info` custom
//! section (`wasm-objdump -s -j jwt_filter.build_info <module>.wasm`). `build.rs` supplies
//! the commit (from `JWT_FILTER_GIT_COMMIT`, "unknown" without it) and the compiler version,
//! so two builds of one commit carry the same facts.

use crate::metrics::{self, Metrics};

/// The crate version (`[workspace.package] version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the module was built from, or "unknown".
pub const COMMIT: &str = env!("JWT_FILTER_GIT_COMMIT");
/// `rustc --version` of the compiler that built the module.
pub const RUSTC: &str = env!("JWT_FILTER_RUSTC_VERSION");

/// Name of the wasm custom section holding [`SECTION`].
pub const SECTION_NAME: &str = "jwt_filter.build_info";
/// The custom section's content: `version=…\ncommit=…\nrustc=…\n`.
pub const SECTION: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/build_info.txt")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/build_info.txt"));

/// The configure-time log line, e.g. `jwt-filter 0.1.0 (commit 0123abcd4567, rustc 1.95.0 ...)`.
pub fn line(module: &str) -> String {
    format!("{module} {VERSION} (commit {COMMIT}, {RUSTC})")
}

/// The gauge's name: `jwt_filter.build_info.<version>.<commit>`, the version's dots as `_`
/// so that it stays one name segment.
pub fn gauge_name() -> String {
    metrics::name(&["build_info", &VERSION.replace('.', "_"), COMMIT])
}

/// Logs the build once and sets the `build_info` gauge to 1 (Envoy sees it at the next
/// [`Metrics::flush`]); call from `on_configure`.
pub fn announce(module: &str, metrics: &mut Metrics) {
    log::info!("{}", line(module));
    metrics.gauge(&gauge_name(), 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_holds_the_same_facts_as_the_constants() {
        let text = std::str::from_utf8(&SECTION).unwrap();
        assert_eq!(text, format!("version={VERSION}\ncommit={COMMIT}\nrustc={RUSTC}\n"));
        assert!(RUSTC.starts_with("rustc "), "{RUSTC}");
        assert!(!COMMIT.is_empty() && COMMIT.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }

    #[test]
    fn the_gauge_name_keeps_version_and_commit_one_segment_each() {
        let name = gauge_name();
        assert_eq!(name, format!("jwt_filter.build_info.{}.{COMMIT}", VERSION.replace('.', "_")));
        assert_eq!(name.split('.').count(), 4);
        assert!(line("jwt-filter").starts_with(&format!("jwt-filter {VERSION} (commit {COMMIT}, rustc ")));
    }
}
