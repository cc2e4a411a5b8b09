//! The `jwt-filter` binary on valid and invalid input, and the shipped schema: equal to the
//! generated one, accepted by every configuration the project ships, refusing typos and wrong
//! types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const DEMO_ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DemoPool";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jwt-filter"));
    cmd.args(args).current_dir(root()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("jwt-filter-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn jwks_file() -> String {
    temp("jwks.json", &testkit::jwks(&[&testkit::rsa_a()]).to_string())
}

#[test]
fn check_accepts_the_shipped_configurations() {
    for f in ["envoy/demo.yaml", "envoy/cognito.yaml", "deploy/istio/wasmplugin.yaml"] {
        let o = run(&["check", f], None);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stdout(&o));
        assert!(stdout(&o).contains("valid ("), "{f}: {}", stdout(&o));
    }
    let o = run(&["check", "envoy/demo.yaml"], None);
    assert_eq!(stdout(&o).lines().count(), 2, "the fetcher's and the filter's configuration: {}", stdout(&o));
}

#[test]
fn check_names_misspelt_and_mistyped_fields() {
    let typo = temp("typo.json", r#"{"providrs": {}}"#);
    let o = run(&["check", &typo], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("invalid configuration: providrs: unknown field `providrs`, expected one of `$schema`, `providers`"),
        "{}",
        stdout(&o)
    );
    let demo = std::fs::read_to_string(root().join("envoy/demo.yaml")).unwrap();
    let often = temp("often.yaml", &demo.replace("\"refresh_seconds\": 600", "\"refresh_seconds\": \"often\""));
    let o = run(&["check", &often], None);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert_eq!(
        out.matches(
            "invalid configuration: providers.cognito.jwks.refresh_seconds: invalid type: string \"often\", expected u64"
        )
        .count(),
        2,
        "{out}"
    );
    let plugin = std::fs::read_to_string(root().join("deploy/istio/wasmplugin.yaml")).unwrap();
    let bad = temp("plugin.yaml", &plugin.replace("token_use: access", "token_use: acces"));
    let o = run(&["check", &bad], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o)
            .contains("spec.pluginConfig: invalid configuration: providers.cognito.cognito.token_use: unknown variant `acces`"),
        "{}",
        stdout(&o)
    );
    assert_eq!(run(&["check"], None).status.code(), Some(2));
    assert_eq!(run(&["check", "/nonexistent"], None).status.code(), Some(2));
    assert_eq!(run(&["check", &temp("garbage.txt", "{ not: [json")], None).status.code(), Some(1));
}

fn explain(extra: &[&str], token: &str) -> (Option<i32>, String) {
    let jwks = jwks_file();
    let mut args = vec!["explain", "--config", "envoy/demo.yaml", "--jwks", &jwks];
    args.extend_from_slice(extra);
    args.push("-");
    let o = run(&args, Some(token));
    (o.status.code(), stdout(&o))
}

#[test]
fn explain_a_valid_token_shows_each_step_and_the_upstream_headers() {
    let token = testkit::rsa_a().token(&testkit::cognito_access(DEMO_ISS, "demo-client", "andrew"));
    let (code, out) = explain(&["--path", "/api/activities/home"], &token);
    assert_eq!(code, Some(0), "{out}");
    for want in [
        "rule       rules[0] (prefix /api/activities/home)",
        "requires   allow_missing [cognito]",
        "token      found in header authorization (Bearer …)",
        "header     alg RS256, kid rsa-a",
        "provider   cognito (by iss",
        "key        kid rsa-a, RSA, alg RS256",
        "signature  valid (checked here in pure Rust; the filter would use Envoy's verify_signature",
        "result: ok",
        "outcome    ALLOW: authenticated",
        "upstream   x-current-user: {",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains(&token), "the token itself is never printed");
}

