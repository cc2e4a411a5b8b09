//! The adapter tier: the filter's worker against a fake host (`fake.rs`). Real configuration,
//! real tokens and keys from `testkit`, the real core and JWKS lifecycle; only Envoy is faked.

use crate::fake::{Fake, FakeVerifier, Stats, Store};
use crate::worker::{Verdict, Worker};
use jwt_core::config::Config;
use jwt_core::shared::{self, KeysMeta};
use jwt_core::worker::Attempt;
use serde_json::{json, Value};
use std::cell::RefCell;
use testkit::TestKey;

const ISS: &str = "https://idp.example";

/// One Envoy: shared data and stats, which every worker sees.
#[derive(Default)]
struct Envoy {
    store: Store,
    stats: RefCell<Stats>,
}

fn config(extra: Value) -> Config {
    let mut v = json!({
        "providers": {"idp": {"issuer": ISS, "allow_any_audience": true,
                              "jwks": {"cluster": "idp", "authority": "idp.example", "path": "/jwks"}}},
        "rules": [
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/optional"}, "requires": {"allow_missing": ["idp"]}}
        ],
        "crypto": "pure_rust",
        "filter_state": true
    });
    for (k, x) in extra.as_object().into_iter().flatten() {
        v[k] = x.clone();
    }
    Config::parse(v.to_string().as_bytes()).unwrap()
}

fn now_ms() -> u64 {
    testkit::now() * 1000
}

fn worker(extra: Value) -> Worker {
    Worker::new(config(extra), 1, now_ms() * 1_000_000)
}

fn claims(sub: &str) -> Value {
    json!({"iss": ISS, "sub": sub, "exp": testkit::now() + 600, "iat": testkit::now()})
}

fn bearer(key: &TestKey, sub: &str) -> String {
    format!("Bearer {}", key.token(&claims(sub)))
}

/// Publishes keys as the jwks-fetcher would (the keys record in shared data).
fn publish(envoy: &Envoy, w: &Worker, keys: &[&TestKey]) {
    let sid = &w.keys.coordinator.sources[0].sid;
    let meta = KeysMeta { fetched_at_ms: now_ms(), changed_at_ms: now_ms() };
    let body = testkit::jwks(keys).to_string();
    shared_set(envoy, &shared::keys_key(sid), &shared::encode_keys(&meta, body.as_bytes()));
}

fn shared_set(envoy: &Envoy, key: &str, value: &[u8]) {
    use jwt_core::lifecycle::SharedStore;
    envoy.store.set(key, value, 0).unwrap();
}

/// A worker serving key A, ticked once.
fn ready<'e>(envoy: &'e Envoy, extra: Value) -> (Worker, Fake<'e>) {
    let mut w = worker(extra);
    let mut host = Fake::new(&envoy.store, &envoy.stats, now_ms());
    publish(envoy, &w, &[&testkit::rsa_a()]);
    w.tick(&mut host);
    (w, host)
}

fn get(w: &mut Worker, host: &mut Fake<'_>, path: &str, headers: &[(&str, &str)]) -> Verdict {
    host.request("GET", path, headers);
    w.handle(host, 7, Attempt::First)
}

#[test]
fn a_valid_token_passes_with_the_identity_header_and_is_counted() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    let auth = bearer(&testkit::rsa_a(), "alice");
    assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &auth)]), Verdict::Continue);
    assert!(host.replies.is_empty());
    assert!(host.header("x-current-user").unwrap().contains(r#""sub":"alice""#), "the claims as JSON");
    assert_eq!(host.header("authorization"), Some(auth.as_str()), "forwarded by default");
    assert_eq!(host.state.get("jwt_filter.outcome").map(String::as_str), Some("allowed"));
    assert_eq!(host.state.get("jwt_filter.sub").map(String::as_str), Some("alice"));
    assert_eq!(host.state.get("jwt_filter.provider").map(String::as_str), Some("idp"));
    assert_eq!(host.stat("provider.idp.allowed"), Some(0), "counts reach the host at the tick");
    w.tick(&mut host);
    assert_eq!(host.stat("provider.idp.allowed"), Some(1));
    assert_eq!(host.stat("verify.pure_rust"), Some(1));
    assert_eq!(host.stat("cache.hit"), Some(0));
}

#[test]
fn a_repeated_token_is_a_cache_hit_and_the_gauge_counts_entries() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    let auth = bearer(&testkit::rsa_a(), "alice");
    for _ in 0..3 {
        assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &auth)]), Verdict::Continue);
    }
    w.tick(&mut host);
    assert_eq!(host.stat("verify.pure_rust"), Some(1));
    assert_eq!(host.stat("cache.hit"), Some(2));
    assert_eq!(host.stat("cache.entries"), Some(1));
}

