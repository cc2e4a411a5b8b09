//! The Envoy suites' shared configuration fixtures (`tests/support`) validate against the
//! shipped schema, as the files in the README, `envoy/` and `deploy/` do (tests/cli.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../tests/support/mod.rs"]
mod support;

use serde_json::Value;

#[test]
fn suite_fixtures_validate_against_the_shipped_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(root.join("deploy/config.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let fixtures = [
        ("cognito_remote", support::cognito_remote(600)),
        ("cognito_inline", support::cognito_inline(&[&testkit::rsa_a(), &testkit::p256()])),
    ];
    for (name, config) in fixtures {
        let errors: Vec<String> = validator.iter_errors(&config).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert!(jwt_core::config::Config::parse(config.to_string().as_bytes()).is_ok(), "{name}");
        let mut typo = config.clone();
        typo["providers"]["cognito"]["cognito"]["clientids"] = serde_json::json!(["x"]);
        assert!(!validator.is_valid(&typo), "{name} with a typo");
    }
}
