//! The little DER the host-crypto path needs: SubjectPublicKeyInfo for RSA and EC keys (built
//! once per key when keys arrive) and the raw r‖s → DER conversion for ECDSA signatures.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;

/// rsaEncryption, 1.2.840.113549.1.1.1
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER holding the unsigned big-endian value `be` (leading zeros stripped, a zero
/// byte added when the top bit is set, zero encoded as `02 01 00`).
pub fn unsigned_integer(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let digits = be.get(skip..).unwrap_or_default();
    let mut content = Vec::with_capacity(digits.len() + 1);
    match digits.first() {
        None => content.push(0),
        Some(top) if top & 0x80 != 0 => {
            content.push(0);
            content.extend_from_slice(digits);
        }
        Some(_) => content.extend_from_slice(digits),
    }
    tlv(INTEGER, &content)
}

fn spki(algorithm: Vec<u8>, key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(key);
    let mut body = tlv(SEQUENCE, &algorithm);
    body.extend(tlv(BIT_STRING, &bits));
    tlv(SEQUENCE, &body)
}

/// SubjectPublicKeyInfo for an RSA key with modulus `n` and exponent `e` (big-endian).
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut alg = tlv(OID, OID_RSA);
    alg.extend(tlv(NULL, &[]));
    let mut key = unsigned_integer(n);
    key.extend(unsigned_integer(e));
    spki(alg, &tlv(SEQUENCE, &key))
}

/// The NIST curves the filter supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// P-256 (secp256r1), for ES256.
    P256,
    /// P-384 (secp384r1), for ES384.
    P384,
    /// P-521 (secp521r1), for ES512.
    P521,
}

impl Curve {
    /// Length in bytes of a field element and of each of r and s.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// Big-endian group order n; r and s must lie in [1, n-1].
    pub fn order(self) -> &'static [u8] {
        match self {
            Curve::P256 => &P256_ORDER,
            Curve::P384 => &P384_ORDER,
            Curve::P521 => &P521_ORDER,
        }
    }
}

const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7,
    0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
const P384_ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec,
    0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

const P521_ORDER: [u8; 66] = [
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b,
    0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91,
    0x38, 0x64, 0x09,
];

/// SubjectPublicKeyInfo for an EC key given the affine coordinates (each `field_len` bytes).
pub fn ec_spki(curve: Curve, x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut alg = tlv(OID, OID_EC);
    alg.extend(tlv(
        OID,
        match curve {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
            Curve::P521 => OID_P521,
        },
    ));
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    spki(alg, &point)
}

/// Whether the big-endian value `v` lies in [1, n-1] for the curve's order n.
pub fn scalar_in_range(curve: Curve, v: &[u8]) -> bool {
    let order = curve.order();
    v.len() == order.len() && v.iter().any(|b| *b != 0) && v < order
}

/// Converts a JWS ECDSA signature (raw r‖s, each exactly `field_len` bytes) to the DER
/// `Ecdsa-Sig-Value` that BoringSSL verifies. Refuses a wrong length and r or s outside
/// [1, n-1] (so r = s = 0, CVE-2022-21449, never reaches the verifier).
pub fn ecdsa_raw_to_der(curve: Curve, raw: &[u8]) -> Option<Vec<u8>> {
    let n = curve.field_len();
    if raw.len() != 2 * n {
        return None;
    }
    let (r, s) = raw.split_at(n);
    if !scalar_in_range(curve, r) || !scalar_in_range(curve, s) {
        return None;
    }
    let mut body = unsigned_integer(r);
    body.extend(unsigned_integer(s));
    Some(tlv(SEQUENCE, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal() {
        assert_eq!(unsigned_integer(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(unsigned_integer(&[0, 0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(unsigned_integer(&[0, 0x7f]), [0x02, 0x01, 0x7f]);
        assert_eq!(unsigned_integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0, 0x01, 0x00]), [0x02, 0x02, 0x01, 0x00]);
    }

    #[test]
    fn long_lengths() {
        let mut out = Vec::new();
        push_len(&mut out, 0x7f);
        push_len(&mut out, 0x80);
        push_len(&mut out, 0x1234);
        assert_eq!(out, [0x7f, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn ecdsa_conversion_handles_every_length_of_r_and_s() {
        // r and s of every significant length from 1 to 32 bytes, with and without the top bit.
        for len in 1..=32usize {
            for top in [0x01u8, 0x7f, 0x80, 0xff] {
                let mut r = vec![0u8; 32];
                r[32 - len] = top.min(if len == 32 { 0x7f } else { 0xff });
                let s = r.clone();
                let mut raw = r.clone();
                raw.extend_from_slice(&s);
                let der = ecdsa_raw_to_der(Curve::P256, &raw).unwrap();
                assert_eq!(der[0], 0x30);
                assert_eq!(der[1] as usize, der.len() - 2);
                let int = unsigned_integer(&r);
                assert_eq!(&der[2..2 + int.len()], &int[..]);
                assert_eq!(&der[2 + int.len()..], &int[..]);
            }
        }
    }

    #[test]
    fn ecdsa_conversion_refuses_out_of_range_scalars_and_bad_lengths() {
        let zero = [0u8; 64];
        assert_eq!(ecdsa_raw_to_der(Curve::P256, &zero), None, "r = s = 0");
        let mut at_order = P256_ORDER.to_vec();
        at_order.extend_from_slice(&[1u8; 32]);
        assert_eq!(ecdsa_raw_to_der(Curve::P256, &at_order), None, "r = n");
        assert_eq!(ecdsa_raw_to_der(Curve::P256, &[1u8; 63]), None);
        assert_eq!(ecdsa_raw_to_der(Curve::P384, &[1u8; 64]), None);
        assert!(ecdsa_raw_to_der(Curve::P384, &[1u8; 96]).is_some());
    }

    #[test]
    fn spki_shapes() {
        let der = rsa_spki(&[0xc0; 256], &[1, 0, 1]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x22], "RSA-2048 SPKI is 294 bytes");
        assert_eq!(der.len(), 294);
        let der = ec_spki(Curve::P256, &[1; 32], &[2; 32]);
        assert_eq!(der.len(), 91);
        let der = ec_spki(Curve::P521, &[1; 66], &[2; 66]);
        assert_eq!(&der[..3], &[0x30, 0x81, 0x9b], "P-521 SPKI is 158 bytes, long-form length");
        assert_eq!(der.len(), 158);
    }

    #[test]
    fn p521_signatures_take_long_form_lengths() {
        let mut raw = vec![0xffu8; 66];
        raw[0] = 0x01;
        raw[1] = 0x00;
        raw.extend_from_slice(&raw.clone());
        let der = ecdsa_raw_to_der(Curve::P521, &raw).unwrap();
        assert_eq!(&der[..2], &[0x30, 0x81]);
        assert_eq!(der[2] as usize, der.len() - 3);
        assert_eq!(ecdsa_raw_to_der(Curve::P521, &[1u8; 130]), None, "r and s are 66 bytes each");
        let mut at_order = P521_ORDER.to_vec();
        at_order.extend_from_slice(&P521_ORDER);
        assert_eq!(ecdsa_raw_to_der(Curve::P521, &at_order), None, "r = s = n");
    }
}
