//! Token plumbing through a real Envoy (issue 12): one key per token, and one method per
//! request (RFC 6750 §2).
//!
//! One Envoy, one provider with two inline RSA keys (both allow RS256) that reads its token from
//! `Authorization: Bearer`, the `access_token` query parameter and the `id_token` cookie. Every
//! refused case checks the status, the exact RFC 6750 challenge, that the upstream saw nothing,
//! and that the next valid request passes; the denial counters are checked at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::json;
use support::*;

const STAT: &str = "wasmcustom.jwt_filter.provider.cognito.denied";

fn invalid_token(description: &str) -> String {
    format!("Bearer realm=\"test\", error=\"invalid_token\", error_description=\"{description}\"")
}

fn invalid_request(description: &str) -> String {
    format!("Bearer realm=\"test\", error=\"invalid_request\", error_description=\"{description}\"")
}

struct Stack {
    envoy: Envoy,
    upstream: Server,
    good: String,
}

impl Stack {
    fn start() -> Stack {
        let upstream = Server::upstream();
        let mut config = cognito_inline(&[&testkit::rsa_a(), &testkit::rsa_b()]);
        config["providers"]["cognito"]["from_params"] = json!(["access_token"]);
        config["providers"]["cognito"]["from_cookies"] = json!(["id_token"]);
        let envoy = Envoy::start(&Setup::single(config, upstream.port, None));
        let good = access_token(&testkit::rsa_a(), "andrew");
        Stack { envoy, upstream, good }
    }

    fn send(&self, path: &str, headers: &[(String, String)]) -> Response {
        request(self.envoy.port(), "GET", path, headers).unwrap()
    }

