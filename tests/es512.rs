//! ES512 (ECDSA on P-521 with SHA-512) through a real Envoy: the first listener hands the P-521
//! SubjectPublicKeyInfo and the DER signature to Envoy's BoringSSL (`verify_signature`), proven
//! by its counter. The second is forced to pure Rust, which the module (built without the
//! `pure-ecdsa` feature) does not have for ECDSA: there a well-formed ES512 token is refused
//! with 500 `no_verifier`, never passed and never called a bad signature.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;

#[test]
fn es512_tokens_on_both_signature_paths() {
    let upstream = Server::upstream();
    let key = testkit::p521();
    let mut pure = cognito_inline(&[&key]);
    pure["crypto"] = json!("pure_rust");
    let mut setup = Setup::single(cognito_inline(&[&key]), upstream.port, None);
    setup.listeners.push(Listener::filtered(pure));
    let envoy = Envoy::start(&setup);
    let claims = testkit::cognito_access(&issuer(), CLIENT, "andrew");
    let token = key.token(&claims);
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert_eq!(testkit::b64(&key.sign("ES512", b"x")).len(), 176, "a P-521 JWS signature is 132 bytes");
    let host_stat = "wasmcustom.jwt_filter.verify.host";
    let pure_stat = "wasmcustom.jwt_filter.verify.pure_rust";
    let port = envoy.ports[0];
    let r = request(port, "GET", "/", &[bearer(&token)]).unwrap();
    assert_eq!(r.status, 200, "valid ES512 token: {:?}", r.header("www-authenticate"));
    assert_eq!(upstream.count(), 1, "the upstream saw the request");
    upstream.clear();
    assert_eq!(envoy.stat_eventually(host_stat, 1), Some(1), "{host_stat}");

    // Damaged signatures: one flipped bit in s, r and s swapped, and the ES256 length.
    let raw = jwt_core::b64::decode(sig).unwrap();
    let mut flipped = raw.clone();
    flipped[131] ^= 1;
    let mut swapped = raw[66..].to_vec();
    swapped.extend_from_slice(&raw[..66]);
    let short = raw[..64].to_vec();
    let damaged: Vec<(&str, String)> = [("flipped bit", flipped), ("r and s swapped", swapped), ("64-byte signature", short)]
        .into_iter()
        .map(|(what, bad)| (what, format!("{input}.{}", testkit::b64(&bad))))
        .collect();
    for (what, bad_token) in &damaged {
        let r = request(port, "GET", "/", &[bearer(bad_token)]).unwrap();
        assert_eq!(r.status, 401, "{what}");
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
    }
    assert_eq!(upstream.count(), 0, "the upstream saw a request with a damaged signature");

    // The pure-Rust listener cannot verify ECDSA: the valid token and the well-formed damaged
    // ones get 500 server_error (no challenge: the token may be fine), counted as no_verifier;
    // a signature of the wrong length is still a bad signature.
    let port = envoy.ports[1];
    for (what, t, status) in [
        ("valid", &token, 500),
        ("flipped bit", &damaged[0].1, 500),
        ("r and s swapped", &damaged[1].1, 500),
        ("64-byte signature", &damaged[2].1, 401),
    ] {
        let r = request(port, "GET", "/", &[bearer(t)]).unwrap();
        assert_eq!(r.status, status, "{what} on the pure-Rust listener: {}", r.text());
        if status == 500 {
            assert_eq!(r.header("www-authenticate"), None, "{what}");
            assert!(r.text().contains("\"error\":\"server_error\""), "{what}: {}", r.text());
        }
    }
    assert_eq!(upstream.count(), 0, "the pure-Rust listener let an unverified ES512 token through");
    let no_verifier = "wasmcustom.jwt_filter.provider.cognito.denied.no_verifier";
    assert_eq!(envoy.stat_eventually(no_verifier, 3), Some(3), "{no_verifier}");
    assert_eq!(envoy.stat(pure_stat).unwrap_or(0), 0, "{pure_stat}");
    // An ES512 token for a P-256 key is refused by the key's type before any crypto.
    let p256 = testkit::p256().with_kid("ec-p521");
    let forged = p256.token_raw("ES256", json!({"alg": "ES512", "kid": "ec-p521"}).to_string().as_bytes(), b"{}");
    let r = request(envoy.ports[0], "GET", "/", &[bearer(&forged)]).unwrap();
    assert_eq!(r.status, 401);
    // The valid requests above were the only ones the host path verified.
    assert!(
        envoy.wait_for(Duration::from_secs(3), || envoy.stat(host_stat) == Some(1)),
        "host path: {:?}",
        envoy.stat(host_stat)
    );
}
