//! The `jwt-filter` command's parts: finding configurations in files ([`load`]), explaining a
//! decision ([`explain`]), and UTC dates ([`time`]). `src/main.rs` dispatches the commands.

pub mod explain;
pub mod load;
pub mod time;

pub const USAGE: &str = "usage:
  jwt-filter check FILE
      Validate the filter configuration(s) in FILE (JSON config, Istio WasmPlugin YAML, or
      Envoy bootstrap/listener YAML/JSON) as on_configure does. Exit 0 valid, 1 invalid.
  jwt-filter explain --config FILE [--jwks JWKS.json | --jwks NAME=JWKS.json]... [--provider NAME]
                     [--method M] [--path P] [--header 'name: value']... [--now UNIX] [--json] [TOKEN|-]
      Show each step of the filter's decision for TOKEN ('-': read stdin; absent: the request
      carries no token unless a --header does). Exit 0 allowed, 1 refused, 2 usage error.
  jwt-filter schema
      Print the JSON Schema of the configuration.";

/// Prints a usage error; returns exit code 2.
pub fn usage(msg: &str) -> u8 {
    eprintln!("jwt-filter: {msg}\n{USAGE}");
    2
}
