//! What one verified-token cache entry costs in memory: 2,000 distinct Cognito access tokens
//! built like `make bench`'s (`testkit`'s `bench-tokens`: own `jti` and `username` each) go
//! through `authenticate` once each, and a counting global allocator reports the heap bytes
//! (and allocations) still live afterwards, per entry, next to the bytes the cache accounts
//! for its byte bound (`TokenCache::bytes`).
//!
//! `cargo run --release -p jwt-core --example cache_bytes`
//!
//! Native sizes: pointers are 8 bytes here and 4 in wasm32, so the module's entries are
//! somewhat smaller; allocator headers are not counted.

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
// A global allocator is an unsafe trait; this one only counts and forwards to `System`.
#![allow(unsafe_code)]

use jwt_core::authn::{self, Context, InlineKeys};
use jwt_core::cache::TokenCache;
use jwt_core::config::Config;
use jwt_core::extract::RequestView;
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        BYTES.fetch_add(l.size() as isize, Relaxed);
        BLOCKS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        BYTES.fetch_sub(l.size() as isize, Relaxed);
        BLOCKS.fetch_sub(1, Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        BYTES.fetch_add(new as isize - l.size() as isize, Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: usize = 2000;

fn run(label: &str, extra: Value, tokens: &[String]) {
    let key = testkit::rsa_a();
    let mut doc = json!({
        "providers": {"cognito": {
            "cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_BenchPool", "token_use": "access",
                        "client_ids": ["bench-client"]},
            "jwks": {"inline": testkit::jwks(&[&key])},
        }},
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    let cfg = Config::parse(doc.to_string().as_bytes()).unwrap();
    let keys = InlineKeys(&cfg);
    let ctx = Context { config: &cfg, keys: &keys, host: None, now: testkit::now() };
    let mut cache = TokenCache::new(cfg.cache.max_entries, cfg.cache.max_bytes);
    let headers: Vec<String> = tokens.iter().map(|t| format!("Bearer {t}")).collect();
    let (bytes0, blocks0) = (BYTES.load(Relaxed), BLOCKS.load(Relaxed));
    for h in &headers {
        let hs: [(&str, &[u8]); 1] = [("authorization", h.as_bytes())];
        let req = RequestView { method: "GET", path: "/", headers: &hs };
        let o = authn::authenticate(&ctx, &req, &mut cache);
        assert!(o.decision.is_ok(), "{:?}", o.decision.err());
    }
    let (bytes, blocks) = (BYTES.load(Relaxed) - bytes0, BLOCKS.load(Relaxed) - blocks0);
    assert_eq!(cache.len(), N);
    let token_len = tokens.iter().map(String::len).sum::<usize>() / N;
    println!(
        "{label:<28} {:>6} B/entry live ({:>5.1} allocations), {:>6} B/entry accounted; token {token_len} B",
        bytes as usize / N,
        blocks as f64 / N as f64,
        cache.bytes() / N,
    );
}

fn main() {
    let key = testkit::rsa_a();
    let iss = testkit::cognito_issuer("us-east-1", "us-east-1_BenchPool");
    let mut base = testkit::cognito_access(&iss, "bench-client", "user");
    base["exp"] = json!(testkit::now() + 6 * 3600);
    let tokens: Vec<String> = (0..N)
        .map(|i| {
            base["jti"] = json!(format!("bench-{i}"));
            base["username"] = json!(format!("user{i}"));
            key.token(&base)
        })
        .collect();
    run("bench config", json!({}), &tokens);
    run(
        "filter_state + groups authz",
        json!({"filter_state": true,
               "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "cognito"}, "groups": ["users"]}]}),
        &tokens,
    );
}
