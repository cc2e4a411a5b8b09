//! The fetch lease and schedule: who fetches a source and when, and what a finished fetch
//! writes to the shared records. Every change to the shared fetch state is a
//! compare-and-swap, so all workers and the fetcher service agree on one schedule.

use super::backoff::{backoff_ms, Jitter};
use super::source::{InFlight, Kind, Trigger};
use super::{classify, discovery, Event, FailReason, HttpClient, KidMiss, Role, SharedStore, Source};
use super::{CREATE_ONLY_CAS, SERVICE_TTL_MS};
use crate::jwk::KeySet;
use crate::shared::{self, FetchState, KeysMeta};
use std::rc::Rc;

/// Extra lease time beyond the request timeout, ms.
const LEASE_MARGIN_MS: u64 = 2_000;
/// Compare-and-swap attempts to record a finished fetch before giving up
/// ([`Event::StateConflict`]).
const FINISH_TRIES: usize = 8;

/// The coordinator of one participant (a worker's root context, or the fetcher service).
pub struct Coordinator {
    role: Role,
    me: String,
    rng: Jitter,
    /// The sources, deduplicated by identity.
    pub sources: Vec<Source>,
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
        Coordinator { role, me, rng: Jitter::new(seed), sources: out }
    }

    /// Index of the source with this shared id.
    pub fn source_index(&self, sid: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.sid == sid)
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
        let trigger = if kid_miss { Trigger::KidMiss } else { Trigger::Scheduled };
        self.start_fetch(i, now_ms, trigger, &st.discovered_path, false, http, events, store);
    }

    /// Sends a fetch's request: the JWKS when its path is configured or was discovered
    /// (`discovered`, "" when none), else the discovery document. `follows_discovery`: the
    /// JWKS request after a discovery document, part of a fetch already announced.
    #[allow(clippy::too_many_arguments)]
    fn start_fetch(
        &mut self,
        i: usize,
        now_ms: u64,
        trigger: Trigger,
        discovered: &str,
        follows_discovery: bool,
        http: &mut dyn HttpClient,
        events: &mut Vec<Event>,
        store: &dyn SharedStore,
    ) {
        let Some(s) = self.sources.get_mut(i) else { return };
        let path = s.remote.path.clone().or_else(|| (!discovered.is_empty()).then(|| discovered.to_string()));
        let (kind, path) = match (path, &s.remote.discovery_path) {
            (Some(p), _) => (Kind::Jwks, p),
            (None, Some(d)) => (Kind::Discovery, d.clone()),
            (None, None) => return,
        };
        match http.get(&s.remote.cluster, &s.remote.authority, &path, s.remote.timeout_ms) {
            Ok(token) => {
                s.in_flight = Some(InFlight { token, kind, trigger, started_ms: now_ms });
                events.push(Event::FetchStarted {
                    source: i,
                    kid_miss: trigger == Trigger::KidMiss && !follows_discovery,
                    discovery: kind == Kind::Discovery,
                });
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
        let result = classify::response(&s.remote, status, body, now_ms.saturating_sub(flight.started_ms));
        if flight.kind == Kind::Discovery {
            let authority = s.remote.authority.clone();
            match result.and_then(|b| discovery::jwks_path(&b, &authority)) {
                Ok(path) => {
                    self.set_discovered(i, &path, store);
                    self.start_fetch(i, now_ms, flight.trigger, &path, true, http, &mut events, store);
                }
                Err(e) => self.finish(i, now_ms, Err(e), store, &mut events),
            }
            return events;
        }
        self.finish(i, now_ms, result, store, &mut events);
        events
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
        let result = result.and_then(classify::jwks);
        let rand = self.rng.draw();
        let me = self.me.clone();
        let Some(s) = self.sources.get_mut(i) else { return };
        let refresh_ms = s.remote.refresh_seconds.saturating_mul(1000);
        if let Ok((body, set)) = &result {
            publish_keys(store, &s.sid, body, now_ms);
            events.push(Event::FetchSucceeded { source: i, keys: set.keys.len(), skipped: set.skipped.clone() });
        }
        let key = shared::state_key(&s.sid);
        let failed = result.as_ref().err().map(|(reason, _)| *reason);
        for _ in 0..FINISH_TRIES {
            let (bytes, cas) = store.get(&key);
            let st = finished_state(bytes.as_deref(), failed, &me, now_ms, refresh_ms, rand);
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
        // Every write lost a race. The lease lapses on its own and the next tick reads the
        // state afresh; say so, and let this participant's waiters go rather than hold them
        // until their deadline for an attempt count that will not move.
        s.conflicts += 1;
        events.push(Event::StateConflict { source: i });
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

// `publish_keys` and `finished_state` stay out of line: inlined into `Coordinator::finish`
// they made a 2.1 KB function, and V8's compile memory follows the largest functions (issue 13).

/// Publishes a fetched JWKS body in shared data, keeping its `changed_at_ms` when the body is
/// the one already there.
#[inline(never)]
fn publish_keys(store: &dyn SharedStore, sid: &str, body: &[u8], now_ms: u64) {
    let key = shared::keys_key(sid);
    let (old, _) = store.get(&key);
    let changed_at_ms = match old.as_deref().and_then(shared::decode_keys) {
        Some((meta, old_body)) if old_body == body => meta.changed_at_ms,
        _ => now_ms,
    };
    let meta = KeysMeta { fetched_at_ms: now_ms, changed_at_ms };
    let _ = store.set(&key, &shared::encode_keys(&meta, body), 0);
}

/// The shared fetch state after this participant's attempt (`failed`: why it failed, if it
/// did), from the stored `bytes`; releases the lease when `me` holds it.
#[inline(never)]
fn finished_state(
    bytes: Option<&[u8]>,
    failed: Option<FailReason>,
    me: &str,
    now_ms: u64,
    refresh_ms: u64,
    rand: u64,
) -> FetchState {
    let mut st = FetchState::decode(bytes);
    // Read from shared data, which another module version (or a faulty one) may have written.
    st.attempts = st.attempts.saturating_add(1);
    match failed {
        None => {
            st.failures = 0;
            st.last_error.clear();
            st.last_success_ms = now_ms;
            st.next_fetch_ms = now_ms + refresh_ms;
        }
        Some(reason) => {
            st.failures = st.failures.saturating_add(1);
            st.last_error = reason.name().to_string();
            st.next_fetch_ms = now_ms + backoff_ms(st.failures, refresh_ms, rand);
        }
    }
    if st.lease_holder == me {
        st.lease_holder.clear();
        st.lease_until_ms = 0;
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, failures: u32) -> Vec<u8> {
        FetchState {
            lease_holder: holder.into(),
            lease_until_ms: 9_000,
            failures,
            last_error: "timeout".into(),
            attempts: 4,
            ..FetchState::default()
        }
        .encode()
    }

    #[test]
    fn finished_state_after_a_success_resets_failures_and_releases_my_lease() {
        let st = finished_state(Some(&held_by("me", 3)), None, "me", 1_000, 60_000, 7);
        assert_eq!((st.failures, st.last_error.as_str(), st.attempts), (0, "", 5));
        assert_eq!((st.last_success_ms, st.next_fetch_ms), (1_000, 61_000));
        assert_eq!((st.lease_holder.as_str(), st.lease_until_ms), ("", 0));
    }

    #[test]
    fn finished_state_after_a_failure_backs_off_and_keeps_another_holders_lease() {
        let st = finished_state(Some(&held_by("other", 1)), Some(FailReason::Status), "me", 1_000, 60_000, 7);
        assert_eq!((st.failures, st.last_error.as_str(), st.attempts), (2, FailReason::Status.name(), 5));
        assert_eq!(st.next_fetch_ms, 1_000 + backoff_ms(2, 60_000, 7));
        assert_eq!((st.lease_holder.as_str(), st.lease_until_ms), ("other", 9_000));
        let fresh = finished_state(None, Some(FailReason::Status), "me", 0, 60_000, 7);
        assert_eq!((fresh.failures, fresh.attempts), (1, 1));
    }

    #[test]
    fn finished_state_saturates_counters_read_from_shared_data() {
        let worn = FetchState { attempts: u64::MAX, failures: u32::MAX, ..FetchState::default() }.encode();
        let st = finished_state(Some(&worn), Some(FailReason::Status), "me", 1_000, 60_000, 7);
        assert_eq!((st.attempts, st.failures), (u64::MAX, u32::MAX));
        assert!(st.next_fetch_ms > 1_000);
    }
}
