//! Shared by the fuzz targets: the fixed harness (`../harness.json`, checked against the test
//! keys by `core/tests/fuzz_seeds.rs`), a key store over its inline keys, and host stubs.

#![allow(dead_code)] // each target uses a part of it

use jwt_core::authn::{self, Context, InlineKeys, Outcome};
use jwt_core::cache::TokenCache;
use jwt_core::config::Config;
use jwt_core::crypto::{HostAnswer, HostVerifier};
use jwt_core::extract::RequestView;

/// The fixed configuration and clock the token target runs against.
pub struct Harness {
    pub config: Config,
    pub now: u64,
}

pub fn harness() -> Harness {
    let doc: serde_json::Value = serde_json::from_str(include_str!("../harness.json")).expect("fuzz/harness.json is JSON");
    let config = Config::parse(doc["config"].to_string().as_bytes()).expect("harness config is valid");
    Harness { config, now: doc["now"].as_u64().expect("harness now") }
}

/// Keys: inline sets are ready, remote ones unavailable (nothing is fetched while fuzzing).
/// A host whose `verify_signature` always says "invalid": exercises the DER conversion and
/// the host branch without any crypto library in the fuzz build.
pub struct RefusingHost;

impl HostVerifier for RefusingHost {
    fn verify(&self, _: &str, _: &[u8], _: &[u8], _: &[u8]) -> HostAnswer {
        HostAnswer::Invalid
    }
}

/// A host without the foreign function: every call falls back to pure Rust.
pub struct AbsentHost;

impl HostVerifier for AbsentHost {
    fn verify(&self, _: &str, _: &[u8], _: &[u8], _: &[u8]) -> HostAnswer {
        HostAnswer::Unavailable
    }
}

/// Runs the authenticator on one request, then renders the refusal as the adapter would.
pub fn decide(
    config: &Config,
    now: u64,
    req: &RequestView<'_>,
    host: Option<&dyn HostVerifier>,
    cache: &mut TokenCache,
) -> Outcome {
    let keys = InlineKeys(config);
    let ctx = Context { config, keys: &keys, host, now };
    let outcome = authn::authenticate(&ctx, req, cache);
    if let Err(deny) = &outcome.decision {
        let reply = jwt_core::error::reply(&deny.error, &config.reply, deny.retry_after);
        std::hint::black_box(reply);
    }
    outcome
}
