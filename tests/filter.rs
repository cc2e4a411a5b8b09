//! The filter end to end in a real Envoy: the seed scenarios (no token, garbage, bad signature,
//! expired, not yet valid, wrong issuer, wrong client, id token for access, valid token,
//! spoofed `x-current-user`, allow-missing route), keys from the `jwks-fetcher`, and configs
//! Envoy must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::{json, Value};
use support::*;

fn keys() -> Value {
    testkit::jwks(&[&testkit::rsa_a()])
}

struct Stack {
    envoy: Envoy,
    upstream: Server,
    jwks: Server,
}

/// Envoy with the fetcher singleton and the filter; keys come from the test's JWKS server.
fn stack() -> Stack {
    let upstream = Server::upstream();
    let jwks = Server::jwks(&keys());
    let mut config = cognito_remote(600);
    config["rules"] = json!([{"match": {"prefix": "/api/activities/home"}, "requires": {"allow_missing": ["cognito"]}}]);
    let mut setup = Setup::single(config.clone(), upstream.port, Some(jwks.port));
    setup.fetcher = Some(config);
    setup.concurrency = 2;
    let envoy = Envoy::start(&setup);
    // Keys are fetched at start; wait until a request verifies.
    let tok = access_token(&testkit::rsa_a(), "warmup");
    assert!(
        envoy.wait_for(EVENT, || request(envoy.port(), "GET", "/", &[bearer(&tok)]).is_ok_and(|r| r.status == 200)),
        "keys never arrived"
    );
    upstream.clear();
    Stack { envoy, upstream, jwks }
}

fn challenge(r: &Response) -> String {
    r.header("www-authenticate").unwrap_or_default().to_string()
}

fn invalid(description: &str) -> String {
    format!("Bearer realm=\"test\", error=\"invalid_token\", error_description=\"{description}\"")
}

