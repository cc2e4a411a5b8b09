//! Test-only helpers shared by the core's unit tests, the Envoy scenarios, the benchmark and the
//! demo issuer. Nothing here ships in the filter.
//!
//! - fixture keys (`keys/*.pem`, generated with openssl for tests only);
//! - raw JWS signing of any header and payload bytes, for hostile tokens;
//! - JWKS documents;
//! - Cognito-shaped claims;
//! - an independent signer (jwt-simple) for cross-checking ordinary tokens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub mod httpd;

/// A small deterministic generator (xorshift64*) for the differential tests, so their cases are
/// the same on every run and a failure reproduces from its seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of `xs` (not empty).
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Kind {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Ed25519(ed25519_compact::KeyPair),
}

/// A fixture key with its `kid`.
pub struct TestKey {
    /// Key id published in the JWKS and put in token headers.
    pub kid: String,
    /// The algorithm tokens use by default.
    pub alg: &'static str,
    pem: &'static str,
    kind: Kind,
}

fn rsa(kid: &str, pem: &'static str) -> TestKey {
    let k = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    TestKey { kid: kid.into(), alg: "RS256", pem, kind: Kind::Rsa(Box::new(k)) }
}

/// RSA-2048 key "a" (the usual signing key).
pub fn rsa_a() -> TestKey {
    rsa("rsa-a", include_str!("../keys/rsa-a.pem"))
}

/// RSA-2048 key "b" (a second key, for rotation and "signed by another key").
pub fn rsa_b() -> TestKey {
    rsa("rsa-b", include_str!("../keys/rsa-b.pem"))
}

/// RSA-3072 key.
pub fn rsa_3072() -> TestKey {
    rsa("rsa-3072", include_str!("../keys/rsa-3072.pem"))
}

/// An RSA key of its own for each RSA algorithm other than RS256, so a token of that algorithm
/// verifies against a JWK that pins it (RS256 has [`rsa_a`] and [`rsa_3072`]): RS384 (2048
/// bits), RS512 (4096), PS256 (2048), PS384 (3072), PS512 (4096). `None` for other algorithms.
pub fn rsa_for(alg: &str) -> Option<TestKey> {
    let (kid, pem, alg): (&str, &'static str, &'static str) = match alg {
        "RS384" => ("rsa-rs384", include_str!("../keys/rsa-rs384.pem"), "RS384"),
        "RS512" => ("rsa-rs512", include_str!("../keys/rsa-rs512.pem"), "RS512"),
        "PS256" => ("rsa-ps256", include_str!("../keys/rsa-ps256.pem"), "PS256"),
        "PS384" => ("rsa-ps384", include_str!("../keys/rsa-ps384.pem"), "PS384"),
        "PS512" => ("rsa-ps512", include_str!("../keys/rsa-ps512.pem"), "PS512"),
        _ => return None,
    };
    Some(TestKey { alg, ..rsa(kid, pem) })
}

/// ECDSA P-256 key.
pub fn p256() -> TestKey {
    let pem = include_str!("../keys/ec-p256.pem");
    let k = <p256::ecdsa::SigningKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem).unwrap();
    TestKey { kid: "ec-p256".into(), alg: "ES256", pem, kind: Kind::P256(k) }
}

/// ECDSA P-384 key.
pub fn p384() -> TestKey {
    let pem = include_str!("../keys/ec-p384.pem");
    let k = <p384::ecdsa::SigningKey as p384::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem).unwrap();
    TestKey { kid: "ec-p384".into(), alg: "ES384", pem, kind: Kind::P384(k) }
}

/// ECDSA P-521 key.
pub fn p521() -> TestKey {
    let pem = include_str!("../keys/ec-p521.pem");
    let k = <p521::ecdsa::SigningKey as p521::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem).unwrap();
    TestKey { kid: "ec-p521".into(), alg: "ES512", pem, kind: Kind::P521(k) }
}

/// Ed25519 key.
pub fn ed25519() -> TestKey {
    let pem = include_str!("../keys/ed25519.pem");
    let k = ed25519_compact::KeyPair::from_pem(pem).unwrap();
    TestKey { kid: "ed25519".into(), alg: "EdDSA", pem, kind: Kind::Ed25519(k) }
}

