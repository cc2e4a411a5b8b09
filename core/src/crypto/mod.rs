//! Signature verification on two paths with one entry point, [`verify`]:
//!
//! - **host**: Envoy's `verify_signature` foreign function (BoringSSL), reached through the
//!   [`HostVerifier`] trait the adapter implements. It covers RS* and ES*; keys are handed over
//!   as the DER SubjectPublicKeyInfo built once at key load, ECDSA signatures as DER.
//! - **pure Rust**: RSA (PKCS#1 v1.5 and PSS) and Ed25519 always; ECDSA only with the
//!   `pure-ecdsa` feature (RustCrypto `p256`/`p384`/`p521`, ~110 KB of wasm code, so the wasm
//!   module is built without it and ES* is verified by the host alone). It is the fallback
//!   when the host lacks the function; without the feature an ES* signature the host cannot
//!   check is [`Checked::NoVerifier`], never "invalid".
//!
//! Claim checks never live here, so they are the same code whichever path verified. This module
//! knows nothing of JWKS documents: [`crate::jwk`] builds a [`KeyMaterial`] and asks
//! [`KeyMaterial::fits`] which algorithms it may verify.

pub mod rsa;
// The on-curve check of the host-only build; compiled in tests too, to be checked against the
// curve crates.
#[cfg(any(test, not(feature = "pure-ecdsa")))]
mod ec_point;

use crate::der::{self, Curve};
use crate::jws::Alg;
use rsa::RsaPublicKey;
use sha2::Digest;

/// Whether this build verifies ECDSA in pure Rust (the `pure-ecdsa` feature). Without it ES*
/// is verified by the host alone.
pub const PURE_ECDSA: bool = cfg!(feature = "pure-ecdsa");

/// The verification material of a key.
#[derive(Debug, Clone)]
pub enum KeyMaterial {
    /// An RSA key (`kty: RSA`): RS* and PS*.
    Rsa(RsaPublicKey),
    /// An EC key (`kty: EC`, P-256, P-384 or P-521): ES256, ES384 or ES512.
    Ec(EcKey),
    /// An Ed25519 key (`kty: OKP`, `crv: Ed25519`): EdDSA.
    Ed25519(ed25519_compact::PublicKey),
}

/// The signature scheme and hash of an algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5.
    Pkcs1(Hash),
    /// RSASSA-PSS, MGF1 on the same hash, salt as long as the hash.
    Pss(Hash),
    /// ECDSA on this curve with raw r‖s signatures.
    Ecdsa(Curve, Hash),
    /// Ed25519.
    EdDSA,
}

impl Scheme {
    /// The one algorithm table: what each JWS `alg` means. Key types, hashes and the host path
    /// are all derived from it.
    pub fn of(alg: Alg) -> Scheme {
        match alg {
            Alg::RS256 => Scheme::Pkcs1(Hash::Sha256),
            Alg::RS384 => Scheme::Pkcs1(Hash::Sha384),
            Alg::RS512 => Scheme::Pkcs1(Hash::Sha512),
            Alg::PS256 => Scheme::Pss(Hash::Sha256),
            Alg::PS384 => Scheme::Pss(Hash::Sha384),
            Alg::PS512 => Scheme::Pss(Hash::Sha512),
            Alg::ES256 => Scheme::Ecdsa(Curve::P256, Hash::Sha256),
            Alg::ES384 => Scheme::Ecdsa(Curve::P384, Hash::Sha384),
            Alg::ES512 => Scheme::Ecdsa(Curve::P521, Hash::Sha512),
            Alg::EdDSA => Scheme::EdDSA,
        }
    }

    /// The message hash (Ed25519 hashes internally; SHA-256 is never used for it).
    pub fn hash(self) -> Hash {
        match self {
            Scheme::Pkcs1(h) | Scheme::Pss(h) | Scheme::Ecdsa(_, h) => h,
            Scheme::EdDSA => Hash::Sha256,
        }
    }
}

impl KeyMaterial {
    /// Whether this key can verify `alg`: the key type fixes the algorithm family, and an EC
    /// key's curve fixes its one algorithm.
    pub fn fits(&self, alg: Alg) -> bool {
        match (self, Scheme::of(alg)) {
            (KeyMaterial::Rsa(_), Scheme::Pkcs1(_) | Scheme::Pss(_)) => true,
            (KeyMaterial::Ec(k), Scheme::Ecdsa(curve, _)) => k.curve() == curve,
            (KeyMaterial::Ed25519(_), Scheme::EdDSA) => true,
            _ => false,
        }
    }

