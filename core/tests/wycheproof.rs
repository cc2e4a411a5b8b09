//! Wycheproof conformance of the core, on both signature paths.
//!
//! The vectors live outside the repository; `WYCHEPROOF_DIR` names their directory (the
//! Makefile exports `../shared/testdata/wycheproof`). Unset, the tests use that same directory
//! beside the repository, except under CI (`CI` set), where an unset variable is a failure; a
//! directory that does not exist is always a failure, never a silent pass.
//!
//! Every file of the directory runs: [`FILES`] says how each is read, and a file the table does
//! not list fails the run, so a vector file added to `shared/` cannot be forgotten. The test
//! `every_file` prints one row per file (file, vectors run, passed, skipped); see it with
//! `cargo test -p jwt-core --test wycheproof -- --nocapture`.
//!
//! Every key goes through the filter's own key loading ([`KeySet::parse`] of the vector's JWK),
//! and every signature through [`crypto::verify`]:
//!
//! - **pure Rust**: `host = None` (the hand-written Montgomery RSA, `p256`/`p384`/`p521`,
//!   `ed25519-compact`);
//! - **host**: a [`HostVerifier`] backed by `testkit::emulated_host_verify`, which receives
//!   exactly what Envoy's BoringSSL would: the SubjectPublicKeyInfo built at key load and, for
//!   ECDSA, the DER signature converted from raw r‖s. The test checks that the host was really
//!   asked (the answer came from [`Path::Host`]), and that the SPKI equals Wycheproof's DER.
//!   PS* and EdDSA never reach the host (Envoy's `verify_signature` has no PSS and no Ed25519);
//!   for them the test checks the host is not called.
//!
//! The JWS file additionally runs every token through [`authn::authenticate`], the filter's
//! entry point, with a configuration whose inline JWKS holds the vector's public key.
//!
//! Decisions on `acceptable` vectors (Wycheproof leaves them to the implementation):
//! - `MissingNull` (PKCS#1 v1.5 DigestInfo without the NULL parameter): **rejected**. The pure
//!   path compares the whole encoded block with the one DER encoding RFC 8017 defines, and
//!   BoringSSL does the same. Any other `acceptable` flag fails the test until decided here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jwt_core::authn::{self, Context, InlineKeys};
use jwt_core::b64;
use jwt_core::cache::TokenCache;
use jwt_core::config::Config;
use jwt_core::crypto::{self, HostAnswer, HostVerifier, KeyMaterial, Path};
use jwt_core::error::Denial;
use jwt_core::extract::RequestView;
use jwt_core::json;
use jwt_core::jwk::{Jwk, KeySet};
use jwt_core::jws::{self, Alg};
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// Plumbing.

fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("WYCHEPROOF_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => panic!(
            "WYCHEPROOF_DIR is not set and CI is: the Wycheproof conformance tests must run in CI \
             (`make` exports WYCHEPROOF_DIR=../shared/testdata/wycheproof)"
        ),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/wycheproof"),
    };
    assert!(
        dir.is_dir(),
        "the Wycheproof vectors are not at {} (set WYCHEPROOF_DIR to their directory; `make` points it at \
         ../shared/testdata/wycheproof)",
        dir.display()
    );
    dir
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} cannot be read: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Counts for one file, printed so the closing note can quote them.
struct Tally {
    file: &'static str,
    run: usize,
    passed: usize,
    skipped: BTreeMap<String, Vec<u64>>,
    host_calls: usize,
    host_refused_before_call: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(file: &'static str) -> Self {
        Tally {
            file,
            run: 0,
            passed: 0,
            skipped: BTreeMap::new(),
            host_calls: 0,
            host_refused_before_call: 0,
            failures: Vec::new(),
        }
    }

    fn skip(&mut self, tc: u64, reason: &str) {
        self.skipped.entry(reason.to_string()).or_default().push(tc);
    }

    fn check(&mut self, tc: u64, what: &str, problems: Vec<String>) {
        self.run += 1;
        if problems.is_empty() {
            self.passed += 1;
        } else {
            self.failures.push(format!("tcId {tc} ({what}): {}", problems.join("; ")));
        }
    }