impl TestKey {
    /// The same key under another `kid`.
    pub fn with_kid(mut self, kid: &str) -> Self {
        self.kid = kid.into();
        self
    }

    /// The public JWK, with `kid`, `use: sig` and the default `alg` (as Cognito publishes).
    pub fn jwk(&self) -> Value {
        let mut jwk = self.jwk_without_alg();
        jwk["alg"] = json!(self.alg);
        jwk
    }

    /// The public JWK without `alg` (the key type alone fixes the family).
    pub fn jwk_without_alg(&self) -> Value {
        match &self.kind {
            Kind::Rsa(k) => json!({
                "kty": "RSA", "kid": self.kid, "use": "sig",
                "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be()),
            }),
            Kind::P256(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "x": b64(&b[1..33]), "y": b64(&b[33..65])})
            }
            Kind::P384(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                json!({"kty": "EC", "crv": "P-384", "kid": self.kid, "use": "sig", "x": b64(&b[1..49]), "y": b64(&b[49..97])})
            }
            Kind::P521(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                json!({"kty": "EC", "crv": "P-521", "kid": self.kid, "use": "sig", "x": b64(&b[1..67]), "y": b64(&b[67..133])})
            }
            Kind::Ed25519(k) => json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "use": "sig", "x": b64(&k.pk[..])}),
        }
    }

    /// The public key as DER SubjectPublicKeyInfo (for key-confusion attacks).
    pub fn public_der(&self) -> Vec<u8> {
        use rsa::pkcs8::EncodePublicKey;
        match &self.kind {
            Kind::Rsa(k) => k.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec(),
            _ => panic!("public_der is only used with RSA keys"),
        }
    }

    /// The public key as PEM (for key-confusion attacks).
    pub fn public_pem(&self) -> String {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        match &self.kind {
            Kind::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF).unwrap(),
            _ => panic!("public_pem is only used with RSA keys"),
        }
    }

    /// Signs `input` for `alg`, returning the JWS signature bytes (raw r‖s for ECDSA).
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        use rsa::sha2::{Sha256, Sha384, Sha512};
        use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
        match (&self.kind, alg) {
            (Kind::Rsa(k), "RS256") => rsa::pkcs1v15::SigningKey::<Sha256>::new((**k).clone()).sign(input).to_vec(),
            (Kind::Rsa(k), "RS384") => rsa::pkcs1v15::SigningKey::<Sha384>::new((**k).clone()).sign(input).to_vec(),
            (Kind::Rsa(k), "RS512") => rsa::pkcs1v15::SigningKey::<Sha512>::new((**k).clone()).sign(input).to_vec(),
            (Kind::Rsa(k), "PS256") => {
                rsa::pss::BlindedSigningKey::<Sha256>::new((**k).clone()).sign_with_rng(&mut rand_core(), input).to_vec()
            }
            (Kind::Rsa(k), "PS384") => {
                rsa::pss::BlindedSigningKey::<Sha384>::new((**k).clone()).sign_with_rng(&mut rand_core(), input).to_vec()
            }
            (Kind::Rsa(k), "PS512") => {
                rsa::pss::BlindedSigningKey::<Sha512>::new((**k).clone()).sign_with_rng(&mut rand_core(), input).to_vec()
            }
            (Kind::P256(k), "ES256") => {
                let s: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, input);
                s.to_bytes().to_vec()
            }
            (Kind::P384(k), "ES384") => {
                let s: p384::ecdsa::Signature = p384::ecdsa::signature::Signer::sign(k, input);
                s.to_bytes().to_vec()
            }
            (Kind::P521(k), "ES512") => {
                let s: p521::ecdsa::Signature = p521::ecdsa::signature::Signer::sign(k, input);
                s.to_bytes().to_vec()
            }
            (Kind::Ed25519(k), "EdDSA") => k.sk.sign(input, None).to_vec(),
            (_, a) => panic!("key {} cannot sign {a}", self.kid),
        }
    }

    /// A token over exactly these header and payload bytes.
    pub fn token_raw(&self, alg: &str, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = self.sign(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A token with header `{"alg", "kid", "typ": "JWT"}` and these claims.
    pub fn token(&self, claims: &Value) -> String {
        self.token_alg(self.alg, claims)
    }

    /// Like [`TestKey::token`] with another algorithm of the same key family.
    pub fn token_alg(&self, alg: &str, claims: &Value) -> String {
        let header = json!({"alg": alg, "kid": self.kid, "typ": "JWT"});
        self.token_raw(alg, header.to_string().as_bytes(), claims.to_string().as_bytes())
    }

    /// A token with this exact header object (its `alg` decides how it is signed).
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap_or(self.alg).to_string();
        self.token_raw(&alg, header.to_string().as_bytes(), claims.to_string().as_bytes())
    }

    /// A token minted by jwt-simple, an independent implementation: RS256 keys only.
    pub fn token_by_jwt_simple(&self, claims: &Value) -> String {
        use jwt_simple::prelude::*;
        let kp = RS256KeyPair::from_pem(self.pem).unwrap().with_key_id(&self.kid);
        let exp = claims["exp"].as_u64().unwrap();
        let mut custom = claims.as_object().unwrap().clone();
        for k in ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"] {
            custom.remove(k);
        }
        let mut c = Claims::with_custom_claims(custom, Duration::from_secs(exp.saturating_sub(now())));
        if let Some(iss) = claims["iss"].as_str() {
            c = c.with_issuer(iss);
        }
        if let Some(sub) = claims["sub"].as_str() {
            c = c.with_subject(sub);
        }
        kp.sign(c).unwrap()
    }
}