    /// Length in bytes of every valid signature made with this key.
    pub fn signature_len(&self) -> usize {
        match self {
            KeyMaterial::Rsa(k) => k.modulus_len(),
            KeyMaterial::Ec(k) => 2 * k.curve().field_len(),
            KeyMaterial::Ed25519(_) => 64,
        }
    }
}

/// Hash functions used by the supported algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// Digest of `msg`.
    pub fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(msg).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(msg).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(msg).to_vec(),
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The name Envoy's `verify_signature` expects.
    pub fn host_name(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }

    /// DER DigestInfo prefix for EMSA-PKCS1-v1_5 (RFC 8017 §9.2 note 1).
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The signature is valid; this path verified it.
    Valid(Path),
    /// The signature is not valid (or the key does not fit the algorithm).
    Invalid,
    /// Nothing here can verify this algorithm: the host did not answer and this build has no
    /// pure-Rust implementation of it (ES* without the `pure-ecdsa` feature). A fault of the
    /// deployment, not of the token.
    NoVerifier,
}

impl Checked {
    /// The path that verified a valid signature; `None` otherwise.
    pub fn path(self) -> Option<Path> {
        match self {
            Checked::Valid(path) => Some(path),
            Checked::Invalid | Checked::NoVerifier => None,
        }
    }
}

/// What the host answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAnswer {
    /// The host verified the signature.
    Valid,
    /// The host checked and the signature is wrong.
    Invalid,
    /// The host cannot verify (no such foreign function, or an error): use pure Rust where this
    /// build has it (not ECDSA without the `pure-ecdsa` feature: [`Checked::NoVerifier`]).
    Unavailable,
}

/// Envoy's `verify_signature` foreign function, as the adapter exposes it.
pub trait HostVerifier {
    /// Verifies `sig` over `msg` with the DER SubjectPublicKeyInfo `spki` and hash `hash`
    /// ("sha256", "sha384", "sha512"). RSA keys use PKCS#1 v1.5; EC keys want a DER signature.
    fn verify(&self, hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> HostAnswer;
}

/// Which path verified a signature (for counters and the benchmark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Envoy's BoringSSL through `verify_signature`.
    Host,
    /// The pure-Rust implementation.
    PureRust,
}

/// Verifies `sig` over `signing_input` with `key` for `alg`; `spki` is the key's DER
/// SubjectPublicKeyInfo for the host path. A key that does not [fit](KeyMaterial::fits) `alg`
/// verifies nothing.
///
/// Returns `Some(path)` when the signature is valid, `None` when it is not or when nothing
/// here can verify it (see [`check`] to tell those apart).
pub fn verify(
    alg: Alg,
    key: &KeyMaterial,
    spki: Option<&[u8]>,
    signing_input: &[u8],
    sig: &[u8],
    host: Option<&dyn HostVerifier>,
) -> Option<Path> {
    check(alg, key, spki, signing_input, sig, host).path()
}

/// [`verify`], telling an invalid signature from one that nothing here can verify.
pub fn check(
    alg: Alg,
    key: &KeyMaterial,
    spki: Option<&[u8]>,
    signing_input: &[u8],
    sig: &[u8],
    host: Option<&dyn HostVerifier>,
) -> Checked {
    if !key.fits(alg) {
        return Checked::Invalid;
    }
    let scheme = Scheme::of(alg);
    if let (Some(host), Some(spki)) = (host, spki) {
        // The host's verify_signature does PKCS#1 v1.5 and ECDSA (DER signatures) only.
        let host_sig = match scheme {
            Scheme::Pkcs1(_) => Some(sig.to_vec()),
            // Wrong length or out-of-range r/s: invalid, on either path.
            Scheme::Ecdsa(curve, _) => match der::ecdsa_raw_to_der(curve, sig) {
                Some(der_sig) => Some(der_sig),
                None => return Checked::Invalid,
            },
            Scheme::Pss(_) | Scheme::EdDSA => None,
        };
        if let Some(host_sig) = host_sig {
            match host.verify(scheme.hash().host_name(), spki, &host_sig, signing_input) {
                HostAnswer::Valid => return Checked::Valid(Path::Host),
                HostAnswer::Invalid => return Checked::Invalid,
                HostAnswer::Unavailable => {}
            }
        }
    }
    match pure_verify(scheme, key, signing_input, sig) {
        Some(true) => Checked::Valid(Path::PureRust),
        Some(false) => Checked::Invalid,
        None => Checked::NoVerifier,
    }
}

