//! Is (x, y) a point of the curve? The load-time check of an EC JWK in a build without the
//! `pure-ecdsa` curve crates, so a key set with an off-curve key fails at load (and counts as
//! an unusable key, keeping the last good set in service) instead of loading a key BoringSSL
//! will refuse at every verification.
//!
//! Public data only, once per key: plain schoolbook arithmetic on little-endian u32 limbs, with
//! a bit-by-bit reduction. Checks `x < p`, `y < p` and `y² ≡ x³ − 3x + b (mod p)` (all three
//! curves have a = −3). The tests compare it with the RustCrypto curve crates.

use crate::der::Curve;

fn hex_limbs(hex: &str) -> Vec<u32> {
    let digits: Vec<u32> = hex.bytes().filter_map(|c| char::from(c).to_digit(16)).collect();
    let mut limbs = Vec::with_capacity(digits.len() / 8 + 1);
    for chunk in digits.rchunks(8) {
        limbs.push(chunk.iter().fold(0u32, |acc, d| (acc << 4) | d));
    }
    limbs
}

fn be_limbs(be: &[u8]) -> Vec<u32> {
    let mut limbs = Vec::with_capacity(be.len() / 4 + 1);
    for chunk in be.rchunks(4) {
        limbs.push(chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)));
    }
    limbs
}

/// The field prime and `b` of a curve, as limbs.
fn params(curve: Curve) -> (Vec<u32>, Vec<u32>) {
    let (p, b) = match curve {
        Curve::P256 => (
            "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
            "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
        ),
        Curve::P384 => (
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
            "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
        ),
        Curve::P521 => (
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
        ),
    };
    (hex_limbs(p), hex_limbs(b))
}

/// a < b, limbs compared as numbers (any lengths).
fn less(a: &[u32], b: &[u32]) -> bool {
    let n = a.len().max(b.len());
    for i in (0..n).rev() {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        if x != y {
            return x < y;
        }
    }
    false
}

/// a −= b where a ≥ b.
fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u64;
    for (i, ai) in a.iter_mut().enumerate() {
        let d = u64::from(*ai).wrapping_sub(u64::from(b.get(i).copied().unwrap_or(0))).wrapping_sub(borrow);
        *ai = d as u32;
        borrow = (d >> 63) & 1;
    }
}

fn mul(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = vec![0u32; a.len() + b.len()];
    for (i, ai) in a.iter().enumerate() {
        let mut carry = 0u64;
        for (j, bj) in b.iter().enumerate() {
            if let Some(o) = out.get_mut(i + j) {
                let t = u64::from(*ai) * u64::from(*bj) + u64::from(*o) + carry;
                *o = t as u32;
                carry = t >> 32;
            }
        }
        if let Some(o) = out.get_mut(i + b.len()) {
            *o = carry as u32;
        }
    }
    out
}

/// x mod p, one bit at a time from the top (a few thousand limb operations per call).
fn reduce(x: &[u32], p: &[u32]) -> Vec<u32> {
    let mut r = vec![0u32; p.len() + 1];
    for i in (0..x.len() * 32).rev() {
        let bit = x.get(i / 32).map_or(0, |w| (w >> (i % 32)) & 1);
        let mut carry = bit;
        for w in r.iter_mut() {
            let next = *w >> 31;
            *w = (*w << 1) | carry;
            carry = next;
        }
        if !less(&r, p) {
            sub_in_place(&mut r, p);
        }
    }
    r
}

fn add(a: &[u32], b: &[u32]) -> Vec<u32> {
    let n = a.len().max(b.len()) + 1;
    let mut out = Vec::with_capacity(n);
    let mut carry = 0u64;
    for i in 0..n {
        let t = u64::from(a.get(i).copied().unwrap_or(0)) + u64::from(b.get(i).copied().unwrap_or(0)) + carry;
        out.push(t as u32);
        carry = t >> 32;
    }
    out
}