#[test]
fn the_cache_gauge_is_the_sum_over_workers() {
    let envoy = Envoy::default();
    let (mut a, mut ha) = ready(&envoy, json!({}));
    let (mut b, mut hb) = ready(&envoy, json!({}));
    get(&mut a, &mut ha, "/api", &[("authorization", &bearer(&testkit::rsa_a(), "alice"))]);
    get(&mut b, &mut hb, "/api", &[("authorization", &bearer(&testkit::rsa_a(), "bob"))]);
    get(&mut b, &mut hb, "/api", &[("authorization", &bearer(&testkit::rsa_a(), "carol"))]);
    a.tick(&mut ha);
    b.tick(&mut hb);
    assert_eq!(ha.stat("cache.entries"), Some(3), "1 + 2");
    a.tick(&mut ha);
    assert_eq!(ha.stat("cache.entries"), Some(3), "a tick without change adds nothing");
    a.on_done(&mut ha);
    assert_eq!(ha.stat("cache.entries"), Some(2), "a worker that goes away takes its share out");
}

#[test]
fn a_spoofed_output_header_is_stripped_even_on_public_routes() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    assert_eq!(get(&mut w, &mut host, "/public/x", &[("x-current-user", "admin")]), Verdict::Continue);
    assert_eq!(host.header("x-current-user"), None);
    assert_eq!(host.state.get("jwt_filter.outcome").map(String::as_str), Some("public"));
    w.tick(&mut host);
    assert_eq!(host.stat("public"), Some(1));
}

#[test]
fn a_missing_token_gets_401_with_a_bare_challenge() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({"realm": "api"}));
    assert_eq!(get(&mut w, &mut host, "/api", &[]), Verdict::Stop);
    let r = &host.replies[0];
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"api\""));
    assert_eq!(r.details, "jwt_filter_missing");
    assert_eq!(host.state.get("jwt_filter.outcome").map(String::as_str), Some("denied"));
    assert_eq!(host.state.get("jwt_filter.reason").map(String::as_str), Some("missing"));
    w.tick(&mut host);
    assert_eq!(host.stat("provider.idp.denied.missing"), Some(1));
}

#[test]
fn a_bad_token_gets_401_invalid_token_and_no_identity_header() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    let mut c = claims("alice");
    c["exp"] = json!(testkit::now() - 3600);
    let expired = format!("Bearer {}", testkit::rsa_a().token(&c));
    assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &expired), ("x-current-user", "admin")]), Verdict::Stop);
    let r = &host.replies[0];
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""), "{r:?}");
    assert_eq!(r.details, "jwt_filter_expired");
    assert!(r.body.contains(r#""error":"invalid_token""#), "{}", r.body);
    assert_eq!(host.header("x-current-user"), None);
    w.tick(&mut host);
    assert_eq!(host.stat("provider.idp.denied.expired"), Some(1));
}

#[test]
fn no_keys_gets_503_with_retry_after() {
    let envoy = Envoy::default();
    let mut w = worker(json!({}));
    let mut host = Fake::new(&envoy.store, &envoy.stats, now_ms());
    w.tick(&mut host);
    assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &bearer(&testkit::rsa_a(), "alice"))]), Verdict::Stop);
    let r = &host.replies[0];
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("www-authenticate"), None);
    assert_eq!(r.details, "jwt_filter_keys_unavailable");
    w.tick(&mut host);
    assert_eq!(host.stat("keys_unavailable"), Some(1));
    assert_eq!(host.stat("provider.idp.denied.keys_unavailable"), Some(1));
}

