//! The state of one worker VM (shared by its root context and its HTTP contexts) and the glue
//! that carries out the core's decisions on a [`FilterHost`]: strip output headers, ask the
//! core, follow [`jwt_core::worker`]'s policy (re-check, kid-miss wait), then apply the outcome.

use crate::host::FilterHost;
use jwt_core::authn::{self, Allow, Context, Deny, How, KeyStore, Keys, Pass};
use jwt_core::cache::TokenCache;
use jwt_core::config::{Config, CryptoMode, KeySource};
use jwt_core::crypto::Path;
use jwt_core::error::{self, Denial, Fault, Reply};
use jwt_core::extract::RequestView;
use jwt_core::lifecycle::Role;
use jwt_core::rules::ProviderId;
use jwt_core::worker::{self as policy, Attempt, WorkerState};
use std::rc::Rc;
use wasm_host::abi;
use wasm_host::keys::KeyRuntime;
use wasm_host::metrics::{self, Counter, Metrics};

/// Name of the gauge every worker adds its cache size to.
pub const CACHE_ENTRIES: &str = "cache.entries";

/// Per-worker state.
pub struct Worker {
    /// The compiled configuration.
    pub config: Rc<Config>,
    /// JWKS lifecycle.
    pub keys: KeyRuntime,
    /// Verified-token cache.
    pub cache: TokenCache,
    /// Counters and gauges.
    pub metrics: Metrics,
    /// The request-path policy state: clock, waiting requests, cache generations.
    pub state: WorkerState,
    /// Whether Envoy's verify_signature may be used (unless pure Rust is forced).
    host_crypto: bool,
    /// Per provider: the `allowed` counter.
    allowed: Vec<Counter>,
    hot: HotCounters,
    /// This worker's share of the `cache.entries` gauge, as last added.
    cache_entries: u64,
}

/// Counters the request path bumps, resolved once.
struct HotCounters {
    cache_hit: Counter,
    verify_host: Counter,
    verify_pure: Counter,
}

/// Whether the request was decided now or must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Continue to the next filter.
    Continue,
    /// A local reply was sent, or the request waits: stop iteration.
    Stop,
}

struct View<'a> {
    config: &'a Config,
    keys: &'a KeyRuntime,
    now_ms: u64,
}

impl KeyStore for View<'_> {
    fn keys(&self, p: ProviderId) -> Keys<'_> {
        let provider = self.config.providers.get(p);
        if let Some(KeySource::Inline(set)) = provider.map(|p| &p.keys) {
            return Keys::Ready { set, generation: 0 };
        }
        let source = self.keys.provider_source.get(p).copied().flatten().and_then(|i| self.keys.coordinator.sources.get(i));
        match source {
            Some(s) => match s.keys() {
                Some((set, generation)) => Keys::Ready { set, generation },
                None => Keys::Unavailable { retry_after: s.retry_after(self.now_ms) },
            },
            None => Keys::Unavailable { retry_after: 1 },
        }
    }
}

fn provider_label(config: &Config, p: Option<ProviderId>) -> &str {
    p.and_then(|p| config.providers.get(p)).map_or("unknown", |p| p.name.as_str())
}

/// Sends a local reply; `details` shows in `%RESPONSE_CODE_DETAILS%`.
pub fn send(host: &mut dyn FilterHost, reply: &Reply, reason: &str) {
    let headers: Vec<(&str, &str)> = reply.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Err(e) = host.send_reply(reply.status, &error::details(reason), &headers, reply.body.as_bytes()) {
        log::error!("jwt-filter: cannot send the {} reply ({e})", reply.status);
    }
}

/// Answers a request the filter cannot judge (see [`Fault`]).
pub fn send_fault(host: &mut dyn FilterHost, fault: Fault) {
    send(host, &error::fault_reply(fault), fault.reason());
}

/// Refuses a request whose headers the host would not hand over (`what`: read or decode).
#[cold]
#[inline(never)]
fn headers_fault(host: &mut dyn FilterHost, what: &str) -> Verdict {
    log::error!("jwt-filter: cannot {what} request headers; refusing the request");
    send_fault(host, Fault::Headers);
    Verdict::Stop
}