fn equal(a: &[u32], b: &[u32]) -> bool {
    !less(a, b) && !less(b, a)
}

/// Whether the big-endian coordinates (x, y) are a point of `curve`.
pub fn on_curve(curve: Curve, x: &[u8], y: &[u8]) -> bool {
    let (p, b) = params(curve);
    let (x, y) = (be_limbs(x), be_limbs(y));
    if !less(&x, &p) || !less(&y, &p) {
        return false;
    }
    let lhs = reduce(&mul(&y, &y), &p);
    let x3 = reduce(&mul(&reduce(&mul(&x, &x), &p), &x), &p);
    // x³ − 3x + b = x³ + 3(p − x) + b (mod p).
    let mut p_minus_x = p.clone();
    sub_in_place(&mut p_minus_x, &x);
    let rhs = reduce(&add(&add(&x3, &mul(&p_minus_x, &[3])), &b), &p);
    equal(&lhs, &rhs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn xy(k: &testkit::TestKey) -> (Vec<u8>, Vec<u8>) {
        let jwk = k.jwk();
        let d = |n: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwk[n].as_str().unwrap()).unwrap();
        (d("x"), d("y"))
    }

    fn bump(v: &[u8]) -> Vec<u8> {
        let mut v = v.to_vec();
        for b in v.iter_mut().rev() {
            let (n, over) = b.overflowing_add(1);
            *b = n;
            if !over {
                break;
            }
        }
        v
    }

    #[test]
    fn test_keys_are_on_their_curves_and_changed_points_are_not() {
        for (key, curve) in [(testkit::p256(), Curve::P256), (testkit::p384(), Curve::P384), (testkit::p521(), Curve::P521)] {
            let (x, y) = xy(&key);
            assert!(on_curve(curve, &x, &y), "{curve:?}");
            assert!(!on_curve(curve, &x, &bump(&y)), "{curve:?} y+1");
            assert!(!on_curve(curve, &bump(&x), &y), "{curve:?} x+1");
            // −y = p − y is on the curve too.
            let (p, _) = params(curve);
            let mut neg = p.clone();
            sub_in_place(&mut neg, &be_limbs(&y));
            let neg_be: Vec<u8> = neg.iter().rev().flat_map(|w| w.to_be_bytes()).collect();
            let neg_be = neg_be.get(neg_be.len() - y.len()..).unwrap().to_vec();
            assert!(on_curve(curve, &x, &neg_be), "{curve:?} -y");
            // Coordinates of p or more are refused even when congruent to a good one.
            let x_plus_p = add(&be_limbs(&x), &p);
            let xp: Vec<u8> = x_plus_p.iter().rev().flat_map(|w| w.to_be_bytes()).collect();
            assert!(!on_curve(curve, &xp, &y), "{curve:?} x+p");
        }
    }

    #[cfg(feature = "pure-ecdsa")]
    #[test]
    fn agrees_with_the_curve_crates_on_many_points() {
        // Points k·G for small k are on the curve; flipping a low bit of y takes them off.
        // The RustCrypto crates decide both, and this check must say the same.
        use p256::elliptic_curve::sec1::ToSec1Point;
        for k in 1u8..=40 {
            let mut s = [0u8; 32];
            s[31] = k;
            let pk = p256::SecretKey::from_slice(&s).unwrap().public_key();
            let pt = pk.to_sec1_point(false);
            let (x, y) = (pt.x().unwrap().to_vec(), pt.y().unwrap().to_vec());
            assert!(on_curve(Curve::P256, &x, &y), "k={k}");
            let mut y2 = y.clone();
            *y2.last_mut().unwrap() ^= 1;
            let mut sec1 = vec![4u8];
            sec1.extend(&x);
            sec1.extend(&y2);
            let crate_says = p256::PublicKey::from_sec1_bytes(&sec1).is_ok();
            assert_eq!(on_curve(Curve::P256, &x, &y2), crate_says, "k={k} flipped");
        }
    }
}