#[test]
fn keys_published_since_the_last_tick_are_found_before_answering_unavailable() {
    let envoy = Envoy::default();
    let mut w = worker(json!({}));
    let mut host = Fake::new(&envoy.store, &envoy.stats, now_ms());
    w.tick(&mut host);
    publish(&envoy, &w, &[&testkit::rsa_a()]);
    assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &bearer(&testkit::rsa_a(), "alice"))]), Verdict::Continue);
    assert!(host.replies.is_empty());
}

#[test]
fn unavailable_keys_pass_as_unauthenticated_where_allowed_and_say_so_alike() {
    let envoy = Envoy::default();
    let mut w = worker(json!({"on_keys_unavailable": "unauthenticated"}));
    let mut host = Fake::new(&envoy.store, &envoy.stats, now_ms());
    w.tick(&mut host);
    let auth = bearer(&testkit::rsa_a(), "alice");
    assert_eq!(get(&mut w, &mut host, "/optional", &[("authorization", &auth)]), Verdict::Continue);
    assert_eq!(host.state.get("jwt_filter.outcome").map(String::as_str), Some("keys_unavailable_allowed"));
    w.tick(&mut host);
    assert_eq!(host.stat("keys_unavailable_allowed"), Some(1), "counter and filter state spell it alike");
    assert_eq!(host.stat("keys_unavailable"), Some(1));
}

#[test]
fn a_cors_preflight_is_spelled_alike_in_counters_and_filter_state() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    host.request("OPTIONS", "/api", &[("origin", "https://app.example"), ("access-control-request-method", "GET")]);
    assert_eq!(w.handle(&mut host, 7, Attempt::First), Verdict::Continue);
    let outcome = host.state.get("jwt_filter.outcome").cloned().unwrap();
    assert_eq!(outcome, "cors_preflight");
    w.tick(&mut host);
    assert_eq!(host.stat(&outcome), Some(1));
}

#[test]
fn unreadable_headers_get_500_through_the_fault_reply() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    host.headers = None;
    assert_eq!(w.handle(&mut host, 7, Attempt::First), Verdict::Stop);
    assert_eq!(host.replies[0].status, 500);
    assert_eq!(host.replies[0].details, "jwt_filter_internal_error");
}

/// A worker serving the three EC keys, with `crypto` as given and the host offering `verifier`.
fn ec_ready<'e>(envoy: &'e Envoy, crypto: &str, verifier: FakeVerifier) -> (Worker, Fake<'e>) {
    let mut w = worker(json!({"crypto": crypto}));
    let mut host = Fake::new(&envoy.store, &envoy.stats, now_ms());
    host.verifier = verifier;
    publish(envoy, &w, &[&testkit::p256(), &testkit::p384(), &testkit::p521()]);
    w.tick(&mut host);
    (w, host)
}

fn ec_keys() -> [TestKey; 3] {
    [testkit::p256(), testkit::p384(), testkit::p521()]
}

#[test]
fn ecdsa_tokens_are_verified_by_the_host() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ec_ready(&envoy, "auto", FakeVerifier::Emulated);
    for key in ec_keys() {
        let auth = bearer(&key, key.alg);
        assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &auth)]), Verdict::Continue, "{}", key.alg);
        // One flipped bit in s: the host says invalid, a bad signature.
        let mut bad = auth.into_bytes();
        let i = bad.len() - 5;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &bad)]), Verdict::Stop, "{}", key.alg);
        assert_eq!(host.replies[0].status, 401, "{}", key.alg);
        assert_eq!(host.replies[0].details, "jwt_filter_bad_signature", "{}", key.alg);
    }
    w.tick(&mut host);
    assert_eq!(host.stat("verify.host"), Some(3));
    assert_eq!(host.stat("verify.pure_rust"), Some(0));
    assert_eq!(host.stat("provider.idp.denied.bad_signature"), Some(3));
    assert_eq!(host.stat("provider.idp.denied.no_verifier"), Some(0));
}

