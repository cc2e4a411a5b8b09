//! Seeds for the fuzz targets in `fuzz/`, generated from the test keys rather than committed.
//!
//! The fuzz harness verifies tokens against one fixed configuration, `fuzz/harness.json`
//! (`now` and the plugin `config`, whose inline JWKS holds testkit's public keys and the
//! fuzz-only Ed25519 key below). This test checks that tokens signed with those keys pass the
//! filter under that configuration, so the fuzzer starts from the accepting path, not only
//! from refusals. With `FUZZ_SEEDS_DIR` set (`make fuzz` does it) it also writes the seeds,
//! one directory per target. `UPDATE_FUZZ_HARNESS=1` rewrites `fuzz/harness.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jwt_core::authn::{self, Context, InlineKeys};
use jwt_core::b64;
use jwt_core::cache::TokenCache;
use jwt_core::config::Config;
use jwt_core::crypto::rsa::RsaPublicKey;
use jwt_core::extract::RequestView;
use num_bigint_dig::BigUint;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The fuzz-only Ed25519 key: the `token` target signs fuzzed headers and payloads with it,
/// so claim and policy checks are fuzzed behind a valid signature. Its seed is public on
/// purpose; it only ever appears in `fuzz/harness.json`.
const FUZZ_ED25519_SEED: [u8; 32] = [7; 32];
const FUZZ_KID: &str = "fuzz-ed25519";
const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://issuer.fuzz";

fn harness_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/harness.json")
}

fn fuzz_key() -> ed25519_compact::KeyPair {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(FUZZ_ED25519_SEED))
}

fn expected_harness() -> Value {
    let mut keys = vec![testkit::rsa_a().jwk_without_alg(), testkit::p256().jwk(), testkit::ed25519().jwk()];
    keys.push(json!({"kty": "OKP", "crv": "Ed25519", "kid": FUZZ_KID, "use": "sig", "x": b64::encode(&fuzz_key().pk[..])}));
    let jwks = json!({ "keys": keys });
    json!({
        "now": NOW,
        "config": {
            "realm": "fuzz",
            "providers": {
                "oidc": {
                    "issuer": ISSUER,
                    "audiences": ["api"],
                    "jwks": {"inline": jwks},
                    "from_params": ["access_token"],
                    "from_cookies": ["token"],
                    "max_lifetime_seconds": 86400,
                    "output": {"claim_headers": {"x-sub": "sub", "x-groups": "cognito:groups"}, "payload_header": "x-payload"}
                },
                "cognito": {
                    "cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_Fuzz", "token_use": "access", "client_ids": ["app"]},
                    "jwks": {"inline": jwks},
                    "scopes": ["read"]
                }
            },
            "rules": [
                {"match": {"prefix": "/public"}, "requires": "none"},
                {"match": {"prefix": "/admin"}, "requires": {"provider": "cognito"}, "groups": ["admin"]},
                {"match": {"regex": "/soft/[a-z]+"}, "requires": {"allow_missing_or_failed": ["oidc", "cognito"]},
                 "claims": [{"path": "custom:tier", "equals": "gold"}]},
                {"match": {"prefix": "/both"}, "requires": {"all": ["oidc", "cognito"]}}
            ],
            "default_requires": {"any": ["oidc", "cognito"]}
        }
    })
}

fn accepted(config: &Config, path: &str, token: &str) -> bool {
    let value = format!("Bearer {token}");
    let headers: [(&str, &[u8]); 1] = [("authorization", value.as_bytes())];
    let req = RequestView { method: "GET", path, headers: &headers };
    let ctx = Context { config, keys: &InlineKeys(config), host: None, now: NOW };
    authn::authenticate(&ctx, &req, &mut TokenCache::new(0, 0)).decision.is_ok()
}

fn oidc_claims() -> Value {
    json!({"iss": ISSUER, "aud": ["api"], "sub": "user-1", "iat": NOW - 10, "exp": NOW + 3600,
           "cognito:groups": ["admin", "users"], "custom:tier": "gold", "scope": "read write"})
}

fn cognito_claims() -> Value {
    json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz", "client_id": "app",
           "token_use": "access", "sub": "user-2", "username": "andrew", "iat": NOW - 10, "exp": NOW + 3600,
           "cognito:groups": ["admin"], "scope": "read"})
}

fn fuzz_signed(header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64::encode(header.to_string().as_bytes()), b64::encode(claims.to_string().as_bytes()));
    let sig = fuzz_key().sk.sign(input.as_bytes(), None);
    format!("{input}.{}", b64::encode(&sig[..]))
}

