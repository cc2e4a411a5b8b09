//! The request-path policy of one filter worker, around [`authn::authenticate`]: which clock a
//! request reads, when a "keys unavailable" outcome earns a second look at shared data, which
//! requests wait for a kid-miss refetch, when waiting requests are released, and when the
//! token cache forgets a provider. The adapter reads the host, supplies the time and carries
//! out the decisions; nothing here touches the host.

use crate::authn::{Outcome, Pass};
use crate::cache::TokenCache;
use crate::error::Denial;
use crate::lifecycle::{Coordinator, KidMiss, SharedStore, Source};
use crate::rules::ProviderId;

/// Which look at a request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The request just arrived: it may wait for a kid-miss refetch.
    First,
    /// The request waited for a refetch and was resumed: it is answered now, whatever the keys.
    Resumed,
}

/// A source a waiting request watches: the source's generation and finished fetch attempts
/// when the request paused. Either moving means the refetch has had its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// Source index.
    pub source: usize,
    /// [`Source::generation`] when the request paused.
    pub generation: u64,
    /// [`Source::attempts`] when the request paused.
    pub attempts: u64,
    /// [`Source::conflicts`] when the request paused.
    pub conflicts: u64,
}

/// A request paused while a kid-miss refetch runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    /// The paused HTTP context.
    pub context_id: u32,
    /// Give up waiting at this time (ms) and answer with the keys there are.
    pub until_ms: u64,
    /// The sources it waits on.
    pub watches: Vec<Watch>,
}

impl Waiter {
    /// Whether the request should be resumed: its deadline passed, or a watched source has new
    /// keys, or a refetch finished since it paused (one that brings the same keys must release
    /// its waiters too, not keep them until their deadline), or this worker finished a fetch it
    /// could not record (no finished attempt will show).
    pub fn ready(&self, now_ms: u64, sources: &[Source]) -> bool {
        now_ms >= self.until_ms
            || self.watches.iter().any(|w| {
                sources.get(w.source).is_some_and(|s| {
                    s.generation() != w.generation || s.refetched_since(w.attempts) || s.conflicts() != w.conflicts
                })
            })
    }
}

/// Whether the outcome is "keys unavailable", refused or passed as unauthenticated. Keys
/// published since the worker's last tick (up to a tick ago) are worth one look at shared data
/// before answering so: rare, so the extra host call costs nothing in steady state.
pub fn recheck_keys(outcome: &Outcome) -> bool {
    match &outcome.decision {
        Err(d) => d.error.denial == Denial::KeysUnavailable,
        Ok(a) => matches!(a.pass, Pass::KeysUnavailableAllowed),
    }
}

/// Whether the outcome is an unknown `kid` (refused, or passed by `allow_missing_or_failed`):
/// a key rotation the worker has not seen yet, so the request may wait for a refetch.
pub fn unknown_kid(outcome: &Outcome) -> bool {
    match &outcome.decision {
        Err(d) => d.error.denial == Denial::UnknownKid,
        Ok(a) => matches!(&a.pass, Pass::FailedAllowed(e) if e.denial == Denial::UnknownKid),
    }
}

/// The request-path state of one worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerState {
    /// The time of the last tick, ms.
    tick_ms: u64,
    /// Requests waiting for new keys.
    waiters: Vec<Waiter>,
    /// Per source: the generation the token cache was filled with.
    seen_generation: Vec<u64>,
}

impl WorkerState {
    /// The state of a worker with `sources` remote JWKS sources, at `now_ms`.
    pub fn new(sources: usize, now_ms: u64) -> WorkerState {
        WorkerState { tick_ms: now_ms, waiters: Vec::new(), seen_generation: vec![0; sources] }
    }

    /// Records the time of a tick.
    pub fn on_tick(&mut self, now_ms: u64) {
        self.tick_ms = now_ms;
    }

    /// The time a request is judged at. A first attempt uses the tick's time: reading the
    /// host clock costs about 2 µs per request in V8, and the clock skew allowance (default
    /// 60 s) dwarfs a tick (100 ms). A resumed request has waited up to `kid_miss_wait_ms`,
    /// so it reads the host clock (`read`).
    pub fn now_ms(&self, attempt: Attempt, read: impl FnOnce() -> u64) -> u64 {
        match attempt {
            Attempt::First => self.tick_ms,
            Attempt::Resumed => read(),
        }
    }