#[test]
fn seed_scenarios() {
    let s = stack();
    let port = s.envoy.port();
    let a = testkit::rsa_a();
    let iss = issuer();
    let send = |token: &str| request(port, "GET", "/api/private", &[bearer(token)]).unwrap();

    // No token: bare challenge, JSON body.
    let r = get(port, "/api/private").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(challenge(&r), "Bearer realm=\"test\"");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["error"], "unauthorized");

    let cases: Vec<(&str, String, &str)> = vec![
        ("garbage", "garbage".into(), "malformed token"),
        (
            "bad signature",
            testkit::rsa_b().with_kid("rsa-a").token(&testkit::cognito_access(&iss, CLIENT, "mallory")),
            "signature verification failed",
        ),
        (
            "expired",
            {
                let mut c = testkit::cognito_access(&iss, CLIENT, "andrew");
                c["exp"] = json!(testkit::now() - 3600);
                a.token(&c)
            },
            "token expired",
        ),
        (
            "nbf in the future",
            {
                let mut c = testkit::cognito_access(&iss, CLIENT, "andrew");
                c["nbf"] = json!(testkit::now() + 3600);
                a.token(&c)
            },
            "token not yet valid",
        ),
        (
            "wrong issuer",
            a.token(&testkit::cognito_access(&testkit::cognito_issuer(REGION, "us-east-1_Other"), CLIENT, "andrew")),
            "issuer not accepted",
        ),
        ("wrong client id", a.token(&testkit::cognito_access(&iss, "other-client", "andrew")), "client not allowed"),
        ("id token where access is required", a.token(&testkit::cognito_id(&iss, CLIENT, "andrew")), "wrong token use"),
    ];
    for (name, token, description) in &cases {
        let r = send(token);
        assert_eq!(r.status, 401, "{name}");
        assert_eq!(challenge(&r), invalid(description), "{name}");
        assert_eq!(r.json()["error"], "invalid_token", "{name}");
    }
    assert_eq!(s.upstream.count(), 0, "the upstream saw none of the refused requests");

    // A valid access token: 200, and the upstream gets the claims as compact JSON.
    let token = access_token(&a, "andrew");
    let r = request(port, "GET", "/api/private", &[bearer(&token), ("x-current-user".into(), "{\"username\":\"admin\"}".into())])
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = s.upstream.last().unwrap();
    let users = seen.all("x-current-user");
    assert_eq!(users.len(), 1, "exactly one x-current-user reaches the upstream");
    let user: Value = serde_json::from_str(users[0]).unwrap();
    assert_eq!(user["username"], "andrew", "the client's spoofed header was replaced");
    assert_eq!(user["token_use"], "access");
    assert!(!users[0].contains(' '), "compact JSON");
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {token}").as_str()), "the token is forwarded by default");

    // A token minted by an independent library verifies too.
    let r = send(&a.token_by_jwt_simple(&testkit::cognito_access(&iss, CLIENT, "jwt-simple")));
    assert_eq!(r.status, 200);

    // The public feed allows a missing token: passes with no identity, spoofing stripped.
    s.upstream.clear();
    let r =
        request(port, "GET", "/api/activities/home", &[("x-current-user".into(), "{\"username\":\"admin\"}".into())]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(s.upstream.last().unwrap().header("x-current-user"), None, "spoofed header removed on the allow-missing path");
    // ...but a bad token there is still refused.
    let r = request(port, "GET", "/api/activities/home", &[bearer("garbage")]).unwrap();
    assert_eq!(r.status, 401);
    // ...and a good one is identified.
    let r = request(port, "GET", "/api/activities/home", &[bearer(&token)]).unwrap();
    assert_eq!(r.status, 200);
    assert!(s.upstream.last().unwrap().header("x-current-user").unwrap().contains("\"andrew\""));

    // Keys came from the fetcher: one JWKS request for two workers, on the derived path.
    assert_eq!(s.jwks.count(), 1, "one fetch for all workers");
    assert_eq!(s.jwks.last().unwrap().path, cognito_jwks_path());
    assert_eq!(s.envoy.stat_eventually("wasmcustom.jwt_filter.jwks.cognito.fetch_success", 1), Some(1));

    // Logs name reasons and never contain a token: read once a marker proves every line of
    // the requests above is in.
    s.envoy.sync_logs(port);
    let logs = s.envoy.logs();
    assert!(logs.contains("reason=expired"), "denials are logged with their reason");
    for (_, token, _) in &cases {
        let sig = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(sig) || sig.len() < 8, "a token signature appears in the log");
    }
    assert!(!logs.contains(&token), "the valid token appears in the log");
}

#[test]
fn invalid_configs_are_refused_with_the_field_named() {
    let upstream = Server::upstream();
    let good = cognito_inline(&[&testkit::rsa_a()]);
    let mut unknown = good.clone();
    unknown["providers"]["cognito"]["audience"] = json!(["x"]);
    let mut no_issuer = good.clone();
    no_issuer["providers"]["cognito"] = json!({"audiences": ["a"], "jwks": {"cluster": "jwks", "path": "/k"}});
    let mut bad_jwks = good.clone();
    bad_jwks["providers"]["cognito"]["jwks"] = json!({"inline": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}});
    let mut no_source = good.clone();
    no_source["providers"]["cognito"]["jwks"] = json!({"timeout_ms": 5});
    let mut mistyped = good.clone();
    mistyped["providers"]["cognito"]["clock_skew_seconds"] = json!("often");
    for (config, field) in [
        (unknown, "providers.cognito.audience"),
        (no_issuer, "providers.cognito.issuer"),
        (bad_jwks, "providers.cognito.jwks.inline"),
        (no_source, "providers.cognito.jwks.cluster"),
        (mistyped, "providers.cognito.clock_skew_seconds"),
        (json!("not an object"), "(document)"),
    ] {
        let setup = Setup::single(config, upstream.port, None);
        let err = match Envoy::try_start(&setup) {
            Ok(_) => panic!("Envoy accepted a config with a bad {field}"),
            Err(e) => e,
        };
        assert!(
            err.logs.contains(&format!("jwt-filter: invalid configuration: {field}:")),
            "the log names {field}:\n{}",
            err.logs.lines().filter(|l| l.contains("jwt-filter")).collect::<Vec<_>>().join("\n")
        );
    }
}