/// Seeds of the `token` target. Byte 0 picks the request path and the mode (see the target);
/// the rest is a token (raw mode) or `header JSON \n payload JSON` (signed mode).
fn token_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let raw = |mode: u8, t: &str| {
        let mut v = vec![mode];
        v.extend_from_slice(t.as_bytes());
        v
    };
    let rsa = testkit::rsa_a();
    let oidc = oidc_claims();
    let cog = cognito_claims();
    let signed = [
        ("rs256", rsa.token_alg("RS256", &oidc)),
        ("rs384", rsa.token_alg("RS384", &oidc)),
        ("ps256", rsa.token_alg("PS256", &oidc)),
        ("ps512", rsa.token_alg("PS512", &cog)),
        ("es256", testkit::p256().token(&oidc)),
        ("eddsa", testkit::ed25519().token(&cog)),
        ("fuzz-eddsa", fuzz_signed(&json!({"alg": "EdDSA", "kid": FUZZ_KID, "typ": "JWT"}), &oidc)),
        ("alg-none", format!("{}.{}.", b64::encode(br#"{"alg":"none"}"#), b64::encode(oidc.to_string().as_bytes()))),
        (
            "hs256",
            format!("{}.{}.c2ln", b64::encode(br#"{"alg":"HS256","kid":"rsa-a"}"#), b64::encode(oidc.to_string().as_bytes())),
        ),
    ];
    for (name, tok) in &signed {
        for (i, mode) in [0u8, 2, 4, 6].iter().enumerate() {
            out.push((format!("raw-{name}-{i}"), raw(*mode, tok)));
        }
    }
    let header = json!({"alg": "EdDSA", "kid": FUZZ_KID});
    for (name, claims) in [("oidc", &oidc), ("cognito", &cog)] {
        for (i, mode) in [1u8, 3, 5, 7].iter().enumerate() {
            let mut v = vec![*mode];
            v.extend_from_slice(header.to_string().as_bytes());
            v.push(b'\n');
            v.extend_from_slice(claims.to_string().as_bytes());
            out.push((format!("signed-{name}-{i}"), v));
        }
    }
    out
}

fn jwks_seeds() -> Vec<(String, Vec<u8>)> {
    let all = [testkit::rsa_a(), testkit::rsa_3072(), testkit::p256(), testkit::p384(), testkit::ed25519()];
    let mut out: Vec<(String, Vec<u8>)> =
        all.iter().map(|k| (format!("jwk-{}", k.kid), k.jwk().to_string().into_bytes())).collect();
    let refs: Vec<&testkit::TestKey> = all.iter().collect();
    out.push(("jwks-all".into(), testkit::jwks(&refs).to_string().into_bytes()));
    out.push((
        "jwks-mixed".into(),
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
                        testkit::rsa_a().jwk_without_alg(), {"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"}]})
        .to_string()
        .into_bytes(),
    ));
    out
}

fn config_seeds() -> Vec<(String, Vec<u8>)> {
    let harness = expected_harness();
    vec![
        ("harness".into(), harness["config"].to_string().into_bytes()),
        (
            "cognito-remote".into(),
            json!({"providers": {"cognito": {"cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_AbCdEf123",
                   "token_use": "access", "client_ids": ["app"]}, "jwks": {"cluster": "cognito_idp", "refresh_seconds": 600}}},
                   "rules": [{"match": {"prefix": "/healthz"}, "requires": "none"}],
                   "on_keys_unavailable": "unauthenticated", "cache": {"max_entries": 10, "max_bytes": 4096}})
            .to_string()
            .into_bytes(),
        ),
        (
            "discovery".into(),
            json!({"providers": {"auth0": {"issuer": "https://example.eu.auth0.com/", "audiences": ["https://api"],
                   "jwks": {"cluster": "auth0", "discovery": true}, "from_headers": [{"name": "x-token", "prefix": ""}]}},
                   "crypto": "pure_rust", "debug": true, "filter_state": true})
            .to_string()
            .into_bytes(),
        ),
    ]
}

/// `e (4 bytes) || n || s` with n and s of equal length: the differential RSA target.
///
/// Random inputs of 512 bytes and more almost never reach the carry edge cases of the
/// Montgomery code (a column sum that overflows, a final subtraction that is needed or must
/// not happen), so besides real signatures the corpus holds structured values: moduli that are
/// all-ones, sparse (one bit per limb, 2^(k-1)+1), half ones, or with an all-ones low limb, at
/// 2048, 2056 (a partial top limb), 3072 and 8192 bits; exponents 3, 65537 and 2^32-1; and
/// signatures 0, 1, n-1, n-2, all-ones below n, one bit per limb, n and n+1.
fn rsa_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for k in [testkit::rsa_a(), testkit::rsa_3072()] {
        let jwk = k.jwk();
        let n = b64::decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = b64::decode(jwk["e"].as_str().unwrap()).unwrap();
        let sig = k.sign("RS256", b"header.payload");
        out.push((format!("{}-sig", k.kid), rsa_input(&e, &n, &sig)));
    }
    for (bits, shape, n) in structured_moduli() {
        let len = bits.div_ceil(8);
        for (e_name, e) in [("e3", 3u32), ("e65537", 65537), ("e2^32-1", u32::MAX)] {
            for (s_name, s) in structured_signatures(&n, bits) {
                let name = format!("{bits}-{shape}-{e_name}-s-{s_name}");
                out.push((name, rsa_input(&e.to_be_bytes(), &be(&n, len), &be(&s, len))));
            }
        }
    }
    out
}

