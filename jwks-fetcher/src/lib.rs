//! The `jwks-fetcher`: a singleton Envoy `WasmService` (bootstrap extension) that fetches every
//! remote JWKS once for all workers and publishes it to shared data, where the filter's
//! workers (same `vm_id`) read it.
//!
//! It takes the same configuration document as the filter (only `providers` matter here) and
//! runs the core's lifecycle in the service role: while its heartbeat is fresh, workers never
//! fetch. Everything else (lease, refresh, backoff, kid-miss refetch) is shared code.
//!
//! This crate is the fetcher's code; it is built into the filter's module (`jwt-filter`'s
//! `roles`), which runs it when the plugin's `root_id` is `jwks-fetcher`. One module for both
//! roles lets Envoy compile it once for the fetcher and the workers (same `vm_id`).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use jwt_core::config::Config;
use jwt_core::lifecycle::Role;
use std::time::Duration;
use wasm_host::abi;
use wasm_host::dispatch::RootContext;
use wasm_host::keys::KeyRuntime;
use wasm_host::metrics::Metrics;

/// How often the fetcher renews its heartbeat and looks for due fetches and kid-miss requests.
const TICK: Duration = Duration::from_millis(100);

/// The fetcher's root context.
pub struct Fetcher {
    context_id: u32,
    keys: Option<KeyRuntime>,
    metrics: Metrics,
}

impl Fetcher {
    /// A fetcher root context, not yet configured.
    pub fn new(context_id: u32) -> Fetcher {
        Fetcher { context_id, keys: None, metrics: Metrics::default() }
    }
}

impl RootContext for Fetcher {
    fn on_http_call_response(&mut self, token_id: u32, _headers: usize, _body: usize, _trailers: usize) {
        if let Some(k) = &mut self.keys {
            k.on_response(token_id, &mut self.metrics);
        }
    }

    fn on_configure(&mut self, size: usize) -> bool {
        wasm_host::logging::sync_level();
        wasm_host::build_info::announce("jwks-fetcher", &mut self.metrics);
        let config = match wasm_host::plugin_config(size).and_then(|raw| Config::parse(&raw).map_err(|e| e.to_string())) {
            Ok(c) => c,
            Err(e) => {
                abi::log(abi::Level::Critical, &format!("jwks-fetcher: {e}"));
                return false;
            }
        };
        let mut keys = KeyRuntime::new(&config, Role::Service, "jwks-fetcher", self.context_id);
        keys.declare_metrics(&mut self.metrics);
        log::info!("jwks-fetcher: serving {} JWKS source(s): {}", keys.coordinator.sources.len(), keys.labels.join(", "));
        if keys.coordinator.sources.is_empty() {
            log::warn!("jwks-fetcher: no provider has a remote JWKS; nothing to fetch");
        }
        // Workers leave the sources to this service from now on; the first fetch goes out on
        // the first tick, once Envoy's event loop runs (a request sent during initialisation
        // can time out before the loop even starts).
        keys.announce();
        self.keys = Some(keys);
        if let Err(s) = abi::set_tick_period(TICK) {
            log::error!("jwks-fetcher: cannot set the tick period (status {})", s.0);
            return false;
        }
        true
    }

    fn on_tick(&mut self) {
        if let Some(k) = &mut self.keys {
            k.tick(&mut self.metrics);
        }
    }
}
