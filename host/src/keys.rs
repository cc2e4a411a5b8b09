//! The JWKS lifecycle on Envoy: the core's [`Coordinator`] driven by ticks and call responses,
//! with every event logged once and counted. The fetcher service and the filter's workers run
//! this same code; only the [`Role`] differs.

use crate::abi;
use crate::metrics::{self, EnvoyMetrics, Metrics};
use crate::store::{self, EnvoyHttp, EnvoyStore};
use jwt_core::config::{Config, KeySource};
use jwt_core::lifecycle::{Coordinator, Event, FailReason, HttpClient, Role, SharedStore, Source};

/// The coordinator plus a label per source (its provider names) for logs and stats.
pub struct KeyRuntime {
    /// The core coordinator.
    pub coordinator: Coordinator,
    /// For each source: the names of the providers that use it, joined with '+'.
    pub labels: Vec<String>,
    /// For each provider of the config: its source index (`None` for inline keys).
    pub provider_source: Vec<Option<usize>>,
    module: &'static str,
}

impl KeyRuntime {
    /// Sources for every remote provider of `config`.
    pub fn new(config: &Config, role: Role, module: &'static str, participant: u32) -> KeyRuntime {
        KeyRuntime::at(config, role, module, participant, abi::now_ns())
    }

    /// [`KeyRuntime::new`] at a given time (ns), which names the participant and seeds jitter.
    pub fn at(config: &Config, role: Role, module: &'static str, participant: u32, now: u64) -> KeyRuntime {
        let mut sources: Vec<Source> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        let mut provider_source = Vec::with_capacity(config.providers.len());
        for p in &config.providers {
            let KeySource::Remote(remote) = &p.keys else {
                provider_source.push(None);
                continue;
            };
            let s = Source::new(&p.claims.issuer, remote.clone());
            match sources.iter().position(|x| x.sid == s.sid) {
                Some(i) => {
                    if let Some(l) = labels.get_mut(i) {
                        l.push('+');
                        l.push_str(&p.name);
                    }
                    provider_source.push(Some(i));
                }
                None => {
                    sources.push(s);
                    labels.push(p.name.clone());
                    provider_source.push(Some(sources.len() - 1));
                }
            }
        }
        let who = match role {
            Role::Service => "service",
            Role::Worker => "worker",
        };
        let me = format!("{who}-{participant}-{:x}", now & 0xffff_ffff);
        KeyRuntime {
            coordinator: Coordinator::new(role, me, now ^ u64::from(participant).rotate_left(32), sources),
            labels,
            provider_source,
            module,
        }
    }

    fn label(&self, source: usize) -> &str {
        self.labels.get(source).map_or("?", String::as_str)
    }

    /// Defines the counters up front so they read 0 rather than being absent.
    pub fn declare_metrics(&self, m: &mut Metrics) {
        for l in &self.labels {
            m.declare(&metrics::name(&["jwks", l, "fetch_success"]));
            m.declare(&metrics::name(&["jwks", l, "kid_miss_refetch"]));
            m.declare(&metrics::name(&["jwks", l, "state_conflict"]));
            for r in FailReason::ALL {
                m.declare(&metrics::name(&["jwks", l, "fetch_failure", r.name()]));
            }
        }
    }

    /// For the fetcher's `on_configure`: claims the sources without fetching yet.
    pub fn announce(&mut self) {
        self.coordinator.announce(abi::now_ms(), &EnvoyStore);
    }

    /// Starts due fetches, then reads published keys; hands the counts to Envoy.
    pub fn tick(&mut self, m: &mut Metrics) {
        self.tick_at(abi::now_ms(), &EnvoyStore, &mut EnvoyHttp, m);
        m.flush(&mut EnvoyMetrics);
    }

    /// [`KeyRuntime::tick`] on any host, without the flush.
    pub fn tick_at(&mut self, now: u64, store: &dyn SharedStore, http: &mut dyn HttpClient, m: &mut Metrics) {
        // The state is read before the keys: a fetch publishes its keys before it records the
        // attempt, so a finished attempt seen here always comes with its keys.
        let mut events = self.coordinator.tick(now, store, http);
        events.extend(self.coordinator.poll(now, store));
        self.report(&events, m);
        self.gauges(now, m);
    }

    /// Reads published keys only.
    pub fn poll(&mut self, m: &mut Metrics) -> bool {
        self.poll_at(abi::now_ms(), &EnvoyStore, m)
    }

    /// [`KeyRuntime::poll`] on any host. Returns whether any source's keys changed.
    pub fn poll_at(&mut self, now: u64, store: &dyn SharedStore, m: &mut Metrics) -> bool {
        let events = self.coordinator.poll(now, store);
        let changed = !events.is_empty();
        self.report(&events, m);
        changed
    }