#[test]
fn explain_an_expired_token_gives_the_reply_and_counter() {
    let token = testkit::rsa_a().token(&testkit::cognito_access(DEMO_ISS, "demo-client", "andrew"));
    let later = (testkit::now() + 7200).to_string();
    let (code, out) = explain(&["--path", "/api/messages", "--now", &later], &token);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("default_requires (no rule matched)"), "{out}");
    assert!(out.contains("<- FAILED"), "{out}");
    assert!(out.contains("result: expired"), "{out}");
    assert!(out.contains("outcome    DENY 401: expired"), "{out}");
    assert!(
        out.contains(r#"www-authenticate: Bearer realm="cruddur", error="invalid_token", error_description="token expired""#),
        "{out}"
    );
    assert!(out.contains("counter    jwt_filter.provider.cognito.denied.expired"), "{out}");
}

#[test]
fn explain_json_and_other_refusals() {
    let mut claims = testkit::cognito_access(DEMO_ISS, "demo-client", "andrew");
    claims["client_id"] = json!("someone-else");
    let token = testkit::rsa_a().token(&claims);
    let (code, out) = explain(&["--json"], &token);
    assert_eq!(code, Some(1));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["outcome"]["reason"], "client_id");
    assert_eq!(doc["outcome"]["status"], 401);
    let claims_step = doc["steps"].as_array().unwrap().iter().find(|s| s["step"] == "claims").unwrap();
    let failed: Vec<&Value> = claims_step["checks"].as_array().unwrap().iter().filter(|c| c["failed"] == true).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["claim"], "client_id");
    let forged = testkit::rsa_b().with_kid("rsa-a").token(&testkit::cognito_access(DEMO_ISS, "demo-client", "andrew"));
    let (code, out) = explain(&[], &forged);
    assert_eq!(code, Some(1));
    assert!(out.contains("signature  INVALID"), "{out}");
    assert!(out.contains("DENY 401: bad_signature"), "{out}");
    let (code, out) = explain(&["--path", "/healthz"], "");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ALLOW: public route"), "{out}");
    let o = run(&["explain", "--config", "envoy/demo.yaml", "--path", "/api/x"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("DENY 401: missing"), "{}", stdout(&o));
    let token = testkit::rsa_a().token(&testkit::cognito_access(DEMO_ISS, "demo-client", "andrew"));
    let o = run(&["explain", "--config", "envoy/demo.yaml", &token], None);
    assert_eq!(o.status.code(), Some(1), "no keys given: keys unavailable");
    assert!(stdout(&o).contains("pass --jwks cognito=FILE"), "{}", stdout(&o));
    assert!(stdout(&o).contains("DENY 503: keys_unavailable"), "{}", stdout(&o));
}

#[test]
fn explain_usage_errors_exit_2() {
    assert_eq!(run(&["explain"], None).status.code(), Some(2));
    assert_eq!(run(&["explain", "--config"], None).status.code(), Some(2));
    assert_eq!(run(&["explain", "--config", "envoy/demo.yaml", "--now", "soon", "x"], None).status.code(), Some(2));
    assert_eq!(run(&["explain", "--config", "envoy/demo.yaml", "--jwks", "nope=/dev/null", "x"], None).status.code(), Some(2));
    assert_eq!(run(&["explain", "--config", "/nonexistent", "x"], None).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(run(&["schema", "extra"], None).status.code(), Some(2));
}

fn schema() -> Value {
    let o = run(&["schema"], None);
    assert_eq!(o.status.code(), Some(0));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn shipped_schema_is_the_generated_one() {
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("deploy/config.schema.json")).unwrap()).unwrap();
    assert_eq!(shipped, schema(), "regenerate: target/release/jwt-filter schema > deploy/config.schema.json");
}