    /// Asks for a kid-miss refetch of the sources of `providers` and pauses the request if one
    /// will run. Returns how long it may wait (ms), or `None` when it should be answered now:
    /// a resumed request, inline keys, or every refetch throttled by its penalty window.
    #[allow(clippy::too_many_arguments)]
    pub fn wait_for_keys(
        &mut self,
        attempt: Attempt,
        context_id: u32,
        providers: &[ProviderId],
        provider_source: &[Option<usize>],
        coordinator: &mut Coordinator,
        now_ms: u64,
        store: &dyn SharedStore,
    ) -> Option<u64> {
        if attempt == Attempt::Resumed {
            return None;
        }
        let mut watches: Vec<Watch> = Vec::new();
        let mut until_ms = now_ms;
        for p in providers {
            let Some(i) = provider_source.get(*p).copied().flatten() else { continue };
            if watches.iter().any(|w| w.source == i) {
                continue;
            }
            if let KidMiss::Wait { until_ms: u } = coordinator.kid_miss(i, now_ms, store) {
                let Some(s) = coordinator.sources.get(i) else { continue };
                watches.push(Watch { source: i, generation: s.generation(), attempts: s.attempts(), conflicts: s.conflicts() });
                until_ms = until_ms.max(u);
            }
        }
        if watches.is_empty() {
            return None;
        }
        self.waiters.push(Waiter { context_id, until_ms, watches });
        Some(until_ms - now_ms)
    }

    /// The waiting requests to resume now (see [`Waiter::ready`]); the rest keep waiting.
    pub fn release(&mut self, now_ms: u64, sources: &[Source]) -> Vec<u32> {
        let (ready, waiting): (Vec<Waiter>, Vec<Waiter>) =
            std::mem::take(&mut self.waiters).into_iter().partition(|w| w.ready(now_ms, sources));
        self.waiters = waiting;
        ready.into_iter().map(|w| w.context_id).collect()
    }

    /// Forgets a request that ended (the client went away) while it waited.
    pub fn forget(&mut self, context_id: u32) {
        self.waiters.retain(|w| w.context_id != context_id);
    }

    /// The requests waiting now.
    pub fn waiters(&self) -> &[Waiter] {
        &self.waiters
    }

