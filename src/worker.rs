//! The state of one worker VM (shared by its root context and its HTTP contexts) and the one
//! function that handles a request: strip output headers, ask the core, wait for a kid-miss
//! refetch if worth it, then apply the outcome.

use jwt_core::authn::{self, Allow, Context, Deny, How, KeyStore, Keys, Pass};
use jwt_core::cache::TokenCache;
use jwt_core::config::{Config, CryptoMode, KeySource};
use jwt_core::crypto::{HostVerifier, Path};
use jwt_core::error::{self, Denial};
use jwt_core::extract::RequestView;
use jwt_core::lifecycle::{KidMiss, Role};
use jwt_core::rules::ProviderId;
use std::rc::Rc;
use wasm_host::abi::{self, Map};
use wasm_host::keys::KeyRuntime;
use wasm_host::metrics::{self, Counter, Metrics};
use wasm_host::store::{EnvoyStore, EnvoyVerifier};

/// A request paused while a kid-miss refetch runs.
pub struct Pending {
    /// The paused HTTP context.
    pub context_id: u32,
    /// Give up waiting at this time (ms).
    pub until_ms: u64,
    /// Sources it waits on, with their generation and finished fetch attempts when it paused.
    pub sources: Vec<(usize, u64, u64)>,
}

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
    /// Envoy's verify_signature, unless pure Rust is forced.
    verifier: Option<EnvoyVerifier>,
    /// Requests waiting for new keys.
    pub pending: Vec<Pending>,
    /// Generation of each source the cache was filled with.
    seen_generation: Vec<u64>,
    /// Per provider: the `allowed` counter.
    allowed: Vec<Option<Counter>>,
    hot: HotCounters,
    /// The time, read once per tick (100 ms): reading the host clock costs about 2 µs per
    /// request in V8, and the clock skew allowance (default 60 s) dwarfs the 100 ms.
    clock_ms: u64,
}

/// Counters the request path bumps, resolved once.
struct HotCounters {
    cache_hit: Option<Counter>,
    verify_host: Option<Counter>,
    verify_pure: Option<Counter>,
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

impl Worker {
    /// Builds the worker state for a configuration.
    pub fn new(config: Config, root_context_id: u32) -> Worker {
        let keys = KeyRuntime::new(&config, Role::Worker, "jwt-filter", root_context_id);
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
        for n in ["cors_preflight_bypass", "public", "missing_allowed", "failed_allowed", "keys_unavailable"] {
            metrics.declare(&metrics::name(&[n]));
        }
        let sources = keys.coordinator.sources.len();
        Worker {
            cache: TokenCache::new(config.cache.max_entries, config.cache.max_bytes),
            verifier: (config.crypto == CryptoMode::Auto).then(EnvoyVerifier::default),
            config: Rc::new(config),
            keys,
            metrics,
            pending: Vec::new(),
            seen_generation: vec![0; sources],
            allowed,
            hot,
            clock_ms: abi::now_ms(),
        }
    }

    /// Loads keys already published (a reload finds them at once) and drops cache entries of
    /// sources whose keys changed. Returns whether any source's keys changed.
    pub fn refresh_keys(&mut self) -> bool {
        let changed = self.keys.poll(&mut self.metrics);
        self.sync_cache();
        changed
    }

    fn sync_cache(&mut self) {
        for (i, s) in self.keys.coordinator.sources.iter().enumerate() {
            let g = s.generation();
            if self.seen_generation.get(i).is_some_and(|seen| *seen != g) {
                for (p, src) in self.keys.provider_source.iter().enumerate() {
                    if *src == Some(i) {
                        self.cache.clear_provider(p);
                    }
                }
                if let Some(seen) = self.seen_generation.get_mut(i) {
                    *seen = g;
                }
            }
        }
    }

    /// Periodic work: keys, fetches, cache, waiting requests. Returns the contexts to resume.
    pub fn tick(&mut self) -> Vec<u32> {
        self.clock_ms = abi::now_ms();
        self.keys.tick(&mut self.metrics);
        self.sync_cache();
        self.metrics.gauge(&metrics::name(&["cache", "entries"]), self.cache.len() as u64);
        self.metrics.flush();
        let now = self.clock_ms;
        let sources = &self.keys.coordinator.sources;
        let (ready, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending).into_iter().partition(|p| {
            now >= p.until_ms
                || p.sources
                    .iter()
                    .any(|(i, g, a)| sources.get(*i).is_some_and(|s| s.generation() != *g || s.refetched_since(*a)))
        });
        self.pending = waiting;
        ready.into_iter().map(|p| p.context_id).collect()
    }

