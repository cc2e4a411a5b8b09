//! The JWKS lifecycle in a real Envoy, against a JWKS server the test owns and breaks: keys
//! down at start, slow, failing after a good fetch (the last good keys serve), stale past
//! `max_stale_seconds`, rotated, removed, flooded with made-up `kid`s, shared by four workers
//! with and without the `jwks-fetcher`, and a listener reload under traffic. Every scenario
//! counts the requests the JWKS server received.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const STAT: &str = "wasmcustom.jwt_filter.jwks.cognito";

fn send(port: u16, path: &str, token: &str) -> Response {
    request(port, "GET", path, &[bearer(token)]).unwrap()
}

fn status(port: u16, token: &str) -> u16 {
    send(port, "/api/private", token).status
}

fn stat(envoy: &Envoy, name: &str) -> u64 {
    envoy.stat(&format!("{STAT}.{name}")).unwrap_or(0)
}

/// Waits until a JWKS counter of the `cognito` provider reaches `at_least`.
fn wait_stat(envoy: &Envoy, name: &str, at_least: u64, within: Duration) {
    let ok = envoy.wait_for(within, || stat(envoy, name) >= at_least);
    assert!(ok, "{STAT}.{name} stayed at {} (< {at_least}) for {within:?}", stat(envoy, name));
}

/// A fresh token (a new username, so it is never a cache hit) signed by `key`.
fn fresh(key: &testkit::TestKey) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    access_token(key, &format!("user{}", N.fetch_add(1, Ordering::SeqCst)))
}

/// The token with its header's `kid` replaced (the signature no longer matters: an unknown
/// `kid` is decided before any signature check).
fn with_kid(token: &str, kid: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", testkit::b64(json!({"alg": "RS256", "kid": kid, "typ": "JWT"}).to_string().as_bytes()))
}

/// One Envoy with the fetcher and the filter, keys from `jwks`.
fn with_fetcher(config: Value, upstream: &Server, jwks: &Server, concurrency: u32) -> Envoy {
    let mut setup = Setup::single(config.clone(), upstream.port, Some(jwks.port));
    setup.fetcher = Some(config);
    setup.concurrency = concurrency;
    Envoy::start(&setup)
}

/// The filter's log line when a worker takes up a new key set (from its own fetch or from
/// shared data).
const SERVING: &str = "jwt-filter: provider cognito: now serving";

/// How many times each thread logged `needle`.
fn per_thread(envoy: &Envoy, needle: &str) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for t in envoy.log_threads(needle) {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}

/// Waits until the filter on every thread (the main thread, where Envoy keeps a root context
/// of each filter too, and each of `workers` workers) has taken keys up at least once; returns
/// the thread ids.
fn serving_workers(envoy: &Envoy, workers: usize) -> Vec<String> {
    let mut threads = Vec::new();
    let ok = envoy.wait_for(EVENT, || {
        threads = per_thread(envoy, SERVING).into_keys().collect();
        threads.len() > workers
    });
    assert!(ok, "only {} thread(s) took keys up ({threads:?}), not {} + main:\n{}", threads.len(), workers, envoy.logs());
    threads
}

fn wait_ready(envoy: &Envoy, port: u16, within: Duration) -> Duration {
    let t = Instant::now();
    let key = testkit::rsa_a();
    assert!(envoy.wait_for(within, || status(port, &fresh(&key)) == 200), "keys never arrived:\n{}", envoy.logs());
    t.elapsed()
}

