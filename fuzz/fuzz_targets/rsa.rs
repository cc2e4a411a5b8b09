//! Differential fuzzing of the hand-written RSA public operation (Montgomery multiplication on
//! 32-bit limbs) against num-bigint's modpow. Input: `e` (4 bytes, big-endian), then `n` and
//! `s` of equal length.

#![no_main]

use jwt_core::crypto::rsa::RsaPublicKey;
use jwt_core::crypto::Hash;
use libfuzzer_sys::fuzz_target;
use num_bigint_dig::BigUint;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let (e, rest) = data.split_at(4);
    let k = rest.len() / 2;
    let (n, s) = (&rest[..k], &rest[k..2 * k]);
    let Ok(key) = RsaPublicKey::new(n, e) else { return };
    let got = key.public_op(s);
    let (nn, ss, ee) = (BigUint::from_bytes_be(n), BigUint::from_bytes_be(s), BigUint::from_bytes_be(e));
    let want = if s.len() != key.modulus_len() || ss >= nn {
        None
    } else {
        let v = ss.modpow(&ee, &nn).to_bytes_be();
        let mut out = vec![0u8; key.modulus_len() - v.len()];
        out.extend_from_slice(&v);
        Some(out)
    };
    assert_eq!(got, want, "s^e mod n differs from num-bigint");
    let _ = key.verify_pkcs1(Hash::Sha256, b"m", s);
    let _ = key.verify_pss(Hash::Sha512, b"m", s);
});
