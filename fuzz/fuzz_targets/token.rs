//! Token parsing and verification through the filter's entry point, against the fixed harness
//! configuration.
//!
//! Byte 0 chooses the request: bit 0 the mode, bits 1-2 the path (each path hits another rule),
//! bits 3-4 the host (none, refusing, absent), bit 5 whether the token also goes in the query
//! string and a cookie. The rest is:
//! - raw mode: the bytes after `Authorization: Bearer `, as a client would send them;
//! - signed mode: `header JSON \n payload JSON`, base64url-encoded and signed with the
//!   harness's fuzz-only Ed25519 key, so claims, policy and output are fuzzed behind a valid
//!   signature.
//!
//! Each request runs twice with one cache, so the second run takes the cached path; the two
//! answers must be the same.

#![no_main]

mod common;

use jwt_core::authn::Outcome;
use jwt_core::b64;
use jwt_core::cache::TokenCache;
use jwt_core::crypto::HostVerifier;
use jwt_core::extract::RequestView;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Fixed {
    harness: common::Harness,
    signer: ed25519_compact::KeyPair,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| Fixed {
        harness: common::harness(),
        signer: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32])),
    })
}

const PATHS: [&str; 4] = ["/", "/admin", "/soft/abc", "/both"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let f = fixed();
    let token: Vec<u8> = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let (h, p) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let input = format!("{}.{}", b64::encode(h), b64::encode(p));
        let sig = f.signer.sk.sign(input.as_bytes(), None);
        format!("{input}.{}", b64::encode(&sig[..])).into_bytes()
    };
    if let Ok(s) = std::str::from_utf8(&token) {
        let _ = jwt_core::jws::parse(s, f.harness.config.max_token_bytes);
    }
    let path_only = PATHS[usize::from((mode >> 1) & 3)];
    let refusing = common::RefusingHost;
    let absent = common::AbsentHost;
    let host: Option<&dyn HostVerifier> = match (mode >> 3) & 3 {
        1 => Some(&refusing),
        2 => Some(&absent),
        _ => None,
    };
    let mut auth = b"Bearer ".to_vec();
    auth.extend_from_slice(&token);
    let mut cookie = b"a=b; token=".to_vec();
    cookie.extend_from_slice(&token);
    let text = std::str::from_utf8(&token).ok();
    let path = match text {
        Some(t) if mode & 0x20 != 0 => format!("{path_only}?x=1&access_token={t}"),
        _ => path_only.to_string(),
    };
    let mut headers: Vec<(&str, &[u8])> = vec![("authorization", &auth)];
    if mode & 0x20 != 0 {
        headers.push(("cookie", &cookie));
    }
    let req = RequestView { method: "GET", path: &path, headers: &headers };
    // Twice: the second may be answered from the cache, and must be the same answer.
    let mut cache = TokenCache::new(8, 1 << 16);
    let first = common::decide(&f.harness.config, f.harness.now, &req, host, &mut cache);
    let second = common::decide(&f.harness.config, f.harness.now, &req, host, &mut cache);
    assert_eq!(comparable(&first), comparable(&second), "a repeated request got another answer");
});

/// The outcome without how the identity was established (a signature check, then a cache hit).
fn comparable(o: &Outcome) -> String {
    match &o.decision {
        Ok(a) => format!(
            "allow {:?} identities {:?} add {:?} remove {:?} path {:?} kid_misses {:?}",
            a.pass,
            a.identities.iter().map(|i| (i.provider, &i.verified)).collect::<Vec<_>>(),
            a.add_headers,
            a.remove_headers,
            a.new_path,
            o.kid_misses
        ),
        Err(d) => format!("deny {d:?} kid_misses {:?}", o.kid_misses),
    }
}