/// A host without `verify_signature` (or `crypto: pure_rust`): a module built without
/// pure-Rust ECDSA cannot judge an ES* token, so it answers 500 `no_verifier`, not a 401 that
/// would blame the token; with the `pure-ecdsa` feature the token verifies in pure Rust.
#[test]
fn ecdsa_without_the_host_is_a_server_fault_unless_built_with_pure_ecdsa() {
    for (crypto, verifier) in [("auto", FakeVerifier::Missing), ("pure_rust", FakeVerifier::Emulated)] {
        let envoy = Envoy::default();
        let (mut w, mut host) = ec_ready(&envoy, crypto, verifier);
        for key in ec_keys() {
            let auth = bearer(&key, key.alg);
            let verdict = get(&mut w, &mut host, "/api", &[("authorization", &auth)]);
            if jwt_core::crypto::PURE_ECDSA {
                assert_eq!(verdict, Verdict::Continue, "{} {crypto}", key.alg);
                continue;
            }
            assert_eq!(verdict, Verdict::Stop, "{} {crypto}", key.alg);
            let reply = &host.replies[0];
            assert_eq!(reply.status, 500, "{} {crypto}", key.alg);
            assert_eq!(reply.details, "jwt_filter_no_verifier");
            assert_eq!(reply.header("www-authenticate"), None, "a server fault: no challenge");
            assert!(reply.body.contains(r#""error":"server_error""#), "{}", reply.body);
            assert_eq!(host.state.get("jwt_filter.reason").map(String::as_str), Some("no_verifier"));
            assert!(host.header("x-current-user").is_none());
        }
        // A signature of the wrong length is the token's fault on every build.
        let short = format!("Bearer {}", testkit::p256().token(&claims("x")).rsplit_once('.').unwrap().0.to_owned() + ".AAAA");
        assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &short)]), Verdict::Stop);
        assert_eq!(host.replies[0].status, 401);
        assert_eq!(host.replies[0].details, "jwt_filter_bad_signature");
        w.tick(&mut host);
        let (verified, unverifiable) = if jwt_core::crypto::PURE_ECDSA { (3, 0) } else { (0, 3) };
        assert_eq!(host.stat("verify.pure_rust"), Some(verified), "{crypto}");
        assert_eq!(host.stat("verify.host"), Some(0), "{crypto}");
        assert_eq!(host.stat("provider.idp.denied.no_verifier"), Some(unverifiable), "{crypto}");
        assert_eq!(host.stat("provider.idp.denied.bad_signature"), Some(1), "{crypto}");
    }
}

/// Key rotation: a token signed by a key the worker has not seen waits for the refetch the
/// unknown kid starts, then passes with the new keys.
#[test]
fn an_unknown_kid_waits_for_the_refetch_and_then_passes() {
    let envoy = Envoy::default();
    let mut w = worker(json!({}));
    let mut host = Fake::new(&envoy.store, &envoy.stats, now_ms());
    // The worker fetches the keys itself (no fetcher): create the state, then take the lease.
    w.tick(&mut host);
    host.now_ms += 100;
    w.tick(&mut host);
    let (token, path) = host.http.sent[0].clone();
    assert_eq!(path, "/jwks");
    host.response = (Some(200), Some(testkit::jwks(&[&testkit::rsa_a()]).to_string().into_bytes()));
    assert!(!w.on_response(&mut host, token + 1), "not a call of ours");
    assert!(w.on_response(&mut host, token));
    assert_eq!(host.stat("jwks.idp.fetch_success"), Some(1));
    assert_eq!(host.stat("jwks.idp.keys"), Some(1));
    host.now_ms += 100;
    w.tick(&mut host);
    let rotated = bearer(&testkit::rsa_b(), "alice");
    assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &rotated)]), Verdict::Stop);
    assert!(host.replies.is_empty(), "the request waits, unanswered");
    assert_eq!(w.state.waiters().len(), 1);
    host.now_ms += 100;
    assert!(w.tick(&mut host).is_empty(), "the refetch is under way");
    let (token, _) = *host.http.sent.last().unwrap();
    assert_eq!(host.http.sent.len(), 2, "the unknown kid started one refetch");
    host.response = (Some(200), Some(testkit::jwks(&[&testkit::rsa_a(), &testkit::rsa_b()]).to_string().into_bytes()));
    assert!(w.on_response(&mut host, token));
    host.now_ms += 100;
    assert_eq!(w.tick(&mut host), vec![7], "the new keys release the waiter");
    assert_eq!(w.handle(&mut host, 7, Attempt::Resumed), Verdict::Continue);
    assert!(host.header("x-current-user").unwrap().contains(r#""sub":"alice""#));
    assert_eq!(host.stat("jwks.idp.kid_miss_refetch"), Some(1));
}

#[test]
fn an_unknown_kid_is_refused_once_the_wait_runs_out() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    let rotated = bearer(&testkit::rsa_b(), "alice");
    assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &rotated)]), Verdict::Stop);
    host.now_ms += 2_900;
    assert!(w.tick(&mut host).is_empty());
    host.now_ms += 200;
    assert_eq!(w.tick(&mut host), vec![7], "released at the 3 s deadline");
    assert_eq!(w.handle(&mut host, 7, Attempt::Resumed), Verdict::Stop);
    assert_eq!(host.replies[0].status, 401);
    assert_eq!(host.replies[0].details, "jwt_filter_unknown_kid");
    assert!(w.state.waiters().is_empty(), "a resumed request never waits twice");
}