#[test]
fn keys_down_at_start_then_up_answers_503_then_serves() {
    let upstream = Server::upstream();
    let mut jwks = Server::reserve(Behavior::Json(testkit::jwks(&[&testkit::rsa_a()]).to_string()));
    let config = cognito_remote(600);
    // Same provider, the two other answers to "keys unavailable".
    let mut as_401 = config.clone();
    as_401["on_keys_unavailable"] = json!("401");
    let mut as_missing = config.clone();
    as_missing["on_keys_unavailable"] = json!("unauthenticated");
    as_missing["rules"] = json!([{"match": {"prefix": "/public"}, "requires": {"allow_missing": ["cognito"]}}]);
    let mut setup = Setup::single(config.clone(), upstream.port, Some(jwks.port));
    setup.listeners.push(Listener::filtered(as_401));
    setup.listeners.push(Listener::filtered(as_missing));
    setup.fetcher = Some(config);
    setup.concurrency = 2;
    let envoy = Envoy::start(&setup);
    let (p503, p401, pmissing) = (envoy.ports[0], envoy.ports[1], envoy.ports[2]);
    let token = access_token(&testkit::rsa_a(), "andrew");

    // The endpoint refuses connections: our fault, not the client's.
    wait_stat(&envoy, "fetch_failure.connection", 1, EVENT);
    let r = send(p503, "/api/private", &token);
    assert_eq!(r.status, 503, "{}", r.text());
    let retry: u64 = r.header("retry-after").expect("Retry-After on 503").parse().unwrap();
    assert!((1..=600).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.header("www-authenticate"), None, "a 503 does not tell the client its token is bad");
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    // on_keys_unavailable: "401" answers as jwt_authn does.
    let r = send(p401, "/api/private", &token);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("error_description=\"signing keys unavailable\""));
    // on_keys_unavailable: "unauthenticated": passes without identity where missing is allowed...
    let r = send(pmissing, "/public/feed", &token);
    assert_eq!(r.status, 200);
    assert_eq!(upstream.last().unwrap().header("x-current-user"), None);
    // ...and is still 503 where a token is required.
    assert_eq!(send(pmissing, "/api/private", &token).status, 503);
    assert_eq!(upstream.count(), 1, "only the allowed-missing request reached the upstream");
    assert_eq!(jwks.count(), 0);

    // The endpoint comes up: the next backoff attempt loads the keys.
    let failures = stat(&envoy, "fetch_failure.connection");
    jwks.resume();
    let took = wait_ready(&envoy, p503, EVENT);
    eprintln!("[lifecycle] keys down at start: {failures} refused attempt(s); served {took:?} after the endpoint came up");
    assert_eq!(jwks.count(), 1, "one fetch once the endpoint is up");
    assert_eq!(status(p401, &token), 200);
    assert_eq!(stat(&envoy, "fetch_success"), 1);
    assert!(envoy.stat_eventually("wasmcustom.jwt_filter.provider.cognito.denied.keys_unavailable", 3).is_some_and(|n| n >= 3));
    assert_eq!(envoy.stat_eventually(&format!("{STAT}.keys"), 1), Some(1));
    // The failure is logged with its reason.
    envoy.wait_log("JWKS fetch failed (connection");
}

#[test]
fn slow_endpoint_times_out_then_recovers() {
    let upstream = Server::upstream();
    let keys = testkit::jwks(&[&testkit::rsa_a()]).to_string();
    // cognito_remote sets a 1000 ms timeout.
    let jwks = Server::start(Behavior::Slow(Duration::from_millis(2500), Box::new(Behavior::Json(keys.clone()))));
    let envoy = with_fetcher(cognito_remote(600), &upstream, &jwks, 1);
    wait_stat(&envoy, "fetch_failure.timeout", 1, EVENT);
    let token = access_token(&testkit::rsa_a(), "andrew");
    assert_eq!(status(envoy.port(), &token), 503);
    envoy.wait_log("JWKS fetch failed (timeout: no response within 1000 ms)");
    jwks.set(Behavior::Json(keys));
    let took = wait_ready(&envoy, envoy.port(), EVENT);
    eprintln!(
        "[lifecycle] slow endpoint: {} timeout(s), {} request(s) at the endpoint; served {took:?} after it sped up",
        stat(&envoy, "fetch_failure.timeout"),
        jwks.count()
    );
    assert_eq!(stat(&envoy, "fetch_success"), 1);
}

