//! Bakes the build facts into the module: the git commit (`JWT_FILTER_GIT_COMMIT`, which the
//! Makefile sets from `git rev-parse`; "unknown" without it) and the compiler's version.
//! `src/build_info.rs` reads them with `env!`; the custom section takes the same text from
//! `$OUT_DIR/build_info.txt`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=JWT_FILTER_GIT_COMMIT");
    let commit = std::env::var("JWT_FILTER_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=JWT_FILTER_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=JWT_FILTER_RUSTC_VERSION={rustc_version}");
    let text = format!("version={version}\ncommit={commit}\nrustc={rustc_version}\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    if let Err(e) = std::fs::write(out.join("build_info.txt"), text) {
        println!("cargo:warning=cannot write build_info.txt: {e}");
        std::process::exit(1);
    }
}