/// The pure-Rust verdict: `None` when this build cannot verify the scheme.
fn pure_verify(scheme: Scheme, key: &KeyMaterial, msg: &[u8], sig: &[u8]) -> Option<bool> {
    Some(match (key, scheme) {
        (KeyMaterial::Rsa(k), Scheme::Pkcs1(hash)) => k.verify_pkcs1(hash, msg, sig),
        (KeyMaterial::Rsa(k), Scheme::Pss(hash)) => k.verify_pss(hash, msg, sig),
        (KeyMaterial::Ec(ec), Scheme::Ecdsa(..)) => return ec.verify(msg, sig),
        (KeyMaterial::Ed25519(pk), Scheme::EdDSA) => match ed25519_compact::Signature::from_slice(sig) {
            Ok(s) => pk.verify(msg, &s).is_ok(),
            Err(_) => false,
        },
        _ => false,
    })
}

/// A prepared EC public key, with the pure-Rust verifier (`pure-ecdsa` feature).
#[cfg(feature = "pure-ecdsa")]
#[derive(Debug, Clone)]
pub enum EcKey {
    /// P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// P-521.
    P521(p521::ecdsa::VerifyingKey),
}

#[cfg(feature = "pure-ecdsa")]
impl EcKey {
    /// Builds a key from affine coordinates; refuses points not on the curve.
    pub fn new(curve: Curve, x: &[u8], y: &[u8]) -> Option<EcKey> {
        if x.len() != curve.field_len() || y.len() != curve.field_len() {
            return None;
        }
        let mut sec1 = Vec::with_capacity(1 + x.len() + y.len());
        sec1.push(0x04);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        match curve {
            Curve::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok().map(EcKey::P256),
            Curve::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok().map(EcKey::P384),
            Curve::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok().map(EcKey::P521),
        }
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match self {
            EcKey::P256(_) => Curve::P256,
            EcKey::P384(_) => Curve::P384,
            EcKey::P521(_) => Curve::P521,
        }
    }

    /// Verifies a raw r‖s signature (ECDSA with the curve's hash); `Some(valid)`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Option<bool> {
        use p256::ecdsa::signature::Verifier;
        if der::ecdsa_raw_to_der(self.curve(), sig).is_none() {
            return Some(false);
        }
        Some(match self {
            EcKey::P256(k) => p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok()),
            EcKey::P384(k) => p384::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok()),
            EcKey::P521(k) => p521::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok()),
        })
    }
}

/// An EC public key for the host alone (built without the `pure-ecdsa` feature): its curve,
/// checked at load to be a point of it; the key itself travels as the SubjectPublicKeyInfo
/// [`crate::jwk`] builds.
#[cfg(not(feature = "pure-ecdsa"))]
#[derive(Debug, Clone)]
pub struct EcKey {
    curve: Curve,
}

