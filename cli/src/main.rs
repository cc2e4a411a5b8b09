//! `jwt-filter`: the filter's core, offline. `check` validates configurations exactly as
//! `on_configure` does, `explain` shows step by step what the filter would decide for a token,
//! and `schema` prints the JSON Schema of the configuration.

use jwt_core::config::Config;
use jwt_filter_cli::{explain, load, usage, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("check") => check(args.get(1..).unwrap_or_default()),
        Some("explain") => explain::run(args.get(1..).unwrap_or_default()),
        Some("schema") if args.len() == 1 => schema(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            0
        }
        _ => usage("expected check, explain or schema"),
    };
    ExitCode::from(code)
}

fn check(args: &[String]) -> u8 {
    let [file] = args else { return usage("check takes one FILE") };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return usage(&format!("{file}: {e}")),
    };
    let found = match load::configs(&text) {
        Ok(f) => f,
        Err(e) => {
            println!("{file}: {e}");
            return 1;
        }
    };
    let mut bad = 0;
    for f in &found {
        match Config::parse(f.text.as_bytes()) {
            Ok(c) => println!("{file}: {}: valid ({} provider(s), {} rule(s))", f.at, c.providers.len(), c.rules.len()),
            Err(e) => {
                bad += 1;
                println!("{file}: {}: {e}", f.at);
            }
        }
    }
    u8::from(bad > 0)
}

fn schema() -> u8 {
    match serde_json::to_string_pretty(&jwt_core::config::json_schema()) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => {
            eprintln!("jwt-filter: {e}");
            2
        }
    }
}
