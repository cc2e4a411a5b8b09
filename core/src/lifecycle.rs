//! The JWKS lifecycle shared by every participant: when to fetch, who fetches, what a response
//! does to the shared records, and what keys a worker serves.
//!
//! - **One fetch per interval across all workers.** A participant fetches only while holding
//!   the source's lease, taken by compare-and-swap on the shared fetch state. The
//!   `jwks-fetcher` service (role [`Role::Service`]) keeps a heartbeat in that state; while it
//!   is fresh, workers never fetch. Without it (Istio), workers take turns through the lease.
//! - **Kid-miss refetch, throttled.** A worker that sees an unknown `kid` asks for a refetch;
//!   it starts at most once per penalty window per source, whoever asks.
//! - **Last good keys.** Only a successful fetch with usable keys replaces the keys record.
//!   Failures back off exponentially with jitter (1 s doubling up to the refresh interval);
//!   the old keys serve until they are `max_stale_seconds` old.
//!
//! Everything here is synchronous and takes the time and the host as arguments; the adapters
//! implement [`SharedStore`] and [`HttpClient`] over proxy-wasm.

use crate::config::RemoteJwks;
use crate::jwk::KeySet;
use crate::shared::{self, FetchState, KeysMeta};
use std::fmt;
use std::rc::Rc;

/// A failed compare-and-swap or another shared-data error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    /// The value changed since it was read.
    CasMismatch,
    /// Any other host error.
    Failed,
}

/// Envoy's shared data, as the adapter exposes it.
pub trait SharedStore {
    /// The value and its cas (0 when absent).
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32);
    /// Writes a value; `cas == 0` writes unconditionally.
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError>;
}

/// Envoy's `dispatch_http_call`, as the adapter exposes it.
pub trait HttpClient {
    /// Sends `GET path` to `cluster` with this `:authority`; returns the call's token.
    fn get(&mut self, cluster: &str, authority: &str, path: &str, timeout_ms: u64) -> Result<u32, String>;
}

/// Who is running the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The `jwks-fetcher` singleton: fetches everything it knows, keeps a heartbeat.
    Service,
    /// A filter worker: fetches only when no service heartbeat is fresh.
    Worker,
}

/// How long a service heartbeat lasts, ms. The service renews it every tick.
pub const SERVICE_TTL_MS: u64 = 5_000;
/// The cas to create a record with and never overwrite one: Envoy lets any cas create an absent
/// key, but refuses a nonzero cas that differs from an existing key's. (Its cas counter would
/// have to sit at exactly this value for a create to overwrite; even then the cost is one extra
/// fetch.) Creating with cas 0 instead would overwrite a lease a racing participant had just
/// taken, and two participants would fetch.
pub const CREATE_ONLY_CAS: u32 = u32::MAX;

/// Extra lease time beyond the request timeout, ms.
const LEASE_MARGIN_MS: u64 = 2_000;
/// First retry delay after a failure, ms.
const BACKOFF_BASE_MS: u64 = 1_000;

/// Why a fetch failed (one counter each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// Envoy could not send the request (unknown cluster, bad headers).
    Dispatch,
    /// No response within the timeout.
    Timeout,
    /// The connection failed or was reset before a response.
    Connection,
    /// A status other than 200.
    Status,
    /// The body was larger than `max_bytes`.
    TooLarge,
    /// The body was not a JWKS (or not JSON).
    NotJwks,
    /// A JWKS with no usable key.
    NoUsableKeys,
    /// OIDC discovery failed (no `jwks_uri`, or one on another host).
    Discovery,
}

impl FailReason {
    /// All reasons, for defining counters.
    pub const ALL: [FailReason; 8] = [
        FailReason::Dispatch,
        FailReason::Timeout,
        FailReason::Connection,
        FailReason::Status,
        FailReason::TooLarge,
        FailReason::NotJwks,
        FailReason::NoUsableKeys,
        FailReason::Discovery,
    ];

    /// Counter and log name.
    pub fn name(self) -> &'static str {
        match self {
            FailReason::Dispatch => "dispatch",
            FailReason::Timeout => "timeout",
            FailReason::Connection => "connection",
            FailReason::Status => "status",
            FailReason::TooLarge => "too_large",
            FailReason::NotJwks => "not_jwks",
            FailReason::NoUsableKeys => "no_usable_keys",
            FailReason::Discovery => "discovery",
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something the adapter should log or count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This participant sent a request.
    FetchStarted {
        /// Source index.
        source: usize,
        /// Started because of an unknown `kid`.
        kid_miss: bool,
        /// A discovery document rather than the JWKS.
        discovery: bool,
    },
    /// This participant fetched usable keys and published them.
    FetchSucceeded {
        /// Source index.
        source: usize,
        /// Usable keys.
        keys: usize,
        /// Keys that were skipped, with reasons.
        skipped: Vec<String>,
    },
    /// This participant's fetch failed; the last good keys (if any) stay.
    FetchFailed {
        /// Source index.
        source: usize,
        /// Why.
        reason: FailReason,
        /// Detail for the log.
        detail: String,
        /// When the next attempt is due, ms from now.
        retry_in_ms: u64,
    },
    /// This worker now serves a different key set.
    KeysChanged {
        /// Source index.
        source: usize,
        /// Usable keys.
        keys: usize,
    },
    /// The keys are older than `max_stale_seconds` and no longer served.
    KeysExpired {
        /// Source index.
        source: usize,
    },
}

/// What a worker should do with a request whose `kid` is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidMiss {
    /// A refetch is pending or running: wait for new keys until this time (ms).
    Wait {
        /// Deadline, ms.
        until_ms: u64,
    },
    /// A refetch ran within the penalty window: answer now.
    Throttled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Discovery,
    Jwks,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    token: u32,
    kind: Kind,
    started_ms: u64,
}

