//! What one hostile token costs, worst case: a PS512 token without `kid` against a provider
//! with 64 RSA-8192 keys (the most a JWKS may hold, at the largest size accepted; PS* always
//! runs in pure Rust). Before the one-key rule the token was tried against every key; now it
//! is refused before any signature check. For scale, one signature check with one key.
//!
//! `cargo run --release -p jwt-core --example verify_cost`
//!
//! The keys are public moduli only (odd, top bit set, pseudo-random): a failed verification
//! does the same work with any modulus of that size.

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use jwt_core::authn::{self, Context, InlineKeys};
use jwt_core::b64;
use jwt_core::cache::TokenCache;
use jwt_core::config::Config;
use jwt_core::crypto;
use jwt_core::error::Denial;
use jwt_core::extract::RequestView;
use jwt_core::jwk::MAX_KEYS;
use jwt_core::jws::{self, Alg};
use serde_json::json;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ISS: &str = "https://idp.example/";
const BITS: usize = 8192;

struct Rng(u64);

impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

/// CPU time of this thread (Linux: `/proc/thread-self/schedstat`, nanoseconds on CPU), so a
/// busy machine does not inflate the figures; wall time elsewhere. The kernel updates it at
/// ticks and switches, so each sample runs long enough (about 0.1 s) to make that negligible.
fn cpu_now() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(s.split_whitespace().next()?.parse().ok()?))
}

/// The median over `runs` samples of the time per call, each sample `iters` calls.
fn median(f: &mut dyn FnMut(), runs: usize, iters: u32) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let (wall, cpu) = (Instant::now(), cpu_now());
            for _ in 0..iters {
                f();
            }
            let spent = match (cpu, cpu_now()) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => wall.elapsed(),
            };
            spent / iters
        })
        .collect();
    t.sort();
    t[runs / 2]
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let keys: Vec<_> = (0..MAX_KEYS)
        .map(|i| {
            let mut n = rng.bytes(BITS / 8);
            n[0] |= 0x80;
            n[BITS / 8 - 1] |= 1;
            json!({"kty": "RSA", "kid": format!("k{i}"), "n": b64::encode(&n), "e": "AQAB"})
        })
        .collect();
    let config = json!({"providers": {"idp": {"issuer": ISS, "audiences": ["api"], "jwks": {"inline": {"keys": keys}}}}});
    let config = Config::parse(config.to_string().as_bytes()).expect("config");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let header = b64::encode(br#"{"alg":"PS512","typ":"JWT"}"#);
    let payload = b64::encode(json!({"iss": ISS, "aud": "api", "exp": now + 3600}).to_string().as_bytes());
    let mut sig = rng.bytes(BITS / 8);
    sig[0] = 0x01; // below every modulus, so each key runs the full modular exponentiation
    let token = format!("{header}.{payload}.{}", b64::encode(&sig));
    let jws = jws::parse(&token, config.max_token_bytes).expect("token parses");
    let set = match &config.providers[0].keys {
        jwt_core::config::KeySource::Inline(set) => set,
        _ => unreachable!("inline keys"),
    };
    assert_eq!(set.keys.len(), MAX_KEYS);

    // Before: every key that allows PS512 was tried.
    let mut before = || {
        let mut n = 0;
        for key in set.candidates(None, Alg::PS512) {
            n += 1;
            assert!(crypto::verify(
                Alg::PS512,
                &key.material,
                key.spki.as_deref(),
                jws.signing_input.as_bytes(),
                &jws.signature,
                None
            )
            .is_none());
        }
        assert_eq!(n, MAX_KEYS);
    };
    // One signature check with one key (what a token with a kid costs).
    let key = set.keys.first().expect("a key");
    let mut one = || {
        assert!(crypto::verify(
            Alg::PS512,
            &key.material,
            key.spki.as_deref(),
            jws.signing_input.as_bytes(),
            &jws.signature,
            None
        )
        .is_none());
    };
    // After: the whole request through the authenticator, cache off.
    let value = format!("Bearer {token}");
    let headers = [("authorization", value.as_bytes())];
    let req = RequestView { method: "GET", path: "/", headers: &headers };
    let store = InlineKeys(&config);
    let ctx = Context { config: &config, keys: &store, host: None, now };
    let mut cache = TokenCache::new(0, 0);
    let mut after = || {
        let o = authn::authenticate(&ctx, &req, &mut cache);
        assert_eq!(o.decision.err().map(|d| d.error.denial), Some(Denial::KidRequired));
    };

    let before_t = median(&mut before, 5, 1);
    let one_t = median(&mut one, 5, 64);
    let after_t = median(&mut after, 5, 20_000);
    let clock = if cpu_now().is_some() { "thread CPU time" } else { "wall time" };
    println!("{MAX_KEYS} RSA-{BITS} keys, PS512 token without kid, pure Rust, native (median {clock}):");
    println!("  before (every key tried):        {:>10.1} ms", before_t.as_secs_f64() * 1e3);
    println!("  one signature check (one key):   {:>10.1} ms", one_t.as_secs_f64() * 1e3);
    println!(
        "  after (refused, kid_required):   {:>10.1} µs (whole request: extract, parse, refuse)",
        after_t.as_secs_f64() * 1e6
    );
}