#[cfg(not(feature = "pure-ecdsa"))]
impl EcKey {
    /// Checks the key as the curve crates would: coordinates of the curve's length, below the
    /// field prime, and a point of the curve ([`ec_point`]). A key that fails is refused at
    /// load, like any unusable key.
    pub fn new(curve: Curve, x: &[u8], y: &[u8]) -> Option<EcKey> {
        if x.len() != curve.field_len() || y.len() != curve.field_len() {
            return None;
        }
        ec_point::on_curve(curve, x, y).then_some(EcKey { curve })
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// No pure-Rust ECDSA in this build: `None` for a well-formed signature; one of the wrong
    /// length or with r or s out of range is invalid here as on every path.
    pub fn verify(&self, _msg: &[u8], sig: &[u8]) -> Option<bool> {
        der::ecdsa_raw_to_der(self.curve, sig).map(|_| None).unwrap_or(Some(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::{Jwk, KeySet};

    struct Emulated;
    impl HostVerifier for Emulated {
        fn verify(&self, hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> HostAnswer {
            match testkit::emulated_host_verify(hash, spki, sig, msg) {
                Some(true) => HostAnswer::Valid,
                Some(false) => HostAnswer::Invalid,
                None => HostAnswer::Unavailable,
            }
        }
    }

    struct Absent;
    impl HostVerifier for Absent {
        fn verify(&self, _: &str, _: &[u8], _: &[u8], _: &[u8]) -> HostAnswer {
            HostAnswer::Unavailable
        }
    }

    fn check(alg: Alg, key: &Jwk, msg: &[u8], sig: &[u8], host: Option<&dyn HostVerifier>) -> Option<Path> {
        verify(alg, &key.material, key.spki.as_deref(), msg, sig, host)
    }

    fn key_of(k: &testkit::TestKey) -> Jwk {
        let set = KeySet::parse(testkit::jwks(&[k]).to_string().as_bytes()).unwrap();
        let mut key = set.keys[0].clone();
        key.alg = None;
        key
    }

    fn cases() -> Vec<(testkit::TestKey, Vec<Alg>)> {
        use Alg::*;
        vec![
            (testkit::rsa_a(), vec![RS256, RS384, RS512, PS256, PS384, PS512]),
            (testkit::rsa_3072(), vec![RS256, PS256, PS512]),
            (testkit::p256(), vec![ES256]),
            (testkit::p384(), vec![ES384]),
            (testkit::p521(), vec![ES512]),
            (testkit::ed25519(), vec![EdDSA]),
        ]
    }

    #[test]
    fn every_algorithm_on_every_path() {
        for (tk, algs) in cases() {
            let key = key_of(&tk);
            for alg in algs {
                let msg = b"header.payload";
                let sig = tk.sign(alg.name(), msg);
                let host_capable = matches!(alg, Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::ES256 | Alg::ES384 | Alg::ES512);
                let want_host = if host_capable { Path::Host } else { Path::PureRust };
                assert_eq!(check(alg, &key, msg, &sig, Some(&Emulated)), Some(want_host), "{alg:?} host");
                assert_eq!(check(alg, &key, msg, &sig, Some(&Absent)), Some(Path::PureRust), "{alg:?} fallback");
                assert_eq!(
                    super::check(alg, &key.material, key.spki.as_deref(), msg, &sig, Some(&Absent)),
                    Checked::Valid(Path::PureRust),
                    "{alg:?} fallback, with pure-Rust ECDSA in the tests' build"
                );
                assert_eq!(check(alg, &key, msg, &sig, None), Some(Path::PureRust), "{alg:?} pure");
                let mut bad = sig.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                for host in [Some(&Emulated as &dyn HostVerifier), None] {
                    assert_eq!(check(alg, &key, msg, &bad, host), None, "{alg:?} flipped bit");
                    assert_eq!(check(alg, &key, b"header.payloaD", &sig, host), None, "{alg:?} other message");
                    assert_eq!(check(alg, &key, msg, &sig[..sig.len() - 1], host), None, "{alg:?} truncated");
                    let mut longer = sig.clone();
                    longer.push(0);
                    assert_eq!(check(alg, &key, msg, &longer, host), None, "{alg:?} lengthened");
                }
            }
        }
    }

    #[test]
    fn another_keys_signature_fails() {
        let a = key_of(&testkit::rsa_a());
        let sig = testkit::rsa_b().sign("RS256", b"m");
        assert_eq!(check(Alg::RS256, &a, b"m", &sig, Some(&Emulated)), None);
        assert_eq!(check(Alg::RS256, &a, b"m", &sig, None), None);
    }

    #[test]
    fn ecdsa_zero_and_order_signatures_fail_on_both_paths() {
        let key = key_of(&testkit::p256());
        let mut order = crate::der::Curve::P256.order().to_vec();
        order.extend_from_slice(crate::der::Curve::P256.order());
        for sig in [vec![0u8; 64], order] {
            assert_eq!(check(Alg::ES256, &key, b"m", &sig, Some(&Emulated)), None);
            assert_eq!(check(Alg::ES256, &key, b"m", &sig, None), None);
        }
    }
}