/// One JWKS source and this participant's view of it.
#[derive(Debug, Clone)]
pub struct Source {
    /// Shared-data id.
    pub sid: String,
    /// Issuer (for logs).
    pub issuer: String,
    /// Endpoint and policy.
    pub remote: RemoteJwks,
    in_flight: Option<InFlight>,
    keys_cas: u32,
    jwks_bytes: Vec<u8>,
    keys: Option<Rc<KeySet>>,
    fetched_at_ms: u64,
    generation: u64,
    expired: bool,
    next_fetch_ms: u64,
    last_error: String,
    /// Fetch attempts finished by anyone, as of the last tick.
    attempts: u64,
    /// As of the last tick: no kid-miss refetch is asked for and no fetch is running.
    idle: bool,
}

impl Source {
    /// A source for a remote JWKS of `issuer`.
    pub fn new(issuer: &str, remote: RemoteJwks) -> Source {
        Source {
            sid: shared::source_id(&remote.identity(issuer)),
            issuer: issuer.to_string(),
            remote,
            in_flight: None,
            keys_cas: 0,
            jwks_bytes: Vec::new(),
            keys: None,
            fetched_at_ms: 0,
            generation: 0,
            expired: false,
            next_fetch_ms: 0,
            last_error: String::new(),
            attempts: 0,
            idle: true,
        }
    }

    /// The keys this worker serves, with their generation; `None` while unavailable.
    pub fn keys(&self) -> Option<(&KeySet, u64)> {
        match &self.keys {
            Some(k) if !self.expired => Some((k, self.generation)),
            _ => None,
        }
    }

    /// Seconds until the next fetch attempt (at least 1), for `Retry-After`.
    pub fn retry_after(&self, now_ms: u64) -> u64 {
        self.next_fetch_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
    }

    /// Age of the served keys, seconds (0 when there are none).
    pub fn age_seconds(&self, now_ms: u64) -> u64 {
        if self.keys.is_none() {
            return 0;
        }
        now_ms.saturating_sub(self.fetched_at_ms) / 1000
    }

    /// Changes whenever the served key set does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of served keys.
    pub fn key_count(&self) -> usize {
        self.keys().map_or(0, |(k, _)| k.keys.len())
    }

    /// The last failure reason seen in the shared state.
    pub fn last_error(&self) -> &str {
        &self.last_error
    }

    /// Fetch attempts finished by any participant, as of the last tick.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// Whether a request that paused for a kid-miss refetch when [`Source::attempts`] was
    /// `paused_at` has had its answer: a fetch finished since, and none is asked for or running.
    /// A refetch that brings the same keys must release its waiters, not keep them until their
    /// deadline.
    pub fn refetched_since(&self, paused_at: u64) -> bool {
        self.attempts > paused_at && self.idle
    }

    /// Whether a fetch by this participant is in flight.
    pub fn fetching(&self) -> bool {
        self.in_flight.is_some()
    }
}

/// The coordinator of one participant (a worker's root context, or the fetcher service).
pub struct Coordinator {
    role: Role,
    me: String,
    rng: u64,
    /// The sources, deduplicated by identity.
    pub sources: Vec<Source>,
}

/// Delay before the next attempt after `failures` consecutive failures: exponential from 1 s,
/// capped at the refresh interval, with "equal jitter" (half fixed, half random).
pub fn backoff_ms(failures: u32, refresh_ms: u64, rand: u64) -> u64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1u64 << failures.saturating_sub(1).min(30));
    let d = exp.min(refresh_ms.max(BACKOFF_BASE_MS));
    d / 2 + rand % (d / 2 + 1)
}

/// Splits an absolute URL into (authority, path-and-query).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    match rest.find('/') {
        Some(i) => Some((rest.get(..i)?, rest.get(i..)?)),
        None => Some((rest, "/")),
    }
}

impl Coordinator {
    /// A coordinator for `sources`. `me` must be unique per participant; `seed` seeds jitter.
    pub fn new(role: Role, me: String, seed: u64, sources: Vec<Source>) -> Coordinator {
        let mut out: Vec<Source> = Vec::new();
        for s in sources {
            if !out.iter().any(|o| o.sid == s.sid) {
                out.push(s);
            }
        }
        Coordinator { role, me, rng: seed | 1, sources: out }
    }

