//! What the core costs per request, natively: `make bench`'s requests (Cognito access tokens,
//! RS256, the bench configuration) through `authenticate`, with the host's signature check
//! answered at once, so what is left is the module's own work on the request path.
//!
//! - `cold`: the cache off and 200 distinct tokens in turn: extract, base64url, JSON header and
//!   payload, claims, the user header (every request of `make bench`'s cold rows).
//! - `warm`: the cache on and one token: the SHA-256 fingerprint and a cache hit.
//!
//! `cargo run --release -p jwt-core --example request_cost -- cold 200000` prints the time per
//! request. For instruction counts, which repeat from run to run on a busy machine, build it
//! with symbols and run it under callgrind:
//! `CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 cargo build --release -p jwt-core --example request_cost`,
//! then `valgrind --tool=callgrind target/release/examples/request_cost cold 20000`.
//! (Natively `sha2` may use the CPU's SHA instructions, which the module cannot.)

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use jwt_core::authn::{self, Context, InlineKeys};
use jwt_core::cache::TokenCache;
use jwt_core::config::Config;
use jwt_core::crypto::{HostAnswer, HostVerifier};
use jwt_core::extract::RequestView;
use serde_json::json;
use std::time::Instant;

/// Envoy's `verify_signature`, answering "valid" at once.
struct Valid;

impl HostVerifier for Valid {
    fn verify(&self, hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> HostAnswer {
        std::hint::black_box((hash, spki, sig, msg));
        HostAnswer::Valid
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let warm = match args.next().as_deref() {
        Some("warm") => true,
        Some("cold") | None => false,
        Some(other) => panic!("cold or warm, not {other:?}"),
    };
    let n: usize = args.next().map_or(200_000, |s| s.parse().expect("a request count"));
    let key = testkit::rsa_a();
    let iss = testkit::cognito_issuer("us-east-1", "us-east-1_BenchPool");
    let mut claims = testkit::cognito_access(&iss, "bench-client", "user");
    claims["exp"] = json!(testkit::now() + 6 * 3600);
    let headers: Vec<String> = (0..if warm { 1 } else { 200 })
        .map(|i| {
            claims["jti"] = json!(format!("bench-{i}"));
            claims["username"] = json!(format!("user{i}"));
            format!("Bearer {}", key.token(&claims))
        })
        .collect();
    let doc = json!({
        "providers": {"cognito": {
            "cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_BenchPool", "token_use": "access",
                        "client_ids": ["bench-client"]},
            "jwks": {"inline": testkit::jwks(&[&key])},
        }},
        "cache": {"max_entries": if warm { 10_000 } else { 0 }},
    });
    let cfg = Config::parse(doc.to_string().as_bytes()).unwrap();
    let keys = InlineKeys(&cfg);
    let ctx = Context { config: &cfg, keys: &keys, host: Some(&Valid), now: testkit::now() };
    let mut cache = TokenCache::new(cfg.cache.max_entries, cfg.cache.max_bytes);
    let start = Instant::now();
    for i in 0..n {
        let value = headers[i % headers.len()].as_bytes();
        let hs: [(&str, &[u8]); 3] = [(":authority", b"localhost"), ("user-agent", b"wrk"), ("authorization", value)];
        let req = RequestView { method: "GET", path: "/api", headers: &hs };
        let o = authn::authenticate(&ctx, &req, &mut cache);
        assert!(o.decision.is_ok(), "{:?}", o.decision.err());
        std::hint::black_box(&o);
    }
    let label = if warm { "warm (cache hit)" } else { "cold (cache off)" };
    println!("{label}: {:.2} µs per request, natively", start.elapsed().as_secs_f64() * 1e6 / n as f64);
}