    /// Drops the cached tokens of every provider whose source serves a different key set than
    /// the cache was filled with. Returns whether any did.
    pub fn sync_cache(&mut self, sources: &[Source], provider_source: &[Option<usize>], cache: &mut TokenCache) -> bool {
        let mut changed = false;
        for (i, s) in sources.iter().enumerate() {
            let g = s.generation();
            let Some(seen) = self.seen_generation.get_mut(i) else { continue };
            if *seen == g {
                continue;
            }
            *seen = g;
            changed = true;
            for (p, src) in provider_source.iter().enumerate() {
                if *src == Some(i) {
                    cache.clear_provider(p);
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::{Allow, Deny};
    use crate::config::RemoteJwks;
    use crate::error::AuthError;
    use crate::lifecycle::{HttpClient, Role, SetError};
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Store(RefCell<(Entries, u32)>, std::cell::Cell<bool>);

    /// Key to (value, cas).
    type Entries = HashMap<String, (Vec<u8>, u32)>;

    impl SharedStore for Store {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
            self.0.borrow().0.get(key).map_or((None, 0), |(v, c)| (Some(v.clone()), *c))
        }
        fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
            let mut s = self.0.borrow_mut();
            if self.1.get() && key.contains("/state/") && cas != 0 {
                return Err(SetError::CasMismatch); // another participant always wins
            }
            if let Some((_, c)) = s.0.get(key) {
                if cas != 0 && cas != *c {
                    return Err(SetError::CasMismatch);
                }
            }
            s.1 += 1;
            let n = s.1;
            s.0.insert(key.to_string(), (value.to_vec(), n));
            Ok(())
        }
    }

    #[derive(Default)]
    struct Http(Vec<u32>);

    impl HttpClient for Http {
        fn get(&mut self, _: &str, _: &str, _: &str, _: u64) -> Result<u32, String> {
            self.0.push(self.0.len() as u32 + 1);
            Ok(self.0.len() as u32)
        }
    }

    fn remote(wait_ms: u64) -> RemoteJwks {
        RemoteJwks {
            cluster: "idp".into(),
            authority: "idp.example".into(),
            path: Some("/jwks".into()),
            discovery_path: None,
            timeout_ms: 1000,
            refresh_seconds: 600,
            max_stale_seconds: 3600,
            kid_miss_penalty_seconds: 10,
            kid_miss_wait_ms: wait_ms,
            max_bytes: 65536,
        }
    }

    fn jwks(keys: &[&testkit::TestKey]) -> Vec<u8> {
        testkit::jwks(keys).to_string().into_bytes()
    }

    /// A worker coordinator whose one source serves key A (fetched at 20 ms).
    fn served(wait_ms: u64) -> (Coordinator, Store, Http) {
        let store = Store::default();
        let mut http = Http::default();
        let mut c = Coordinator::new(Role::Worker, "w".into(), 7, vec![Source::new("https://idp.example", remote(wait_ms))]);
        c.tick(0, &store, &mut http);
        c.tick(10, &store, &mut http);
        c.on_response(1, Some(200), Some(jwks(&[&testkit::rsa_a()])), 20, &store, &mut http);
        c.tick(30, &store, &mut http);
        c.poll(30, &store);
        (c, store, http)
    }

    fn denied(d: Denial) -> Outcome {
        Outcome { decision: Err(Deny { error: d.into(), provider: Some(0), retry_after: 1 }), kid_misses: vec![0] }
    }

    fn passed(p: Pass) -> Outcome {
        let allow =
            Allow { pass: p, identities: Vec::new(), add_headers: Vec::new(), remove_headers: Vec::new(), new_path: None };
        Outcome { decision: Ok(allow), kid_misses: Vec::new() }
    }

    #[test]
    fn which_outcomes_recheck_and_which_may_wait() {
        assert!(recheck_keys(&denied(Denial::KeysUnavailable)));
        assert!(recheck_keys(&passed(Pass::KeysUnavailableAllowed)));
        assert!(!recheck_keys(&denied(Denial::UnknownKid)));
        assert!(!recheck_keys(&passed(Pass::Authenticated)));
        assert!(unknown_kid(&denied(Denial::UnknownKid)));
        assert!(unknown_kid(&passed(Pass::FailedAllowed(AuthError::new(Denial::UnknownKid)))));
        assert!(!unknown_kid(&passed(Pass::FailedAllowed(AuthError::new(Denial::Expired)))));
        assert!(!unknown_kid(&denied(Denial::BadSignature)));
    }

    #[test]
    fn first_attempts_read_the_tick_clock_and_resumed_ones_the_host() {
        let mut w = WorkerState::new(1, 1_000);
        w.on_tick(1_100);
        assert_eq!(w.now_ms(Attempt::First, || panic!("a first attempt reads no host clock")), 1_100);
        assert_eq!(w.now_ms(Attempt::Resumed, || 1_234), 1_234);
    }

    #[test]
    fn an_unknown_kid_waits_then_is_released_by_the_refetch() {
        let (mut c, store, mut http) = served(2_000);
        let mut w = WorkerState::new(1, 20_000);
        let waited = w.wait_for_keys(Attempt::First, 5, &[0], &[Some(0)], &mut c, 20_000, &store);
        assert_eq!(waited, Some(2_000));
        assert_eq!(w.waiters().len(), 1);
        // A second request for the same kid joins the same refetch.
        assert_eq!(w.wait_for_keys(Attempt::First, 6, &[0], &[Some(0)], &mut c, 20_050, &store), Some(2_000));
        c.tick(20_100, &store, &mut http);
        assert_eq!(http.0.len(), 2, "one refetch for both requests");
        assert!(w.release(20_150, &c.sources).is_empty(), "not while the refetch runs");
        c.on_response(2, Some(200), Some(jwks(&[&testkit::rsa_a(), &testkit::rsa_b()])), 20_200, &store, &mut http);
        c.tick(20_300, &store, &mut http);
        c.poll(20_300, &store);
        assert_eq!(w.release(20_300, &c.sources), vec![5, 6]);
        assert!(w.waiters().is_empty());
    }

    #[test]
    fn waiters_are_released_at_their_deadline_when_nothing_comes() {
        let (mut c, store, _) = served(2_000);
        let mut w = WorkerState::new(1, 20_000);
        w.wait_for_keys(Attempt::First, 5, &[0], &[Some(0)], &mut c, 20_000, &store);
        assert!(w.release(21_999, &c.sources).is_empty());
        assert_eq!(w.release(22_000, &c.sources), vec![5]);
    }

    #[test]
    fn who_does_not_wait() {
        let (mut c, store, _) = served(2_000);
        let mut w = WorkerState::new(1, 20_000);
        assert_eq!(w.wait_for_keys(Attempt::Resumed, 5, &[0], &[Some(0)], &mut c, 20_000, &store), None, "waited once");
        assert_eq!(w.wait_for_keys(Attempt::First, 5, &[0], &[None], &mut c, 20_000, &store), None, "inline keys");
        let (mut c, store, _) = served(0);
        assert_eq!(w.wait_for_keys(Attempt::First, 5, &[0], &[Some(0)], &mut c, 20_000, &store), None, "waiting turned off");
        assert!(w.waiters().is_empty());
    }

    #[test]
    fn a_throttled_refetch_answers_at_once() {
        let (mut c, store, mut http) = served(2_000);
        let mut w = WorkerState::new(1, 20_000);
        assert!(w.wait_for_keys(Attempt::First, 5, &[0], &[Some(0)], &mut c, 20_000, &store).is_some());
        c.tick(20_100, &store, &mut http);
        c.on_response(2, Some(200), Some(jwks(&[&testkit::rsa_a()])), 20_200, &store, &mut http);
        c.tick(20_300, &store, &mut http);
        c.poll(20_300, &store);
        assert_eq!(w.release(20_300, &c.sources), vec![5], "the same keys came back: answer now");
        assert_eq!(w.wait_for_keys(Attempt::First, 6, &[0], &[Some(0)], &mut c, 21_000, &store), None, "penalty window");
    }

    #[test]
    fn a_refetch_that_cannot_be_recorded_releases_its_waiters() {
        let (mut c, store, mut http) = served(2_000);
        let mut w = WorkerState::new(1, 20_000);
        w.wait_for_keys(Attempt::First, 5, &[0], &[Some(0)], &mut c, 20_000, &store);
        c.tick(20_100, &store, &mut http);
        store.1.set(true);
        let ev = c.on_response(2, Some(500), None, 20_200, &store, &mut http);
        assert_eq!(ev, vec![crate::lifecycle::Event::StateConflict { source: 0 }]);
        assert_eq!(w.release(20_300, &c.sources), vec![5], "not held until the deadline");
    }

    #[test]
    fn a_request_that_goes_away_is_forgotten() {
        let (mut c, store, _) = served(2_000);
        let mut w = WorkerState::new(1, 20_000);
        w.wait_for_keys(Attempt::First, 5, &[0], &[Some(0)], &mut c, 20_000, &store);
        w.forget(5);
        assert!(w.release(30_000, &c.sources).is_empty());
    }

    #[test]
    fn new_keys_clear_the_cache_of_their_providers_only() {
        let (mut c, store, mut http) = served(2_000);
        let mut w = WorkerState::new(1, 0);
        let mut cache = TokenCache::new(10, 1 << 20);
        // Provider 0 uses the source; provider 1 has inline keys.
        assert!(w.sync_cache(&c.sources, &[Some(0), None], &mut cache), "the first keys count as a change");
        assert!(!w.sync_cache(&c.sources, &[Some(0), None], &mut cache), "nothing new");
        c.tick(600_100, &store, &mut http);
        c.on_response(2, Some(200), Some(jwks(&[&testkit::rsa_b()])), 600_200, &store, &mut http);
        c.poll(600_300, &store);
        assert!(w.sync_cache(&c.sources, &[Some(0), None], &mut cache));
    }
}