#[test]
fn a_request_that_goes_away_while_waiting_is_not_resumed() {
    let envoy = Envoy::default();
    let (mut w, mut host) = ready(&envoy, json!({}));
    get(&mut w, &mut host, "/api", &[("authorization", &bearer(&testkit::rsa_b(), "alice"))]);
    w.forget(7);
    host.now_ms += 10_000;
    assert!(w.tick(&mut host).is_empty());
}

#[test]
fn a_failed_fetch_is_counted_and_keeps_the_last_good_keys() {
    let envoy = Envoy::default();
    let mut w = worker(json!({}));
    let mut host = Fake::new(&envoy.store, &envoy.stats, now_ms());
    w.tick(&mut host);
    host.now_ms += 100;
    w.tick(&mut host);
    host.response = (Some(200), Some(testkit::jwks(&[&testkit::rsa_a()]).to_string().into_bytes()));
    let token = host.http.sent[0].0;
    assert!(w.on_response(&mut host, token));
    // The refresh interval (600 s) later, the IdP answers 500.
    host.now_ms += 600_000;
    w.tick(&mut host);
    assert_eq!(host.http.sent.len(), 2, "the scheduled refresh");
    host.response = (Some(500), Some(b"oops".to_vec()));
    let token = host.http.sent[1].0;
    assert!(w.on_response(&mut host, token));
    assert_eq!(host.stat("jwks.idp.fetch_failure.status"), Some(1));
    assert_eq!(get(&mut w, &mut host, "/api", &[("authorization", &bearer(&testkit::rsa_a(), "alice"))]), Verdict::Continue);
}

/// In every build (with or without the pure-Rust curve crates) an EC key whose point is not on
/// its curve is skipped when the key set loads, so a JWKS of such keys is unusable and the last
/// good keys stay in service; the good keys beside it load.
#[test]
fn off_curve_ec_keys_are_skipped_at_load() {
    for key in [testkit::p256(), testkit::p384(), testkit::p521()] {
        let good = key.jwk();
        let mut bad = good.clone();
        let y = bad["y"].as_str().unwrap().to_string();
        // Change the last base64url digit of y: the same length, another (off-curve) point.
        let last = if y.ends_with('A') { "B" } else { "A" };
        bad["y"] = Value::String(format!("{}{last}", &y[..y.len() - 1]));
        bad["kid"] = Value::String("bad".into());
        let set = jwt_core::jwk::KeySet::parse(json!({"keys": [bad.clone()]}).to_string().as_bytes());
        assert!(set.as_ref().map_or(true, |s| s.keys.is_empty()), "{}: off-curve key loaded", key.kid);
        let set = jwt_core::jwk::KeySet::parse(json!({"keys": [bad, good]}).to_string().as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1, "{}", key.kid);
        assert_eq!(set.skipped.len(), 1, "{}", key.kid);
    }
}