    /// The file's details, for the log; the table row is printed by `every_file`.
    fn report(&self) -> String {
        let mut out = format!(
            "{}: host verifier called {} times, {} refused before the host call\n",
            self.file, self.host_calls, self.host_refused_before_call
        );
        for (reason, ids) in &self.skipped {
            out.push_str(&format!("  skipped {} ({reason}): tcId {ids:?}\n", ids.len()));
        }
        for f in &self.failures {
            out.push_str(&format!("  FAILED {f}\n"));
        }
        out
    }

    fn skipped_count(&self) -> usize {
        self.skipped.values().map(Vec::len).sum()
    }
}

/// The host path: the emulated BoringSSL `verify_signature`, counting calls.
#[derive(Default)]
struct Host {
    calls: Cell<usize>,
    unavailable: Cell<usize>,
}

impl HostVerifier for Host {
    fn verify(&self, hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> HostAnswer {
        self.calls.set(self.calls.get() + 1);
        match testkit::emulated_host_verify(hash, spki, sig, msg) {
            Some(true) => HostAnswer::Valid,
            Some(false) => HostAnswer::Invalid,
            None => {
                self.unavailable.set(self.unavailable.get() + 1);
                HostAnswer::Unavailable
            }
        }
    }
}

fn host_capable(alg: Alg) -> bool {
    matches!(alg, Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::ES256 | Alg::ES384 | Alg::ES512)
}

/// What a vector's `result` requires: accept (`true`) or reject (`false`).
fn expectation(t: &Value) -> bool {
    let flags: Vec<&str> = t["flags"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    match t["result"].as_str() {
        Some("valid") => true,
        Some("invalid") => false,
        Some("acceptable") if flags == ["MissingNull"] => false,
        other => panic!("tcId {}: result {other:?} with flags {flags:?} has no decision in this test", t["tcId"]),
    }
}

/// Verifies on both paths and returns the problems (empty: both agree with `want`).
fn both_paths(alg: Alg, key: &Jwk, msg: &[u8], sig: &[u8], want: bool, tally: &mut Tally) -> Vec<String> {
    let mut problems = Vec::new();
    let pure = crypto::verify(alg, &key.material, key.spki.as_deref(), msg, sig, None);
    let want_pure = want.then_some(Path::PureRust);
    if pure != want_pure {
        problems.push(format!("pure Rust gave {pure:?}, want {want_pure:?}"));
    }
    let host = Host::default();
    let via_host = crypto::verify(alg, &key.material, key.spki.as_deref(), msg, sig, Some(&host));
    if host_capable(alg) {
        let want_host = want.then_some(Path::Host);
        if via_host != want_host {
            problems.push(format!("host path gave {via_host:?}, want {want_host:?}"));
        }
        if host.calls.get() == 0 {
            tally.host_refused_before_call += 1;
            if want {
                problems.push("a valid signature never reached the host".into());
            }
        }
    } else {
        if host.calls.get() != 0 {
            problems.push(format!("{} was offered to the host, which cannot verify it", alg.name()));
        }
        if via_host != want_pure {
            problems.push(format!("with a host offered: {via_host:?}, want {want_pure:?}"));
        }
    }
    if host.unavailable.get() != 0 {
        problems.push("the emulated host could not use the key or hash the filter handed it".into());
    }
    tally.host_calls += host.calls.get();
    problems
}

/// Loads a JWK the way the filter loads keys from a JWKS.
fn load_jwk(jwk: &Value) -> Result<Jwk, String> {
    let set = KeySet::parse(json!({"keys": [jwk]}).to_string().as_bytes()).map_err(|e| e.to_string())?;
    set.keys.into_iter().next().ok_or_else(|| "no key".into())
}

/// A few ECDSA groups give the point only in SEC1 form; the JWK is written from it.
fn ec_jwk(group: &Value) -> Value {
    let pk = &group["publicKey"];
    let crv = match pk["curve"].as_str() {
        Some("secp256r1") => "P-256",
        Some("secp384r1") => "P-384",
        Some("secp521r1") => "P-521",
        other => panic!("group without a JWK, curve {other:?}"),
    };
    let point = hex(pk["uncompressed"].as_str().expect("SEC1 point"));
    let n = (point.len() - 1) / 2;
    json!({"kty": "EC", "crv": crv, "x": b64::encode(&point[1..=n]), "y": b64::encode(&point[n + 1..])})
}

fn check_spki(key: &Jwk, group: &Value, tally: &mut Tally) {
    let Some(der) = group["publicKeyDer"].as_str() else { return };
    match (&key.material, &key.spki) {
        (KeyMaterial::Ed25519(_), None) => {}
        (_, Some(spki)) if *spki == hex(der) => {}
        _ => tally.failures.push("the SubjectPublicKeyInfo built from the JWK differs from Wycheproof's DER".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Signature files: one key per group, raw message and signature per test.

fn run_signature_file(file: &'static str, alg: Alg) -> Tally {
    let doc = load(file);
    let mut tally = Tally::new(file);
    for group in doc["testGroups"].as_array().unwrap() {
        let jwk = group.get("publicKeyJwk").or_else(|| group.get("keyJwk")).cloned().unwrap_or_else(|| ec_jwk(group));
        let key = match load_jwk(&jwk) {
            Ok(k) => k,
            Err(e) => {
                for t in group["tests"].as_array().unwrap() {
                    let tc = t["tcId"].as_u64().unwrap();
                    if expectation(t) {
                        tally.check(tc, "key load", vec![format!("the filter refused the key of a valid vector: {e}")]);
                    } else {
                        tally.check(tc, "key load", Vec::new());
                    }
                }
                continue;
            }
        };
        assert!(key.allows(alg), "{file}: key does not allow {}", alg.name());
        check_spki(&key, group, &mut tally);
        for t in group["tests"].as_array().unwrap() {
            let tc = t["tcId"].as_u64().unwrap();
            let msg = hex(t["msg"].as_str().unwrap());
            let sig = hex(t["sig"].as_str().unwrap());
            let want = expectation(t);
            let problems = both_paths(alg, &key, &msg, &sig, want, &mut tally);
            tally.check(tc, t["comment"].as_str().unwrap_or(""), problems);
        }
    }
    tally
}

// ---------------------------------------------------------------------------------------------
// JSON Web Signature file: compact tokens against a key set.

/// Valid vectors the filter refuses on purpose, by tcId. Each must still be refused (never
/// accepted): a deliberate limit is a refusal, not a gap.
const UNSUPPORTED: &[(u64, &str)] = &[
    (1, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (348, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (352, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (357, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (358, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (359, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (372, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (373, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (376, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (377, "HS256: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)"),
    (347, "the JWK's alg is \"ES521\" (RFC 7520's typo), not a JWA name: keys with an unknown alg are refused"),
    (351, "the JWK's alg is \"ES521\" (RFC 7520's typo), not a JWA name: keys with an unknown alg are refused"),
    (346, "token alg PS384 but the JWK pins alg PS256: the filter enforces the JWK alg (RFC 7517 §4.4)"),
    (350, "token alg PS384 but the JWK pins alg PS256: the filter enforces the JWK alg (RFC 7517 §4.4)"),
];

const ISSUER: &str = "https://wycheproof.test";

/// The JWS-level verdict: the filter's parser, key selection and [`crypto::verify`], with the
/// one JWT-specific step (the payload must be a JSON object) left out, so that Wycheproof's
/// arbitrary payloads (`foo`, empty, binary) reach the signature check.
fn jws_verdict(token: &str, set: Option<&KeySet>, host: Option<&dyn HostVerifier>) -> Result<Path, String> {
    let (alg, kid, signing_input, signature) = match jws::parse(token, 8192) {
        Ok(j) => (j.header.alg, j.header.kid.clone(), j.signing_input.to_string(), j.signature),
        Err(e) if e.denial == Denial::Malformed && e.detail.starts_with("payload: ") => {
            // Everything before the payload's JSON was accepted by the parser: the header is a
            // valid JOSE header and the payload valid base64url. The signature is decoded below
            // with the same strict decoder the parser uses.
            let mut parts = token.split('.');
            let (h, p, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let header = json::parse_object(&b64::decode(h).unwrap()).unwrap();
            let alg = Alg::parse(header.get("alg").and_then(jwt_core::json::Value::as_str).unwrap()).unwrap();
            let kid = header.get("kid").and_then(jwt_core::json::Value::as_str).map(str::to_string);
            let sig = b64::decode(s).ok_or("signature is not base64url")?;
            if sig.is_empty() {
                return Err("empty signature".into());
            }
            (alg, kid, format!("{h}.{p}"), sig)
        }
        Err(e) => return Err(format!("parse: {e}")),
    };
    let set = set.ok_or("the JWKS was refused at load, no key")?;
    let mut tried = false;
    for key in set.candidates(kid.as_deref(), alg) {
        tried = true;
        if let Some(path) = crypto::verify(alg, &key.material, key.spki.as_deref(), signing_input.as_bytes(), &signature, host) {
            return Ok(path);
        }
    }
    Err(if tried { "bad signature".into() } else { "no key for kid and alg".into() })
}

fn header_alg(token: &str) -> Option<Alg> {
    let header = json::parse_object(&b64::decode(token.split('.').next()?)?).ok()?;
    Alg::parse(header.get("alg")?.as_str()?)
}

/// The filter's entry point: `authenticate` on a GET with `Authorization: Bearer <token>`.
fn entry_point(config: &Config, token: &str, host: Option<&dyn HostVerifier>) -> Result<(), jwt_core::error::AuthError> {
    let value = format!("Bearer {token}");
    let headers: [(&str, &[u8]); 1] = [("authorization", value.as_bytes())];
    let req = RequestView { method: "GET", path: "/", headers: &headers };
    let keys = InlineKeys(config);
    let ctx = Context { config, keys: &keys, host, now: testkit::now() };
    let mut cache = TokenCache::new(0, 0);
    match authn::authenticate(&ctx, &req, &mut cache).decision {
        Ok(_) => Ok(()),
        Err(d) => Err(d.error),
    }
}

fn json_web_signature() -> Tally {
    let doc = load("json_web_signature_test.json");
    let mut tally = Tally::new("json_web_signature_test.json");
    let groups = doc["testGroups"].as_array().unwrap();
    // Groups with only a symmetric key: their tokens meet the file's RSA and EC keys instead,
    // which is the realistic attack (an HS256 token against an asymmetric JWKS).
    let mut asymmetric: Vec<&Value> = Vec::new();
    for k in groups.iter().filter_map(|g| g.get("public")) {
        let signing = matches!(k["kid"].as_str(), Some("kid-rsa-sign" | "kid-ec-sign")) && k["use"] == "sig";
        if signing && !asymmetric.iter().any(|a| a["kid"] == k["kid"]) {
            asymmetric.push(k);
        }
    }
    assert_eq!(asymmetric.len(), 2, "the file's RSA and EC signing keys");
    let unsupported: BTreeMap<u64, &str> = UNSUPPORTED.iter().copied().collect();
    let mut seen_unsupported = Vec::new();
    for group in groups {
        let jwks = match group.get("public") {
            Some(k) => json!({"keys": [k]}),
            None => json!({"keys": asymmetric}),
        };
        let set = KeySet::parse(jwks.to_string().as_bytes()).ok();
        let config = set.as_ref().map(|_| {
            let doc = json!({
                "providers": {"wycheproof": {"issuer": ISSUER, "allow_any_audience": true, "jwks": {"inline": jwks}}},
                "cache": {"max_entries": 0}
            });
            Config::parse(doc.to_string().as_bytes()).unwrap()
        });
        for t in group["tests"].as_array().unwrap() {
            let tc = t["tcId"].as_u64().unwrap();
            let comment = t["comment"].as_str().unwrap_or("");
            let Some(token) = t["jws"].as_str() else {
                tally.skip(tc, "JSON serialization: only the compact form is carried in HTTP headers");
                continue;
            };
            let want = expectation(t);
            let reason = unsupported.get(&tc).copied();
            let mut problems = Vec::new();
            let host = Host::default();
            let pure = jws_verdict(token, set.as_ref(), None);
            let hosted = jws_verdict(token, set.as_ref(), Some(&host));
            tally.host_calls += host.calls.get();
            if host.unavailable.get() != 0 {
                problems.push("the emulated host could not use the key or hash the filter handed it".into());
            }
            let entry: Vec<_> = match &config {
                Some(c) => vec![entry_point(c, token, None), entry_point(c, token, Some(&Host::default()))],
                None => Vec::new(), // The key was refused at load: no configuration, no keys.
            };
            if let Some(r) = reason {
                seen_unsupported.push(tc);
                if !want {
                    problems.push("listed as unsupported but Wycheproof says invalid".into());
                }
                if pure.is_ok() || hosted.is_ok() || entry.iter().any(Result::is_ok) {
                    problems.push(format!("a deliberately unsupported vector was accepted ({r})"));
                }
                if tc == 347 || tc == 351 {
                    // The same P-521 key without the typo'd alg: the ES512 token must verify.
                    let mut jwk = group["public"].clone();
                    jwk.as_object_mut().unwrap().remove("alg");
                    let fixed = KeySet::parse(json!({"keys": [jwk]}).to_string().as_bytes()).ok();
                    if jws_verdict(token, fixed.as_ref(), None) != Ok(Path::PureRust) {
                        problems.push("without its typo'd alg the P-521 key does not verify the ES512 token in pure Rust".into());
                    }
                    if jws_verdict(token, fixed.as_ref(), Some(&Host::default())) != Ok(Path::Host) {
                        problems.push("without its typo'd alg the P-521 key does not verify the ES512 token on the host".into());
                    }
                }
                if problems.is_empty() {
                    tally.skip(tc, r);
                } else {
                    tally.check(tc, comment, problems);
                }
                continue;
            }
            if want {
                if pure != Ok(Path::PureRust) {
                    problems.push(format!("pure Rust: {pure:?}"));
                }
                match (&hosted, header_alg(token)) {
                    (Ok(Path::Host), Some(a)) if host_capable(a) => {}
                    (Ok(Path::PureRust), Some(a)) if !host_capable(a) && host.calls.get() == 0 => {}
                    (other, _) => problems.push(format!("host path: {other:?}")),
                }
                // No Wycheproof payload is a JWT claims set; the entry point must refuse them
                // at the claims step and nowhere earlier.
                for e in &entry {
                    match e {
                        Err(e) if e.denial == Denial::Malformed && e.detail.starts_with("payload: ") => {}
                        other => problems.push(format!("entry point: {other:?}, want a refusal of the payload only")),
                    }
                }
                if entry.is_empty() {
                    problems.push("the key of a valid vector was refused at load".into());
                }
            } else {
                if let Ok(p) = &pure {
                    problems.push(format!("pure Rust accepted ({p:?})"));
                }
                if let Ok(p) = &hosted {
                    problems.push(format!("host path accepted ({p:?})"));
                }
                if entry.iter().any(Result::is_ok) {
                    problems.push("the entry point accepted".into());
                }
            }
            tally.check(tc, comment, problems);
        }
    }
    let listed: Vec<u64> = unsupported.keys().copied().collect();
    seen_unsupported.sort_unstable();
    assert_eq!(seen_unsupported, listed, "every vector listed as unsupported exists in the file");
    tally
}

// ---------------------------------------------------------------------------------------------
// JSON Web Key file: a private key set per group, published as its public half.

/// Private JWK members; what is left is the public key an issuer would publish.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

const HMAC_KEYS: &str = "HS*: symmetric keys are not supported (the key type fixes the algorithm; no oct keys)";

/// Valid vectors of the JWK file the filter refuses on purpose; each must still be refused.
const JWK_UNSUPPORTED: &[(u64, &str)] = &[(2, HMAC_KEYS), (13, HMAC_KEYS), (14, HMAC_KEYS), (15, HMAC_KEYS)];

fn json_web_key() -> Tally {
    let doc = load("json_web_key_test.json");
    let mut tally = Tally::new("json_web_key_test.json");
    let unsupported: BTreeMap<u64, &str> = JWK_UNSUPPORTED.iter().copied().collect();
    let mut seen_unsupported = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let private = &group["private"];
        let keys = match private.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            _ => vec![private.clone()],
        };
        let public: Vec<Value> = keys
            .into_iter()
            .map(|mut k| {
                let o = k.as_object_mut().unwrap();
                for m in PRIVATE_MEMBERS {
                    o.remove(*m);
                }
                k
            })
            .collect();
        let set = KeySet::parse(json!({ "keys": public }).to_string().as_bytes()).ok();
        for t in group["tests"].as_array().unwrap() {
            let tc = t["tcId"].as_u64().unwrap();
            let comment = t["comment"].as_str().unwrap_or("");
            let token = t["jws"].as_str().unwrap();
            let want = expectation(t);
            let host = Host::default();
            let pure = jws_verdict(token, set.as_ref(), None);
            let hosted = jws_verdict(token, set.as_ref(), Some(&host));
            tally.host_calls += host.calls.get();
            let mut problems = Vec::new();
            if host.unavailable.get() != 0 {
                problems.push("the emulated host could not use the key or hash the filter handed it".into());
            }
            if let Some(r) = unsupported.get(&tc) {
                seen_unsupported.push(tc);
                if !want {
                    problems.push("listed as unsupported but Wycheproof says invalid".into());
                }
                if pure.is_ok() || hosted.is_ok() {
                    problems.push(format!("a deliberately unsupported vector was accepted ({r})"));
                }
                if problems.is_empty() {
                    tally.skip(tc, r);
                    continue;
                }
            } else if want {
                if pure != Ok(Path::PureRust) {
                    problems.push(format!("pure Rust: {pure:?}"));
                }
                let want_host = if header_alg(token).is_some_and(host_capable) { Path::Host } else { Path::PureRust };
                if hosted != Ok(want_host) {
                    problems.push(format!("host path: {hosted:?}, want {want_host:?}"));
                }
            } else {
                if let Ok(p) = &pure {
                    problems.push(format!("pure Rust accepted ({p:?})"));
                }
                if let Ok(p) = &hosted {
                    problems.push(format!("host path accepted ({p:?})"));
                }
            }
            tally.check(tc, comment, problems);
        }
    }
    let listed: Vec<u64> = unsupported.keys().copied().collect();
    seen_unsupported.sort_unstable();
    assert_eq!(seen_unsupported, listed, "every vector listed as unsupported exists in the file");
    tally
}

// ---------------------------------------------------------------------------------------------
// Every file of the directory.

/// How a vector file is read.
#[derive(Debug, Clone, Copy)]
enum Runner {
    /// One key per group, raw message and signature per test, for this algorithm.
    Signature(Alg),
    /// Compact JWS tokens against each group's public key set.
    Jws,
    /// Compact JWS tokens against the public half of each group's private key set.
    Jwk,
}

/// Every vector file the test knows. A file in the directory that is not here fails the run.
const FILES: &[(&str, Runner)] = &[
    ("ecdsa_secp256r1_sha256_p1363_test.json", Runner::Signature(Alg::ES256)),
    ("ecdsa_secp384r1_sha384_p1363_test.json", Runner::Signature(Alg::ES384)),
    ("ecdsa_secp521r1_sha512_p1363_test.json", Runner::Signature(Alg::ES512)),
    ("ed25519_test.json", Runner::Signature(Alg::EdDSA)),
    ("json_web_key_test.json", Runner::Jwk),
    ("json_web_signature_test.json", Runner::Jws),
    ("rsa_pss_2048_sha256_mgf1_32_test.json", Runner::Signature(Alg::PS256)),
    ("rsa_pss_2048_sha384_mgf1_48_test.json", Runner::Signature(Alg::PS384)),
    ("rsa_pss_3072_sha256_mgf1_32_test.json", Runner::Signature(Alg::PS256)),
    ("rsa_pss_4096_sha384_mgf1_48_test.json", Runner::Signature(Alg::PS384)),
    ("rsa_pss_4096_sha512_mgf1_64_test.json", Runner::Signature(Alg::PS512)),
    ("rsa_signature_2048_sha256_test.json", Runner::Signature(Alg::RS256)),
    ("rsa_signature_2048_sha384_test.json", Runner::Signature(Alg::RS384)),
    ("rsa_signature_2048_sha512_test.json", Runner::Signature(Alg::RS512)),
    ("rsa_signature_3072_sha256_test.json", Runner::Signature(Alg::RS256)),
    ("rsa_signature_3072_sha384_test.json", Runner::Signature(Alg::RS384)),
    ("rsa_signature_3072_sha512_test.json", Runner::Signature(Alg::RS512)),
    ("rsa_signature_4096_sha256_test.json", Runner::Signature(Alg::RS256)),
    ("rsa_signature_4096_sha384_test.json", Runner::Signature(Alg::RS384)),
    ("rsa_signature_4096_sha512_test.json", Runner::Signature(Alg::RS512)),
    ("rsa_signature_8192_sha256_test.json", Runner::Signature(Alg::RS256)),
    ("rsa_signature_8192_sha512_test.json", Runner::Signature(Alg::RS512)),
];

/// Files of the directory that hold no vectors.
const NOT_VECTORS: &[&str] = &["README.md", "LICENSE"];

fn run(file: &'static str, runner: Runner) -> Tally {
    match runner {
        Runner::Signature(alg) => run_signature_file(file, alg),
        Runner::Jws => json_web_signature(),
        Runner::Jwk => json_web_key(),
    }
}

/// Runs every file (in parallel), prints the table, then fails on any disagreement, on a file
/// of the directory that [`FILES`] does not list, and on a listed file that is missing.
#[test]
fn every_file() {
    let dir = vectors_dir();
    let mut present: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    present.sort();
    let unlisted: Vec<&String> =
        present.iter().filter(|f| !FILES.iter().any(|(n, _)| n == f) && !NOT_VECTORS.contains(&f.as_str())).collect();
    let missing: Vec<&str> = FILES.iter().map(|(n, _)| *n).filter(|n| !present.iter().any(|p| p == n)).collect();
    let results: Vec<(&str, Result<Tally, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = FILES
            .iter()
            .filter(|(n, _)| !missing.contains(n))
            .map(|&(name, runner)| (name, scope.spawn(move || run(name, runner))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| {
                let r = h.join().map_err(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                });
                (name, r)
            })
            .collect()
    });
    println!("| file | vectors run | passed | refused on purpose |");
    println!("|---|---:|---:|---:|");
    let (mut total_run, mut total_passed) = (0, 0);
    for (name, r) in &results {
        match r {
            Ok(t) => {
                println!("| {name} | {} | {} | {} |", t.run, t.passed, t.skipped_count());
                total_run += t.run;
                total_passed += t.passed;
            }
            Err(e) => println!("| {name} | PANICKED: {e} | | |"),
        }
    }
    println!("| **total ({} files)** | {total_run} | {total_passed} | |", results.len());
    let mut bad = Vec::new();
    for (name, r) in &results {
        match r {
            Ok(t) => {
                print!("{}", t.report());
                if !t.failures.is_empty() {
                    bad.push(format!("{name}: {} vectors disagree with Wycheproof", t.failures.len()));
                }
                if t.run == 0 {
                    bad.push(format!("{name}: no vector ran"));
                }
            }
            Err(e) => bad.push(format!("{name}: panicked: {e}")),
        }
    }
    if !unlisted.is_empty() {
        bad.push(format!("files in {} that the test does not handle (add them to FILES): {unlisted:?}", dir.display()));
    }
    if !missing.is_empty() {
        bad.push(format!("files listed in FILES but missing from {}: {missing:?}", dir.display()));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// A JWT-shaped counterpart of the JWS file's attacks, through the entry point with a claims
/// set it would otherwise accept: the vector keys sign nothing here (Wycheproof ships their
/// private halves, but re-signing proves nothing), so this checks the attacks the file names
/// (alg none, HS256 with the public key, embedded jwk) on a token that is valid but for them.
#[test]
fn json_web_signature_attacks_on_a_valid_jwt() {
    let key = testkit::rsa_a();
    let jwks = testkit::jwks(&[&key]);
    let doc = json!({
        "providers": {"p": {"issuer": ISSUER, "allow_any_audience": true, "jwks": {"inline": jwks}}},
        "cache": {"max_entries": 0}
    });
    let config = Config::parse(doc.to_string().as_bytes()).unwrap();
    let claims = json!({"iss": ISSUER, "sub": "s", "exp": testkit::now() + 600});
    let good = key.token(&claims);
    let host = Host::default();
    assert!(entry_point(&config, &good, None).is_ok());
    assert!(entry_point(&config, &good, Some(&host)).is_ok());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let payload = input.split('.').nth(1).unwrap();
    let seg = |v: Value| b64::encode(v.to_string().as_bytes());
    let attacks = [
        format!("{}.{payload}.", seg(json!({"alg": "none", "kid": key.kid}))),
        format!("{}.{payload}.{sig}", seg(json!({"alg": "none", "kid": key.kid}))),
        format!("{}.{payload}.{sig}", seg(json!({"alg": "HS256", "kid": key.kid}))),
        format!("{}.{payload}.{sig}", seg(json!({"alg": "RS256", "kid": key.kid, "jwk": testkit::rsa_b().jwk()}))),
        format!("{input}.{sig}.{sig}"),
        input.to_string(),
        format!("{input}.{sig}="),
    ];
    for a in &attacks {
        assert!(entry_point(&config, a, None).is_err(), "{a}");
        assert!(entry_point(&config, a, Some(&host)).is_err(), "{a}");
    }
}
