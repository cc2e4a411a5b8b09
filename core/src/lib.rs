//! The pure core of the JWT filter. It knows nothing of proxy-wasm: the filter and the
//! `jwks-fetcher` are thin adapters around it, and everything here is tested natively.
//!
//! - [`extract`]: where tokens live in a request.
//! - [`jws`], [`json`], [`b64`]: strict parsing of compact JWS.
//! - [`jwk`], [`der`], [`crypto`]: the key model and signature verification (host or pure Rust).
//! - [`claims`], [`policy`]: claim checks (401) and authorization checks (403).
//! - [`config`], [`rules`], [`regex`], [`output`]: the configuration, routing (with our own
//!   small regex matcher for path rules), and upstream headers.
//! - [`authn`], [`cache`]: the per-request decision and the verified-token cache.
//! - [`error`]: one refusal enum and the one function that maps it to a reply.
//! - [`trace`]: the steps of a decision, for `jwt-filter explain` (a no-op in the filter).
//! - [`shared`], [`lifecycle`]: the shared-data records and the JWKS fetch schedule that all
//!   workers and the fetcher agree on.
//! - [`worker`]: a filter worker's request-path policy (clock, re-check, kid-miss waits).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod authn;
pub mod b64;
pub mod cache;
pub mod claims;
pub mod config;
pub mod crypto;
pub mod der;
pub mod error;
pub mod extract;
pub mod json;
pub mod jwk;
pub mod jws;
pub mod lifecycle;
pub mod output;
pub mod policy;
pub mod regex;
pub mod rules;
pub mod shared;
pub mod trace;
pub mod worker;