impl Worker {
    /// Builds the worker state for a configuration, at host time `now_ns`.
    pub fn new(config: Config, root_context_id: u32, now_ns: u64) -> Worker {
        let keys = KeyRuntime::at(&config, Role::Worker, "jwt-filter", root_context_id, now_ns);
        let mut metrics = Metrics::default();
        keys.declare_metrics(&mut metrics);
        let allowed =
            config.providers.iter().map(|p| metrics.counter(&metrics::name(&["provider", &p.name, "allowed"]))).collect();
        let hot = HotCounters {
            cache_hit: metrics.counter(&metrics::name(&["cache", "hit"])),
            verify_host: metrics.counter(&metrics::name(&["verify", "host"])),
            verify_pure: metrics.counter(&metrics::name(&["verify", "pure_rust"])),
        };
        for p in &config.providers {
            for d in Denial::ALL {
                metrics.declare(&metrics::name(&["provider", &p.name, "denied", d.reason()]));
            }
        }
        for n in Pass::UNVERIFIED.into_iter().chain(["keys_unavailable"]) {
            metrics.declare(&metrics::name(&[n]));
        }
        metrics.gauge_add(&metrics::name(&[CACHE_ENTRIES]), 0);
        let sources = keys.coordinator.sources.len();
        if config.crypto == CryptoMode::PureRust && !jwt_core::crypto::PURE_ECDSA {
            log::warn!(
                "jwt-filter: crypto is pure_rust, but this build has no pure-Rust ECDSA: ES256/ES384/ES512 tokens get 500 no_verifier"
            );
        }
        Worker {
            cache: TokenCache::new(config.cache.max_entries, config.cache.max_bytes),
            host_crypto: config.crypto == CryptoMode::Auto,
            config: Rc::new(config),
            keys,
            metrics,
            state: WorkerState::new(sources, now_ns / 1_000_000),
            allowed,
            hot,
            cache_entries: 0,
        }
    }

    /// Loads keys already published (a reload finds them at once) and drops cache entries of
    /// sources whose keys changed. Returns whether any source's keys changed.
    #[inline(never)]
    pub fn refresh_keys(&mut self, host: &dyn FilterHost, now_ms: u64) -> bool {
        let changed = self.keys.poll_at(now_ms, host.store(), &mut self.metrics);
        self.sync_cache();
        changed
    }

    fn sync_cache(&mut self) {
        self.state.sync_cache(&self.keys.coordinator.sources, &self.keys.provider_source, &mut self.cache);
    }

    /// Periodic work: keys, fetches, cache, counts, waiting requests. Returns the contexts to
    /// resume.
    pub fn tick(&mut self, host: &mut dyn FilterHost) -> Vec<u32> {
        let now = host.now_ms();
        self.state.on_tick(now);
        let (store, http) = host.lifecycle();
        self.keys.tick_at(now, store, http, &mut self.metrics);
        self.sync_cache();
        self.report_cache_entries();
        self.metrics.flush(host.metrics());
        self.state.release(now, &self.keys.coordinator.sources)
    }

    /// Handles the response to an HTTP call; `false` if it was not one of this worker's JWKS
    /// fetches.
    pub fn on_response(&mut self, host: &mut dyn FilterHost, token: u32) -> bool {
        if !self.keys.coordinator.owns(token) {
            return false;
        }
        let (status, body) = host.call_response(self.keys.max_body());
        let now = host.now_ms();
        let (store, http) = host.lifecycle();
        self.keys.on_response_at(token, status, body, now, store, http, &mut self.metrics);
        self.sync_cache();
        self.metrics.flush(host.metrics());
        true
    }

    /// Adds the change in this worker's cache size to the shared gauge, so it reads the sum
    /// over workers.
    fn report_cache_entries(&mut self) {
        let len = self.cache.len() as u64;
        if len != self.cache_entries {
            let delta = i64::try_from(len).unwrap_or(i64::MAX).saturating_sub(i64::try_from(self.cache_entries).unwrap_or(0));
            self.metrics.gauge_add(&metrics::name(&[CACHE_ENTRIES]), delta);
            self.cache_entries = len;
        }
    }

    /// The VM is going away: takes this worker's share out of the shared gauge.
    pub fn on_done(&mut self, host: &mut dyn FilterHost) {
        let share = i64::try_from(self.cache_entries).unwrap_or(i64::MAX);
        self.metrics.gauge_add(&metrics::name(&[CACHE_ENTRIES]), -share);
        self.cache_entries = 0;
        self.metrics.flush(host.metrics());
    }

    /// Forgets a request that ended while it waited.
    pub fn forget(&mut self, context_id: u32) {
        self.state.forget(context_id);
    }

    /// Handles the request of the current HTTP context.
    pub fn handle(&mut self, host: &mut dyn FilterHost, context_id: u32, attempt: Attempt) -> Verdict {
        let Some(raw) = host.request_headers() else {
            return headers_fault(host, "read");
        };
        let Some(headers) = abi::decode_map(&raw) else {
            return headers_fault(host, "decode");
        };
        for h in &self.config.output_headers {
            if headers.iter().any(|(n, _)| n == h) {
                host.remove_header(h);
            }
        }
        let pseudo = |name: &str| {
            headers.iter().find(|(n, _)| *n == name).and_then(|(_, v)| std::str::from_utf8(v).ok()).unwrap_or_default()
        };
        let req = RequestView { method: pseudo(":method"), path: pseudo(":path"), headers: &headers };
        let now_ms = self.state.now_ms(attempt, || host.now_ms());
        let mut outcome = self.authenticate(&*host, &req, now_ms);
        if policy::recheck_keys(&outcome) && self.refresh_keys(&*host, now_ms) {
            outcome = self.authenticate(&*host, &req, now_ms);
        }
        if policy::unknown_kid(&outcome) && self.wait_for_kid(&*host, context_id, attempt, &outcome, now_ms) {
            return Verdict::Stop;
        }
        match outcome.decision {
            Ok(allow) => self.apply_allow(host, &allow),
            Err(deny) => self.apply_deny(host, &deny, &req),
        }
    }