/// An HTTP filter configured with the fetcher's `root_id` gets the fetcher's root, which makes
/// no HTTP contexts: its requests are refused with the not-ready answer (fail closed), not let
/// through, and the VM keeps running (the proxy-wasm SDK aborted it there).
#[test]
fn a_filter_with_the_fetcher_root_id_fails_closed() {
    let upstream = Server::upstream();
    let mut setup = Setup::single(cognito_inline(&[&testkit::rsa_a()]), upstream.port, None);
    setup.listeners[0].root_id = Some("jwks-fetcher".into());
    let envoy = Envoy::start(&setup);
    let tok = access_token(&testkit::rsa_a(), "andrew");
    for _ in 0..2 {
        let r = request(envoy.port(), "GET", "/", &[bearer(&tok)]).unwrap();
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["error"], "temporarily_unavailable");
    }
    assert_eq!(upstream.count(), 0, "the upstream saw {:?}", upstream.seen());
    envoy.wait_log("has no filter context; refusing it");
    let logs = envoy.logs();
    for crash in ["the wasm VM will abort", "panicked", "wasm_runtime_failed"] {
        assert!(!logs.contains(crash), "{crash}:\n{logs}");
    }
}

/// Every algorithm with a key of its own (its JWK pins it), on the listener that offers
/// Envoy's `verify_signature` and on the one forced to pure Rust. Each valid token passes and
/// bumps exactly the counter of the path it should take; each damaged one is refused as a bad
/// signature and bumps neither. The module is built without pure-Rust ECDSA, so on the
/// pure-Rust listener every ES* token, valid or damaged, is refused with 500 `no_verifier`
/// (nothing there can verify it) and never counted as a bad signature.
#[test]
fn every_algorithm_on_both_signature_paths() {
    let upstream = Server::upstream();
    let rsa = |alg: &str| testkit::rsa_for(alg).unwrap();
    let keys = [
        testkit::rsa_a(),
        testkit::rsa_3072(),
        rsa("RS384"),
        rsa("RS512"),
        rsa("PS256"),
        rsa("PS384"),
        rsa("PS512"),
        testkit::p256(),
        testkit::p384(),
        testkit::ed25519(),
    ];
    let refs: Vec<&testkit::TestKey> = keys.iter().collect();
    let mut pure = cognito_inline(&refs);
    pure["crypto"] = json!("pure_rust");
    let mut setup = Setup::single(cognito_inline(&refs), upstream.port, None);
    setup.listeners.push(Listener::filtered(pure));
    let envoy = Envoy::start(&setup);
    let claims = testkit::cognito_access(&issuer(), CLIENT, "andrew");
    let stat = |name: &str| envoy.stat(&format!("wasmcustom.jwt_filter.{name}")).unwrap_or(0);
    // The four counters, once they reach `want` (the filter hands counts over every tick).
    let counters = |want: [u64; 4]| {
        let names =
            ["verify.host", "verify.pure_rust", "provider.cognito.denied.bad_signature", "provider.cognito.denied.no_verifier"];
        let mut got = [0; 4];
        envoy.wait_for(EVENT, || {
            got = names.map(stat);
            got == want
        });
        got
    };
    let mut want = [0u64; 4];
    let mut host_path_algs = Vec::new();
    let mut unverifiable = Vec::new();
    for (port, offers_host) in [(envoy.ports[0], true), (envoy.ports[1], false)] {
        for key in &keys {
            let alg = key.alg;
            // Envoy's BoringSSL takes RSA PKCS#1 v1.5 and ECDSA; PSS and EdDSA are pure Rust,
            // and ECDSA is not in the module's pure Rust at all.
            let host_capable = matches!(alg, "RS256" | "RS384" | "RS512" | "ES256" | "ES384");
            let ecdsa = alg.starts_with("ES");
            let token = key.token(&claims);
            let r = request(port, "GET", "/", &[bearer(&token)]).unwrap();
            let mut bad = token.clone().into_bytes();
            let i = bad.len() - 5;
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            if ecdsa && !offers_host {
                unverifiable.push(alg);
                let damaged = request(port, "GET", "/", &[bearer(&bad)]).unwrap();
                for (what, r) in [("valid", r), ("damaged", damaged)] {
                    assert_eq!(r.status, 500, "{what} {alg} on the pure-Rust port: {}", r.text());
                    assert_eq!(r.header("www-authenticate"), None, "{what} {alg}: a server fault, no challenge");
                    assert!(r.text().contains("server_error"), "{what} {alg}: {}", r.text());
                }
                want[3] += 2;
                assert_eq!(counters(want), want, "{alg} on port {port}: [host, pure_rust, bad_signature, no_verifier]");
                continue;
            }
            let path = usize::from(!(offers_host && host_capable));
            if path == 0 {
                host_path_algs.push(alg);
            }
            assert_eq!(r.status, 200, "{alg} with {} on port {port}: {}", key.kid, r.text());
            want[path] += 1;
            assert_eq!(
                counters(want),
                want,
                "{alg} with {} on port {port}: [host, pure_rust, bad_signature, no_verifier]",
                key.kid
            );

            let r = request(port, "GET", "/", &[bearer(&bad)]).unwrap();
            assert_eq!(r.status, 401, "damaged {alg} signature on port {port}");
            assert_eq!(challenge(&r), invalid("signature verification failed"), "damaged {alg} signature on port {port}");
            want[2] += 1;
            assert_eq!(counters(want), want, "damaged {alg} on port {port}: [host, pure_rust, bad_signature, no_verifier]");
        }
    }
    assert_eq!(host_path_algs, ["RS256", "RS256", "RS384", "RS512", "ES256", "ES384"]);
    assert_eq!(unverifiable, ["ES256", "ES384"]);
    assert_eq!(want, [6, 12, 18, 4]);
    assert_eq!(upstream.count(), 18, "only the valid tokens that verified reached the upstream");
    // The key pins its algorithm: the PS256 key's material signing RS256 is refused.
    let r = request(envoy.ports[0], "GET", "/", &[bearer(&rsa("PS256").token_alg("RS256", &claims))]).unwrap();
    assert_eq!(r.status, 401);
}

#[test]
fn the_cache_entries_gauge_is_the_sum_over_filters_and_workers() {
    // Two listeners, so two filter instances with a cache each: the gauge must read the sum
    // (3 + 4), not whichever instance set it last.
    let upstream = Server::upstream();
    let a = testkit::rsa_a();
    let mut setup = Setup::single(cognito_inline(&[&a]), upstream.port, None);
    setup.listeners.push(Listener::filtered(cognito_inline(&[&a])));
    let envoy = Envoy::start(&setup);
    for (port, users) in [(envoy.ports[0], 3), (envoy.ports[1], 4)] {
        for i in 0..users {
            let token = a.token(&testkit::cognito_access(&issuer(), CLIENT, &format!("user{i}")));
            for _ in 0..2 {
                assert_eq!(request(port, "GET", "/", &[bearer(&token)]).unwrap().status, 200);
            }
        }
    }
    assert_eq!(envoy.stat_eventually("wasmcustom.jwt_filter.cache.hit", 7), Some(7), "each token's second request hits");
    assert_eq!(envoy.stat_eventually("wasmcustom.jwt_filter.cache.entries", 7), Some(7));
}