fn rand_core() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}

/// A JWKS document holding these keys' public JWKs.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// The issuer of a Cognito pool.
pub fn cognito_issuer(region: &str, pool: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{pool}")
}

/// Claims of a Cognito access token valid for an hour.
pub fn cognito_access(iss: &str, client_id: &str, username: &str) -> Value {
    let now = now();
    json!({
        "sub": format!("sub-{username}"),
        "cognito:groups": ["users"],
        "iss": iss,
        "client_id": client_id,
        "origin_jti": "4c1b1f1e-origin",
        "event_id": "8e1f1d53-event",
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "exp": now + 3600,
        "iat": now,
        "jti": "0b6a3c4e-jti",
        "username": username,
    })
}

/// Claims of a Cognito ID token valid for an hour.
pub fn cognito_id(iss: &str, client_id: &str, username: &str) -> Value {
    let now = now();
    json!({
        "sub": format!("sub-{username}"),
        "aud": client_id,
        "email_verified": true,
        "event_id": "8e1f1d53-event",
        "token_use": "id",
        "auth_time": now,
        "iss": iss,
        "cognito:username": username,
        "exp": now + 3600,
        "iat": now,
        "email": format!("{username}@example.com"),
    })
}

/// An emulation of Envoy's `verify_signature` foreign function with independent code (the
/// RustCrypto `rsa`, `p256`, `p384` and `p521` crates): it takes the same DER SubjectPublicKeyInfo and
/// DER ECDSA signature the filter hands to BoringSSL. `None` for inputs the host would refuse
/// with an error (unknown hash, unparsable key).
pub fn emulated_host_verify(hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> Option<bool> {
    use rsa::sha2::{Sha256, Sha384, Sha512};
    if let Some(k) = rsa_from_spki(spki) {
        use rsa::signature::Verifier;
        let Ok(s) = rsa::pkcs1v15::Signature::try_from(sig) else { return Some(false) };
        return Some(match hash {
            "sha256" => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k).verify(msg, &s).is_ok(),
            "sha384" => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(k).verify(msg, &s).is_ok(),
            "sha512" => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(k).verify(msg, &s).is_ok(),
            _ => return None,
        });
    }
    if let Ok(k) = <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(spki) {
        use p256::ecdsa::signature::Verifier;
        if hash != "sha256" {
            return None;
        }
        let Ok(s) = p256::ecdsa::Signature::from_der(sig) else { return Some(false) };
        return Some(k.verify(msg, &s).is_ok());
    }
    if let Ok(k) = <p384::ecdsa::VerifyingKey as p384::pkcs8::DecodePublicKey>::from_public_key_der(spki) {
        use p384::ecdsa::signature::Verifier;
        if hash != "sha384" {
            return None;
        }
        let Ok(s) = p384::ecdsa::Signature::from_der(sig) else { return Some(false) };
        return Some(k.verify(msg, &s).is_ok());
    }
    if let Ok(k) = <p521::ecdsa::VerifyingKey as p521::pkcs8::DecodePublicKey>::from_public_key_der(spki) {
        use p521::ecdsa::signature::Verifier;
        if hash != "sha512" {
            return None;
        }
        let Ok(s) = p521::ecdsa::Signature::from_der(sig) else { return Some(false) };
        return Some(k.verify(msg, &s).is_ok());
    }
    None
}

