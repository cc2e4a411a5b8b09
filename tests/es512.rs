//! ES512 (ECDSA on P-521 with SHA-512) through a real Envoy, on both signature paths: the first
//! listener hands the P-521 SubjectPublicKeyInfo and the DER signature to Envoy's BoringSSL
//! (`verify_signature`), the second verifies in pure Rust (RustCrypto `p521`). Each path is
//! proven by its own counter, so a host that silently fell back to pure Rust would fail here.

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
    for (port, stat) in [(envoy.ports[0], host_stat), (envoy.ports[1], pure_stat)] {
        let before = envoy.stat(stat).unwrap_or(0);
        let r = request(port, "GET", "/", &[bearer(&token)]).unwrap();
        assert_eq!(r.status, 200, "valid ES512 token on port {port}: {:?}", r.header("www-authenticate"));
        assert_eq!(upstream.count(), 1, "the upstream saw the request");
        upstream.clear();
        assert_eq!(envoy.stat_eventually(stat, before + 1), Some(before + 1), "{stat} on port {port}");

        // Damaged signatures: one flipped bit in s, r and s swapped, and the ES256 length.
        let raw = jwt_core::b64::decode(sig).unwrap();
        let mut flipped = raw.clone();
        flipped[131] ^= 1;
        let mut swapped = raw[66..].to_vec();
        swapped.extend_from_slice(&raw[..66]);
        let short = raw[..64].to_vec();
        for (what, bad) in [("flipped bit", flipped), ("r and s swapped", swapped), ("64-byte signature", short)] {
            let bad_token = format!("{input}.{}", testkit::b64(&bad));
            let r = request(port, "GET", "/", &[bearer(&bad_token)]).unwrap();
            assert_eq!(r.status, 401, "{what} on port {port}");
            let challenge = r.header("www-authenticate").unwrap_or_default();
            assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
        }
        assert_eq!(upstream.count(), 0, "the upstream saw a request with a damaged signature");
    }
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
