//! The Envoy HTTP filter: a thin proxy-wasm adapter around `jwt-core`.
//!
//! - [`Root`] (one per worker VM): reads and checks the configuration in `on_configure`,
//!   ticks the JWKS lifecycle (reading keys the `jwks-fetcher` publishes, or fetching them
//!   itself when no fetcher runs), and resumes requests that waited for a kid-miss refetch.
//! - [`Filter`] (one per request): hands the request to [`worker::Worker::handle`].
//!
//! - [`jwks_fetcher::Fetcher`]: the same module loaded with `root_id: jwks-fetcher` is the
//!   fetcher service ([`roles`]).
//!
//! Every host call of the request path and the tick goes through [`host::FilterHost`]:
//! [`host::EnvoyHost`] in Envoy, a fake in the adapter tests (`cargo test -p jwt-filter --lib`).
//! `RefCell` borrows use `try_borrow_mut`, so a re-entrant callback is refused rather than
//! aborting the VM.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

#[cfg(test)]
mod fake;
pub mod host;
pub mod roles;
pub mod state;
#[cfg(test)]
mod tests;
pub mod worker;

use host::{EnvoyHost, FilterHost};
use jwt_core::config::Config;
use jwt_core::error::Fault;
use jwt_core::worker::Attempt;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_host::abi;
use wasm_host::dispatch::{Action, HttpContext, RootContext};
use worker::{Verdict, Worker};

/// How often a worker reads published keys, starts due fetches, checks waiting requests,
/// reads the clock and hands its counts to Envoy.
const TICK: Duration = Duration::from_millis(100);

#[cfg(target_arch = "wasm32")]
wasm_host::main! {{
    wasm_host::logging::init("jwt-filter");
    // One module, two roles: the filter, or the jwks-fetcher when the plugin's root_id says so.
    wasm_host::dispatch::set_root_factory(roles::new_root);
}}

/// A configured worker VM and its host.
pub struct Vm {
    /// The worker state.
    pub worker: Worker,
    /// The host calls.
    pub host: EnvoyHost,
}

/// The root context of a worker VM.
pub struct Root {
    context_id: u32,
    vm: Option<Rc<RefCell<Vm>>>,
}

impl Root {
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    fn new(context_id: u32) -> Root {
        Root { context_id, vm: None }
    }
}

impl RootContext for Root {
    fn on_http_call_response(&mut self, token_id: u32, _headers: usize, _body: usize, _trailers: usize) {
        let Some(vm) = &self.vm else { return };
        let Ok(mut vm) = vm.try_borrow_mut() else { return };
        let Vm { worker, host } = &mut *vm;
        worker.on_response(host, token_id);
    }

    fn on_done(&mut self) -> bool {
        if let Some(Ok(mut vm)) = self.vm.as_ref().map(|vm| vm.try_borrow_mut()) {
            let Vm { worker, host } = &mut *vm;
            worker.on_done(host);
        }
        true
    }

    fn on_configure(&mut self, size: usize) -> bool {
        wasm_host::logging::sync_level();
        let config = match wasm_host::plugin_config(size)
            .map_err(|e| e.to_string())
            .and_then(|raw| Config::parse(&raw).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                // Critical, so it shows at Envoy's default log level next to the rejection.
                abi::log(abi::Level::Critical, &format!("jwt-filter: {e}"));
                return false;
            }
        };
        let mut host = EnvoyHost::default();
        let mut worker = Worker::new(config, self.context_id, abi::now_ns());
        wasm_host::build_info::announce("jwt-filter", &mut worker.metrics);
        worker.refresh_keys(&host, host.now_ms());
        worker.metrics.flush(host.metrics());
        let providers: Vec<&str> = worker.config.providers.iter().map(|p| p.name.as_str()).collect();
        log::info!(
            "jwt-filter: configured {} provider(s) [{}], {} rule(s), {} remote JWKS source(s)",
            providers.len(),
            providers.join(", "),
            worker.config.rules.len(),
            worker.keys.coordinator.sources.len()
        );
        self.vm = Some(Rc::new(RefCell::new(Vm { worker, host })));
        if let Err(s) = abi::set_tick_period(TICK) {
            log::error!("jwt-filter: cannot set the tick period (status {}); keys will not refresh", s.0);
        }
        true
    }

    fn on_tick(&mut self) {
        let Some(vm) = &self.vm else { return };
        let resume = match vm.try_borrow_mut() {
            Ok(mut vm) => {
                let Vm { worker, host } = &mut *vm;
                worker.tick(host)
            }
            Err(_) => return,
        };
        for context_id in resume {
            if abi::set_effective_context(context_id).is_err() {
                continue; // the client went away while the request waited
            }
            let verdict = match vm.try_borrow_mut() {
                Ok(mut vm) => {
                    let Vm { worker, host } = &mut *vm;
                    worker.handle(host, context_id, Attempt::Resumed)
                }
                Err(_) => Verdict::Stop,
            };
            if verdict == Verdict::Continue {
                let _ = abi::resume_request();
            }
        }
    }

    fn new_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { context_id, vm: self.vm.clone() }))
    }
}

/// The context of one request.
pub struct Filter {
    context_id: u32,
    vm: Option<Rc<RefCell<Vm>>>,
}

impl HttpContext for Filter {
    fn on_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let verdict = match self.vm.as_ref().map(|vm| vm.try_borrow_mut()) {
            Some(Ok(mut vm)) => {
                let Vm { worker, host } = &mut *vm;
                worker.handle(host, self.context_id, Attempt::First)
            }
            _ => {
                // Not configured, or re-entered: fail closed.
                worker::send_fault(&mut EnvoyHost::default(), Fault::NotReady);
                Verdict::Stop
            }
        };
        match verdict {
            Verdict::Continue => Action::Continue,
            Verdict::Stop => Action::Pause,
        }
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        if let Some(Ok(mut vm)) = self.vm.as_ref().map(|vm| vm.try_borrow_mut()) {
            vm.worker.forget(self.context_id);
        }
    }
}
