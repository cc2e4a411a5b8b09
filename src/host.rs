//! What the filter needs from its host, as one trait: [`FilterHost`]. [`EnvoyHost`] implements
//! it on proxy-wasm host calls (through `wasm_host::abi`, which never panics); the adapter
//! tests implement it with a fake (`src/fake.rs`), so the request path runs natively.

use jwt_core::crypto::HostVerifier;
use jwt_core::lifecycle::{HttpClient, SharedStore};
use wasm_host::abi::{self, Map};
use wasm_host::metrics::{EnvoyMetrics, MetricSink};
use wasm_host::store::{EnvoyHttp, EnvoyStore, EnvoyVerifier};

/// The host calls of the request path and the tick, for the current HTTP context.
pub trait FilterHost {
    /// The host clock, ms since the epoch.
    fn now_ms(&self) -> u64;
    /// The request headers in the proxy-wasm serialized map form (read them with
    /// `wasm_host::abi::decode_map`); `None` when the host refuses.
    fn request_headers(&self) -> Option<Vec<u8>>;
    /// Removes a request header (every value).
    fn remove_header(&mut self, name: &str);
    /// Sets a request header, replacing any value.
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), String>;
    /// Answers the request locally. `details` shows in `%RESPONSE_CODE_DETAILS%`.
    fn send_reply(&mut self, status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(), String>;
    /// Sets filter state `wasm.<name>` for access logs and RBAC.
    fn set_state(&mut self, name: &str, value: &str);
    /// Envoy's signature verifier, when the host offers one.
    fn verifier(&self) -> Option<&dyn HostVerifier>;
    /// Shared data (read on the request path when keys are unavailable or a kid is unknown).
    fn store(&self) -> &dyn SharedStore;
    /// Shared data and the HTTP client, for the JWKS lifecycle's tick.
    fn lifecycle(&mut self) -> (&dyn SharedStore, &mut dyn HttpClient);
    /// Where counters and gauges go.
    fn metrics(&mut self) -> &mut dyn MetricSink;
    /// The `:status` (`None` when the call failed) and up to `max_body` bytes of body of the
    /// call response being delivered.
    fn call_response(&self, max_body: usize) -> (Option<u32>, Option<Vec<u8>>);
}

/// The host: Envoy, through proxy-wasm.
pub struct EnvoyHost {
    verifier: EnvoyVerifier,
    http: EnvoyHttp,
    metrics: EnvoyMetrics,
}

impl Default for EnvoyHost {
    fn default() -> Self {
        EnvoyHost { verifier: EnvoyVerifier::default(), http: EnvoyHttp, metrics: EnvoyMetrics }
    }
}

impl FilterHost for EnvoyHost {
    fn now_ms(&self) -> u64 {
        abi::now_ms()
    }

    fn request_headers(&self) -> Option<Vec<u8>> {
        abi::map_raw(Map::RequestHeaders).ok()
    }

    fn remove_header(&mut self, name: &str) {
        let _ = abi::remove_map_value(Map::RequestHeaders, name);
    }

    fn set_header(&mut self, name: &str, value: &str) -> Result<(), String> {
        abi::set_map_value(Map::RequestHeaders, name, value).map_err(|s| format!("status {}", s.0))
    }

    fn send_reply(&mut self, status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(), String> {
        abi::send_local_response(status, details, headers, body).map_err(|s| format!("status {}", s.0))
    }

    fn set_state(&mut self, name: &str, value: &str) {
        if let Err(s) = abi::set_property(&[name], value.as_bytes()) {
            log::debug!("jwt-filter: cannot set filter state {name} (status {})", s.0);
        }
    }

    fn verifier(&self) -> Option<&dyn HostVerifier> {
        Some(&self.verifier)
    }

    fn store(&self) -> &dyn SharedStore {
        &EnvoyStore
    }

    fn lifecycle(&mut self) -> (&dyn SharedStore, &mut dyn HttpClient) {
        (&EnvoyStore, &mut self.http)
    }

    fn metrics(&mut self) -> &mut dyn MetricSink {
        &mut self.metrics
    }

    fn call_response(&self, max_body: usize) -> (Option<u32>, Option<Vec<u8>>) {
        wasm_host::store::call_response(max_body)
    }
}