    /// A refused request: status and challenge as expected, the upstream saw nothing, and a
    /// valid request passes right after.
    fn refused(&self, name: &str, r: Response, status: u16, challenge: &str) {
        assert_eq!(r.status, status, "{name}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), Some(challenge), "{name}");
        assert_eq!(self.upstream.count(), 0, "{name}: the upstream saw {:?}", self.upstream.seen());
        let ok = self.send("/after", &[bearer(&self.good)]);
        assert_eq!(ok.status, 200, "{name}: the next valid request");
        assert_eq!(self.upstream.count(), 1, "{name}");
        assert_eq!(self.upstream.last().unwrap().path, "/after");
        self.upstream.clear();
    }
}

#[test]
fn one_key_per_token_and_one_method_per_request() {
    let s = Stack::start();
    let iss = issuer();
    let claims = testkit::cognito_access(&iss, CLIENT, "mallory");
    let good = s.good.clone();
    let cookie = |v: &str| ("cookie".to_string(), v.to_string());

    // A token without kid while two keys allow RS256: refused before any signature check, even
    // when one of the keys did sign it.
    let no_kid = testkit::rsa_a().token_with_header(&json!({"alg": "RS256", "typ": "JWT"}), &claims);
    s.refused("no kid", s.send("/api", &[bearer(&no_kid)]), 401, &invalid_token("kid required"));

    // Tokens by two methods, good ones included: 400 invalid_request.
    let two = invalid_request("token in more than one place");
    let q = format!("/api?access_token={good}");
    s.refused("header + query", s.send(&q, &[bearer(&good)]), 400, &two);
    s.refused("header + cookie", s.send("/api", &[bearer(&good), cookie(&format!("id_token={good}"))]), 400, &two);
    s.refused("query + cookie", s.send(&q, &[cookie(&format!("id_token={good}"))]), 400, &two);
    s.refused("encoded query + header", s.send(&format!("/api?access%5Ftoken={good}"), &[bearer(&good)]), 400, &two);

    // The query parameter under another spelling is the same parameter.
    let forged = testkit::rsa_b().with_kid("rsa-a").token(&claims);
    let r = s.send(&format!("/api?access_token={good}&access%5Ftoken={forged}"), &[]);
    s.refused("access_token + access%5Ftoken", r, 401, &invalid_token("more than one token"));
    let r = s.send(&format!("/api?%61ccess_token={good}&access%5ftoken={good}"), &[]);
    s.refused("two encoded spellings", r, 401, &invalid_token("more than one token"));
    let r = s.send(&format!("/api?x=1;access_token={forged}&access_token={good}"), &[]);
    s.refused("behind a ';'", r, 401, &invalid_token("more than one token"));

    // A broken escape in a parameter name: which parameter it is cannot be told.
    let r = s.send(&format!("/api?x%zz=1&access_token={good}"), &[]);
    s.refused("broken escape", r, 400, &invalid_request("malformed query string"));
    let r = s.send(&format!("/api?access_token={good}&%5=1"), &[]);
    s.refused("truncated escape", r, 400, &invalid_request("malformed query string"));

    // A Cookie header that is not UTF-8 is refused like such an Authorization header, even beside
    // a valid bearer token. Envoy 1.40 passes obs-text bytes (0x80-0xff) through to the filter.
    let mut raw = b"GET /api HTTP/1.1\r\nhost: test\r\nconnection: close\r\n".to_vec();
    raw.extend_from_slice(format!("authorization: Bearer {good}\r\n").as_bytes());
    raw.extend_from_slice(b"cookie: theme=\xff\xfe; lang=en\r\n\r\n");
    let r = http::send_raw(s.envoy.port(), &raw).unwrap();
    s.refused("non-UTF-8 cookie", r, 401, &invalid_token("malformed token"));

    // Accepted spellings: the token parameter is removed from the path upstream under any
    // spelling; a cookie name with spaces around it is found.
    let r = s.send(&format!("/api?a=1&access%5Ftoken={good}&b=2"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.upstream.last().unwrap().path, "/api?a=1&b=2");
    let r = s.send("/api", &[cookie(&format!("lang=en;  id_token ={good}"))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.send("/api", &[bearer(&testkit::rsa_a().token(&claims))]);
    assert_eq!(r.status, 200, "with its kid the same key's token passes");
    s.upstream.clear();

    // Every refusal counted under its own reason.
    assert_eq!(s.envoy.stat_eventually(&format!("{STAT}.kid_required"), 1), Some(1));
    assert_eq!(s.envoy.stat_eventually(&format!("{STAT}.multiple_sources"), 4), Some(4));
    assert_eq!(s.envoy.stat_eventually(&format!("{STAT}.ambiguous"), 3), Some(3));
    assert_eq!(s.envoy.stat_eventually(&format!("{STAT}.malformed_query"), 2), Some(2));
    assert_eq!(s.envoy.stat_eventually(&format!("{STAT}.malformed"), 1), Some(1));
    let logs = s.envoy.logs();
    assert!(!logs.contains(&good) && !logs.contains(&no_kid), "a token reached Envoy's log");
}

/// The JWKS call through `abi::dispatch_http_call` to a cluster Envoy does not have: Envoy
/// answers BadArgument, the filter counts a dispatch failure and keeps serving (503 while it
/// has no keys) instead of aborting the VM.
#[test]
fn a_refused_http_call_is_an_error_not_an_abort() {
    let upstream = Server::upstream();
    let mut envoy = Envoy::start(&Setup::single(cognito_remote(600), upstream.port, None));
    let failures = "wasmcustom.jwt_filter.jwks.cognito.fetch_failure.dispatch";
    assert!(
        envoy.wait_for(std::time::Duration::from_secs(10), || envoy.stat(failures).is_some_and(|n| n >= 1)),
        "no dispatch failure counted: {:?}",
        envoy.stat(failures)
    );
    let good = access_token(&testkit::rsa_a(), "andrew");
    for _ in 0..3 {
        let r = request(envoy.port(), "GET", "/api", &[bearer(&good)]).unwrap();
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(upstream.count(), 0);
    assert!(envoy.running());
    let logs = envoy.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}