    /// Parks a request whose token names an unknown `kid` until a JWKS refetch, when one may
    /// bring the key; false when it should be judged now.
    // Out of line, like `authenticate` and `apply_deny`: inlined into `handle` they made a
    // 3.8 KB function, and V8's compile memory follows the largest functions (issue 13).
    #[inline(never)]
    fn wait_for_kid(
        &mut self,
        host: &dyn FilterHost,
        context_id: u32,
        attempt: Attempt,
        outcome: &authn::Outcome,
        now_ms: u64,
    ) -> bool {
        let waited = self.state.wait_for_keys(
            attempt,
            context_id,
            &outcome.kid_misses,
            &self.keys.provider_source,
            &mut self.keys.coordinator,
            now_ms,
            host.store(),
        );
        if let Some(ms) = waited {
            log::debug!("jwt-filter: unknown kid; request {context_id} waits for a JWKS refetch (up to {ms} ms)");
            return true;
        }
        false
    }

    #[inline(never)]
    fn authenticate(&mut self, host: &dyn FilterHost, req: &RequestView<'_>, now_ms: u64) -> authn::Outcome {
        let config = Rc::clone(&self.config);
        let view = View { config: &config, keys: &self.keys, now_ms };
        let ctx = Context {
            config: &config,
            keys: &view,
            host: if self.host_crypto { host.verifier() } else { None },
            now: now_ms / 1000,
        };
        authn::authenticate(&ctx, req, &mut self.cache)
    }

    fn apply_allow(&mut self, host: &mut dyn FilterHost, allow: &Allow) -> Verdict {
        for h in &allow.remove_headers {
            host.remove_header(h);
        }
        for (name, value) in &allow.add_headers {
            if let Err(e) = host.set_header(name, value) {
                log::warn!("jwt-filter: cannot set header {name} ({e})");
            }
        }
        if let Some(path) = &allow.new_path {
            let _ = host.set_header(":path", path);
        }
        for id in &allow.identities {
            if let Some(c) = self.allowed.get(id.provider).copied() {
                self.metrics.bump(c);
            }
            let how = match id.how {
                How::Cached => self.hot.cache_hit,
                How::Verified(Path::Host) => self.hot.verify_host,
                How::Verified(Path::PureRust) => self.hot.verify_pure,
            };
            self.metrics.bump(how);
        }
        if allow.pass != Pass::Authenticated {
            self.count_unverified(&allow.pass);
        }
        if self.config.filter_state {
            crate::state::record_allow(host, &self.config, allow);
        }
        Verdict::Continue
    }

    /// Counts (and logs) a request let through without a verified token.
    #[inline(never)]
    fn count_unverified(&mut self, pass: &Pass) {
        if let Pass::FailedAllowed(e) = pass {
            log::debug!("jwt-filter: token refused ({e}) but the rule allows failures");
        }
        self.metrics.count(&metrics::name(&[pass.reason()]));
        if *pass == Pass::KeysUnavailableAllowed {
            self.metrics.count(&metrics::name(&["keys_unavailable"]));
        }
    }

    #[inline(never)]
    fn apply_deny(&mut self, host: &mut dyn FilterHost, deny: &Deny, req: &RequestView<'_>) -> Verdict {
        let denial = deny.error.denial;
        let label = provider_label(&self.config, deny.provider).to_string();
        self.metrics.count(&metrics::name(&["provider", &label, "denied", denial.reason()]));
        if denial == Denial::KeysUnavailable {
            self.metrics.count(&metrics::name(&["keys_unavailable"]));
        }
        let reply = error::reply(&deny.error, &self.config.reply, deny.retry_after);
        log::debug!(
            "jwt-filter: denied {} provider={} reason={} detail=\"{}\" method={} path={}",
            reply.status,
            label,
            denial.reason(),
            deny.error.detail,
            error::sanitize(req.method, 16),
            error::sanitize(req.path_only(), 200),
        );
        if self.config.filter_state {
            crate::state::record_deny(host, deny, &label);
        }
        send(host, &reply, denial.reason());
        Verdict::Stop
    }
}