    /// Handles a call response; `false` if the call was not a JWKS fetch of ours.
    pub fn on_response(&mut self, token: u32, m: &mut Metrics) -> bool {
        if !self.coordinator.owns(token) {
            return false;
        }
        let (status, body) = store::call_response(self.max_body());
        self.on_response_at(token, status, body, abi::now_ms(), &EnvoyStore, &mut EnvoyHttp, m);
        m.flush(&mut EnvoyMetrics);
        true
    }

    /// The most body bytes worth reading from a response (one past it shows an oversized body).
    pub fn max_body(&self) -> usize {
        self.coordinator.sources.iter().map(|s| s.remote.max_bytes).max().unwrap_or(1 << 20)
    }

    /// [`KeyRuntime::on_response`] on any host, with the response already read, without the
    /// flush.
    #[allow(clippy::too_many_arguments)]
    pub fn on_response_at(
        &mut self,
        token: u32,
        status: Option<u32>,
        body: Option<Vec<u8>>,
        now: u64,
        store: &dyn SharedStore,
        http: &mut dyn HttpClient,
        m: &mut Metrics,
    ) {
        let mut events = self.coordinator.on_response(token, status, body, now, store, http);
        events.extend(self.coordinator.poll(now, store));
        self.report(&events, m);
        self.gauges(now, m);
    }

    fn gauges(&self, now: u64, m: &mut Metrics) {
        for (i, s) in self.coordinator.sources.iter().enumerate() {
            let l = self.label(i);
            m.gauge(&metrics::name(&["jwks", l, "keys"]), s.key_count() as u64);
            m.gauge(&metrics::name(&["jwks", l, "keys_age_seconds"]), s.age_seconds(now));
        }
    }

    /// Logs and counts events.
    pub fn report(&self, events: &[Event], m: &mut Metrics) {
        let module = self.module;
        for e in events {
            match e {
                Event::FetchStarted { source, kid_miss, discovery } => self.fetch_started(*source, *kid_miss, *discovery, m),
                Event::FetchSucceeded { source, keys, skipped } => self.fetch_succeeded(*source, *keys, skipped, m),
                Event::FetchFailed { source, reason, detail, retry_in_ms } => {
                    self.fetch_failed(*source, *reason, detail, *retry_in_ms, m)
                }
                Event::StateConflict { source } => self.state_conflict(*source, m),
                Event::KeysChanged { source, keys } => {
                    log::info!("{module}: provider {}: now serving {keys} key(s)", self.label(*source));
                }
                Event::KeysExpired { source } => {
                    log::error!(
                        "{module}: provider {}: keys are older than max_stale_seconds and no longer used; requests get the keys-unavailable answer until a fetch succeeds",
                        self.label(*source)
                    );
                }
            }
        }
    }

    // One function per event kind: inlined into `report` they made a 2.7 KB function, and V8's
    // compile memory follows the largest functions (issue 13).

    #[inline(never)]
    fn fetch_started(&self, source: usize, kid_miss: bool, discovery: bool, m: &mut Metrics) {
        let module = self.module;
        let l = self.label(source);
        let what = if discovery { "OIDC discovery document" } else { "JWKS" };
        if kid_miss {
            m.count(&metrics::name(&["jwks", l, "kid_miss_refetch"]));
            log::info!("{module}: provider {l}: unknown kid seen, refetching the {what}");
        } else {
            log::debug!("{module}: provider {l}: fetching the {what}");
        }
    }

    #[inline(never)]
    fn fetch_succeeded(&self, source: usize, keys: usize, skipped: &[String], m: &mut Metrics) {
        let module = self.module;
        let l = self.label(source);
        m.count(&metrics::name(&["jwks", l, "fetch_success"]));
        log::info!("{module}: provider {l}: fetched {keys} usable key(s)");
        for s in skipped {
            log::warn!("{module}: provider {l}: skipped {s}");
        }
    }

    #[inline(never)]
    fn fetch_failed(&self, source: usize, reason: FailReason, detail: &str, retry_in_ms: u64, m: &mut Metrics) {
        let module = self.module;
        let l = self.label(source);
        m.count(&metrics::name(&["jwks", l, "fetch_failure", reason.name()]));
        let keeping = match self.coordinator.sources.get(source).and_then(|s| s.keys()) {
            Some(_) => "keeping the last good keys",
            None => "no keys yet",
        };
        log::warn!(
            "{module}: provider {l}: JWKS fetch failed ({reason}: {detail}); {keeping}; next attempt in {} ms",
            retry_in_ms
        );
    }

    #[inline(never)]
    fn state_conflict(&self, source: usize, m: &mut Metrics) {
        let module = self.module;
        let l = self.label(source);
        m.count(&metrics::name(&["jwks", l, "state_conflict"]));
        log::warn!(
            "{module}: provider {l}: could not record the fetch in shared data (every compare-and-swap lost a race); the next tick retries"
        );
    }
}
