//! JWKS parsing (the fetcher and every worker parse what the issuer serves), then every usable
//! key verifying a signature made of the input bytes on both paths: with an RSA key of the
//! fuzzer's choosing, that drives the hand-written Montgomery arithmetic on arbitrary moduli.

#![no_main]

mod common;

use jwt_core::crypto;
use jwt_core::jwk::KeySet;
use jwt_core::jws::Alg;
use libfuzzer_sys::fuzz_target;

const ALGS: [Alg; 10] =
    [Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512, Alg::ES256, Alg::ES384, Alg::ES512, Alg::EdDSA];

fuzz_target!(|data: &[u8]| {
    let Ok(set) = KeySet::parse(data) else { return };
    for key in &set.keys {
        let len = key.material.signature_len();
        // A signature of the right length, so the arithmetic runs rather than a length check.
        let sig: Vec<u8> = data.iter().rev().copied().cycle().take(len).collect();
        for alg in ALGS {
            if key.allows(alg) {
                let _ = crypto::verify(alg, &key.material, key.spki.as_deref(), b"header.payload", &sig, None);
                let _ =
                    crypto::verify(alg, &key.material, key.spki.as_deref(), b"header.payload", &sig, Some(&common::RefusingHost));
            }
        }
        let _ = set.candidates(key.kid.as_deref(), Alg::RS256).count();
    }
});