fn rsa_input(e: &[u8], n: &[u8], s: &[u8]) -> Vec<u8> {
    assert_eq!(n.len(), s.len(), "the rsa target splits n and s evenly");
    let mut v = vec![0u8; 4 - e.len()];
    v.extend_from_slice(e);
    v.extend_from_slice(n);
    v.extend_from_slice(s);
    v
}

fn be(v: &BigUint, len: usize) -> Vec<u8> {
    let b = v.to_bytes_be();
    let mut out = vec![0u8; len.saturating_sub(b.len())];
    out.extend_from_slice(&b);
    out
}

fn ones(bits: usize) -> BigUint {
    (BigUint::from(1u8) << bits) - BigUint::from(1u8)
}

fn bit_per_limb(bits: usize, shift: usize) -> BigUint {
    (shift..bits).step_by(32).fold(BigUint::from(0u8), |v, i| v | (BigUint::from(1u8) << i))
}

fn structured_moduli() -> Vec<(usize, &'static str, BigUint)> {
    let one = BigUint::from(1u8);
    let mut out = Vec::new();
    for bits in [2048usize, 2056, 3072, 8192] {
        let top = &one << (bits - 1);
        out.push((bits, "all-ones", ones(bits)));
        out.push((bits, "2^(k-1)+1", &top + &one));
        out.push((bits, "bit-per-limb", bit_per_limb(bits, 0) | &top));
        out.push((bits, "high-half-ones", (ones(bits) >> (bits / 2) << (bits / 2)) | &one));
        out.push((bits, "low-limb-ones", &top | ones(32) | (&one << (bits / 3))));
    }
    out
}

fn structured_signatures(n: &BigUint, bits: usize) -> Vec<(&'static str, BigUint)> {
    let one = BigUint::from(1u8);
    let mut out = vec![
        ("0", BigUint::from(0u8)),
        ("1", one.clone()),
        ("n-1", n - &one),
        ("n-2", n - BigUint::from(2u8)),
        ("ones-below-n", ones(bits - 1)),
        ("bit-per-limb", bit_per_limb(bits - 1, 31)),
        ("n", n.clone()),
        ("n+1", n + &one),
    ];
    // n+1 can need one more byte than n (all-ones moduli): the target would split it unevenly.
    out.retain(|(_, s)| s.to_bytes_be().len() <= bits.div_ceil(8));
    out
}

#[test]
fn structured_rsa_seeds_reach_the_arithmetic() {
    // Every structured modulus must pass key loading, or its seeds stop at the size and
    // exponent checks and never reach the Montgomery code.
    let seeds = rsa_seeds();
    let mut loaded = 0;
    for (name, input) in &seeds {
        let (e, rest) = input.split_at(4);
        let k = rest.len() / 2;
        let key = RsaPublicKey::new(&rest[..k], e).unwrap_or_else(|err| panic!("seed {name}: key refused: {err:?}"));
        assert_eq!(key.modulus_len(), k, "seed {name}");
        loaded += 1;
    }
    assert!(loaded > 400, "{loaded} structured RSA seeds");
}

#[test]
fn harness_accepts_its_seed_tokens_and_seeds_are_written_on_request() {
    let want = expected_harness();
    if std::env::var_os("UPDATE_FUZZ_HARNESS").is_some() {
        std::fs::write(harness_path(), serde_json::to_string_pretty(&want).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(harness_path()).expect("fuzz/harness.json");
    let harness: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(harness, want, "fuzz/harness.json is stale: rerun with UPDATE_FUZZ_HARNESS=1");
    let config = Config::parse(harness["config"].to_string().as_bytes()).unwrap();

    let rsa = testkit::rsa_a();
    assert!(accepted(&config, "/", &rsa.token_alg("RS256", &oidc_claims())));
    assert!(accepted(&config, "/", &rsa.token_alg("PS256", &oidc_claims())));
    assert!(accepted(&config, "/", &testkit::p256().token(&oidc_claims())));
    assert!(accepted(&config, "/admin", &testkit::ed25519().token(&cognito_claims())));
    let fuzz_token = fuzz_signed(&json!({"alg": "EdDSA", "kid": FUZZ_KID}), &oidc_claims());
    assert!(accepted(&config, "/soft/x", &fuzz_token));
    assert!(!accepted(&config, "/admin", &fuzz_token), "oidc token on a cognito-only rule");

    let Some(dir) = std::env::var_os("FUZZ_SEEDS_DIR") else { return };
    let dir = PathBuf::from(dir);
    for (target, seeds) in [("token", token_seeds()), ("jwks", jwks_seeds()), ("config", config_seeds()), ("rsa", rsa_seeds())] {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(d.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}
