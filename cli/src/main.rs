//! `jwt-filter`: the filter's core, offline. `check` validates configurations exactly as
//! `on_configure` does, `explain` shows step by step what the filter would decide for a token,
//! and `schema` prints the JSON Schema of the configuration.

mod explain;
mod load;
mod time;

use jwt_core::config::Config;
use std::process::ExitCode;

const USAGE: &str = "usage:
  jwt-filter check FILE
      Validate the filter configuration(s) in FILE (JSON config, Istio WasmPlugin YAML, or
      Envoy bootstrap/listener YAML/JSON) as on_configure does. Exit 0 valid, 1 invalid.
  jwt-filter explain --config FILE [--jwks JWKS.json | --jwks NAME=JWKS.json]... [--provider NAME]
                     [--method M] [--path P] [--header 'name: value']... [--now UNIX] [--json] [TOKEN|-]
      Show each step of the filter's decision for TOKEN ('-': read stdin; absent: the request
      carries no token unless a --header does). Exit 0 allowed, 1 refused, 2 usage error.
  jwt-filter schema
      Print the JSON Schema of the configuration.";

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

/// Prints a usage error; returns exit code 2.
pub fn usage(msg: &str) -> u8 {
    eprintln!("jwt-filter: {msg}\n{USAGE}");
    2
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