    /// Index of the source with this shared id.
    pub fn source_index(&self, sid: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.sid == sid)
    }

    fn rand(&mut self) -> u64 {
        // xorshift64: jitter only, not security.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Reads the shared keys records and updates what this participant serves.
    pub fn poll(&mut self, now_ms: u64, store: &dyn SharedStore) -> Vec<Event> {
        let mut events = Vec::new();
        for (i, s) in self.sources.iter_mut().enumerate() {
            let (bytes, cas) = store.get(&shared::keys_key(&s.sid));
            if cas != s.keys_cas {
                if let Some((meta, jwks)) = bytes.as_deref().and_then(shared::decode_keys) {
                    if jwks != s.jwks_bytes.as_slice() || s.keys.is_none() {
                        if let Ok(set) = KeySet::parse(jwks) {
                            s.generation += 1;
                            events.push(Event::KeysChanged { source: i, keys: set.keys.len() });
                            s.keys = Some(Rc::new(set));
                            s.jwks_bytes = jwks.to_vec();
                        }
                    }
                    s.fetched_at_ms = meta.fetched_at_ms;
                    s.keys_cas = cas;
                    if s.expired {
                        s.expired = false;
                    }
                }
            }
            let stale =
                s.keys.is_some() && now_ms.saturating_sub(s.fetched_at_ms) > s.remote.max_stale_seconds.saturating_mul(1000);
            if stale && !s.expired {
                events.push(Event::KeysExpired { source: i });
            }
            s.expired = stale;
        }
        events
    }

    /// The service announces itself without fetching: workers leave every source to it from
    /// now on. Meant for `on_configure`, where Envoy may still be initialising: a request sent
    /// then can time out before Envoy's event loop even runs, so the first fetch waits for the
    /// first tick.
    pub fn announce(&mut self, now_ms: u64, store: &dyn SharedStore) {
        if self.role != Role::Service {
            return;
        }
        for s in &self.sources {
            let key = shared::state_key(&s.sid);
            for _ in 0..5 {
                let (bytes, cas) = store.get(&key);
                let mut st = FetchState::decode(bytes.as_deref());
                st.service_until_ms = now_ms + SERVICE_TTL_MS;
                if store.set(&key, &st.encode(), if bytes.is_some() { cas } else { CREATE_ONLY_CAS }).is_ok() {
                    break;
                }
            }
        }
    }

    /// Periodic work: create the shared state, renew the service heartbeat, start due fetches.
    pub fn tick(&mut self, now_ms: u64, store: &dyn SharedStore, http: &mut dyn HttpClient) -> Vec<Event> {
        let mut events = Vec::new();
        for i in 0..self.sources.len() {
            self.tick_source(i, now_ms, store, http, &mut events);
        }
        events
    }

    fn tick_source(
        &mut self,
        i: usize,
        now_ms: u64,
        store: &dyn SharedStore,
        http: &mut dyn HttpClient,
        events: &mut Vec<Event>,
    ) {
        let role = self.role;
        let me = self.me.clone();
        let Some(s) = self.sources.get_mut(i) else { return };
        let key = shared::state_key(&s.sid);
        let (bytes, cas) = store.get(&key);
        let mut st = FetchState::decode(bytes.as_deref());
        s.next_fetch_ms = st.next_fetch_ms;
        s.last_error = st.last_error.clone();
        s.attempts = st.attempts;
        s.idle = !st.refetch_pending() && !st.leased(now_ms);
        if bytes.is_none() {
            // No state yet: create it, and take the lease on a later tick with a real
            // compare-and-swap (an absent key accepts any cas, so a lease written now could be
            // lost to a racing participant). Taking it now would also be wrong when this VM is
            // one Envoy discards right after `on_configure`: its lease would hold everyone off
            // until it lapsed.
            if role == Role::Service {
                st.service_until_ms = now_ms + SERVICE_TTL_MS;
            }
            let _ = store.set(&key, &st.encode(), CREATE_ONLY_CAS);
            return;
        }
        if role == Role::Worker && st.service_until_ms > now_ms {
            return;
        }
        if s.in_flight.is_some() {
            if role == Role::Service && st.service_until_ms < now_ms + SERVICE_TTL_MS / 2 {
                st.service_until_ms = now_ms + SERVICE_TTL_MS;
                let _ = store.set(&key, &st.encode(), cas);
            }
            return;
        }
        let penalty_ms = s.remote.kid_miss_penalty_seconds.saturating_mul(1000);
        let kid_miss = st.refetch_pending() && now_ms >= st.last_kid_refetch_ms.saturating_add(penalty_ms);
        let due = now_ms >= st.next_fetch_ms || kid_miss;
        let renew = role == Role::Service && st.service_until_ms < now_ms + SERVICE_TTL_MS / 2;
        let take = due && !st.leased(now_ms);
        if !take && !renew {
            return;
        }
        if renew {
            st.service_until_ms = now_ms + SERVICE_TTL_MS;
        }
        if take {
            st.lease_holder = me;
            st.lease_until_ms = now_ms + s.remote.timeout_ms + LEASE_MARGIN_MS;
            st.last_attempt_ms = now_ms;
            if kid_miss {
                st.last_kid_refetch_ms = now_ms;
            }
        }
        if store.set(&key, &st.encode(), cas).is_err() {
            return; // someone else changed the state; look again next tick
        }
        if !take {
            return;
        }
        self.start_fetch(i, now_ms, &st, http, events, store);
    }

    fn start_fetch(
        &mut self,
        i: usize,
        now_ms: u64,
        st: &FetchState,
        http: &mut dyn HttpClient,
        events: &mut Vec<Event>,
        store: &dyn SharedStore,
    ) {
        let Some(s) = self.sources.get_mut(i) else { return };
        let kid_miss = st.last_kid_refetch_ms == now_ms;
        let path = s.remote.path.clone().or_else(|| (!st.discovered_path.is_empty()).then(|| st.discovered_path.clone()));
        let (kind, path) = match (path, &s.remote.discovery_path) {
            (Some(p), _) => (Kind::Jwks, p),
            (None, Some(d)) => (Kind::Discovery, d.clone()),
            (None, None) => return,
        };
        match http.get(&s.remote.cluster, &s.remote.authority, &path, s.remote.timeout_ms) {
            Ok(token) => {
                s.in_flight = Some(InFlight { token, kind, started_ms: now_ms });
                events.push(Event::FetchStarted { source: i, kid_miss, discovery: kind == Kind::Discovery });
            }
            Err(e) => {
                let detail = format!("cannot send to cluster {:?}: {e}", s.remote.cluster);
                self.finish(i, now_ms, Err((FailReason::Dispatch, detail)), store, events);
            }
        }
    }

    /// Whether `token` is one of this participant's fetches.
    pub fn owns(&self, token: u32) -> bool {
        self.sources.iter().any(|s| s.in_flight.is_some_and(|f| f.token == token))
    }

    /// Handles the response to a fetch. `status` is `None` when the call failed (timeout,
    /// reset, refused): Envoy then sends no `:status`.
    pub fn on_response(
        &mut self,
        token: u32,
        status: Option<u32>,
        body: Option<Vec<u8>>,
        now_ms: u64,
        store: &dyn SharedStore,
        http: &mut dyn HttpClient,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let Some(i) = self.sources.iter().position(|s| s.in_flight.is_some_and(|f| f.token == token)) else {
            return events;
        };
        let Some(s) = self.sources.get_mut(i) else { return events };
        let Some(flight) = s.in_flight.take() else { return events };
        let body = body.unwrap_or_default();
        // A timeout arrives with no status, or (when Envoy answers the call itself) as a local
        // 504 reply.
        let timed_out = match status {
            None => now_ms.saturating_sub(flight.started_ms) + 50 >= s.remote.timeout_ms,
            Some(504) => body.starts_with(b"upstream request timeout"),
            Some(_) => false,
        };
        let result = match status {
            _ if timed_out => Err((FailReason::Timeout, format!("no response within {} ms", s.remote.timeout_ms))),
            None => Err((FailReason::Connection, "connection failed or reset".to_string())),
            // Envoy answers a call it could not reach the cluster for with a local 503.
            Some(503) if body.starts_with(b"upstream connect error") || body.starts_with(b"no healthy upstream") => Err((
                FailReason::Connection,
                format!(
                    "cannot reach cluster {:?}: {}",
                    s.remote.cluster,
                    String::from_utf8_lossy(body.get(..120).unwrap_or(&body))
                ),
            )),
            Some(200) if body.len() > s.remote.max_bytes => {
                Err((FailReason::TooLarge, format!("{} bytes > max_bytes {}", body.len(), s.remote.max_bytes)))
            }
            Some(200) => Ok(body),
            Some(code) => Err((FailReason::Status, format!("HTTP {code}"))),
        };
        if flight.kind == Kind::Discovery {
            match result.and_then(|b| self.discovered(i, &b)) {
                Ok(path) => {
                    self.set_discovered(i, &path, store);
                    let st = FetchState { discovered_path: path, ..FetchState::default() };
                    self.start_fetch(i, now_ms, &st, http, &mut events, store);
                }
                Err(e) => self.finish(i, now_ms, Err(e), store, &mut events),
            }
            return events;
        }
        self.finish(i, now_ms, result, store, &mut events);
        events
    }

    fn discovered(&self, i: usize, body: &[u8]) -> Result<String, (FailReason, String)> {
        let s = self.sources.get(i).ok_or((FailReason::Discovery, String::new()))?;
        let doc: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| (FailReason::Discovery, format!("discovery document is not JSON: {e}")))?;
        let uri = doc
            .get("jwks_uri")
            .and_then(serde_json::Value::as_str)
            .ok_or((FailReason::Discovery, "discovery document has no jwks_uri".to_string()))?;
        let (host, path) = split_url(uri).ok_or((FailReason::Discovery, format!("jwks_uri {uri:?} is not an http(s) URL")))?;
        if !host.eq_ignore_ascii_case(&s.remote.authority) {
            return Err((
                FailReason::Discovery,
                format!(
                    "jwks_uri {uri} is on host {host}, not {}: add an Envoy cluster for {host} and set jwks.cluster, jwks.authority: {host:?} and jwks.path: {path:?}",
                    s.remote.authority
                ),
            ));
        }
        Ok(path.to_string())
    }

    fn set_discovered(&mut self, i: usize, path: &str, store: &dyn SharedStore) {
        let Some(s) = self.sources.get(i) else { return };
        let key = shared::state_key(&s.sid);
        for _ in 0..5 {
            let (bytes, cas) = store.get(&key);
            let mut st = FetchState::decode(bytes.as_deref());
            st.discovered_path = path.to_string();
            if store.set(&key, &st.encode(), cas).is_ok() {
                return;
            }
        }
    }

    fn finish(
        &mut self,
        i: usize,
        now_ms: u64,
        result: Result<Vec<u8>, (FailReason, String)>,
        store: &dyn SharedStore,
        events: &mut Vec<Event>,
    ) {
        let result = result.and_then(|body| match KeySet::parse(&body) {
            Ok(set) => Ok((body, set)),
            Err(crate::jwk::JwksError::NotJwks(e)) => Err((FailReason::NotJwks, e)),
            Err(e @ crate::jwk::JwksError::NoUsableKeys(_)) => Err((FailReason::NoUsableKeys, e.to_string())),
        });
        let rand = self.rand();
        let me = self.me.clone();
        let Some(s) = self.sources.get_mut(i) else { return };
        let refresh_ms = s.remote.refresh_seconds.saturating_mul(1000);
        if let Ok((body, set)) = &result {
            let (old, _) = store.get(&shared::keys_key(&s.sid));
            let changed_at_ms = match old.as_deref().and_then(shared::decode_keys) {
                Some((meta, old_body)) if old_body == body.as_slice() => meta.changed_at_ms,
                _ => now_ms,
            };
            let meta = KeysMeta { fetched_at_ms: now_ms, changed_at_ms };
            let _ = store.set(&shared::keys_key(&s.sid), &shared::encode_keys(&meta, body), 0);
            events.push(Event::FetchSucceeded { source: i, keys: set.keys.len(), skipped: set.skipped.clone() });
        }
        let key = shared::state_key(&s.sid);
        for _ in 0..8 {
            let (bytes, cas) = store.get(&key);
            let mut st = FetchState::decode(bytes.as_deref());
            st.attempts += 1;
            match &result {
                Ok(_) => {
                    st.failures = 0;
                    st.last_error.clear();
                    st.last_success_ms = now_ms;
                    st.next_fetch_ms = now_ms + refresh_ms;
                }
                Err((reason, _)) => {
                    st.failures = st.failures.saturating_add(1);
                    st.last_error = reason.name().to_string();
                    st.next_fetch_ms = now_ms + backoff_ms(st.failures, refresh_ms, rand);
                }
            }
            if st.lease_holder == me {
                st.lease_holder.clear();
                st.lease_until_ms = 0;
            }
            if store.set(&key, &st.encode(), cas).is_ok() {
                s.next_fetch_ms = st.next_fetch_ms;
                if let Err((reason, detail)) = &result {
                    s.last_error = reason.name().to_string();
                    events.push(Event::FetchFailed {
                        source: i,
                        reason: *reason,
                        detail: detail.clone(),
                        retry_in_ms: st.next_fetch_ms.saturating_sub(now_ms),
                    });
                }
                return;
            }
        }
    }

    /// A worker saw a token whose `kid` this source lacks. Asks for a refetch unless one ran
    /// within the penalty window, and says whether the request should wait for it.
    pub fn kid_miss(&mut self, i: usize, now_ms: u64, store: &dyn SharedStore) -> KidMiss {
        let Some(s) = self.sources.get(i) else { return KidMiss::Throttled };
        let wait = KidMiss::Wait { until_ms: now_ms + s.remote.kid_miss_wait_ms };
        if s.remote.kid_miss_wait_ms == 0 {
            return KidMiss::Throttled;
        }
        // Keys newer than ours are already published: the next poll brings them.
        let (_, keys_cas) = store.get(&shared::keys_key(&s.sid));
        if keys_cas != s.keys_cas && keys_cas != 0 {
            return wait;
        }
        let penalty_ms = s.remote.kid_miss_penalty_seconds.saturating_mul(1000);
        let key = shared::state_key(&s.sid);
        for _ in 0..5 {
            let (bytes, cas) = store.get(&key);
            let mut st = FetchState::decode(bytes.as_deref());
            if st.refetch_pending() || (st.leased(now_ms) && st.last_kid_refetch_ms + penalty_ms > now_ms) {
                return wait;
            }
            if now_ms < st.last_kid_refetch_ms.saturating_add(penalty_ms) {
                return KidMiss::Throttled;
            }
            st.refetch_requested_ms = now_ms.max(st.last_kid_refetch_ms + 1);
            if store.set(&key, &st.encode(), cas).is_ok() {
                return wait;
            }
        }
        KidMiss::Throttled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Shared data with Envoy's semantics: a global cas counter, cas 0 writes unconditionally,
    /// absent keys accept any cas.
    #[derive(Default)]
    struct Store {
        map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        next: RefCell<u32>,
    }

    impl SharedStore for Store {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
            match self.map.borrow().get(key) {
                Some((v, c)) => (Some(v.clone()), *c),
                None => (None, 0),
            }
        }
        fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
            let mut map = self.map.borrow_mut();
            if let Some((_, c)) = map.get(key) {
                if cas != 0 && cas != *c {
                    return Err(SetError::CasMismatch);
                }
            }
            *self.next.borrow_mut() += 1;
            map.insert(key.to_string(), (value.to_vec(), *self.next.borrow()));
            Ok(())
        }
    }

    #[derive(Default)]
    struct Http {
        sent: Vec<(u32, String)>,
        next: u32,
        fail: bool,
    }

    impl HttpClient for Http {
        fn get(&mut self, _cluster: &str, _authority: &str, path: &str, _timeout_ms: u64) -> Result<u32, String> {
            if self.fail {
                return Err("BadArgument".into());
            }
            self.next += 1;
            self.sent.push((self.next, path.to_string()));
            Ok(self.next)
        }
    }

    fn remote() -> RemoteJwks {
        RemoteJwks {
            cluster: "idp".into(),
            authority: "idp.example".into(),
            path: Some("/jwks".into()),
            discovery_path: None,
            timeout_ms: 1000,
            refresh_seconds: 600,
            max_stale_seconds: 3600,
            kid_miss_penalty_seconds: 10,
            kid_miss_wait_ms: 2000,
            max_bytes: 65536,
        }
    }

    fn coord(role: Role, me: &str) -> Coordinator {
        Coordinator::new(role, me.into(), 42, vec![Source::new("https://idp.example", remote())])
    }

    fn jwks(keys: &[&testkit::TestKey]) -> Vec<u8> {
        testkit::jwks(keys).to_string().into_bytes()
    }

    fn state(store: &Store, c: &Coordinator) -> FetchState {
        FetchState::decode(store.get(&shared::state_key(&c.sources[0].sid)).0.as_deref())
    }

    /// Runs ticks until some participant sends a request; answers it with `answer`.
    fn settle(store: &Store, parts: &mut [(&mut Coordinator, &mut Http)], now: u64) -> usize {
        let mut sent = 0;
        for (c, h) in parts.iter_mut() {
            let before = h.sent.len();
            c.tick(now, store, *h);
            sent += h.sent.len() - before;
        }
        sent
    }

    #[test]
    fn one_worker_fetches_and_every_worker_serves() {
        let store = Store::default();
        let (mut a, mut b, mut c) = (coord(Role::Worker, "a"), coord(Role::Worker, "b"), coord(Role::Worker, "c"));
        let (mut ha, mut hb, mut hc) = (Http::default(), Http::default(), Http::default());
        // The first worker creates the state; the next takes the lease and fetches.
        let n = settle(&store, &mut [(&mut a, &mut ha), (&mut b, &mut hb), (&mut c, &mut hc)], 1000);
        assert_eq!(n, 1, "exactly one worker takes the lease and fetches");
        assert!(ha.sent.is_empty(), "creating the state takes no lease");
        let n = settle(&store, &mut [(&mut a, &mut ha), (&mut b, &mut hb), (&mut c, &mut hc)], 1100);
        assert_eq!(n, 0, "the lease holds the others off");
        let (fetcher, http) = [(&mut a, &ha), (&mut b, &hb), (&mut c, &hc)]
            .into_iter()
            .find(|(_, h)| !h.sent.is_empty())
            .map(|(c, h)| (c, h.sent[0].0))
            .unwrap();
        let ev = fetcher.on_response(http, Some(200), Some(jwks(&[&testkit::rsa_a()])), 1200, &store, &mut Http::default());
        assert!(matches!(ev[0], Event::FetchSucceeded { keys: 1, .. }));
        for w in [&mut a, &mut b, &mut c] {
            let ev = w.poll(1300, &store);
            assert_eq!(ev, vec![Event::KeysChanged { source: 0, keys: 1 }]);
            assert!(w.sources[0].keys().is_some());
        }
        // Nothing more until the refresh interval.
        let n = settle(&store, &mut [(&mut a, &mut ha), (&mut b, &mut hb), (&mut c, &mut hc)], 1200 + 599_000);
        assert_eq!(n, 0);
        let n = settle(&store, &mut [(&mut a, &mut ha), (&mut b, &mut hb), (&mut c, &mut hc)], 1200 + 600_000);
        assert_eq!(n, 1, "one refresh per interval");
    }

    #[test]
    fn an_announced_service_holds_workers_off_and_fetches_on_its_first_tick() {
        let store = Store::default();
        let mut svc = coord(Role::Service, "svc");
        let mut w = coord(Role::Worker, "w");
        let (mut hs, mut hw) = (Http::default(), Http::default());
        svc.announce(0, &store);
        w.tick(10, &store, &mut hw);
        w.tick(20, &store, &mut hw);
        assert!(hw.sent.is_empty(), "workers defer to an announced service");
        svc.tick(100, &store, &mut hs);
        assert_eq!(hs.sent.len(), 1);
    }

    #[test]
    fn a_late_creator_does_not_overwrite_a_lease() {
        let store = Store::default();
        let (mut a, mut b) = (coord(Role::Worker, "a"), coord(Role::Worker, "b"));
        let (mut ha, mut hb) = (Http::default(), Http::default());
        a.tick(0, &store, &mut ha); // creates the state
        b.tick(1, &store, &mut hb); // takes the lease and fetches
        assert_eq!(hb.sent.len(), 1);
        // A third participant that saw no state before those writes now creates it.
        let late = FetchState::default().encode();
        assert_eq!(store.set(&shared::state_key(&a.sources[0].sid), &late, CREATE_ONLY_CAS), Err(SetError::CasMismatch));
        a.tick(2, &store, &mut ha);
        assert!(ha.sent.is_empty(), "the lease still holds");
    }

    #[test]
    fn a_discarded_participant_holds_nobody_off() {
        let store = Store::default();
        // Envoy runs on_configure in a VM it then discards: that VM only creates the state.
        coord(Role::Service, "discarded").tick(0, &store, &mut Http::default());
        let mut svc = coord(Role::Service, "svc");
        let mut h = Http::default();
        svc.tick(50, &store, &mut h);
        assert_eq!(h.sent.len(), 1, "the live service fetches on its first tick");
    }

    #[test]
    fn a_refetch_that_brings_the_same_keys_releases_its_waiters() {
        let store = Store::default();
        let mut w = coord(Role::Worker, "w");
        let mut h = Http::default();
        w.tick(0, &store, &mut h);
        w.tick(100, &store, &mut h);
        let body = jwks(&[&testkit::rsa_a()]);
        w.on_response(h.sent[0].0, Some(200), Some(body.clone()), 150, &store, &mut h);
        w.tick(200, &store, &mut h);
        w.poll(200, &store);
        let (generation, paused_at) = (w.sources[0].generation(), w.sources[0].attempts());
        assert!(matches!(w.kid_miss(0, 20_000, &store), KidMiss::Wait { .. }));
        w.tick(20_100, &store, &mut h);
        assert_eq!(h.sent.len(), 2, "the kid miss started a refetch");
        assert!(!w.sources[0].refetched_since(paused_at), "not while the refetch runs");
        w.on_response(h.sent[1].0, Some(200), Some(body), 20_200, &store, &mut h);
        w.tick(20_300, &store, &mut h);
        w.poll(20_300, &store);
        assert_eq!(w.sources[0].generation(), generation, "the same keys");
        assert!(w.sources[0].refetched_since(paused_at), "the waiters have their answer");
    }

    #[test]
    fn envoy_local_replies_are_classified() {
        let store = Store::default();
        let mut w = coord(Role::Worker, "w");
        let mut h = Http::default();
        w.tick(0, &store, &mut h);
        w.tick(100, &store, &mut h);
        let ev = w.on_response(
            h.sent[0].0,
            Some(503),
            Some(b"upstream connect error or disconnect/reset before headers. reset reason: connection failure".to_vec()),
            110,
            &store,
            &mut h,
        );
        assert!(matches!(ev[0], Event::FetchFailed { reason: FailReason::Connection, .. }), "{ev:?}");
        w.tick(5_000, &store, &mut h);
        let ev = w.on_response(h.sent[1].0, Some(504), Some(b"upstream request timeout".to_vec()), 6_000, &store, &mut h);
        assert!(matches!(ev[0], Event::FetchFailed { reason: FailReason::Timeout, .. }), "{ev:?}");
        w.tick(60_000, &store, &mut h);
        let ev = w.on_response(h.sent[2].0, Some(503), Some(b"{}".to_vec()), 60_010, &store, &mut h);
        assert!(matches!(ev[0], Event::FetchFailed { reason: FailReason::Status, .. }), "an upstream's own 503: {ev:?}");
    }

    #[test]
    fn workers_defer_to_a_live_service() {
        let store = Store::default();
        let mut svc = coord(Role::Service, "svc");
        let mut w = coord(Role::Worker, "w");
        let (mut hs, mut hw) = (Http::default(), Http::default());
        svc.tick(0, &store, &mut hs);
        svc.tick(100, &store, &mut hs);
        assert_eq!(hs.sent.len(), 1);
        let tok = hs.sent[0].0;
        svc.on_response(tok, Some(200), Some(jwks(&[&testkit::rsa_a()])), 150, &store, &mut hs);
        for t in (200..700_000).step_by(1000) {
            svc.tick(t, &store, &mut hs);
            w.tick(t, &store, &mut hw);
        }
        assert!(hw.sent.is_empty(), "the worker never fetches while the service is alive");
        assert_eq!(hs.sent.len(), 2, "the service refreshed once after 600 s");
        // The service disappears: after its heartbeat lapses, a worker takes over.
        let now = 700_000 + SERVICE_TTL_MS + 600_000;
        w.tick(now, &store, &mut hw);
        assert_eq!(hw.sent.len(), 1);
    }

    #[test]
    fn failures_keep_the_last_good_keys_and_back_off() {
        let store = Store::default();
        let mut w = coord(Role::Worker, "w");
        let mut h = Http::default();
        w.tick(0, &store, &mut h);
        w.tick(10, &store, &mut h);
        w.on_response(h.sent[0].0, Some(200), Some(jwks(&[&testkit::rsa_a()])), 20, &store, &mut h);
        w.poll(30, &store);
        let gen = w.sources[0].keys().unwrap().1;
        let mut now = 600_020;
        let bad: Vec<(Option<u32>, Option<Vec<u8>>, FailReason)> = vec![
            (Some(500), Some(b"oops".to_vec()), FailReason::Status),
            (Some(200), Some(b"<html>".to_vec()), FailReason::NotJwks),
            (Some(200), Some(br#"{"keys":[]}"#.to_vec()), FailReason::NoUsableKeys),
            (Some(200), Some(vec![b' '; 70_000]), FailReason::TooLarge),
            (None, None, FailReason::Connection),
        ];
        let mut delays = Vec::new();
        for (status, body, reason) in bad {
            w.tick(now, &store, &mut h);
            let tok = h.sent.last().unwrap().0;
            let ev = w.on_response(tok, status, body, now + 10, &store, &mut h);
            let Event::FetchFailed { reason: r, retry_in_ms, .. } = &ev[0] else { panic!("{ev:?}") };
            assert_eq!(*r, reason);
            delays.push(*retry_in_ms);
            w.poll(now + 20, &store);
            assert_eq!(w.sources[0].keys().unwrap().1, gen, "last good keys still served");
            now += retry_in_ms + 10;
        }
        // equal jitter: delay in [d/2, d] for d = 1 s, 2 s, 4 s, 8 s, 16 s
        for (i, d) in delays.iter().enumerate() {
            let full = 1000u64 << i;
            assert!((full / 2..=full).contains(d), "attempt {i}: {d} not in [{}, {full}]", full / 2);
        }
        assert_eq!(state(&store, &w).failures, 5);
        // A timeout is told apart from a refused connection by the elapsed time.
        w.tick(now, &store, &mut h);
        let ev = w.on_response(h.sent.last().unwrap().0, None, None, now + 1000, &store, &mut h);
        assert!(matches!(ev[0], Event::FetchFailed { reason: FailReason::Timeout, .. }));
    }

    #[test]
    fn keys_expire_after_max_stale() {
        let store = Store::default();
        let mut w = coord(Role::Worker, "w");
        let mut h = Http::default();
        w.tick(0, &store, &mut h);
        w.tick(10, &store, &mut h);
        w.on_response(h.sent[0].0, Some(200), Some(jwks(&[&testkit::rsa_a()])), 20, &store, &mut h);
        w.poll(30, &store);
        assert!(w.poll(3_600_020, &store).is_empty());
        assert!(w.sources[0].keys().is_some());
        assert_eq!(w.poll(3_600_021, &store), vec![Event::KeysExpired { source: 0 }]);
        assert!(w.sources[0].keys().is_none());
    }

    #[test]
    fn kid_miss_refetch_is_throttled_across_workers() {
        let store = Store::default();
        let mut a = coord(Role::Worker, "a");
        let mut b = coord(Role::Worker, "b");
        let (mut ha, mut hb) = (Http::default(), Http::default());
        a.tick(0, &store, &mut ha);
        a.tick(10, &store, &mut ha);
        a.on_response(ha.sent[0].0, Some(200), Some(jwks(&[&testkit::rsa_a()])), 20, &store, &mut ha);
        a.poll(30, &store);
        b.poll(30, &store);
        // Both workers see unknown kids in a flood; one refetch starts.
        let mut now = 20_000;
        assert!(matches!(a.kid_miss(0, now, &store), KidMiss::Wait { .. }));
        assert!(matches!(b.kid_miss(0, now, &store), KidMiss::Wait { .. }));
        a.tick(now, &store, &mut ha);
        b.tick(now, &store, &mut hb);
        assert_eq!(ha.sent.len() + hb.sent.len(), 2, "one kid-miss refetch in all");
        let (c, tok) = if ha.sent.len() == 2 { (&mut a, ha.sent[1].0) } else { (&mut b, hb.sent[0].0) };
        c.on_response(tok, Some(200), Some(jwks(&[&testkit::rsa_a(), &testkit::rsa_b()])), now + 5, &store, &mut Http::default());
        assert_eq!(a.poll(now + 10, &store), vec![Event::KeysChanged { source: 0, keys: 2 }]);
        // Within the penalty window, more unknown kids are answered at once.
        for t in (now + 10..now + 9_000).step_by(100) {
            assert_eq!(a.kid_miss(0, t, &store), KidMiss::Throttled);
            a.tick(t, &store, &mut ha);
            b.tick(t, &store, &mut hb);
        }
        assert_eq!(ha.sent.len() + hb.sent.len(), 2);
        now += 10_001;
        b.poll(now, &store);
        assert!(matches!(b.kid_miss(0, now, &store), KidMiss::Wait { .. }));
        a.tick(now, &store, &mut ha);
        b.tick(now, &store, &mut hb);
        assert_eq!(ha.sent.len() + hb.sent.len(), 3, "next window: one more");
    }

    #[test]
    fn discovery_follows_a_same_host_jwks_uri() {
        let store = Store::default();
        let mut r = remote();
        r.path = None;
        r.discovery_path = Some("/.well-known/openid-configuration".into());
        let mut w = Coordinator::new(Role::Worker, "w".into(), 1, vec![Source::new("https://idp.example", r.clone())]);
        let mut h = Http::default();
        w.tick(0, &store, &mut h);
        w.tick(10, &store, &mut h);
        assert_eq!(h.sent[0].1, "/.well-known/openid-configuration");
        let doc = br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys/jwks.json"}"#;
        w.on_response(h.sent[0].0, Some(200), Some(doc.to_vec()), 20, &store, &mut h);
        assert_eq!(h.sent[1].1, "/keys/jwks.json");
        w.on_response(h.sent[1].0, Some(200), Some(jwks(&[&testkit::rsa_a()])), 30, &store, &mut h);
        w.poll(40, &store);
        assert!(w.sources[0].keys().is_some());
        assert_eq!(state(&store, &w).discovered_path, "/keys/jwks.json");
        // Another host: the log explains which cluster to add.
        let store = Store::default();
        let mut w = Coordinator::new(Role::Worker, "w".into(), 1, vec![Source::new("https://idp.example", r)]);
        w.tick(0, &store, &mut h);
        w.tick(10, &store, &mut h);
        let doc = br#"{"jwks_uri":"https://keys.other.example/jwks"}"#;
        let ev = w.on_response(h.sent.last().unwrap().0, Some(200), Some(doc.to_vec()), 20, &store, &mut h);
        let Event::FetchFailed { reason, detail, .. } = &ev[0] else { panic!() };
        assert_eq!(*reason, FailReason::Discovery);
        assert!(detail.contains("add an Envoy cluster for keys.other.example"), "{detail}");
    }

    #[test]
    fn dispatch_errors_count_as_failures() {
        let store = Store::default();
        let mut w = coord(Role::Worker, "w");
        let mut h = Http { fail: true, ..Http::default() };
        w.tick(0, &store, &mut h);
        let ev = w.tick(10, &store, &mut h);
        assert!(matches!(ev[0], Event::FetchFailed { reason: FailReason::Dispatch, .. }));
        assert_eq!(w.sources[0].retry_after(10), 1);
    }

    #[test]
    fn backoff_grows_to_the_refresh_interval() {
        assert!((500..=1000).contains(&backoff_ms(1, 600_000, 12345)));
        assert!((300_000..=600_000).contains(&backoff_ms(40, 600_000, 999_999_937)));
        assert!((500..=1000).contains(&backoff_ms(3, 500, 7)), "refresh below 1 s still backs off 1 s");
    }
}