#[test]
fn failed_refreshes_keep_the_last_good_keys_and_removed_keys_stop_working() {
    let upstream = Server::upstream();
    let a = testkit::rsa_a();
    let b = testkit::rsa_b();
    let good = testkit::jwks(&[&a]);
    let jwks = Server::jwks(&good);
    let mut config = cognito_remote(1);
    config["providers"]["cognito"]["jwks"]["max_bytes"] = json!(4096);
    // Long enough that a request released before it is plainly released by the refetch.
    config["providers"]["cognito"]["jwks"]["kid_miss_wait_ms"] = json!(10_000);
    let mut jwks = jwks;
    let envoy = with_fetcher(config, &upstream, &jwks, 2);
    let port = envoy.port();
    wait_ready(&envoy, port, EVENT);
    // This token is verified now and cached; it must stop working once its key is removed.
    let cached = access_token(&a, "cached");
    assert_eq!(status(port, &cached), 200);

    let mut oversized = good.clone();
    oversized["padding"] = json!("x".repeat(8192));
    let faults: Vec<(&str, Behavior)> = vec![
        ("status", Behavior::Status(500)),
        ("not_jwks", Behavior::Garbage),
        ("no_usable_keys", Behavior::Json(json!({"keys": []}).to_string())),
        ("no_usable_keys", Behavior::Json(json!({"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}]}).to_string())),
        ("too_large", Behavior::Json(oversized.to_string())),
        ("timeout", Behavior::Slow(Duration::from_millis(2500), Box::new(Behavior::Json(good.to_string())))),
    ];
    for (reason, behavior) in faults {
        let before = stat(&envoy, &format!("fetch_failure.{reason}"));
        jwks.set(behavior);
        wait_stat(&envoy, &format!("fetch_failure.{reason}"), before + 1, EVENT);
        assert_eq!(status(port, &fresh(&a)), 200, "the last good keys serve after a {reason} failure");
        assert_eq!(envoy.stat(&format!("{STAT}.keys")), Some(1), "still one key served after {reason}");
    }
    // Connection refused.
    jwks.stop();
    wait_stat(&envoy, "fetch_failure.connection", 1, EVENT);
    assert_eq!(status(port, &fresh(&a)), 200, "the last good keys serve while the endpoint is down");
    for reason in ["status: HTTP 500", "not_jwks", "no_usable_keys", "too_large", "timeout", "connection"] {
        envoy.wait_log(&format!("JWKS fetch failed ({reason}"));
    }
    envoy.wait_log("keeping the last good keys");

    // The endpoint returns with key A removed (B only): after that refresh, A's tokens fail,
    // the cached one included, and B's pass.
    let successes = stat(&envoy, "fetch_success");
    let workers = serving_workers(&envoy, 2);
    envoy.sync_logs(port);
    let before = per_thread(&envoy, SERVING);
    jwks.set_json(&testkit::jwks(&[&b]));
    jwks.resume();
    wait_stat(&envoy, "fetch_success", successes + 1, EVENT);
    // Every worker has taken the new keys up.
    envoy.wait_log_threads(SERVING, &workers, &|t| before.get(t).copied().unwrap_or(0));
    let t = Instant::now();
    let r = send(port, "/api/private", &cached);
    assert_eq!(r.status, 401, "a cached token of a removed key is refused");
    assert!(r.header("www-authenticate").unwrap().contains("signing key not found"));
    eprintln!("[lifecycle] removed key: refused in {:?} (its kid-miss refetch brought the same keys)", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(7),
        "a refetch that brings no new key releases the request before kid_miss_wait_ms (10 s)"
    );
    assert_eq!(status(port, &fresh(&b)), 200);
    eprintln!(
        "[lifecycle] faults after a good fetch: {} request(s) at the endpoint, {} success(es)",
        jwks.count(),
        stat(&envoy, "fetch_success")
    );
}

#[test]
fn keys_older_than_max_stale_are_no_longer_served() {
    let upstream = Server::upstream();
    let good = testkit::jwks(&[&testkit::rsa_a()]);
    let jwks = Server::jwks(&good);
    let mut config = cognito_remote(1);
    config["providers"]["cognito"]["jwks"]["max_stale_seconds"] = json!(3);
    let envoy = with_fetcher(config, &upstream, &jwks, 1);
    let port = envoy.port();
    wait_ready(&envoy, port, EVENT);
    let failed_at = Instant::now();
    jwks.set(Behavior::Status(503));
    // Still served while younger than max_stale...
    assert_eq!(status(port, &fresh(&testkit::rsa_a())), 200);
    // ...then refused as unavailable (not as a bad token).
    let mut last = None;
    assert!(envoy.wait_for(EVENT, || {
        let r = send(port, "/api/private", &fresh(&testkit::rsa_a()));
        let stale = r.status == 503;
        last = Some(r);
        stale
    }));
    let r = last.unwrap();
    assert!(r.header("retry-after").is_some());
    eprintln!("[lifecycle] max_stale 3 s: keys withdrawn {:?} after the failures began", failed_at.elapsed());
    assert!(failed_at.elapsed() >= Duration::from_secs(2), "withdrawn too early");
    envoy.wait_log("older than max_stale_seconds");
    assert_eq!(envoy.stat_eventually(&format!("{STAT}.keys"), 0), Some(0));
    // And back once the endpoint recovers.
    jwks.set_json(&good);
    wait_ready(&envoy, port, EVENT);
}

#[test]
fn rotation_passes_on_the_first_try_with_exactly_one_extra_fetch() {
    let upstream = Server::upstream();
    let a = testkit::rsa_a();
    let b = testkit::rsa_b();
    let jwks = Server::jwks(&testkit::jwks(&[&a]));
    let envoy = with_fetcher(cognito_remote(600), &upstream, &jwks, 2);
    let port = envoy.port();
    wait_ready(&envoy, port, EVENT);
    assert_eq!(jwks.count(), 1);

    // The issuer rotates: B is published, and a token signed by B arrives before any refresh.
    jwks.set_json(&testkit::jwks(&[&a, &b]));
    let rotated = access_token(&b, "rotated");
    let t = Instant::now();
    let r = send(port, "/api/private", &rotated);
    let took = t.elapsed();
    assert_eq!(r.status, 200, "the new key's token passes on the first try: {}", r.text());
    eprintln!("[lifecycle] rotation: the first token of the new key waited {took:?} for the refetch");
    assert_eq!(jwks.count(), 2, "exactly one extra fetch");
    assert_eq!(stat(&envoy, "kid_miss_refetch"), 1);
    // Both keys serve now, on every worker, with no further fetch.
    for _ in 0..10 {
        assert_eq!(status(port, &fresh(&a)), 200);
        assert_eq!(status(port, &fresh(&b)), 200);
    }
    // A made-up kid inside the penalty window is refused at once, with no fetch.
    let forged = with_kid(&access_token(&b, "x"), "made-up");
    let waits = || envoy.logs().matches("waits for a JWKS refetch").count();
    // The rotated token's wait line may still be on its way to the log: count after a marker.
    envoy.sync_logs(port);
    let waited = waits();
    assert!(waited >= 1, "the rotated token waited for its refetch");
    let r = send(port, "/api/private", &forged);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("signing key not found"));
    envoy.sync_logs(port);
    assert_eq!(waits(), waited, "a throttled kid miss does not wait");
    assert_eq!(jwks.count(), 2);
}

/// `threads` clients send `total` requests between them; returns the statuses seen.
fn hammer(threads: usize, total: usize, make: impl Fn(usize) -> (u16, String) + Send + Sync + 'static) -> Vec<u16> {
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (make, next, out) = (Arc::clone(&make), Arc::clone(&next), Arc::clone(&out));
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return;
                }
                let (port, token) = make(i);
                let s = match request(port, "GET", "/api/private", &[bearer(&token)]) {
                    Ok(r) => {
                        if r.status != 401 && r.status != 200 {
                            eprintln!("[lifecycle] unexpected {}: {}", r.status, r.text());
                        }
                        r.status
                    }
                    Err(_) => 0,
                };
                out.lock().unwrap().push(s);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    Arc::try_unwrap(out).unwrap().into_inner().unwrap()
}

#[test]
fn a_flood_of_made_up_kids_is_throttled_across_four_workers() {
    let upstream = Server::upstream();
    let b = testkit::rsa_b();
    let jwks = Server::jwks(&testkit::jwks(&[&testkit::rsa_a()]));
    // No fetcher: the four workers coordinate through shared data themselves.
    let mut setup = Setup::single(cognito_remote(600), upstream.port, Some(jwks.port));
    setup.concurrency = 4;
    let envoy = Envoy::start(&setup);
    let port = envoy.port();
    wait_ready(&envoy, port, EVENT);
    upstream.clear();
    let before = jwks.count();
    let signed = access_token(&b, "mallory");
    let t = Instant::now();
    let statuses = hammer(16, 1000, move |i| {
        let kid = format!("forged-{i}-{:x}", testkit::now().wrapping_mul(i as u64 + 7));
        (port, with_kid(&signed, &kid))
    });
    let run = t.elapsed();
    let fetched = jwks.count() - before;
    let allowed = 1 + (run.as_secs_f64() / 10.0).floor() as usize;
    envoy.sync_logs(port);
    let waited = envoy.logs().matches("waits for a JWKS refetch").count();
    eprintln!("[lifecycle] 1000 made-up kids, 4 workers, 16 clients: {run:?}, {fetched} JWKS fetch(es) (bound {allowed}), {waited} request(s) waited for a refetch; initial fetches {before}");
    assert_eq!(statuses.len(), 1000);
    assert!(
        statuses.iter().all(|s| *s == 401),
        "every forged kid is refused: {:?}",
        statuses.iter().filter(|s| **s != 401).collect::<Vec<_>>()
    );
    assert!(fetched <= allowed, "{fetched} fetches in {run:?} exceed 1 + run/penalty = {allowed}");
    assert!(fetched >= 1, "an unknown kid triggers a refetch");
    assert_eq!(upstream.count(), 0);
    assert_eq!(before, 1, "one initial fetch for four workers without the fetcher");
    // Still healthy.
    assert_eq!(status(port, &fresh(&testkit::rsa_a())), 200);
}

#[test]
fn four_workers_share_one_fetch_with_and_without_the_fetcher() {
    for with_service in [true, false] {
        let upstream = Server::upstream();
        let jwks = Server::jwks(&testkit::jwks(&[&testkit::rsa_a()]));
        let mut setup = Setup::single(cognito_remote(600), upstream.port, Some(jwks.port));
        setup.concurrency = 4;
        if with_service {
            setup.fetcher = Some(cognito_remote(600));
        }
        let envoy = Envoy::start(&setup);
        let port = envoy.port();
        wait_ready(&envoy, port, EVENT);
        let a = testkit::rsa_a();
        let tokens: Vec<String> = (0..8).map(|i| access_token(&a, &format!("u{i}"))).collect();
        let statuses = hammer(8, 400, move |i| (port, tokens[i % tokens.len()].clone()));
        assert!(statuses.iter().all(|s| *s == 200));
        // The window for a second fetch closes when every worker has taken keys up (a worker
        // with keys fetches again only at refresh_seconds, 600 s away); any fetch started
        // before that is logged before the marker's line.
        let workers = serving_workers(&envoy, 4);
        eprintln!("[lifecycle] threads that took keys up: {workers:?} ({:?})", per_thread(&envoy, SERVING));
        envoy.sync_logs(port);
        let who = if with_service { "with the jwks-fetcher" } else { "workers only (Istio)" };
        let started = envoy.logs().matches("provider cognito: fetching the JWKS").count();
        eprintln!("[lifecycle] 4 workers, {who}: {} JWKS request(s), {started} fetch(es) started", jwks.count());
        assert_eq!(started, 1, "{who}: one fetch started for four workers");
        assert_eq!(jwks.count(), 1, "{who}: one fetch for four workers");
    }
}

#[test]
fn listener_reload_under_traffic_fails_no_request() {
    let upstream = Server::upstream();
    let jwks = Server::jwks(&testkit::jwks(&[&testkit::rsa_a()]));
    let mut setup = Setup::single(cognito_remote(600), upstream.port, Some(jwks.port));
    setup.fetcher = Some(cognito_remote(600));
    setup.concurrency = 2;
    setup.dynamic_listeners = true;
    let envoy = Envoy::start(&setup);
    let port = envoy.port();
    wait_ready(&envoy, port, EVENT);

    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::new()));
    let traffic: Vec<_> = (0..4)
        .map(|t| {
            let (stop, results) = (Arc::clone(&stop), Arc::clone(&results));
            let token = access_token(&testkit::rsa_a(), &format!("t{t}"));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let r = request(port, "GET", "/api/private", &[bearer(&token)]).map(|r| r.status).map_err(|e| e.to_string());
                    results.lock().unwrap().push(r);
                }
            })
        })
        .collect();
    // Traffic runs before, between and after the pushes: 20 more requests each time.
    let more_traffic = |n: usize| {
        let from = results.lock().unwrap().len();
        let ran = envoy.wait_for(EVENT, || results.lock().unwrap().len() >= from + n);
        assert!(ran, "traffic stalled at {} requests", results.lock().unwrap().len());
    };
    more_traffic(20);
    // Two new filter configurations pushed while traffic runs.
    for (version, realm) in [(2, "reloaded"), (3, "reloaded-again")] {
        let mut next = setup.clone();
        let mut config = cognito_remote(600);
        config["realm"] = json!(realm);
        next.listeners[0].filter = Some(config);
        envoy.push_listeners(&next, version);
        more_traffic(20);
    }
    stop.store(true, Ordering::SeqCst);
    for t in traffic {
        t.join().unwrap();
    }
    let results = results.lock().unwrap();
    let failed: Vec<_> = results.iter().filter(|r| !matches!(r, Ok(200))).collect();
    eprintln!("[lifecycle] reload under traffic: {} requests, {} failed", results.len(), failed.len());
    assert!(results.len() > 50, "traffic ran: {}", results.len());
    assert!(failed.is_empty(), "requests failed during the reload: {failed:?}");
    // The new configuration is in force, with the keys it found in shared data.
    let r = get(port, "/api/private").unwrap();
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"reloaded-again\""));
    assert_eq!(jwks.count(), 1, "a reload reuses the published keys");
}

