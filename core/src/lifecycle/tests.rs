//! The lifecycle as participants see it: several coordinators on one fake shared store.

use super::*;
use crate::config::RemoteJwks;
use crate::shared::{self, FetchState};
use std::cell::RefCell;
use std::collections::HashMap;

/// Shared data with Envoy's semantics: a global cas counter, cas 0 writes unconditionally,
/// absent keys accept any cas.
#[derive(Default)]
struct Store {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next: RefCell<u32>,
    /// Every compare-and-swap on a state record fails (another participant always wins).
    contended: RefCell<bool>,
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
        if *self.contended.borrow() && key.contains("/state/") && cas != 0 {
            return Err(SetError::CasMismatch);
        }
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

#[test]
fn a_finish_that_loses_every_race_says_so() {
    let store = Store::default();
    let mut w = coord(Role::Worker, "w");
    let mut h = Http::default();
    w.tick(0, &store, &mut h);
    w.tick(10, &store, &mut h);
    *store.contended.borrow_mut() = true;
    let ev = w.on_response(h.sent[0].0, Some(500), Some(b"oops".to_vec()), 20, &store, &mut h);
    assert_eq!(ev, vec![Event::StateConflict { source: 0 }], "not silence");
    assert_eq!(w.sources[0].conflicts(), 1);
    assert!(!w.sources[0].fetching());
    assert_eq!(state(&store, &w).attempts, 0, "nothing was recorded");
}

#[test]
fn a_kid_miss_refetch_through_discovery_is_announced_once() {
    let store = Store::default();
    let mut r = remote();
    r.path = None;
    r.discovery_path = Some("/.well-known/openid-configuration".into());
    let mut w = Coordinator::new(Role::Worker, "w".into(), 1, vec![Source::new("https://idp.example", r)]);
    let mut h = Http::default();
    w.tick(0, &store, &mut h);
    w.tick(10, &store, &mut h);
    let doc = br#"{"jwks_uri":"https://idp.example/keys"}"#;
    let ev = w.on_response(h.sent[0].0, Some(200), Some(doc.to_vec()), 20, &store, &mut h);
    assert_eq!(ev, vec![Event::FetchStarted { source: 0, kid_miss: false, discovery: false }]);
    w.on_response(h.sent[1].0, Some(200), Some(jwks(&[&testkit::rsa_a()])), 30, &store, &mut h);
    w.poll(40, &store);
    // The discovered path is in the shared state: a kid-miss refetch goes straight to the JWKS.
    assert!(matches!(w.kid_miss(0, 20_000, &store), KidMiss::Wait { .. }));
    let ev = w.tick(20_000, &store, &mut h);
    assert_eq!(ev, vec![Event::FetchStarted { source: 0, kid_miss: true, discovery: false }]);
    assert_eq!(h.sent[2].1, "/keys");
}

#[test]
fn a_status_less_failure_is_a_timeout_only_near_the_timeout() {
    use super::classify::{response, TIMEOUT_TOLERANCE_MS};
    let r = remote();
    let at = |ms| response(&r, None, None, ms).unwrap_err().0;
    assert_eq!(at(5), FailReason::Connection);
    assert_eq!(at(r.timeout_ms - TIMEOUT_TOLERANCE_MS - 1), FailReason::Connection);
    assert_eq!(at(r.timeout_ms - TIMEOUT_TOLERANCE_MS), FailReason::Timeout);
    assert_eq!(at(r.timeout_ms + 1), FailReason::Timeout);
}

#[test]
fn discovery_documents_are_checked() {
    use super::discovery::jwks_path;
    assert_eq!(jwks_path(br#"{"jwks_uri":"https://IDP.example/k?x=1"}"#, "idp.example"), Ok("/k?x=1".to_string()));
    assert_eq!(jwks_path(br#"{"jwks_uri":"https://idp.example"}"#, "idp.example"), Ok("/".to_string()));
    for bad in [&b"nope"[..], br#"{}"#, br#"{"jwks_uri":"ftp://idp.example/k"}"#, br#"{"jwks_uri":"https://evil.example/k"}"#] {
        assert_eq!(jwks_path(bad, "idp.example").unwrap_err().0, FailReason::Discovery);
    }
}
