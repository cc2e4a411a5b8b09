//! Differential test of the hand-written Montgomery RSA public operation against an
//! independent big-integer implementation (`num-bigint-dig`, the one the `rsa` fuzz target
//! also uses): s^e mod n for moduli from 2048 to 8192 bits, including sizes that are not a
//! multiple of 32 bits (a partial top limb) nor of 8 (a partial top byte), exponents 3, 65537
//! and 2^32-1, and the edge values where carries and the final subtraction go wrong first:
//! 0, 1, 2, n-2, n-1 (accepted), n, n+1, all-ones and past the length (refused), values with
//! every limb all-ones, sparse values with a single bit per limb, and pseudo-random ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jwt_core::crypto::rsa::{RsaKeyError, RsaPublicKey};
use num_bigint_dig::BigUint;
use testkit::Rng;

/// Modulus sizes in bits: the RSA sizes in use, the bounds, and odd sizes that leave a partial
/// top limb or byte.
const SIZES: &[usize] = &[2048, 2049, 2056, 2080, 2081, 3072, 3077, 4096, 4127, 6000, 8191, 8192];
const EXPONENTS: &[u64] = &[3, 65537, 0xffff_ffff];

/// A random value of exactly `bits` bits.
fn random_bits(rng: &mut Rng, bits: usize) -> BigUint {
    let bytes: Vec<u8> = (0..bits.div_ceil(8)).map(|_| rng.next_u64() as u8).collect();
    let v = BigUint::from_bytes_be(&bytes) >> (bytes.len() * 8 - bits);
    v | (BigUint::from(1u8) << (bits - 1))
}

fn one() -> BigUint {
    BigUint::from(1u8)
}

/// All-ones in every 32-bit limb below `bits`.
fn all_ones(bits: usize) -> BigUint {
    (one() << bits) - one()
}

/// One bit per 32-bit limb (bit `shift` of each), below `bits`.
fn sparse(bits: usize, shift: usize) -> BigUint {
    let mut v = BigUint::from(0u8);
    let mut i = shift;
    while i < bits {
        v |= one() << i;
        i += 32;
    }
    v
}

fn be(v: &BigUint, len: usize) -> Vec<u8> {
    let b = v.to_bytes_be();
    assert!(b.len() <= len, "value longer than the modulus");
    let mut out = vec![0u8; len - b.len()];
    out.extend_from_slice(&b);
    out
}

/// Moduli of `bits` bits: odd, with the shapes that stress the arithmetic.
fn moduli(bits: usize, rng: &mut Rng) -> Vec<(&'static str, BigUint)> {
    let top = one() << (bits - 1);
    vec![
        ("random", random_bits(rng, bits) | one()),
        ("all-ones", all_ones(bits)),
        ("sparse: 2^(k-1)+1", &top + one()),
        ("one bit per limb", sparse(bits, 0) | &top),
        ("top half ones, bottom sparse", (all_ones(bits) >> (bits / 2) << (bits / 2)) | one()),
        ("bottom limb 0xffffffff", (random_bits(rng, bits) | BigUint::from(0xffff_ffffu32)) | &top),
    ]
}

/// Bases below n (accepted), and values the public operation must refuse.
/// Named values.
type Named = Vec<(&'static str, BigUint)>;

fn bases(n: &BigUint, bits: usize, rng: &mut Rng) -> (Named, Named) {
    let mut ok = vec![
        ("0", BigUint::from(0u8)),
        ("1", one()),
        ("2", BigUint::from(2u8)),
        ("n-2", n - BigUint::from(2u8)),
        ("n-1", n - one()),
        ("random below n", random_bits(rng, bits - 1)),
        ("all limbs ones, below n", all_ones(bits - 1)),
        ("one bit per limb", sparse(bits - 1, 31) | one()),
        ("one bit per limb, low", sparse(bits - 1, 0)),
        ("2^(k-1)-ish", one() << (bits - 2)),
        ("n>>1", n >> 1),
        ("ones in the low half", all_ones(bits / 2)),
    ];
    ok.retain(|(_, v)| v < n);
    let refused = vec![("n", n.clone()), ("n+1", n + one()), ("all-ones of the length", all_ones(bits.div_ceil(8) * 8))];
    (ok, refused)
}

#[test]
fn montgomery_matches_num_bigint() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for &bits in SIZES {
        for (shape, n) in moduli(bits, &mut rng) {
            let k = bits.div_ceil(8);
            let n_be = be(&n, k);
            for &e in EXPONENTS {
                let e_be = be(&BigUint::from(e), 4);
                let key = match RsaPublicKey::new(&n_be, &e_be) {
                    Ok(key) => key,
                    // A modulus whose residues happen to match the ROCA fingerprint is refused at
                    // load; none of these shapes may, or the arithmetic below goes untested.
                    Err(err) => panic!("{bits}-bit {shape} modulus refused: {err:?}"),
                };
                assert_eq!(key.bits(), bits, "{shape}");
                assert_eq!(key.modulus_len(), k);
                let eb = BigUint::from(e);
                let (ok, refused) = bases(&n, bits, &mut rng);
                for (what, s) in ok {
                    let got = key.public_op(&be(&s, k));
                    let want = be(&s.modpow(&eb, &n), k);
                    assert_eq!(got.as_deref(), Some(&want[..]), "{bits}-bit {shape} modulus, e={e}, s={what}");
                    checked += 1;
                }
                for (what, s) in refused {
                    let bytes = s.to_bytes_be();
                    if bytes.len() == k {
                        assert_eq!(key.public_op(&bytes), None, "{bits}-bit {shape}, e={e}: s={what} must be refused");
                        checked += 1;
                    }
                }
                assert_eq!(key.public_op(&be(&one(), k + 1)), None, "one byte too long");
                assert_eq!(key.public_op(&be(&one(), k)[1..]), None, "one byte too short");
            }
        }
    }
    println!("{checked} public operations and refusals agree with num-bigint");
    assert!(checked > 2000, "only {checked} checks ran");
}

#[test]
fn sizes_and_exponents_outside_the_policy_are_refused() {
    let mut rng = Rng(7);
    for bits in [2047usize, 8193] {
        let n = random_bits(&mut rng, bits) | one();
        assert_eq!(RsaPublicKey::new(&be(&n, bits.div_ceil(8)), &[1, 0, 1]).unwrap_err(), RsaKeyError::Size(bits));
    }
    let n = be(&(random_bits(&mut rng, 2048) | one()), 256);
    // 2^32+1 is odd but longer than 4 bytes: refused (the exponent is kept in 32 bits).
    assert_eq!(RsaPublicKey::new(&n, &[1, 0, 0, 0, 1]).unwrap_err(), RsaKeyError::Invalid);
    assert!(RsaPublicKey::new(&n, &[0, 0xff, 0xff, 0xff, 0xff]).is_ok(), "2^32-1 with a leading zero byte");
    for e in [0u8, 1, 2, 4] {
        assert_eq!(RsaPublicKey::new(&n, &[e]).unwrap_err(), RsaKeyError::Invalid, "e={e}");
    }
}