    /// Handles the request of the current (effective) HTTP context. `may_wait` is false when
    /// the request already waited for a refetch.
    pub fn handle(&mut self, context_id: u32, may_wait: bool) -> Verdict {
        let raw = abi::map_raw(Map::RequestHeaders);
        let headers = match raw.as_deref().ok().and_then(abi::decode_map) {
            Some(h) => h,
            None => {
                log::error!("jwt-filter: cannot read request headers; refusing the request");
                let _ = abi::send_local_response(500, "jwt_filter_internal_error", &[], b"");
                return Verdict::Stop;
            }
        };
        for h in &self.config.output_headers {
            if headers.iter().any(|(n, _)| n == h) {
                let _ = abi::remove_map_value(Map::RequestHeaders, h);
            }
        }
        let pseudo = |name: &str| {
            headers.iter().find(|(n, _)| *n == name).and_then(|(_, v)| std::str::from_utf8(v).ok()).unwrap_or_default()
        };
        let req = RequestView { method: pseudo(":method"), path: pseudo(":path"), headers: &headers };
        let now_ms = if may_wait { self.clock_ms } else { abi::now_ms() };
        let mut outcome = self.authenticate(&req, now_ms);
        let unavailable = match &outcome.decision {
            Err(d) => d.error.denial == Denial::KeysUnavailable,
            Ok(a) => matches!(a.pass, Pass::KeysUnavailableAllowed),
        };
        // Keys published since this worker's last tick (up to 100 ms ago) are worth one look
        // before answering "unavailable". Rare, so the extra host call costs nothing in steady
        // state.
        if unavailable && self.refresh_keys() {
            outcome = self.authenticate(&req, now_ms);
        }
        let retryable = match &outcome.decision {
            Err(d) => d.error.denial == Denial::UnknownKid,
            Ok(a) => matches!(&a.pass, Pass::FailedAllowed(e) if e.denial == Denial::UnknownKid),
        };
        if may_wait && retryable && self.wait_for_keys(context_id, &outcome.kid_misses, now_ms) {
            return Verdict::Stop;
        }
        match outcome.decision {
            Ok(allow) => self.apply_allow(&allow),
            Err(deny) => self.apply_deny(&deny, &req),
        }
    }

    fn authenticate(&mut self, req: &RequestView<'_>, now_ms: u64) -> authn::Outcome {
        let config = Rc::clone(&self.config);
        let view = View { config: &config, keys: &self.keys, now_ms };
        let ctx = Context {
            config: &config,
            keys: &view,
            host: self.verifier.as_ref().map(|v| v as &dyn HostVerifier),
            now: now_ms / 1000,
        };
        authn::authenticate(&ctx, req, &mut self.cache)
    }

    fn wait_for_keys(&mut self, context_id: u32, providers: &[ProviderId], now_ms: u64) -> bool {
        let mut sources = Vec::new();
        let mut until_ms = 0;
        for p in providers {
            let Some(i) = self.keys.provider_source.get(*p).copied().flatten() else { continue };
            if let KidMiss::Wait { until_ms: u } = self.keys.coordinator.kid_miss(i, now_ms, &EnvoyStore) {
                let (g, a) = self.keys.coordinator.sources.get(i).map_or((0, 0), |s| (s.generation(), s.attempts()));
                sources.push((i, g, a));
                until_ms = until_ms.max(u);
            }
        }
        if sources.is_empty() {
            return false;
        }
        log::debug!("jwt-filter: unknown kid; request {context_id} waits for a JWKS refetch (up to {} ms)", until_ms - now_ms);
        self.pending.push(Pending { context_id, until_ms, sources });
        true
    }

    fn apply_allow(&mut self, allow: &Allow) -> Verdict {
        for h in &allow.remove_headers {
            let _ = abi::remove_map_value(Map::RequestHeaders, h);
        }
        for (name, value) in &allow.add_headers {
            if let Err(s) = abi::set_map_value(Map::RequestHeaders, name, value) {
                log::warn!("jwt-filter: cannot set header {name} (status {})", s.0);
            }
        }
        if let Some(path) = &allow.new_path {
            let _ = abi::set_map_value(Map::RequestHeaders, ":path", path);
        }
        for id in &allow.identities {
            if let Some(c) = self.allowed.get(id.provider).copied().flatten() {
                self.metrics.bump(c);
            }
            let how = match id.how {
                How::Cached => self.hot.cache_hit,
                How::Verified(Path::Host) => self.hot.verify_host,
                How::Verified(Path::PureRust) => self.hot.verify_pure,
            };
            if let Some(c) = how {
                self.metrics.bump(c);
            }
        }
        let counter = match &allow.pass {
            Pass::Authenticated => None,
            Pass::Public => Some("public"),
            Pass::CorsPreflight => Some("cors_preflight_bypass"),
            Pass::MissingAllowed => Some("missing_allowed"),
            Pass::FailedAllowed(e) => {
                log::debug!("jwt-filter: token refused ({e}) but the rule allows failures");
                Some("failed_allowed")
            }
            Pass::KeysUnavailableAllowed => Some("keys_unavailable"),
        };
        if let Some(c) = counter {
            self.metrics.count(&metrics::name(&[c]));
        }
        if self.config.filter_state {
            crate::state::record_allow(&self.config, allow);
        }
        Verdict::Continue
    }

    fn apply_deny(&mut self, deny: &Deny, req: &RequestView<'_>) -> Verdict {
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
            crate::state::record_deny(deny, &label);
        }
        let headers: Vec<(&str, &str)> = reply.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let details = format!("jwt_filter_{}", denial.reason());
        if let Err(s) = abi::send_local_response(reply.status, &details, &headers, reply.body.as_bytes()) {
            log::error!("jwt-filter: cannot send the {} reply (status {})", reply.status, s.0);
        }
        Verdict::Stop
    }
}