#[test]
fn discovery_names_the_cluster_to_add_when_jwks_uri_is_on_another_host() {
    let upstream = Server::upstream();
    let iss = "https://tenant.auth0.test/";
    let oidc = Server::start(Behavior::Routes(vec![(
        "/.well-known/openid-configuration".into(),
        Behavior::Json(json!({"issuer": iss, "jwks_uri": "https://keys.elsewhere.test/jwks.json"}).to_string()),
    )]));
    let config = json!({"providers": {"auth0": {
        "issuer": iss, "audiences": ["https://api.test"], "jwks": {"cluster": "jwks", "discovery": true}
    }}});
    let envoy = with_fetcher(config, &upstream, &oidc, 1);
    let failed =
        envoy.wait_for(EVENT, || envoy.stat("wasmcustom.jwt_filter.jwks.auth0.fetch_failure.discovery").unwrap_or(0) >= 1);
    assert!(failed, "discovery failure counted");
    let token = testkit::rsa_a().token(&json!({"iss": iss, "aud": "https://api.test", "sub": "x", "exp": testkit::now() + 600}));
    let r = send(envoy.port(), "/api/private", &token);
    assert_eq!(r.status, 503, "no keys yet: unavailable, not a bad token");
    // The log says what to add.
    envoy.wait_log("jwks_uri https://keys.elsewhere.test/jwks.json is on host keys.elsewhere.test, not tenant.auth0.test: add an Envoy cluster for keys.elsewhere.test");
    assert!(
        oidc.seen().iter().all(|r| r.path == "/.well-known/openid-configuration"),
        "nothing fetched from another host's path"
    );
}