/// An RSA SubjectPublicKeyInfo with a modulus of up to 16384 bits, BoringSSL's limit (the
/// `rsa` crate's own DER decoder stops at 4096, which would hide 8192-bit keys from the host
/// path's emulation).
fn rsa_from_spki(spki: &[u8]) -> Option<rsa::RsaPublicKey> {
    use rsa::pkcs8::der::Decode;
    let info = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(spki).ok()?;
    if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return None;
    }
    let key = rsa::pkcs1::RsaPublicKey::try_from(info.subject_public_key.as_bytes()?).ok()?;
    let n = rsa::BigUint::from_bytes_be(key.modulus.as_bytes());
    let e = rsa::BigUint::from_bytes_be(key.public_exponent.as_bytes());
    rsa::RsaPublicKey::new_with_max_size(n, e, 16384).ok()
}

/// HMAC (RFC 2104) of `msg` under `key`, for `alg` HS256, HS384 or HS512: the signer of
/// key-confusion tokens (an RSA public key used as the HMAC secret). The filter never accepts
/// HS*; this exists only so the attack tokens are correctly signed.
pub fn hmac(alg: &str, key: &[u8], msg: &[u8]) -> Vec<u8> {
    use rsa::sha2::{Sha256, Sha384, Sha512};
    fn with<D: rsa::sha2::Digest>(block: usize, key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut k = if key.len() > block { D::digest(key).to_vec() } else { key.to_vec() };
        k.resize(block, 0);
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = D::new().chain_update(&ipad).chain_update(msg).finalize();
        D::new().chain_update(&opad).chain_update(inner).finalize().to_vec()
    }
    match alg {
        "HS256" => with::<Sha256>(64, key, msg),
        "HS384" => with::<Sha384>(128, key, msg),
        "HS512" => with::<Sha512>(128, key, msg),
        a => panic!("not an HMAC alg: {a}"),
    }
}

/// A token over this header and these claims, HMAC-signed with `secret` under the header's
/// `alg` (HS256, HS384, HS512).
pub fn token_hmac(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let alg = header["alg"].as_str().unwrap();
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig = hmac(alg, secret, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

impl TestKey {
    /// An ECDSA signature of `input` in DER (as X.509 carries it) instead of JWS's raw r‖s:
    /// a signature-format confusion case.
    pub fn sign_ecdsa_der(&self, input: &[u8]) -> Vec<u8> {
        match &self.kind {
            Kind::P256(k) => {
                let s: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, input);
                s.to_der().as_bytes().to_vec()
            }
            Kind::P384(k) => {
                let s: p384::ecdsa::Signature = p384::ecdsa::signature::Signer::sign(k, input);
                s.to_der().as_bytes().to_vec()
            }
            Kind::P521(k) => {
                let s: p521::ecdsa::Signature = p521::ecdsa::signature::Signer::sign(k, input);
                s.to_der().as_bytes().to_vec()
            }
            _ => panic!("sign_ecdsa_der needs an EC key"),
        }
    }
}

#[cfg(test)]
mod hmac_tests {
    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let tag = super::hmac("HS256", b"Jefe", b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let tag = super::hmac("HS512", b"Jefe", b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert!(hex.starts_with("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"));
    }
}