/// Every configuration in the README (JSON blocks with `providers`, YAML blocks that parse),
/// in `envoy/` and in `deploy/`.
fn shipped_configs() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (n, b) in readme.split("```").skip(1).step_by(2).enumerate() {
        let (lang, body) = b.split_once('\n').unwrap_or(("", ""));
        let configs = match lang.trim() {
            "json" if body.contains("\"providers\"") => jwt_filter_cli::load::configs(body).unwrap(),
            "yaml" => jwt_filter_cli::load::configs(body).unwrap_or_default().into_iter().filter(|f| f.at != "(file)").collect(),
            _ => Vec::new(),
        };
        for f in configs {
            out.push((format!("README.md block {n}: {}", f.at), serde_json::from_str(&f.text).unwrap()));
        }
    }
    for dir in ["envoy", "deploy", "deploy/istio", "deploy/compose"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or_default();
            if !["yaml", "yml", "json"].contains(&ext) || p.ends_with("config.schema.json") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for f in jwt_filter_cli::load::configs(&text).unwrap() {
                if f.at.ends_with("(file)") {
                    continue; // not a filter configuration (docker-compose.yml, an egress rule)
                }
                out.push((format!("{}: {}", p.display(), f.at), serde_json::from_str(&f.text).unwrap()));
            }
        }
    }
    out
}

#[test]
fn every_shipped_configuration_validates_and_typos_do_not() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let configs = shipped_configs();
    let names: Vec<&str> = configs.iter().map(|(n, _)| n.as_str()).collect();
    // README: the full example and the bootstrap snippet; envoy/: demo and cognito (fetcher and
    // filter each); deploy/: the WasmPlugin.
    assert!(configs.len() >= 7, "found only {names:#?}");
    assert!(names.iter().any(|n| n.contains("wasmplugin.yaml")), "{names:#?}");
    assert!(names.iter().filter(|n| n.starts_with("README")).count() >= 2, "{names:#?}");
    for (name, config) in &configs {
        let errors: Vec<String> = validator.iter_errors(config).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert!(jwt_core::config::Config::parse(config.to_string().as_bytes()).is_ok(), "{name}");
    }
    let base = configs[0].1.clone();
    let mut typo = base.clone();
    typo["providrs"] = typo["providers"].clone();
    let mut wrong_type = base.clone();
    let provider = wrong_type["providers"].as_object().unwrap().keys().next().unwrap().clone();
    wrong_type["providers"][&provider]["jwks"]["refresh_seconds"] = json!("often");
    let mut nested_typo = base.clone();
    nested_typo["providers"][&provider]["audience"] = json!(["x"]);
    let mut bad_requirement = base.clone();
    bad_requirement["default_requires"] = json!({"one_of": [provider]});
    for (what, bad) in
        [("typo", typo), ("wrong type", wrong_type), ("nested typo", nested_typo), ("requirement", bad_requirement)]
    {
        assert!(!validator.is_valid(&bad), "{what} validated");
        assert!(jwt_core::config::Config::parse(bad.to_string().as_bytes()).is_err(), "{what} parsed");
    }
}

#[test]
fn explain_reads_a_wasm_plugin_and_per_provider_jwks() {
    let jwks = jwks_file();
    let named = format!("cognito={jwks}");
    let iss = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123";
    let token = testkit::rsa_a().token(&testkit::cognito_access(iss, "4kq3example2vnc8o1client", "andrew"));
    let args = ["explain", "--config", "deploy/istio/wasmplugin.yaml", "--jwks", &named, "--path", "/api/x", "--json", &token];
    let o = run(&args, None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["outcome"]["decision"], "allow");
    assert_eq!(doc["outcome"]["upstream_headers"][0]["name"], "x-current-user");
    let wrong_pool = testkit::rsa_a().token(&testkit::cognito_access(DEMO_ISS, "demo-client", "andrew"));
    let args = ["explain", "--config", "deploy/istio/wasmplugin.yaml", "--jwks", &named, &wrong_pool];
    let o = run(&args, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("none of [cognito] has this issuer"), "{}", stdout(&o));
    assert!(stdout(&o).contains("DENY 401: unknown_issuer"), "{}", stdout(&o));
}
